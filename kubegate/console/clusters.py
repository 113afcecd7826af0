"""Clusters: the list, one cluster's access at a glance, and one access entry with its forms.

Pages only read (GET never changes anything); the forms post to ``cluster_forms`` and the mode
upgrade to ``cluster_mode``, which re-render these pages through :func:`cluster_page` and
:func:`entry_page` with the API's message next to the form that failed and the input kept.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from kubegate.console import cluster_data as data
from kubegate.console.app import Console, View, failure, page
from kubegate.domain.access_entries import EntryType
from kubegate.service.stacks.calls import ServiceError

T = TypeVar("T")
STYLES = "/console/static/clusters.css"
ENTRY_TYPES = [t.value for t in EntryType]
Errors = Mapping[str, str]  # form name -> the message shown next to it
Values = Mapping[str, Mapping[str, str]]  # form name -> the user's input, shown again


async def cluster_list(console: Console, view: View) -> Response:
    def load() -> tuple[list[dict[str, Any]], str | None]:
        try:
            names = data.every(console, view, "ListClusters", {}, "clusters")
        except ServiceError as exc:
            return [], failure(exc)
        return [_summary(console, view, name) for name in names], None

    watch = Stopwatch()
    rows, error = await watch.gather(load)
    return watch.stamp(lambda: console.render(view, view.request, "clusters.html", clusters=rows, error=error,
                                              styles=STYLES))


def _summary(console: Console, view: View, name: str) -> dict[str, Any]:
    try:
        cluster = console.call(view, "eks", "DescribeCluster", {"name": name})["cluster"]
    except ServiceError as exc:
        return {"name": name, "error": failure(exc)}
    mode = cluster["accessConfig"]["authenticationMode"]
    entries, entries_error = (None, "not used in CONFIG_MAP mode") if mode == "CONFIG_MAP" \
        else data.entry_count(console, view, name)
    rows, rows_error = data.aws_auth_count(console, view, name)
    oidc, oidc_error = data.oidc_count(console, view, name)
    return {"name": name, "mode": mode, "entries": entries, "entries_error": entries_error,
            "aws_auth": rows, "aws_auth_error": rows_error, "oidc": oidc, "oidc_error": oidc_error}


# --- one cluster -----------------------------------------------------------------------------


async def show_cluster(console: Console, view: View) -> Response:
    name = view.request.path_params["name"]
    return await cluster_page(console, view, name, at=Position.of(view.request.query_params),
                              done=view.request.query_params.get("done"))


async def cluster_page(console: Console, view: View, name: str, *, at: Position | None = None,
                       errors: Errors | None = None,
                       values: Values | None = None, done: str | None = None, status: int = 200) -> Response:
    """The cluster page; the form posts re-render it with ``errors`` and ``values`` on failure."""
    where = at or Position()

    def load() -> dict[str, Any]:
        mode, fatal = data.described_mode(console, view, name)
        if mode is None:
            return fatal
        entries = data.EntryPage(error="This cluster's authentication mode is CONFIG_MAP: it has no access "
                                       "entries. Upgrade the mode to use them.") if mode == "CONFIG_MAP" \
            else data.entry_page(console, view, name, where.token, where.trail)
        oidc, oidc_error = data.oidc_count(console, view, name)
        return {
            "mode": mode, "next_modes": data.next_modes(mode),
            "mode_missing": console.missing(view, "eks", "UpdateClusterConfig", {"name": name}),
            "entries": entries, "uses_entries": mode != "CONFIG_MAP",
            "create_missing": console.missing(view, "eks", "CreateAccessEntry", {"clusterName": name}),
            "aws_auth": data.aws_auth_view(console, view, name), "oidc": oidc, "oidc_error": oidc_error,
        }

    watch = Stopwatch()
    context = await watch.gather(load)
    if "fatal" in context:
        return console.render(view, view.request, "message.html", status=context["fatal_status"],
                              title=f"Cluster {name}", message=context["fatal"])
    entries = context["entries"]
    previous, following = page_links(f"/console/clusters/{quote(name, safe='')}", entries)
    return watch.stamp(lambda: console.render(
        view, view.request, "cluster.html", status=status, name=name, styles=STYLES, types=ENTRY_TYPES,
        errors=errors or {}, values=values or {}, done=done, page_size=data.PAGE_SIZE, previous=previous,
        following=following, position=Position(entries.token, entries.trail).query(), **context))


# --- one access entry ------------------------------------------------------------------------


async def show_entry(console: Console, view: View) -> Response:
    name = view.request.path_params["name"]
    principal = view.request.query_params.get("principalArn", "")
    return await entry_page(console, view, name, principal, done=view.request.query_params.get("done"))


async def entry_page(console: Console, view: View, name: str, principal_arn: str, *, errors: Errors | None = None,
                     values: Values | None = None, done: str | None = None, status: int = 200) -> Response:
    """One entry with its edit, associate, disassociate and delete forms."""

    def load() -> dict[str, Any]:
        row = data.entry_row(console, view, name, principal_arn)
        policies, policies_error = data.access_policies(console, view)
        params = {"clusterName": name, "principalArn": principal_arn}
        return {
            "row": row, "policies": policies, "policies_error": policies_error,
            "update_missing": console.missing(view, "eks", "UpdateAccessEntry", params),
            "delete_missing": console.missing(view, "eks", "DeleteAccessEntry", params),
            "associate_missing": console.missing(view, "eks", "AssociateAccessPolicy", params),
        }

    context = await run_in_threadpool(load)
    if context["row"].error and not errors:
        status = 403 if "AccessDenied" in context["row"].error else 404
    return console.render(view, view.request, "entry.html", status=status, name=name, principal_arn=principal_arn,
                          styles=STYLES, errors=errors or {}, values=values or {}, done=done, **context)


# --- helpers ---------------------------------------------------------------------------------


class Stopwatch:
    """A page's server time (the issue's 200 ms budget), sent as a ``Server-Timing`` header.

    ``page`` is wall time; ``cpu`` is the CPU time the page's threads spent on it, which a busy
    machine cannot inflate (the database is SQLite in this process or a network round trip, so
    on SQLite the two agree on an idle machine)."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.cpu = 0.0

    async def gather(self, load: Callable[[], T]) -> T:
        def measured() -> T:
            begun = time.thread_time()
            try:
                return load()
            finally:
                self.cpu += time.thread_time() - begun

        return await run_in_threadpool(measured)

    def stamp(self, render: Callable[[], Response]) -> Response:
        begun = time.thread_time()
        response = render()
        self.cpu += time.thread_time() - begun
        wall = (time.perf_counter() - self.started) * 1000
        response.headers["Server-Timing"] = f"page;dur={wall:.1f}, cpu;dur={self.cpu * 1000:.1f}"
        return response


@dataclass(frozen=True)
class Position:
    """Which page of entries: its ListAccessEntries token and those of the pages before it.

    Forms carry it as hidden fields, so a failed post re-renders the page the user was on."""

    token: str = ""
    trail: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, fields: Mapping[str, str]) -> Position:
        token = fields.get("token") or ""
        return cls(token, (fields.get("trail") or "").split(",")) if token else cls()

    def query(self) -> dict[str, str]:
        """The query string of this position (empty for the first page)."""
        if not self.token:
            return {}
        return {"token": self.token, "trail": ",".join(self.trail)}


def page_links(base: str, entries: data.EntryPage) -> tuple[str | None, str | None]:
    """The previous and next pages' URLs (None at either end)."""
    previous = None
    if entries.trail:
        query = Position(entries.trail[-1], entries.trail[:-1]).query()
        previous = f"{base}?{urlencode(query)}" if query else base
    following = None
    if entries.next_token:
        following = f"{base}?{urlencode(Position(entries.next_token, [*entries.trail, entries.token]).query())}"
    return previous, following


def routes(console: Console) -> list[BaseRoute]:
    from kubegate.console import cluster_forms, cluster_mode

    return [
        Route("/clusters", page(console, cluster_list), methods=["GET"]),
        Route("/clusters/{name}", page(console, show_cluster), methods=["GET"]),
        Route("/clusters/{name}/entry", page(console, show_entry), methods=["GET"]),
        *cluster_forms.routes(console),
        *cluster_mode.routes(console),
    ]
