"""The access matrix page: principals × namespaces (and cluster scope), the strongest policy level in each cell.

``GET /clusters/{name}/matrix?page=&ns_page=&principal=&namespaces=``. The API has no operation
for it, so it reads the server's snapshot, authorized as explain and who-can are (through
`kubegate.api.insight.Insight`, in ``console.extras["insight"]``): ``eks:ListAccessEntries`` on
the cluster, and for each principal shown ``eks:DescribeAccessEntry`` plus
``eks:ListAssociatedAccessPolicies`` on its entry. Principals the caller may not read are left
out and counted, never named (who-can's rule).

Only one page is computed: principals are paged (PAGE_SIZE rows) before the per-principal IAM
checks, and namespaces are paged (NS_PAGE_SIZE columns), so a page costs the same with 1,000
entries as with 50. The per-revision index comes from `kubegate.engine.access_matrix`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

from markupsafe import Markup, escape
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from kubegate.api.aws_apis import EKS_ERRORS
from kubegate.api.insight import ENTRY_READS, Insight
from kubegate.console.app import Console, View, page
from kubegate.domain.errors import AccessDenied, DomainError, InvalidParameter, ResourceNotFound
from kubegate.domain.modes import AuthenticationMode
from kubegate.domain.policies import AccessScope
from kubegate.engine.access_matrix import Cell, Level, MatrixCache, Page, PrincipalRow, page_of

PAGE_SIZE = 50  # principals per page
NS_PAGE_SIZE = 25  # namespace columns per page
MAX_EXTRA = 50  # extra namespace names one request may add
MAX_WILDCARDS_SHOWN = 20
EXPLAIN_QUERY = "verb=get&amp;resource=pods"  # what a cell's link asks explain (the explain page can change it)
INHERITED_MARK = '<span class="mark" aria-hidden="true">↑</span><span class="visually-hidden"> (inherited)</span>'
LEGEND = (
    (Level.CLUSTER_ADMIN, "AmazonEKSClusterAdminPolicy: everything, cluster-wide"),
    (Level.ADMIN, "AmazonEKSAdminPolicy: most resources, including RBAC in the namespace"),
    (Level.EDIT, "AmazonEKSEditPolicy: create, change and delete most resources"),
    (Level.VIEW, "AmazonEKSViewPolicy: read most resources (not Secrets)"),
    (Level.CUSTOM, "another access policy, or Kubernetes groups (RBAC decides what they allow)"),
)


def _number(value: str | None) -> int:
    try:
        return int(value or 1)
    except ValueError:
        return 1


def _extra_namespaces(text: str) -> tuple[list[str], list[str]]:
    """The valid namespace names of a comma-separated list (no wildcards), and the ignored ones."""
    names: list[str] = []
    ignored: list[str] = []
    for raw in text.split(","):
        name = raw.strip()
        if not name or name in names:
            continue
        if "*" not in name and len(names) < MAX_EXTRA and _valid_namespace(name):
            names.append(name)
        else:
            ignored.append(name)
    return names, ignored


def _valid_namespace(name: str) -> bool:
    """A namespace name as an access scope accepts it (the API's own rule, reused)."""
    try:
        AccessScope.create("namespace", [name])
    except InvalidParameter:
        return False
    return True


def _refusal(exc: DomainError) -> str:
    code = EKS_ERRORS.get(type(exc), ("InternalFailure", None))[0]
    return f"{exc.message} ({code})"


class MatrixPage:
    """What the template shows; built in a worker thread (snapshot read and IAM checks block)."""

    def __init__(self, console: Console, cache: MatrixCache, view: View, cluster: str) -> None:
        self.console = console
        self.cache = cache
        self.view = view
        self.cluster = cluster
        self.query = view.request.query_params
        self.base = f"/console/clusters/{quote(cluster, safe='')}"

    def load(self) -> tuple[int, dict[str, Any]]:
        insight: Insight = self.console.extras["insight"]
        try:
            snapshot = insight.listable_snapshot(self.view.caller, self.view.facts, self.cluster)
        except AccessDenied as exc:
            return 403, {"error": _refusal(exc)}
        except ResourceNotFound as exc:
            return 404, {"error": _refusal(exc)}
        index = self.cache.index(snapshot)
        principal_filter = self.query.get("principal", "")[:256]
        extra, ignored = _extra_namespaces(self.query.get("namespaces", "")[:4096])
        rows = index.principals(principal_filter)
        rows_page = page_of(len(rows), _number(self.query.get("page")), PAGE_SIZE)
        listed = rows[rows_page.start:rows_page.stop]
        readable = insight.readable(self.view.caller, self.view.facts, self.cluster,
                                    [row.principal_arn for row in listed])
        shown = [row for row in listed if row.principal_arn in readable]
        columns = index.columns(extra)
        columns_page = page_of(len(columns), _number(self.query.get("ns_page")), NS_PAGE_SIZE)
        visible = columns[columns_page.start:columns_page.stop]
        quoted = [quote(ns, safe="") for ns in visible]
        filters = {"principal": principal_filter, "namespaces": ",".join(extra)}
        return 200, {
            "rows": [self._row(row, visible, quoted) for row in shown], "columns": visible, "extra": set(extra),
            "withheld": len(listed) - len(shown), "rows_page": rows_page, "columns_page": columns_page,
            "filters": filters, "ignored": ignored, "links": self._links(filters, rows_page, columns_page),
            "wildcards": index.wildcards[:MAX_WILDCARDS_SHOWN], "more_wildcards": len(index.wildcards) > MAX_WILDCARDS_SHOWN,
            "config_map_only": snapshot.mode is AuthenticationMode.CONFIG_MAP, "revision": snapshot.revision,
        }

    def _row(self, row: PrincipalRow, columns: tuple[str, ...], quoted: list[str]) -> dict[str, Any]:
        explain = f"{self.base}/explain?principalArn={quote(row.principal_arn, safe=':/')}"
        inherited = row.inherited_cell()
        shared = (inherited, _title(inherited))
        cells = [_cell_html(row.cluster_cell(), f"{explain}&amp;{EXPLAIN_QUERY}", shared, "cluster-col ")]
        cells += [_cell_html(row.cell(ns), f"{explain}&amp;namespace={q}&amp;{EXPLAIN_QUERY}", shared)
                  for ns, q in zip(columns, quoted)]
        return {"principal": row.principal_arn, "username": row.username, "cells": Markup("".join(cells))}

    def _links(self, filters: Mapping[str, str], rows_page: Page, columns_page: Page) -> dict[str, str | None]:
        def at(rows: int, cols: int) -> str:
            query = {k: v for k, v in filters.items() if v}
            return f"{self.base}/matrix?{urlencode({**query, 'page': rows, 'ns_page': cols})}"

        r, c = rows_page.number, columns_page.number
        return {
            "first": at(1, c) if r > 1 else None, "prev": at(r - 1, c) if r > 1 else None,
            "next": at(r + 1, c) if r < rows_page.pages else None,
            "last": at(rows_page.pages, c) if r < rows_page.pages else None,
            "ns_first": at(r, 1) if c > 1 else None, "ns_prev": at(r, c - 1) if c > 1 else None,
            "ns_next": at(r, c + 1) if c < columns_page.pages else None,
            "ns_last": at(r, columns_page.pages) if c < columns_page.pages else None,
        }


def _title(cell: Cell) -> str:
    return str(escape("; ".join(grant.describe() for grant in cell.grants)))


def _cell_html(cell: Cell, href: str, shared: tuple[Cell, str], extra_class: str = "") -> str:
    """One cell's markup, every value escaped (or URL-quoted, which leaves nothing HTML could read).

    Written here rather than in the template: the Jinja loop over 1,250 cells cost ~90 ms a
    page, this costs a few. ``href`` is already quoted and HTML-escaped by the caller. ``shared``
    is the row's inherited cell and its title, described once per row (most cells are it).
    """
    if cell.level is None:
        return f'<td class="{extra_class}lv-none"><a href="{href}">·<span class="visually-hidden">none</span></a></td>'
    label = cell.level.label
    title = shared[1] if cell is shared[0] else _title(cell)
    if cell.inherited:
        return (f'<td class="{extra_class}lv-{label} inh"><a href="{href}" title="{title}">{label}'
                f'{INHERITED_MARK}</a></td>')
    return f'<td class="{extra_class}lv-{label}"><a href="{href}" title="{title}">{label}</a></td>'


def routes(console: Console) -> list[BaseRoute]:
    cache = MatrixCache()

    async def matrix(console_: Console, view: View) -> Response:
        cluster = view.request.path_params["name"]
        status, context = await run_in_threadpool(MatrixPage(console_, cache, view, cluster).load)
        return console_.render(view, view.request, "matrix.html", status=status, cluster=cluster,
                               cluster_href=f"/console/clusters/{quote(cluster, safe='')}", legend=LEGEND,
                               entry_reads=ENTRY_READS, **context)

    return [Route("/clusters/{name}/matrix", page(console, matrix), methods=["GET"])]
