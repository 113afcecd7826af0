"""Clusters: the list, one cluster's access at a glance, entry and policy forms, the mode upgrade."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from kubegate.console.app import Console, View, failure, page
from kubegate.service.stacks.calls import ServiceError


async def cluster_list(console: Console, view: View) -> Response:
    def load() -> tuple[list[dict[str, object]], str | None]:
        try:
            names = console.call(view, "eks", "ListClusters", {})["clusters"]
        except ServiceError as exc:
            return [], failure(exc)
        rows: list[dict[str, object]] = []
        for name in names:
            try:
                cluster = console.call(view, "eks", "DescribeCluster", {"name": name})["cluster"]
            except ServiceError as exc:
                rows.append({"name": name, "error": failure(exc)})
                continue
            snapshot = console.registry.snapshot(name)
            rows.append({
                "name": name, "mode": cluster["accessConfig"]["authenticationMode"],
                "entries": len(snapshot.entries_by_principal) if snapshot else 0,
            })
        return rows, None

    rows, error = await run_in_threadpool(load)
    return console.render(view, view.request, "clusters.html", clusters=rows, error=error)


def routes(console: Console) -> list[BaseRoute]:
    return [Route("/clusters", page(console, cluster_list), methods=["GET"])]
