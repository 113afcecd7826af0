"""IAM pages, read-only: users and roles, and one user's or role's policies and keys.

Every read is an IAM API call as the signed-in principal (:meth:`Console.call`), so each
section shows either what that call returned or the API's own refusal; a caller who may list
roles but not read their inline policies sees the one and the refusal for the other. Only
operations kubegate's IAM implements are called (``kubegate/api/iam.py`` handlers).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any
from urllib.parse import unquote

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from kubegate.console.app import Console, View, failure, page
from kubegate.service.stacks.calls import ServiceError

PAGE_ITEMS = 100
MAX_PAGES = 20  # 2,000 users or roles on the list page; beyond that it says the list is cut short


@dataclass
class Section:
    """One call's result on a page, or the refusal shown in its place."""

    items: list[Any] = field(default_factory=list)
    error: str | None = None
    truncated: bool = False


def pretty_policy(document: Any) -> str:
    """A policy document as indented JSON; IAM returns documents URL-encoded, so decode that first."""
    if isinstance(document, dict):
        return json.dumps(document, indent=2, ensure_ascii=False)
    text = str(document or "")
    for candidate in (unquote(text), text):
        try:
            return json.dumps(json.loads(candidate), indent=2, ensure_ascii=False)
        except ValueError:
            continue
    return unquote(text)


def shown(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    return "" if value is None else str(value)


def listed(console: Console, view: View, operation: str, params: dict[str, Any], key: str) -> Section:
    """Every page of a Marker-paged IAM list (up to MAX_PAGES)."""
    section = Section()
    marker: str | None = None
    try:
        for _ in range(MAX_PAGES):
            answer = console.call(view, "iam", operation, {**params, "MaxItems": PAGE_ITEMS,
                                                           **({"Marker": marker} if marker else {})})
            section.items.extend(answer.get(key) or [])
            marker = answer.get("Marker") if answer.get("IsTruncated") else None
            if not marker:
                return section
        section.truncated = True
    except ServiceError as exc:
        section.error = failure(exc)
    return section


def attempt(call: Callable[[], Any]) -> tuple[Any, ServiceError | None]:
    try:
        return call(), None
    except ServiceError as exc:
        return None, exc


def inline_policies(console: Console, view: View, kind: str, owner_key: str, name: str) -> Section:
    """Each inline policy with its document (List…Policies, then Get…Policy for each name)."""
    names = listed(console, view, f"List{kind}Policies", {owner_key: name}, "PolicyNames")
    policies = Section(error=names.error, truncated=names.truncated)
    for policy_name in names.items:
        answer, error = attempt(partial(console.call, view, "iam", f"Get{kind}Policy",
                                        {owner_key: name, "PolicyName": policy_name}))
        policies.items.append({"name": policy_name, "error": failure(error) if error else None,
                               "document": pretty_policy(answer["PolicyDocument"]) if answer else ""})
    return policies


async def iam_home(console: Console, view: View) -> Response:
    def load() -> tuple[Section, Section]:
        return (listed(console, view, "ListUsers", {}, "Users"), listed(console, view, "ListRoles", {}, "Roles"))

    users, roles = await run_in_threadpool(load)
    for section in (users, roles):
        section.items = [{k: shown(v) for k, v in item.items()} for item in section.items]
    return console.render(view, view.request, "iam.html", users=users, roles=roles)


async def iam_role(console: Console, view: View) -> Response:
    name = view.request.path_params["name"]

    def load() -> dict[str, Any]:
        role, error = attempt(lambda: console.call(view, "iam", "GetRole", {"RoleName": name})["Role"])
        if error:
            return {"error": failure(error), "status": error.status}
        return {
            "role": {k: shown(v) for k, v in role.items() if k not in ("AssumeRolePolicyDocument", "Tags")},
            "tags": role.get("Tags") or [], "trust": pretty_policy(role.get("AssumeRolePolicyDocument")),
            "inline": inline_policies(console, view, "Role", "RoleName", name),
            "attached": listed(console, view, "ListAttachedRolePolicies", {"RoleName": name}, "AttachedPolicies"),
        }

    found = await run_in_threadpool(load)
    return console.render(view, view.request, "iam_role.html", status=found.pop("status", 200), name=name,
                          **found)


async def iam_user(console: Console, view: View) -> Response:
    name = view.request.path_params["name"]

    def load() -> dict[str, Any]:
        user, error = attempt(lambda: console.call(view, "iam", "GetUser", {"UserName": name})["User"])
        if error:
            return {"error": failure(error), "status": error.status}
        keys = listed(console, view, "ListAccessKeys", {"UserName": name}, "AccessKeyMetadata")
        keys.items = [{"id": k.get("AccessKeyId", ""), "status": k.get("Status", ""),
                       "created": shown(k.get("CreateDate"))} for k in keys.items]  # never more than ID and status
        return {
            "user": {k: shown(v) for k, v in user.items() if k != "Tags"}, "tags": user.get("Tags") or [],
            "inline": inline_policies(console, view, "User", "UserName", name),
            "attached": listed(console, view, "ListAttachedUserPolicies", {"UserName": name}, "AttachedPolicies"),
            "keys": keys,
        }

    found = await run_in_threadpool(load)
    return console.render(view, view.request, "iam_user.html", status=found.pop("status", 200), name=name,
                          **found)


def routes(console: Console) -> list[BaseRoute]:
    return [
        Route("/iam", page(console, iam_home), methods=["GET"]),
        Route("/iam/roles/{name}", page(console, iam_role), methods=["GET"]),
        Route("/iam/users/{name}", page(console, iam_user), methods=["GET"]),
    ]
