"""Explain and who-can pages, plus the routes of the audit-log and IAM pages (their own modules).

Explain and who-can answer what ``kubegate explain`` and ``kubegate who-can`` print, from the
same :class:`kubegate.api.insight.Insight` the CLI's HTTP endpoint uses, so the console cannot
show more than that endpoint would: the caller needs ``eks:ListAccessEntries`` on the cluster,
and ``eks:DescribeAccessEntry`` + ``eks:ListAssociatedAccessPolicies`` on each entry it reveals.
Both only read, so they are GET forms and their URLs can be shared.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import botocore.session
from botocore.model import NoShapeFoundError
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from kubegate.api.insight import Insight
from kubegate.api.signed_json import BadQuery
from kubegate.console import insight_audit, insight_iam
from kubegate.console.app import Console, View, failure, page
from kubegate.domain.errors import DomainError
from kubegate.service.stacks.calls import ServiceError

MAX_FIELD = 2048  # a query value longer than any ARN, resource or path a request can carry

REQUEST_FIELDS = (
    # (query name, label, hint, Insight's query name)
    ("verb", "Verb", "get, list, create, delete…", "verb"),
    ("resource", "Resource", "pods, deployments, secrets…", "resource"),
    ("namespace", "Namespace", "empty: cluster-scoped or all namespaces", "namespace"),
    ("apiGroup", "API group", "empty for the core group; apps, batch…", "group"),
    ("subresource", "Subresource", "log, exec, status… (optional)", "subresource"),
    ("name", "Resource name", "optional", "name"),
    ("path", "Non-resource path", "/healthz, /metrics… instead of a resource", "path"),
)
EXPLAIN_FIELDS = ("principalArn", "session")
_session = botocore.session.get_session()


def read_query(view: View, names: tuple[str, ...]) -> tuple[dict[str, str], str | None]:
    """The page's query values (trimmed), or an error for an over-long one."""
    values = {name: view.request.query_params.get(name, "").strip() for name in names}
    for name, value in values.items():
        if len(value) > MAX_FIELD:
            return {k: ("" if k == name else v) for k, v in values.items()}, f"{name} is longer than {MAX_FIELD} characters."
    return values, None


def insight_query(values: dict[str, str]) -> dict[str, str]:
    """The console's field names as Insight's query (apiGroup is its ``group``); empty fields left out."""
    query = {insight: values[field] for field, _, _, insight in REQUEST_FIELDS if values.get(field)}
    for name in EXPLAIN_FIELDS:
        if values.get(name):
            query[name] = values[name]
    return query


def refusal(console: Console, exc: DomainError | BadQuery) -> tuple[str, int]:
    """The message and status an Insight refusal gets: the EKS API's code and message, as the CLI shows them."""
    if isinstance(exc, BadQuery):
        return f"{exc} (InvalidParameterException)", 400
    error = console.apis["eks"].error_from(exc)
    status = error.status or _model_status(error.code)
    return failure(ServiceError("eks", error.code, status, error.message)), status


def _model_status(code: str) -> int:
    """The HTTP status the EKS model gives an error code (404 for ResourceNotFoundException …)."""
    try:
        shape = _session.get_service_model("eks").shape_for(code)
    except NoShapeFoundError:  # not an error shape of the model
        return 400
    return int(shape.metadata.get("error", {}).get("httpStatusCode", 400))


def _share(values: dict[str, str]) -> str:
    return urlencode({k: v for k, v in values.items() if v})


def _entries(console: Console, view: View, cluster: str) -> list[str]:
    """The cluster's access entries for the principal picker; none when the caller may not list them."""
    try:
        return sorted(console.call(view, "eks", "ListAccessEntries", {"clusterName": cluster})["accessEntries"])
    except ServiceError:
        return []


def decision(answer: dict[str, Any]) -> tuple[str, str]:
    """(css class, words) for an explanation: allowed, denied with no opinion (RBAC may allow), or unauthenticated."""
    if answer["allowed"]:
        return "allowed", "Allowed by kubegate's access policies"
    if answer.get("username") is None:
        return "refused", "Denied: the principal is not authenticated for this cluster"
    return "refused", "Denied by kubegate's access policies (no opinion: Kubernetes RBAC may still allow it)"


async def explain_page(console: Console, view: View) -> Response:
    cluster = view.request.path_params["name"]
    values, error = read_query(view, (*EXPLAIN_FIELDS, *(f for f, _, _, _ in REQUEST_FIELDS)))
    insight: Insight = console.extras["insight"]

    def load() -> tuple[list[str], dict[str, Any] | None, str | None, int]:
        entries = _entries(console, view, cluster)
        if error or not values["principalArn"]:
            return entries, None, error, 400 if error else 200
        try:
            return entries, insight.explain_for(view.caller, view.facts, cluster, insight_query(values)), None, 200
        except (DomainError, BadQuery) as exc:
            return (entries, None, *refusal(console, exc))

    entries, answer, error, status = await run_in_threadpool(load)
    return console.render(
        view, view.request, "explain.html", status=status, cluster=cluster, values=values, fields=REQUEST_FIELDS,
        entries=entries, answer=answer, error=error, decision=decision(answer) if answer else None,
        share=_share(values), who_can=_share({f: values[f] for f, _, _, _ in REQUEST_FIELDS}),
    )


async def who_can_page(console: Console, view: View) -> Response:
    cluster = view.request.path_params["name"]
    values, error = read_query(view, tuple(f for f, _, _, _ in REQUEST_FIELDS))
    insight: Insight = console.extras["insight"]

    def load() -> tuple[dict[str, Any] | None, str | None, int]:
        if error or not values["verb"]:
            return None, error, 400 if error else 200
        try:
            return insight.who_can_for(view.caller, view.facts, cluster, insight_query(values)), None, 200
        except (DomainError, BadQuery) as exc:
            return (None, *refusal(console, exc))

    answer, error, status = await run_in_threadpool(load)
    holders = [{**h, "explain": _share({**values, "principalArn": h["principalArn"]}),
                "policy": h["policyArn"].rsplit("/", 1)[-1]} for h in (answer or {}).get("holders", [])]
    return console.render(view, view.request, "who_can.html", status=status, cluster=cluster, values=values,
                          fields=REQUEST_FIELDS, answer=answer, holders=holders, error=error, share=_share(values))


def routes(console: Console) -> list[BaseRoute]:
    return [
        Route("/clusters/{name}/explain", page(console, explain_page), methods=["GET"]),
        Route("/clusters/{name}/who-can", page(console, who_can_page), methods=["GET"]),
        *insight_audit.routes(console),
        *insight_iam.routes(console),
    ]
