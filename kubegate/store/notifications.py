"""Hearing other processes' commits: PostgreSQL LISTEN on the channel every commit NOTIFYs.

One connection per process, on a daemon thread. Each notice is a :class:`Committed`, handed to
``on_change`` as it arrives (a few milliseconds after the commit). When the connection breaks,
notices may have been missed: ``on_change(None)`` asks the caller to compare every revision,
and the thread reconnects with a growing pause. The registry's periodic revision check covers
the rest. SQLite has no such channel: there the periodic check is all.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg
from sqlalchemy import make_url

from kubegate.store.database import CHANGES_CHANNEL, Committed

log = logging.getLogger("kubegate.store")
OnChange = Callable[[Committed | None], None]
MAX_PAUSE = 5.0  # seconds between reconnection attempts, at most


def conninfo(database_url: str) -> str:
    """psycopg's connection string for a SQLAlchemy ``postgresql+psycopg://`` URL."""
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def listens(database_url: str) -> bool:
    return make_url(database_url).get_backend_name() == "postgresql"


class ChangeListener:
    def __init__(self, database_url: str, on_change: OnChange, *, timeout: float = 1.0) -> None:
        self._conninfo = conninfo(database_url)
        self._on_change = on_change
        self._timeout = timeout
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kubegate-listen", daemon=True)
        self.connected = threading.Event()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=self._timeout + 2)

    def _run(self) -> None:
        pause = 0.2
        while not self._stopping.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True, connect_timeout=2) as connection:
                    connection.execute(f"LISTEN {CHANGES_CHANNEL}")
                    self.connected.set()
                    self._deliver(None)  # whatever was committed while we were not listening
                    pause = 0.2
                    while not self._stopping.is_set():
                        for notice in connection.notifies(timeout=self._timeout):
                            self._deliver(_parse(notice.payload))
            except psycopg.Error as exc:
                self.connected.clear()
                log.warning("listening for changes: %s; again in %.1f s", str(exc).strip() or type(exc).__name__,
                            pause)
                self._stopping.wait(pause)
                pause = min(pause * 2, MAX_PAUSE)

    def _deliver(self, committed: Committed | None) -> None:
        try:
            self._on_change(committed)
        except Exception:  # a database hiccup while rebuilding: the periodic check tries again
            log.exception("applying a change notice failed")


def _parse(payload: str) -> Committed | None:
    try:
        return Committed.from_payload(payload)
    except (ValueError, KeyError, TypeError):
        log.warning("unreadable change notice %r: comparing every revision", payload[:100])
        return None
