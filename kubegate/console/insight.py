"""Explain, who-can, the audit log and IAM pages (to be written)."""

from __future__ import annotations

from starlette.routing import BaseRoute

from kubegate.console.app import Console


def routes(console: Console) -> list[BaseRoute]:
    return []
