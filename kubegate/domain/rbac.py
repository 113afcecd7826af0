"""What an access entry's associated access policies allow: Kubernetes RBAC rules under EKS scopes.

EKS evaluates access policies in a webhook after Node and RBAC, and that webhook only ever
allows or passes; so this module answers "allowed, by this grant" or "not by us, and why",
never "denied". Rules match with Kubernetes RBAC's own semantics, so a policy behaves like
the ClusterRole it mirrors; a namespace scope behaves like RoleBindings in those namespaces
(eks-access.md §6.2).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import NamedTuple

from kubegate.domain.access_entries import PolicyAssociation
from kubegate.domain.policies import AccessPolicy, AccessScope, PolicyRule, ScopeType

ALL = "*"

# Built-in kinds that exist only at the cluster level, by (group, resource). A real request for
# one never carries a namespace, but a SubjectAccessReview may ask "get nodes in dev"; RBAC would
# answer from a RoleBinding, yet the actual request could never be allowed that way, so a
# namespace scope refuses them outright. `namespaces` is deliberately absent: see scope_allows.
_CLUSTER_KINDS = {
    "": "nodes persistentvolumes componentstatuses",
    "rbac.authorization.k8s.io": "clusterroles clusterrolebindings",
    "storage.k8s.io": "storageclasses csidrivers csinodes volumeattachments volumeattributesclasses",
    "apiextensions.k8s.io": "customresourcedefinitions",
    "apiregistration.k8s.io": "apiservices",
    "admissionregistration.k8s.io": "mutatingwebhookconfigurations validatingwebhookconfigurations "
    "validatingadmissionpolicies validatingadmissionpolicybindings mutatingadmissionpolicies "
    "mutatingadmissionpolicybindings",
    "scheduling.k8s.io": "priorityclasses",
    "node.k8s.io": "runtimeclasses",
    "certificates.k8s.io": "certificatesigningrequests clustertrustbundles",
    "flowcontrol.apiserver.k8s.io": "flowschemas prioritylevelconfigurations",
    "networking.k8s.io": "ingressclasses ipaddresses servicecidrs",
    "resource.k8s.io": "deviceclasses resourceslices",
    "authentication.k8s.io": "tokenreviews selfsubjectreviews",
    "authorization.k8s.io": "subjectaccessreviews selfsubjectaccessreviews selfsubjectrulesreviews",
}
CLUSTER_SCOPED = frozenset((group, kind) for group, kinds in _CLUSTER_KINDS.items() for kind in kinds.split())


# Requests, grants and decisions are named tuples, immutable like frozen dataclasses: the webhook
# builds several per review, and a frozen dataclass costs twice as much to construct.


class ResourceRequest(NamedTuple):
    """A SubjectAccessReview's resourceAttributes; namespace "" = cluster-scoped or across all namespaces."""

    namespace: str
    verb: str
    group: str
    version: str
    resource: str
    subresource: str = ""
    name: str = ""


class NonResourceRequest(NamedTuple):
    path: str
    verb: str


Request = ResourceRequest | NonResourceRequest


# --- Kubernetes RBAC rule matching (the semantics of rbac/v1 evaluation_helpers) ---------------


def _verb_matches(verbs: tuple[str, ...], verb: str) -> bool:
    return ALL in verbs or verb in verbs


def _group_matches(groups: tuple[str, ...], group: str) -> bool:
    return ALL in groups or group in groups


def _resource_matches(resources: tuple[str, ...], resource: str, subresource: str) -> bool:
    """`pods` does not cover `pods/log`: a subresource must be listed, as `pods/log` or `*/log`, or covered by `*`."""
    combined = f"{resource}/{subresource}" if subresource else resource
    if ALL in resources or combined in resources:
        return True
    return bool(subresource) and f"*/{subresource}" in resources


def _name_matches(names: tuple[str, ...], name: str) -> bool:
    """No resourceNames means every name, including requests that carry none (list, create)."""
    return not names or name in names


def _url_matches(urls: tuple[str, ...], path: str) -> bool:
    """A trailing `*` is a prefix match (Kubernetes trims every trailing `*`); `*` alone is any path."""
    return any(url == path or (url.endswith(ALL) and path.startswith(url.rstrip(ALL))) for url in urls)


def _shape_allows(rule: PolicyRule, request: Request) -> bool:
    """rule_allows without the object name, the one request field too varied to memoise on."""
    if not _verb_matches(rule.verbs, request.verb):
        return False
    if isinstance(request, NonResourceRequest):
        return _url_matches(rule.non_resource_urls, request.path)
    return _group_matches(rule.api_groups, request.group) and _resource_matches(
        rule.resources, request.resource, request.subresource
    )


def rule_allows(rule: PolicyRule, request: Request) -> bool:
    """A resource rule never matches a non-resource request and vice versa: their lists are then empty."""
    if not _shape_allows(rule, request):
        return False
    return isinstance(request, NonResourceRequest) or _name_matches(rule.resource_names, request.name)


# --- EKS scope ----------------------------------------------------------------------------------


def _scope_match(scope: AccessScope, request: Request) -> str | None:
    """The hot-path half of scope_allows: the matching pattern ("cluster" for cluster scope) or None."""
    if scope.type == ScopeType.CLUSTER:
        return "cluster"
    if isinstance(request, NonResourceRequest) or not request.namespace:
        return None
    if (request.group, request.resource) in CLUSTER_SCOPED:
        return None
    namespace = request.namespace
    for pattern in scope.namespaces:
        if pattern == namespace or (pattern.endswith(ALL) and namespace.startswith(pattern[:-1])):
            return pattern
    return None


def scope_allows(scope: AccessScope, request: Request) -> tuple[bool, str]:
    """Whether the scope reaches the request, and the namespace pattern that matched or why not.

    A cluster scope matches as "cluster". A namespace scope acts like RoleBindings in its
    namespaces, so it never reaches non-resource URLs or requests without a namespace
    (cluster-scoped kinds, and lists across all namespaces such as `kubectl get pods -A`).

    Open point (spec §2.2, §10): `GET /api/v1/namespaces/team-a` arrives with namespace
    "team-a" (the apiserver puts a namespace's own name there). We follow Kubernetes RBAC,
    where a RoleBinding in team-a allows it: a policy scoped to team-a may get (and, if its
    rules say so, update or delete) the team-a Namespace object itself, never list namespaces.
    """
    pattern = _scope_match(scope, request)
    if pattern is not None:
        return True, pattern
    if isinstance(request, NonResourceRequest):
        return False, f"non-resource URL {request.path} is not in any namespace"
    if (request.group, request.resource) in CLUSTER_SCOPED:
        return False, f"{_kind(request)} is cluster-scoped"
    if not request.namespace:
        return False, f"{request.verb} {_kind(request)} at the cluster scope is not in any namespace"
    return False, f"namespace {request.namespace} matches none of the scope's namespaces"


# --- Decisions ------------------------------------------------------------------------------------


def _kind(request: ResourceRequest) -> str:
    kind = f"{request.resource}.{request.group}" if request.group else request.resource
    return f"{kind}/{request.subresource}" if request.subresource else kind


def describe_request(request: Request) -> str:
    """Request wording for reasons, e.g. `create deployments.apps in kube-system`."""
    if isinstance(request, NonResourceRequest):
        return f"{request.verb} {request.path}"
    name = f' "{request.name}"' if request.name else ""
    where = f"in {request.namespace}" if request.namespace else "at the cluster scope"
    return f"{request.verb} {_kind(request)}{name} {where}"


def _listing(items: tuple[str, ...]) -> str:
    return "[" + ",".join(item if item else '""' for item in items) + "]"


@lru_cache(maxsize=1024)
def describe_rule(rule: PolicyRule) -> str:
    """Rule wording in the shape of the policy tables, e.g. `{apiGroups:[batch], resources:[jobs], verbs:[get]}`."""
    if rule.non_resource_urls:
        fields = [("nonResourceURLs", rule.non_resource_urls)]
    else:
        fields = [("apiGroups", rule.api_groups), ("resources", rule.resources)]
        if rule.resource_names:
            fields.append(("resourceNames", rule.resource_names))
    fields.append(("verbs", rule.verbs))
    return "{" + ", ".join(f"{key}:{_listing(values)}" for key, values in fields) + "}"


@lru_cache(maxsize=1024)
def _describe_scope(scope: AccessScope) -> str:
    return "cluster scope" if scope.type == ScopeType.CLUSTER else f"namespaces {_listing(scope.namespaces)}"


class Grant(NamedTuple):
    """Why a request is allowed: the association, the scope pattern that reached it, the rule that covered it."""

    policy_arn: str
    policy_name: str
    scope: AccessScope
    scope_match: str
    rule: PolicyRule

    def describe(self) -> str:
        cluster = self.scope.type == ScopeType.CLUSTER
        where = "cluster scope" if cluster else f'namespace scope matched "{self.scope_match}"'
        return f"{self.policy_name}, {where}, rule {describe_rule(self.rule)}"


class Decision(NamedTuple):
    """allowed, or no opinion (never deny: EKS's authorizer leaves the final word to the chain)."""

    allowed: bool
    reason: str
    grant: Grant | None


class _PolicyIndex:
    """A policy's rules with a memo from request shape to the rules that fit it, names aside.

    The webhook sees the same verb/group/resource over and over, so each shape is scanned
    once; names stay out of the key because they are unbounded and rarely matter.
    """

    LIMIT = 4096

    def __init__(self, policy: AccessPolicy) -> None:
        self.policy = policy
        self._memo: dict[tuple[str, ...], tuple[PolicyRule, ...]] = {}

    def first_rule(self, request: Request) -> PolicyRule | None:
        if isinstance(request, NonResourceRequest):
            key: tuple[str, ...] = (request.verb, request.path)
        else:
            key = (request.verb, request.group, request.resource, request.subresource)
        candidates = self._memo.get(key)
        if candidates is None:
            candidates = tuple(rule for rule in self.policy.rules if _shape_allows(rule, request))
            if len(self._memo) >= self.LIMIT:
                self._memo.clear()
            self._memo[key] = candidates
        for rule in candidates:
            if isinstance(request, NonResourceRequest) or _name_matches(rule.resource_names, request.name):
                return rule
        return None


_INDEXES: dict[str, _PolicyIndex] = {}


def _index(policy: AccessPolicy) -> _PolicyIndex:
    """Keyed by ARN but checked by identity, so a different catalogue (tests) never sees stale rules."""
    index = _INDEXES.get(policy.arn)
    if index is None or index.policy is not policy:
        if len(_INDEXES) >= 256:
            _INDEXES.clear()
        index = _INDEXES[policy.arn] = _PolicyIndex(policy)
    return index


def _grant(association: PolicyAssociation, request: Request, catalogue: Mapping[str, AccessPolicy]) -> Grant | None:
    policy = catalogue.get(association.policy_arn)
    if policy is None or not policy.rules_public:
        return None
    match = _scope_match(association.scope, request)
    if match is None:
        return None
    rule = _index(policy).first_rule(request)
    if rule is None:
        return None
    return Grant(association.policy_arn, policy.name, association.scope, match, rule)


def grants(associations: Sequence[PolicyAssociation], request: Request,
           catalogue: Mapping[str, AccessPolicy]) -> list[Grant]:
    """One grant per association that allows the request (its first matching rule), in order."""
    return [g for a in associations if (g := _grant(a, request, catalogue)) is not None]


def decide(associations: Sequence[PolicyAssociation], request: Request,
           catalogue: Mapping[str, AccessPolicy]) -> Decision:
    """The first grant in association order, then rule order; otherwise the most useful reason why not."""
    for association in associations:
        grant = _grant(association, request, catalogue)
        if grant is not None:
            return Decision(True, grant.describe(), grant)
    return Decision(False, _refusal(associations, request, catalogue), None)


def _refusal(associations: Sequence[PolicyAssociation], request: Request,
             catalogue: Mapping[str, AccessPolicy]) -> str:
    """Name what nearly allowed the request (a policy whose rules cover it outside its scope), and any
    policy whose rules kubegate cannot know; else say plainly that nothing covers it."""
    if not associations:
        return f"no access policy is associated, so none covers {describe_request(request)}"
    missed: list[str] = []
    hidden: list[str] = []
    for association in associations:
        policy = catalogue.get(association.policy_arn)
        if policy is None:
            hidden.append(f"{association.policy_arn} is not a known access policy")
        elif not policy.rules_public:
            if _scope_match(association.scope, request) is not None:
                hidden.append(f"{policy.name}'s rules are not public, so it grants nothing")
        elif _index(policy).first_rule(request) is not None:
            covered, why = scope_allows(association.scope, request)
            if not covered:
                missed.append(f"{policy.name} is scoped to {_describe_scope(association.scope)}: {why}")
    if len(hidden) == len(associations):
        return "; ".join(hidden)
    return "; ".join((missed or [f"no associated access policy covers {describe_request(request)}"]) + hidden)
