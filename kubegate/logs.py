"""Log output: readable lines (the default) or one JSON object per line (`--log-format json`).

kubegate's own loggers and uvicorn's go through the same handler, so a log shipper that reads
JSON gets every line as JSON, tracebacks included (as ``exc_info``). Access logs stay off:
the audit log records every webhook decision, and management calls log one line each.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime, timezone
from typing import Any

import orjson

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname, "logger": record.name, "message": record.getMessage(), "pid": os.getpid(),
        }
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


def uvicorn_log_config(log_format: str) -> dict[str, Any]:
    """A logging dictConfig for uvicorn.Config(log_config=…) that also configures the root logger."""
    formatter: dict[str, Any] = ({"()": f"{__name__}.JsonFormatter"} if log_format == "json"
                                 else {"format": TEXT_FORMAT})
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"kubegate": formatter},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "kubegate", "stream": "ext://sys.stderr"}},
        "root": {"handlers": ["stderr"], "level": "INFO"},
        "loggers": {name: {"handlers": [], "propagate": True, "level": "INFO"}
                    for name in ("uvicorn", "uvicorn.error", "uvicorn.access")},
    }
