"""The EKS access-policy catalogue and access scopes.

Access policies are AWS-managed, allow-only sets of Kubernetes RBAC rules. The catalogue
is data shipped in the package (``data/access-policies.json``); policies whose rules are
not public are listed (ListAccessPolicies shows them) but carry no rules.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import Enum
from functools import cache
from importlib import resources
from typing import Any

from kubegate.domain.errors import InvalidParameter

POLICY_ARN_PREFIX = "arn:aws:eks::aws:cluster-access-policy/"
CLUSTER_ADMIN_POLICY_ARN = POLICY_ARN_PREFIX + "AmazonEKSClusterAdminPolicy"
AUTO_NODE_POLICY_ARN = POLICY_ARN_PREFIX + "AmazonEKSAutoNodePolicy"

# Documented as "designated for AWS service-linked roles only" (EKS User Guide, Nov 2025).
SERVICE_LINKED_ONLY = frozenset(
    {
        "AmazonEKSBlockStoragePolicy",
        "AmazonEKSComputePolicy",
        "AmazonEKSBlockStorageClusterPolicy",
        "AmazonEKSComputeClusterPolicy",
        "AmazonEKSHybridPolicy",
        "AmazonEKSClusterInsightsPolicy",
    }
)


@dataclass(frozen=True)
class PolicyRule:
    """One Kubernetes RBAC PolicyRule; an empty string in api_groups is the core group."""

    verbs: tuple[str, ...]
    api_groups: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    resource_names: tuple[str, ...] = ()
    non_resource_urls: tuple[str, ...] = ()


@dataclass(frozen=True)
class AccessPolicy:
    name: str
    arn: str
    rules: tuple[PolicyRule, ...]
    rules_public: bool

    @property
    def service_linked_only(self) -> bool:
        return self.name in SERVICE_LINKED_ONLY


def _rule(raw: dict[str, Any]) -> PolicyRule:
    return PolicyRule(
        verbs=tuple(raw.get("verbs") or ()),
        api_groups=tuple(raw.get("apiGroups") or ()),
        resources=tuple(raw.get("resources") or ()),
        resource_names=tuple(raw.get("resourceNames") or ()),
        non_resource_urls=tuple(raw.get("nonResourceURLs") or ()),
    )


@cache
def catalogue() -> dict[str, AccessPolicy]:
    """Every policy by ARN, in name order (the order ListAccessPolicies shows)."""
    text = resources.files("kubegate.domain").joinpath("data/access-policies.json").read_text()
    policies = [
        AccessPolicy(
            name=raw["name"],
            arn=raw["arn"],
            rules=tuple(_rule(r) for r in raw.get("rules") or ()),
            rules_public=bool(raw.get("confirmed")) and bool(raw.get("rules")),
        )
        for raw in json.loads(text)["policies"]
    ]
    return {p.arn: p for p in sorted(policies, key=lambda p: p.name)}


def policy_by_arn(arn: str) -> AccessPolicy:
    policy = catalogue().get(arn)
    if policy is None:
        raise InvalidParameter(f"The specified policyArn is not a valid access policy: {arn}")
    return policy


class ScopeType(str, Enum):
    CLUSTER = "cluster"
    NAMESPACE = "namespace"


_NAMESPACE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")  # with fullmatch: no trailing newline
_NAMESPACE_PREFIX = re.compile(r"[a-z0-9][-a-z0-9]*\*")


@dataclass(frozen=True)
class AccessScope:
    """Where a policy applies: the whole cluster, or listed namespaces (``prefix*`` allowed)."""

    type: ScopeType
    namespaces: tuple[str, ...] = ()

    @classmethod
    def create(cls, type_: str, namespaces: list[str] | None) -> AccessScope:
        scope_type = ScopeType(type_)
        names = tuple(namespaces or ())
        if scope_type is ScopeType.CLUSTER:
            if names:
                raise InvalidParameter("namespaces can only be specified for an access scope of type namespace")
            return cls(scope_type)
        if not names:
            raise InvalidParameter("namespaces must be specified for an access scope of type namespace")
        for name in names:
            if len(name) > 63 or not (_NAMESPACE.fullmatch(name) or _NAMESPACE_PREFIX.fullmatch(name)):
                raise InvalidParameter(
                    f"The namespace {name!r} is invalid: a namespace is a DNS-1123 label, "
                    "optionally ending in a single '*' wildcard"
                )
        return cls(scope_type, tuple(dict.fromkeys(names)))
