"""The audit log: one JSON line per authentication or authorization decision.

Written to ``audit.log`` in the data dir (rotated by size, like logging's
RotatingFileHandler: audit.log.1 … audit.log.N) or to stdout. Tokens and secrets never
reach it: callers pass identities and attributes, never credentials.

Each line goes out in one ``write`` on an append-only descriptor, so a line is never
split and is on disk (in the page cache) before the webhook answers. Not the logging
module: its records, locks and per-line rollover check (a seek) cost several times the
access-policy decision itself; a writer thread was measured to cost more CPU than it saved.
"""

from __future__ import annotations

import fcntl
import os
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson

MAX_BYTES = 10 * 1024 * 1024
BACKUPS = 5
STDOUT = 1


class AuditLog:
    def __init__(self, path: Path | None, *, max_bytes: int = MAX_BYTES, backups: int = BACKUPS,
                 shared: bool = False) -> None:
        self.path = path
        self.shared = shared  # several worker processes append to the same file
        self.max_bytes = max_bytes
        self.backups = backups
        self._lock = threading.Lock()
        self._fd, self._size = (STDOUT, 0) if path is None else self._open(path)

    @staticmethod
    def _open(path: Path) -> tuple[int, int]:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        return fd, os.fstat(fd).st_size

    def record(self, kind: str, **fields: Any) -> None:
        line = {"time": datetime.now(timezone.utc), "kind": kind, **fields}  # orjson writes RFC 3339
        data = orjson.dumps(line, default=str, option=orjson.OPT_APPEND_NEWLINE)
        with self._lock:
            if self.shared and self.path is not None:
                self._follow(self.path)
            if self.path is not None and self._size and self._size + len(data) > self.max_bytes:
                if self.shared:
                    self._rotate_shared(self.path, len(data))
                else:
                    self._rotate(self.path)
            os.write(self._fd, data)
            self._size += len(data)

    def _follow(self, path: Path) -> None:
        """Workers share the file: if another one rotated it, write to the new one (one stat per line)."""
        try:
            current = os.stat(path)
        except FileNotFoundError:
            current = None
        if current is None or current.st_ino != os.fstat(self._fd).st_ino:
            os.close(self._fd)
            self._fd, self._size = self._open(path)
        else:
            self._size = current.st_size

    def _rotate_shared(self, path: Path, incoming: int) -> None:
        """Rotate under a lock file, once: a worker that waited finds it done and follows."""
        with open(path.with_name(path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self._follow(path)
            if self._size and self._size + incoming > self.max_bytes:
                self._rotate(path)

    def _rotate(self, path: Path) -> None:
        """audit.log.(N-1) -> .N, …, audit.log -> .1, a new audit.log; with no backups, start it afresh."""
        os.close(self._fd)
        for n in range(self.backups - 1, 0, -1):
            older = path.with_name(f"{path.name}.{n}")
            if older.exists():
                older.replace(path.with_name(f"{path.name}.{n + 1}"))
        if self.backups:
            path.replace(path.with_name(f"{path.name}.1"))
        else:
            path.unlink(missing_ok=True)
        self._fd, self._size = self._open(path)
