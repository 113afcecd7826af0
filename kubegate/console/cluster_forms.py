"""The access-entry and access-policy forms: each one EKS call as the signed-in principal.

A form's fields become the operation's parameters and nothing else decides: the API validates
them (a ``system:`` group, a bad ARN, a namespace scope without namespaces) and authorizes
them, and its message is shown next to the form with the user's input kept. Success redirects
(post/redirect/get) with a short confirmation.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote, urlencode

from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from kubegate.console.app import SECURITY_HEADERS, Console, View, action, failure
from kubegate.console.clusters import Position, cluster_page, entry_page
from kubegate.service.stacks.calls import ServiceError

CONFIRM = "yes"


def split_list(text: str | None) -> list[str]:
    """"a, b,,c" -> ["a", "b", "c"]: groups and namespaces are typed comma-separated."""
    return [part.strip() for part in (text or "").replace("\n", ",").split(",") if part.strip()]


def create_params(name: str, form: dict[str, str]) -> dict[str, Any]:
    params: dict[str, Any] = {"clusterName": name, "principalArn": form.get("principalArn", "").strip()}
    if form.get("type"):
        params["type"] = form["type"]
    if form.get("username", "").strip():
        params["username"] = form["username"].strip()
    groups = split_list(form.get("groups"))
    if groups:
        params["kubernetesGroups"] = groups
    return params


def update_params(name: str, form: dict[str, str]) -> dict[str, Any]:
    """Groups are always sent (an empty field clears them); a blank username leaves it as it is."""
    params: dict[str, Any] = {"clusterName": name, "principalArn": form.get("principalArn", ""),
                              "kubernetesGroups": split_list(form.get("groups"))}
    if form.get("username", "").strip():
        params["username"] = form["username"].strip()
    return params


def associate_params(name: str, form: dict[str, str]) -> dict[str, Any]:
    scope: dict[str, Any] = {"type": form.get("scope") or "cluster"}
    namespaces = split_list(form.get("namespaces"))
    if namespaces:
        scope["namespaces"] = namespaces
    return {"clusterName": name, "principalArn": form.get("principalArn", ""), "policyArn": form.get("policyArn", ""),
            "accessScope": scope}


def _status(exc: ServiceError) -> int:
    return 403 if exc.status == 403 else 400


def _redirect(path: str, done: str, **query: str) -> Response:
    return RedirectResponse(f"{path}?{urlencode({**query, 'done': done})}", status_code=303, headers=SECURITY_HEADERS)


def _cluster_path(name: str) -> str:
    return f"/console/clusters/{quote(name, safe='')}"


async def _call(console: Console, view: View, operation: str, params: dict[str, Any]) -> ServiceError | None:
    try:
        await run_in_threadpool(console.call, view, "eks", operation, params)
    except ServiceError as exc:
        return exc
    return None


# --- the handlers ------------------------------------------------------------------------------


async def create_entry(console: Console, view: View) -> Response:
    name = view.request.path_params["name"]
    params = create_params(name, view.form)
    refused = await _call(console, view, "CreateAccessEntry", params)
    if refused:
        return await cluster_page(console, view, name, at=Position.of(view.form), errors={"create": failure(refused)},
                                  values={"create": view.form}, status=_status(refused))
    return _redirect(f"{_cluster_path(name)}/entry", f"Created the access entry for {params['principalArn']}.",
                     principalArn=params["principalArn"])


async def update_entry(console: Console, view: View) -> Response:
    name = view.request.path_params["name"]
    params = update_params(name, view.form)
    refused = await _call(console, view, "UpdateAccessEntry", params)
    if refused:
        return await entry_page(console, view, name, params["principalArn"], errors={"update": failure(refused)},
                                values={"update": view.form}, status=_status(refused))
    return _redirect(f"{_cluster_path(name)}/entry", "Updated the access entry.", principalArn=params["principalArn"])


async def delete_entry(console: Console, view: View) -> Response:
    name = view.request.path_params["name"]
    principal = view.form.get("principalArn", "")
    if view.form.get("confirm") != CONFIRM:
        return await entry_page(console, view, name, principal, status=400, values={"delete": view.form},
                                errors={"delete": "Tick the box to confirm the deletion; nothing was deleted."})
    refused = await _call(console, view, "DeleteAccessEntry", {"clusterName": name, "principalArn": principal})
    if refused:
        return await entry_page(console, view, name, principal, errors={"delete": failure(refused)},
                                values={"delete": view.form}, status=_status(refused))
    return _redirect(_cluster_path(name), f"Deleted the access entry for {principal}.")


async def associate_policy(console: Console, view: View) -> Response:
    name = view.request.path_params["name"]
    params = associate_params(name, view.form)
    refused = await _call(console, view, "AssociateAccessPolicy", params)
    if refused:
        return await entry_page(console, view, name, params["principalArn"], errors={"associate": failure(refused)},
                                values={"associate": view.form}, status=_status(refused))
    policy = params["policyArn"].rsplit("/", 1)[-1]
    return _redirect(f"{_cluster_path(name)}/entry", f"Associated {policy}.", principalArn=params["principalArn"])


async def disassociate_policy(console: Console, view: View) -> Response:
    """Posted from a chip on the cluster page or the entry page; failure re-renders the page it came from."""
    name = view.request.path_params["name"]
    principal, policy = view.form.get("principalArn", ""), view.form.get("policyArn", "")
    refused = await _call(console, view, "DisassociateAccessPolicy",
                          {"clusterName": name, "principalArn": principal, "policyArn": policy})
    from_cluster = view.form.get("back") == "cluster"
    if refused:
        errors, values = {"disassociate": failure(refused)}, {"disassociate": view.form}
        if from_cluster:
            return await cluster_page(console, view, name, at=Position.of(view.form), errors=errors, values=values,
                                      status=_status(refused))
        return await entry_page(console, view, name, principal, errors=errors, values=values, status=_status(refused))
    done = f"Disassociated {policy.rsplit('/', 1)[-1]} from {principal}."
    if from_cluster:
        return _redirect(_cluster_path(name), done, **Position.of(view.form).query())
    return _redirect(f"{_cluster_path(name)}/entry", done, principalArn=principal)


Handler = Callable[[Console, View], Awaitable[Response]]
FORMS: dict[str, Handler] = {
    "/clusters/{name}/entries": create_entry,
    "/clusters/{name}/entry/update": update_entry,
    "/clusters/{name}/entry/delete": delete_entry,
    "/clusters/{name}/entry/associate": associate_policy,
    "/clusters/{name}/entry/disassociate": disassociate_policy,
}


def routes(console: Console) -> list[BaseRoute]:
    return [Route(path, action(console, handler), methods=["POST"]) for path, handler in FORMS.items()]
