"""The audit log: one JSON line per authentication or authorization decision.

Written to ``audit.log`` in the data dir (rotated by size) or to stdout. Tokens and
secrets never reach it: callers pass identities and attributes, never credentials.
"""

from __future__ import annotations

import atexit
import json
import logging
import logging.handlers
import queue
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

MAX_BYTES = 10 * 1024 * 1024
BACKUPS = 5


class AuditLog:
    """Decisions are queued and written by a background thread, off the webhook's event loop."""

    def __init__(self, path: Path | None, *, max_bytes: int = MAX_BYTES, backups: int = BACKUPS) -> None:
        self._logger = logging.getLogger(f"kubegate.audit.{id(self)}")
        self._logger.propagate = False
        self._logger.setLevel(logging.INFO)
        writer: logging.Handler
        if path is None:
            writer = logging.StreamHandler(sys.stdout)
        else:
            writer = logging.handlers.RotatingFileHandler(path, maxBytes=max_bytes, backupCount=backups)
        writer.setFormatter(logging.Formatter("%(message)s"))
        records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        self._logger.addHandler(logging.handlers.QueueHandler(records))
        self._listener = logging.handlers.QueueListener(records, writer)
        self._listener.start()
        atexit.register(self.close)

    def close(self) -> None:
        """Write what is queued, then stop the writer thread (idempotent)."""
        if self._listener._thread is not None:  # noqa: SLF001 - QueueListener has no public "running"
            self._listener.stop()

    def record(self, kind: str, **fields: Any) -> None:
        line = {"time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"), "kind": kind, **fields}
        self._logger.info(json.dumps(line, separators=(",", ":"), default=str))
