"""The audit log: one JSON line per authentication or authorization decision.

Written to ``audit.log`` in the data dir (rotated by size, like logging's
RotatingFileHandler: audit.log.1 … audit.log.N) or to stdout. Tokens and secrets never
reach it: callers pass identities and attributes, never credentials.

Each line goes out in one ``write`` on an append-only descriptor, so a line is never
split and is on disk (in the page cache) before the webhook answers. Not the logging
module: its records, locks and per-line rollover check (a seek) cost several times the
access-policy decision itself; a writer thread was measured to cost more CPU than it saved.

Worker processes share the file (``shared``). The one that crosses the size limit rotates it under
a lock file (``audit.log.lock``) and then bumps a rotation counter kept in that file (mapped into
every worker's memory), so each worker moves to the new file before its next line without a
system call per line to find out; a worker reads the file's shared size from its own descriptor
after each append. A stat every STAT_SECONDS also catches a file moved by anything else.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import struct
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson

MAX_BYTES = 10 * 1024 * 1024
BACKUPS = 5
STDOUT = 1
STAT_SECONDS = 1.0  # shared: how often a worker also checks the path itself (a move by anything but a worker)
_COUNTER = struct.Struct("<Q")  # the rotation counter at the start of the lock file


class AuditLog:
    def __init__(self, path: Path | None, *, max_bytes: int = MAX_BYTES, backups: int = BACKUPS,
                 shared: bool = False) -> None:
        self.path = path
        self.shared = shared  # several worker processes append to the same file
        self.max_bytes = max_bytes
        self.backups = backups
        self._lock = threading.Lock()
        self._ino = 0  # the inode self._fd writes to
        self._fd, self._size = (STDOUT, 0) if path is None else self._open(path)
        self._rotations: mmap.mmap | None = None  # shared: the workers' rotation counter
        self._seen = 0  # the counter when this worker last followed the path
        self._stated = time.monotonic()
        if shared and path is not None:
            self._rotations = self._map_counter(self._lock_path(path))
            self._seen = self._counter()

    def _open(self, path: Path) -> tuple[int, int]:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        found = os.fstat(fd)
        self._ino = found.st_ino
        return fd, found.st_size

    @staticmethod
    def _lock_path(path: Path) -> Path:
        return path.with_name(path.name + ".lock")

    @staticmethod
    def _map_counter(lock_path: Path) -> mmap.mmap:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            if os.fstat(fd).st_size < _COUNTER.size:
                fcntl.flock(fd, fcntl.LOCK_EX)
                try:
                    if os.fstat(fd).st_size < _COUNTER.size:  # another worker may have just made it
                        os.ftruncate(fd, _COUNTER.size)
                finally:
                    fcntl.flock(fd, fcntl.LOCK_UN)
            return mmap.mmap(fd, _COUNTER.size)  # shared: every worker sees a bump at once
        finally:
            os.close(fd)  # the mapping keeps the file

    def _counter(self) -> int:
        assert self._rotations is not None
        return int(_COUNTER.unpack_from(self._rotations)[0])

    def record(self, kind: str, **fields: Any) -> None:
        line = {"time": datetime.now(timezone.utc), "kind": kind, **fields}  # orjson writes RFC 3339
        data = orjson.dumps(line, default=str, option=orjson.OPT_APPEND_NEWLINE)
        with self._lock:
            shared = self._rotations is not None and self.path is not None
            if shared and (self._counter() != self._seen or time.monotonic() - self._stated > STAT_SECONDS):
                self._follow(self.path)  # type: ignore[arg-type]
            if self.path is not None and self._size and self._size + len(data) > self.max_bytes:
                if shared:
                    self._rotate_shared(self.path, len(data))
                else:
                    self._rotate(self.path)
            os.write(self._fd, data)
            if shared:  # O_APPEND: the offset is now the shared file's end, other workers' lines included
                self._size = os.lseek(self._fd, 0, os.SEEK_CUR)
            else:
                self._size += len(data)

    def _follow(self, path: Path) -> None:
        """Workers share the file: if another one rotated it (or it moved), write to the new one."""
        self._seen = self._counter()  # before the stat: a rotation after it is seen at the next line
        self._stated = time.monotonic()
        try:
            current = os.stat(path)
        except FileNotFoundError:
            current = None
        if current is None or current.st_ino != self._ino:
            os.close(self._fd)
            self._fd, self._size = self._open(path)
        else:
            self._size = current.st_size

    def _rotate_shared(self, path: Path, incoming: int) -> None:
        """Rotate under a lock file, once: a worker that waited finds it done and follows; the others
        see the counter move at their next line."""
        with open(self._lock_path(path), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self._follow(path)
            if self._size and self._size + incoming > self.max_bytes:
                self._rotate(path)
                assert self._rotations is not None
                self._seen = self._counter() + 1
                _COUNTER.pack_into(self._rotations, 0, self._seen)

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
