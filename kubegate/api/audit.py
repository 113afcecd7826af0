"""The audit log: one JSON line per authentication or authorization decision.

Written to ``audit.log`` in the data dir (rotated by size) or to stdout. Tokens and
secrets never reach it: callers pass identities and attributes, never credentials.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

MAX_BYTES = 10 * 1024 * 1024
BACKUPS = 5


class AuditLog:
    def __init__(self, path: Path | None, *, max_bytes: int = MAX_BYTES, backups: int = BACKUPS) -> None:
        self._logger = logging.getLogger(f"kubegate.audit.{id(self)}")
        self._logger.propagate = False
        self._logger.setLevel(logging.INFO)
        handler: logging.Handler
        if path is None:
            handler = logging.StreamHandler(sys.stdout)
        else:
            handler = logging.handlers.RotatingFileHandler(path, maxBytes=max_bytes, backupCount=backups)
        handler.setFormatter(logging.Formatter("%(message)s"))
        self._logger.addHandler(handler)

    def record(self, kind: str, **fields: Any) -> None:
        line = {"time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"), "kind": kind, **fields}
        self._logger.info(json.dumps(line, separators=(",", ":"), default=str))
