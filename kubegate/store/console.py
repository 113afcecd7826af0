"""Persistence of console sessions, one-time sign-in links and failed sign-ins.

In the database, not in a process: with ``--workers`` or replicas, the next request of a
signed-in browser may reach another process, and a rate limit kept per process would be
multiplied by their number. Only SHA-256 digests of session IDs and link tokens are stored.
"""

from __future__ import annotations


from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, insert, select, update
from sqlalchemy.engine import Connection

from kubegate.store.database import Store
from kubegate.store.schema import console_login_links, console_sessions, console_signin_failures


@dataclass
class StoredSession:
    id_sha256: str
    caller: dict[str, Any]
    access_key_id: str | None
    session_token: bytes | None
    csrf: str
    created_at: datetime
    last_seen: datetime
    expires_at: datetime


class ConsoleStore:
    def __init__(self, store: Store) -> None:
        self.store = store

    def _tx(self) -> AbstractContextManager[Connection]:
        return self.store.connection()

    def add_session(self, session: StoredSession) -> None:
        with self._tx() as db:
            db.execute(insert(console_sessions).values(**session.__dict__))

    def session(self, id_sha256: str) -> StoredSession | None:
        with self._tx() as db:
            row = db.execute(select(console_sessions).where(console_sessions.c.id_sha256 == id_sha256)).mappings().first()
        return StoredSession(**dict(row)) if row else None

    def touch(self, id_sha256: str, now: datetime) -> None:
        with self._tx() as db:
            db.execute(update(console_sessions).where(console_sessions.c.id_sha256 == id_sha256).values(last_seen=now))

    def delete_session(self, id_sha256: str) -> None:
        with self._tx() as db:
            db.execute(delete(console_sessions).where(console_sessions.c.id_sha256 == id_sha256))

    def delete_expired(self, now: datetime, idle_before: datetime) -> None:
        with self._tx() as db:
            db.execute(delete(console_sessions).where(
                (console_sessions.c.expires_at <= now) | (console_sessions.c.last_seen < idle_before)))
            db.execute(delete(console_login_links).where(console_login_links.c.expires_at <= now))

    def add_link(self, id_sha256: str, now: datetime, expires_at: datetime) -> None:
        with self._tx() as db:
            db.execute(insert(console_login_links).values(id_sha256=id_sha256, created_at=now, expires_at=expires_at))

    def use_link(self, id_sha256: str, now: datetime) -> bool:
        """Spend a link: True exactly once, and only before it expires (a compare-and-set)."""
        with self._tx() as db:
            done = db.execute(update(console_login_links).where(and_(
                console_login_links.c.id_sha256 == id_sha256, console_login_links.c.used_at.is_(None),
                console_login_links.c.expires_at > now,
            )).values(used_at=now))
            return done.rowcount == 1

    def record_failure(self, source: str, now: datetime) -> None:
        with self._tx() as db:
            db.execute(insert(console_signin_failures).values(source=source, at=now))

    def failures_since(self, source: str, since: datetime) -> int:
        with self._tx() as db:
            db.execute(delete(console_signin_failures).where(console_signin_failures.c.at < since))
            return int(db.execute(select(func.count()).select_from(console_signin_failures).where(and_(
                console_signin_failures.c.source == source, console_signin_failures.c.at >= since))).scalar_one())
