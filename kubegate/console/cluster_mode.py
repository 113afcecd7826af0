"""The guarded, one-way authentication-mode upgrade: a preview of who gains or loses access, then a confirm.

The preview is ``kubegate access-diff --authentication-mode``: the server's
:class:`AccessChanges` rehearses the switch through the service layer and compares every
principal's mapping before and after, with the webhooks' own code. It reveals every
principal's username, groups and policies, so it is authorized as the access-diff API is:
``eks:ListAccessEntries``, ``kubegate:DescribeIdentityMappings``, and ``eks:DescribeAccessEntry``
plus ``eks:ListAssociatedAccessPolicies`` on every entry; a partial diff would mislead, so a
missing one withholds the whole preview (the confirm form stays: switching needs only
``eks:UpdateClusterConfig``, as with the AWS CLI).

The confirm posts ``UpdateClusterConfig`` through :meth:`Console.call`, so the EKS API's mode
guard (``api/mode_guard.py``, hooked into the API's ``run``) logs and audits who loses access
exactly as for an ``aws eks update-cluster-config``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from kubegate.api.insight import ENTRY_READS
from kubegate.console import cluster_data as data
from kubegate.console.app import SECURITY_HEADERS, Console, View, action, failure, page
from kubegate.console.clusters import STYLES
from kubegate.domain.errors import DomainError
from kubegate.service.stacks.calls import ServiceError


def authorize_preview(console: Console, view: View, cluster: str) -> None:
    """What the access-diff API checks before it shows a diff (AccessDenied if any is missing)."""
    signed = console.extras["insight"].signed
    signed.check(view.caller, "ListAccessEntries", cluster, view.facts)
    signed.check_kubegate(view.caller, data.DESCRIBE_MAPPINGS, cluster, view.facts)
    snapshot = console.extras["changes"].snapshot(cluster)
    for entry in [*snapshot.entries_by_id.values(), *snapshot.entries_by_arn.values()]:
        for operation in ENTRY_READS:
            signed.check(view.caller, operation, cluster, view.facts, {"principalArn": entry.principal_arn})


def preview(console: Console, view: View, cluster: str, target: str) -> dict[str, Any]:
    """The diff of switching ``cluster`` to ``target``, or why it cannot be shown."""
    try:
        authorize_preview(console, view, cluster)
        changes = console.extras["changes"]
        state = console.extras["edits"].state(cluster)
        result = changes.diff(cluster, changes.mode_switch(cluster, target), caller=view.caller, state=state)
    except DomainError as exc:
        return {"diff_error": data.domain_failure(console, exc)}
    return {"diff": result}


async def show_mode(console: Console, view: View) -> Response:
    name = view.request.path_params["name"]
    return await mode_page(console, view, name, view.request.query_params.get("to", ""))


async def mode_page(console: Console, view: View, name: str, target: str, *, error: str | None = None,
                    status: int = 200) -> Response:
    def load() -> dict[str, Any]:
        mode, fatal = data.described_mode(console, view, name)
        if mode is None:
            return fatal
        allowed = data.next_modes(mode)
        context: dict[str, Any] = {"mode": mode, "allowed": allowed}
        if target not in allowed:
            context["diff_error"] = (f"A cluster in {mode} can move only to "
                                     f"{' or '.join(allowed) or 'no other mode'}; {target or 'no mode'} was asked for.")
            return context
        context["missing"] = console.missing(view, "eks", "UpdateClusterConfig",
                                             {"name": name, "accessConfig": {"authenticationMode": target}})
        context.update(preview(console, view, name, target))
        return context

    context = await run_in_threadpool(load)
    if "fatal" in context:
        return console.render(view, view.request, "message.html", status=context["fatal_status"],
                              title=f"Cluster {name}", message=context["fatal"])
    return console.render(view, view.request, "mode.html", status=status, name=name, target=target, error=error,
                          styles=STYLES, **context)


async def switch_mode(console: Console, view: View) -> Response:
    name = view.request.path_params["name"]
    target = view.form.get("to", "")
    params = {"name": name, "accessConfig": {"authenticationMode": target}}
    try:
        update = (await run_in_threadpool(console.call, view, "eks", "UpdateClusterConfig", params))["update"]
    except ServiceError as exc:
        return await mode_page(console, view, name, target, error=failure(exc),
                               status=403 if exc.status == 403 else 400)
    done = f"Authentication mode set to {target} (update {update['id']}, {update['status']})."
    return RedirectResponse(f"/console/clusters/{quote(name, safe='')}?{urlencode({'done': done})}", status_code=303,
                            headers=SECURITY_HEADERS)


def routes(console: Console) -> list[BaseRoute]:
    return [
        Route("/clusters/{name}/mode", page(console, show_mode), methods=["GET"]),
        Route("/clusters/{name}/mode", action(console, switch_mode), methods=["POST"]),
    ]
