"""Every console page module's routes, in one list (each module owns its URLs and templates)."""

from __future__ import annotations

from starlette.routing import BaseRoute

from kubegate.console import clusters, insight, matrix
from kubegate.console.app import Console


def routes(console: Console) -> list[BaseRoute]:
    return [*clusters.routes(console), *insight.routes(console), *matrix.routes(console)]
