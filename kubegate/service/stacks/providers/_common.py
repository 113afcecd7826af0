"""What several providers share: tags, policy documents, "already gone", and refusals.

Normalisation rules (the template side and ``read`` must agree on them):

- a policy document is compared as a parsed JSON value, whether the template gave an object
  or a JSON string, and whether IAM answers URL-encoded text;
- lists whose order means nothing to the service (EKS namespaces and Kubernetes groups, IAM
  policy ARNs, OIDC client IDs and thumbprints) are sorted;
- ``read`` reports ``Tags`` only for the keys the template declares, because the stack's own
  tags are on the resource too and a provider cannot tell them from tags added out of band.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar
from urllib.parse import unquote

from kubegate.service.stacks.calls import AwsCalls, ServiceError
from kubegate.service.stacks.providers.base import Properties

T = TypeVar("T")

# The codes with which EKS and IAM say the thing asked about does not exist.
_GONE_CODES = frozenset({"ResourceNotFoundException", "NoSuchEntity"})


def is_gone(error: ServiceError) -> bool:
    """Whether a refusal only says the resource is not there (a delete's success)."""
    return error.code in _GONE_CODES


def unsupported(service: str, type_name: str, prop: str, why: str = "") -> ServiceError:
    """The refusal of a property whose EKS or IAM operation kubegate does not serve.

    Raised before any call is made, so a refused update changes nothing."""
    detail = f" ({why})" if why else ""
    return ServiceError(service, "ValidationError", 400,
                        f"kubegate does not support the property {prop} of {type_name}{detail}")


def tag_map(tags: Iterable[Mapping[str, Any]] | None) -> dict[str, str]:
    """CloudFormation's ``[{Key, Value}]`` as a map."""
    return {str(t["Key"]): str(t.get("Value", "")) for t in tags or ()}


def tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    """A map as IAM's and CloudFormation's ``[{Key, Value}]``, in key order."""
    return [{"Key": k, "Value": tags[k]} for k in sorted(tags)]


def create_tags(stack_tags: Mapping[str, str], properties: Properties) -> dict[str, str]:
    """The tags a new resource gets: the stack's, overridden by the resource's own ``Tags``."""
    return {**stack_tags, **tag_map(properties.get("Tags"))}


def tag_changes(old: Properties, new: Properties) -> tuple[dict[str, str], list[str]]:
    """What to set and which keys to remove when ``Tags`` goes from ``old`` to ``new``.

    Only the resource's own tags are diffed: a stack tag the resource also had is left alone."""
    before, after = tag_map(old.get("Tags")), tag_map(new.get("Tags"))
    to_set = {k: v for k, v in after.items() if before.get(k) != v}
    return to_set, sorted(set(before) - set(after))


def declared_tags(actual: Mapping[str, str], properties: Properties) -> list[dict[str, str]]:
    """``read``'s ``Tags``: the actual values of the keys the template declares (see above)."""
    declared = tag_map(properties.get("Tags"))
    return tag_list({k: actual[k] for k in declared if k in actual})


def policy_text(document: Any) -> str:
    """A policy document as IAM takes it: objects serialised, strings passed on as written."""
    return document if isinstance(document, str) else json.dumps(document)


def policy_value(document: Any) -> Any:
    """A policy document as compared: parsed, from an object, a JSON string or IAM's URL-encoded text."""
    if not isinstance(document, str):
        return document
    text = document.strip()
    if not text.startswith(("{", "[")):
        text = unquote(text)
    try:
        return json.loads(text)
    except ValueError:
        return document


def same_policy(a: Any, b: Any) -> bool:
    return bool(policy_value(a) == policy_value(b))


def named_policies(items: Iterable[Mapping[str, Any]] | None) -> dict[str, Any]:
    """A ``Policies`` property ``[{PolicyName, PolicyDocument}]`` by name."""
    return {str(p["PolicyName"]): p["PolicyDocument"] for p in items or ()}


def strings(items: Iterable[Any] | None) -> list[str]:
    """An optional list of names as a sorted list (see above)."""
    return sorted(str(x) for x in items or ())


def iam_pages(call: AwsCalls, operation: str, params: dict[str, Any], key: str) -> list[Any]:
    """Every item of a Marker-paginated IAM list."""
    items: list[Any] = []
    marker: str | None = None
    while True:
        page = call("iam", operation, {**params, **({"Marker": marker} if marker else {})})
        items.extend(page.get(key) or ())
        marker = page.get("Marker") if page.get("IsTruncated") else None
        if not marker:
            return items


def eks_pages(call: AwsCalls, operation: str, params: dict[str, Any], key: str) -> list[Any]:
    """Every item of a nextToken-paginated EKS list."""
    items: list[Any] = []
    token: str | None = None
    while True:
        page = call("eks", operation, {**params, **({"nextToken": token} if token else {})})
        items.extend(page.get(key) or ())
        token = page.get("nextToken")
        if not token:
            return items


def ignoring_gone(action: Callable[[], T]) -> T | None:
    """Run ``action``; None if it only failed because its target is already gone."""
    try:
        return action()
    except ServiceError as error:
        if is_gone(error):
            return None
        raise


def undo_all(undo: list[Callable[[], Any]]) -> None:
    """Undo a create's steps, newest first, before its error is re-raised.

    An undo step that fails is skipped: the original error is the one worth reporting."""
    for step in reversed(undo):
        try:
            step()
        except ServiceError:
            pass


POLICY_TARGETS = {"Roles": "Role", "Users": "User"}
"""The properties that attach a policy, and the owner each names."""


def refuse_groups(type_name: str, properties: Properties) -> None:
    """kubegate's IAM has no groups: a policy for one is refused, not silently left out."""
    if properties.get("Groups"):
        raise unsupported("iam", type_name, "Groups", "kubegate's IAM has no groups")
