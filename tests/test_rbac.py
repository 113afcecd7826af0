"""Access policies as Kubernetes RBAC rules under EKS scopes (kubegate.domain.rbac).

The table tests are generated from the packaged policy data, so a policy added to or corrected
in access-policies.json is checked without editing this file; the spot checks pin the facts
the spec (eks-access.md §2.2, §6.2) calls out by name.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from fnmatch import fnmatchcase

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubegate.domain.access_entries import PolicyAssociation
from kubegate.domain.policies import (
    POLICY_ARN_PREFIX,
    AccessPolicy,
    AccessScope,
    PolicyRule,
    ScopeType,
    catalogue,
)
from kubegate.domain.rbac import (
    CLUSTER_SCOPED,
    NonResourceRequest,
    Request,
    ResourceRequest,
    decide,
    describe_request,
    grants,
    rule_allows,
    scope_allows,
)

CATALOGUE = catalogue()
NOW = datetime(2024, 4, 23, tzinfo=UTC)
VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection", "impersonate", "bind",
         "escalate", "use", "approve")
WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")
READ_VERBS = ("get", "list", "watch")


def assoc(name: str, *namespaces: str) -> PolicyAssociation:
    """An association of a catalogue policy: cluster scope, or namespace scope when namespaces are given."""
    scope = AccessScope.create("namespace", list(namespaces)) if namespaces else AccessScope.create("cluster", None)
    return PolicyAssociation(POLICY_ARN_PREFIX + name, scope, NOW, NOW)


def res(verb: str, resource: str, namespace: str = "team-a", group: str = "", name: str = "") -> ResourceRequest:
    """`resource` may be "kind/subresource"."""
    kind, _, sub = resource.partition("/")
    return ResourceRequest(namespace=namespace, verb=verb, group=group, version="v1", resource=kind,
                           subresource=sub, name=name)


def allows(policy: str, request: Request, *namespaces: str) -> bool:
    return decide([assoc(policy, *namespaces)], request, CATALOGUE).allowed


# --- A reference implementation, written from the Kubernetes semantics independently of rbac.py ---


def reference_rule(rule: PolicyRule, request: Request) -> bool:
    if not [v for v in rule.verbs if v == "*" or v == request.verb]:
        return False
    if isinstance(request, NonResourceRequest):
        for url in rule.non_resource_urls:
            if url == "*" or url == request.path:
                return True
            if url.endswith("*"):
                prefix = url
                while prefix.endswith("*"):
                    prefix = prefix[:-1]
                if request.path[: len(prefix)] == prefix:
                    return True
        return False
    combined = request.resource + ("/" + request.subresource if request.subresource else "")
    group_ok = any(g == "*" or g == request.group for g in rule.api_groups)
    resource_ok = any(
        r == "*" or r == combined or (request.subresource != "" and r[:2] == "*/" and r[2:] == request.subresource)
        for r in rule.resources
    )
    name_ok = len(rule.resource_names) == 0 or request.name in rule.resource_names
    return group_ok and resource_ok and name_ok


def reference_scope(scope: AccessScope, request: Request) -> bool:
    if scope.type is ScopeType.CLUSTER:
        return True
    if not isinstance(request, ResourceRequest) or request.namespace == "":
        return False
    if (request.group, request.resource) in CLUSTER_SCOPED:
        return False
    return any(fnmatchcase(request.namespace, pattern) for pattern in scope.namespaces)


def reference_decide(associations: Sequence[PolicyAssociation], request: Request,
                     policies: dict[str, AccessPolicy]) -> bool:
    for association in associations:
        policy = policies.get(association.policy_arn)
        if policy is None or not policy.rules_public or not reference_scope(association.scope, request):
            continue
        if any(reference_rule(rule, request) for rule in policy.rules):
            return True
    return False


# --- Table tests generated from the policy data ------------------------------------------------


@dataclass(frozen=True)
class Case:
    policy: AccessPolicy
    index: int
    rule: PolicyRule


def cases() -> Iterator[Case]:
    for policy in CATALOGUE.values():
        if policy.rules_public:
            for index, rule in enumerate(policy.rules):
                yield Case(policy, index, rule)


def examples(rule: PolicyRule) -> Iterator[ResourceRequest]:
    """One request per (group, resource, verb) the rule lists; wildcards become a concrete stand-in."""
    verbs = READ_VERBS + WRITE_VERBS if "*" in rule.verbs else rule.verbs
    for group in rule.api_groups:
        for resource in rule.resources:
            kind, _, sub = resource.partition("/")
            kind = "widgets" if kind in ("*", "") else kind
            for verb in verbs:
                yield res(verb, f"{kind}/{sub}" if sub else kind, group="" if group == "*" else group)


def neighbours(rule: PolicyRule, request: ResourceRequest) -> Iterator[tuple[str, ResourceRequest]]:
    """Requests one step away from an allowed one that this rule must not allow."""
    other_verb = next(v for v in VERBS if v not in rule.verbs)
    if "*" not in rule.verbs:
        yield "other verb", request._replace(verb=other_verb)
    if "*" not in rule.api_groups:
        yield "other group", request._replace(group="other.example.com")
    wildcard_sub = request.subresource and f"*/{request.subresource}" in rule.resources
    if "*" not in rule.resources and not wildcard_sub:
        yield "other resource", request._replace(resource=request.resource + "-other")
    if "*" not in rule.resources and not request.subresource and "*/bogus" not in rule.resources:
        yield "unlisted subresource", request._replace(subresource="bogus")


@pytest.mark.parametrize("case", list(cases()), ids=lambda c: f"{c.policy.name}-{c.index}")
def test_policy_rule_table(case: Case) -> None:
    rule, policy = case.rule, case.policy
    cluster = [PolicyAssociation(policy.arn, AccessScope.create("cluster", None), NOW, NOW)]
    scoped = [PolicyAssociation(policy.arn, AccessScope.create("namespace", ["team-a"]), NOW, NOW)]
    if rule.non_resource_urls:
        for path in ("/healthz", "/metrics", "/version"):
            url = NonResourceRequest(path, "get")
            assert rule_allows(rule, url) and decide(cluster, url, CATALOGUE).allowed
            assert not decide(scoped, url, CATALOGUE).allowed, "a non-resource URL under namespace scope"
        assert not rule_allows(rule, res("get", "pods")), "a non-resource rule matched a resource request"
        return
    assert not rule_allows(rule, NonResourceRequest("/healthz", "get"))
    for request in examples(rule):
        assert rule_allows(rule, request), request
        assert decide(cluster, request, CATALOGUE).allowed, request
        cluster_kind = (request.group, request.resource) in CLUSTER_SCOPED
        assert decide(scoped, request, CATALOGUE).allowed is not cluster_kind, request
        for namespace in ("", "team-b", "team-ab"):
            moved = request._replace(namespace=namespace)
            assert not decide(scoped, moved, CATALOGUE).allowed, f"namespace scope reached {moved}"
        assert decide(cluster, request._replace(namespace=""), CATALOGUE).allowed
        for label, neighbour in neighbours(rule, request):
            assert not rule_allows(rule, neighbour), f"{label}: {neighbour}"
            expected = reference_decide(cluster, neighbour, CATALOGUE)
            assert decide(cluster, neighbour, CATALOGUE).allowed is expected, f"{label}: {neighbour}"


def test_every_public_policy_refuses_non_resource_urls_under_namespace_scope() -> None:
    for policy in CATALOGUE.values():
        if policy.rules_public:
            for path in ("/healthz", "/metrics", "/api", "/version"):
                assert not allows(policy.name, NonResourceRequest(path, "get"), "team-a", "dev-*")


# --- Spot checks named in the spec -------------------------------------------------------------


def triples(policy_name: str) -> set[tuple[str, str, str]]:
    rules = CATALOGUE[POLICY_ARN_PREFIX + policy_name].rules
    return {(g, r, v) for rule in rules for g in rule.api_groups for r in rule.resources for v in rule.verbs}


def test_view_has_no_secrets() -> None:
    for verb in READ_VERBS + WRITE_VERBS:
        assert not allows("AmazonEKSViewPolicy", res(verb, "secrets"))
    assert allows("AmazonEKSViewPolicy", res("get", "configmaps"))


@pytest.mark.parametrize("policy", ["AmazonEKSEditPolicy", "AmazonEKSAdminPolicy"])
def test_edit_and_admin_read_and_write_secrets(policy: str) -> None:
    for verb in READ_VERBS + WRITE_VERBS:
        assert allows(policy, res(verb, "secrets", name="db")), verb
        assert allows(policy, res(verb, "secrets"), "team-a")
    assert not allows(policy, res("get", "secrets", namespace="kube-system"), "team-a")


def test_admin_is_edit_plus_rbac_and_local_reviews() -> None:
    edit, admin = triples("AmazonEKSEditPolicy"), triples("AmazonEKSAdminPolicy")
    rbac_verbs = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
    extra = {("authorization.k8s.io", "localsubjectaccessreviews", "create")} | {
        ("rbac.authorization.k8s.io", kind, verb) for kind in ("rolebindings", "roles") for verb in rbac_verbs
    }
    assert edit <= admin and admin - edit == extra
    for verb in rbac_verbs:
        assert allows("AmazonEKSAdminPolicy", res(verb, "roles", group="rbac.authorization.k8s.io"), "team-a")
        assert not allows("AmazonEKSEditPolicy", res(verb, "roles", group="rbac.authorization.k8s.io"))
    lsar = res("create", "localsubjectaccessreviews", group="authorization.k8s.io")
    assert allows("AmazonEKSAdminPolicy", lsar, "team-a") and not allows("AmazonEKSEditPolicy", lsar)
    assert not allows("AmazonEKSAdminPolicy", res("create", "clusterroles", "", "rbac.authorization.k8s.io"))
    for name in ("AmazonEKSEditPolicy", "AmazonEKSAdminPolicy", "AmazonEKSViewPolicy"):
        assert not any(rule.non_resource_urls for rule in CATALOGUE[POLICY_ARN_PREFIX + name].rules)


def test_cluster_admin_non_resource_urls() -> None:
    for path in ("/healthz", "/metrics", "/livez", "/readyz/etcd"):
        request = NonResourceRequest(path, "get")
        assert allows("AmazonEKSClusterAdminPolicy", request)
        assert not allows("AmazonEKSClusterAdminPolicy", request, "default")
        assert not allows("AmazonEKSAdminViewPolicy", request)
    assert allows("AmazonEKSClusterAdminPolicy", res("escalate", "clusterroles", "", "rbac.authorization.k8s.io"))


def test_admin_view_reads_everything_writes_nothing() -> None:
    for verb in READ_VERBS:
        assert allows("AmazonEKSAdminViewPolicy", res(verb, "secrets"))
        assert allows("AmazonEKSAdminViewPolicy", res(verb, "nodes", ""))
        assert allows("AmazonEKSAdminViewPolicy", res(verb, "pods/log"))
    for verb in WRITE_VERBS:
        assert not allows("AmazonEKSAdminViewPolicy", res(verb, "configmaps"))


def test_secret_reader_reads_only_secrets() -> None:
    assert allows("AmazonEKSSecretReaderPolicy", res("list", "secrets"), "team-a")
    assert not allows("AmazonEKSSecretReaderPolicy", res("update", "secrets"))
    assert not allows("AmazonEKSSecretReaderPolicy", res("get", "configmaps"))


def test_hybrid_lists_nodes_only() -> None:
    assert allows("AmazonEKSHybridPolicy", res("list", "nodes", ""))
    for verb in ("get", "watch", "update", "delete"):
        assert not allows("AmazonEKSHybridPolicy", res(verb, "nodes", ""))
    assert not allows("AmazonEKSHybridPolicy", res("list", "pods"))
    assert not allows("AmazonEKSHybridPolicy", res("list", "nodes/status", ""))
    assert not allows("AmazonEKSHybridPolicy", res("list", "nodes", ""), "team-a")


def test_region_switch_scales_through_star_subresources() -> None:
    policy = "AmazonARCRegionSwitchScalingPolicy"
    assert allows(policy, res("update", "deployments/scale", group="apps"))
    assert allows(policy, res("get", "statefulsets/status", group="apps"))
    assert not allows(policy, res("update", "statefulsets/status", group="apps"))
    assert not allows(policy, res("update", "deployments", group="apps"))
    assert allows(policy, res("patch", "horizontalpodautoscalers", group="autoscaling"))


def test_rule_matching_details() -> None:
    named = PolicyRule(verbs=("get",), api_groups=("",), resources=("configmaps",), resource_names=("c1",))
    assert rule_allows(named, res("get", "configmaps", name="c1"))
    assert not rule_allows(named, res("get", "configmaps", name="c2"))
    assert not rule_allows(named, res("get", "configmaps")), "resourceNames never match a nameless request"
    urls = PolicyRule(verbs=("get",), non_resource_urls=("/healthz/*", "/api**"))
    assert rule_allows(urls, NonResourceRequest("/healthz/etcd", "get"))
    assert not rule_allows(urls, NonResourceRequest("/healthz", "get"))
    assert rule_allows(urls, NonResourceRequest("/apis/apps", "get"))
    assert not rule_allows(urls, NonResourceRequest("/apis/apps", "post"))
    star = PolicyRule(verbs=("*",), api_groups=("*",), resources=("*",))
    assert rule_allows(star, res("get", "pods/log")) and not rule_allows(star, NonResourceRequest("/", "get"))
    assert not rule_allows(PolicyRule(verbs=("get",), api_groups=(), resources=("*",)), res("get", "pods"))


# --- Scopes --------------------------------------------------------------------------------------


def test_wildcard_namespaces_match_by_prefix() -> None:
    scope = AccessScope.create("namespace", ["team-a", "dev-*"])
    assert scope_allows(scope, res("get", "pods", "dev-7")) == (True, "dev-*")
    assert scope_allows(scope, res("get", "pods", "team-a")) == (True, "team-a")
    for namespace in ("devops", "dev", "team-ab", "team", "prod-dev-1"):
        covered, why = scope_allows(scope, res("get", "pods", namespace))
        assert not covered and namespace in why
    assert scope_allows(AccessScope.create("namespace", ["dev*"]), res("get", "pods", "devops"))[0]


def test_namespace_scope_refuses_cluster_wide_requests() -> None:
    scope = AccessScope.create("namespace", ["carts"])
    covered, why = scope_allows(scope, res("list", "pods", ""))
    assert not covered and "cluster scope" in why
    for kind, group in (("nodes", ""), ("persistentvolumes", ""), ("clusterroles", "rbac.authorization.k8s.io"),
                        ("customresourcedefinitions", "apiextensions.k8s.io")):
        for namespace in ("", "carts"):
            covered, why = scope_allows(scope, res("get", kind, namespace, group))
            assert not covered and "cluster-scoped" in why
    assert not scope_allows(scope, NonResourceRequest("/healthz", "get"))[0]
    assert scope_allows(AccessScope.create("cluster", None), res("list", "pods", "")) == (True, "cluster")
    assert scope_allows(AccessScope.create("cluster", None), NonResourceRequest("/healthz", "get"))[0]


def test_observed_workshop_view_scoped_to_carts() -> None:
    """eks-access.md §6.2: View on carts allows `get pod -n carts`, not `get pod -A`."""
    view = [assoc("AmazonEKSViewPolicy", "carts")]
    assert decide(view, res("list", "pods", "carts"), CATALOGUE).allowed
    across = decide(view, res("list", "pods", ""), CATALOGUE)
    assert not across.allowed and "AmazonEKSViewPolicy is scoped to namespaces [carts]" in across.reason


def test_namespace_scope_may_read_its_own_namespace_object() -> None:
    """Open point resolved as Kubernetes RBAC does: GET /api/v1/namespaces/team-a carries namespace team-a."""
    assert allows("AmazonEKSViewPolicy", res("get", "namespaces", "team-a", name="team-a"), "team-a")
    assert allows("AmazonEKSViewPolicy", res("get", "namespaces/status", "team-a", name="team-a"), "team-a")
    assert not allows("AmazonEKSViewPolicy", res("list", "namespaces", ""), "team-a")
    assert not allows("AmazonEKSViewPolicy", res("get", "namespaces", "team-b", name="team-b"), "team-a")
    assert not allows("AmazonEKSViewPolicy", res("delete", "namespaces", "team-a", name="team-a"), "team-a")


# --- Decisions -----------------------------------------------------------------------------------


def test_first_grant_wins_and_grants_lists_all() -> None:
    view, admin = assoc("AmazonEKSViewPolicy"), assoc("AmazonEKSAdminPolicy", "team-a")
    request = res("get", "pods")
    first = decide([view, admin], request, CATALOGUE)
    assert first.allowed and first.grant is not None and first.grant.policy_name == "AmazonEKSViewPolicy"
    reversed_first = decide([admin, view], request, CATALOGUE).grant
    assert reversed_first is not None and reversed_first.policy_name == "AmazonEKSAdminPolicy"
    assert [g.policy_name for g in grants([view, admin], request, CATALOGUE)] == [
        "AmazonEKSViewPolicy", "AmazonEKSAdminPolicy"]
    assert grants([view, admin], res("get", "secrets"), CATALOGUE)[0].scope_match == "team-a"


def test_associations_union_with_their_own_scopes() -> None:
    """eks-access.md §6.2: View at cluster scope + Admin on two namespaces."""
    entry = [assoc("AmazonEKSViewPolicy"), assoc("AmazonEKSAdminPolicy", "my-namespace1", "my-namespace2")]
    roles = "roles"
    assert decide(entry, res("create", roles, "my-namespace2", "rbac.authorization.k8s.io"), CATALOGUE).allowed
    assert not decide(entry, res("create", roles, "default", "rbac.authorization.k8s.io"), CATALOGUE).allowed
    assert decide(entry, res("list", "pods", ""), CATALOGUE).allowed
    assert not decide(entry, res("get", "secrets", "default"), CATALOGUE).allowed


def test_grant_description() -> None:
    decision = decide([assoc("AmazonEKSSecretReaderPolicy", "dev-*")], res("get", "secrets", "dev-1"), CATALOGUE)
    expected = ('AmazonEKSSecretReaderPolicy, namespace scope matched "dev-*", '
                'rule {apiGroups:[""], resources:[secrets], verbs:[get,list,watch]}')
    assert decision.allowed and decision.reason == expected and decision.grant is not None
    assert decision.grant.describe() == expected
    admin = decide([assoc("AmazonEKSClusterAdminPolicy")], NonResourceRequest("/metrics", "get"), CATALOGUE)
    assert admin.reason == "AmazonEKSClusterAdminPolicy, cluster scope, rule {nonResourceURLs:[*], verbs:[*]}"


def test_refusal_reasons() -> None:
    deploy = res("create", "deployments", "kube-system", "apps")
    assert describe_request(deploy) == "create deployments.apps in kube-system"
    assert decide([assoc("AmazonEKSViewPolicy")], deploy, CATALOGUE).reason == (
        "no associated access policy covers create deployments.apps in kube-system")
    assert "no access policy is associated" in decide([], deploy, CATALOGUE).reason
    hidden = decide([assoc("AmazonEKSAutoNodePolicy")], res("get", "nodes", ""), CATALOGUE)
    assert not hidden.allowed and hidden.grant is None
    assert "AmazonEKSAutoNodePolicy's rules are not public" in hidden.reason
    mixed = decide([assoc("AmazonEKSViewPolicy", "team-a"), assoc("AmazonEKSAutoNodePolicy")], deploy, CATALOGUE)
    assert mixed.reason == ("no associated access policy covers create deployments.apps in kube-system; "
                            "AmazonEKSAutoNodePolicy's rules are not public, so it grants nothing")
    unknown = PolicyAssociation(POLICY_ARN_PREFIX + "Nope", AccessScope.create("cluster", None), NOW, NOW)
    assert "not a known access policy" in decide([unknown], deploy, CATALOGUE).reason
    scoped = decide([assoc("AmazonEKSEditPolicy", "team-a")], deploy, CATALOGUE)
    assert scoped.reason == ("AmazonEKSEditPolicy is scoped to namespaces [team-a]: "
                             "namespace kube-system matches none of the scope's namespaces")


def test_a_different_catalogue_is_never_answered_from_a_stale_index() -> None:
    arn = POLICY_ARN_PREFIX + "AmazonEKSViewPolicy"
    request = res("get", "secrets")
    assert not decide([assoc("AmazonEKSViewPolicy")], request, CATALOGUE).allowed
    patched = {arn: AccessPolicy("AmazonEKSViewPolicy", arn, (PolicyRule(("get",), ("",), ("secrets",)),), True)}
    assert decide([assoc("AmazonEKSViewPolicy")], request, patched).allowed
    assert not decide([assoc("AmazonEKSViewPolicy")], request, CATALOGUE).allowed


def test_rules_that_are_not_public_grant_nothing() -> None:
    arn = POLICY_ARN_PREFIX + "AmazonEKSAutoNodePolicy"
    guessed = {arn: AccessPolicy("AmazonEKSAutoNodePolicy", arn, (PolicyRule(("*",), ("*",), ("*",)),), False)}
    decision = decide([assoc("AmazonEKSAutoNodePolicy")], res("get", "nodes", ""), guessed)
    assert not decision.allowed
    assert decision.reason == "AmazonEKSAutoNodePolicy's rules are not public, so it grants nothing"
    assert grants([assoc("AmazonEKSAutoNodePolicy")], res("get", "nodes", ""), guessed) == []


def test_webhook_sample_shapes() -> None:
    """kubectl auth can-i sends version "*"; the version never matters to RBAC."""
    request = ResourceRequest("team-a", "create", "", "*", "configmaps")
    assert allows("AmazonEKSEditPolicy", request, "team-a")
    assert not allows("AmazonEKSEditPolicy", NonResourceRequest("/version", "get"))


# --- Properties ----------------------------------------------------------------------------------

GROUPS = ("", "apps", "batch", "rbac.authorization.k8s.io", "*")
RULE_RESOURCES = ("pods", "pods/log", "deployments", "deployments/scale", "nodes", "namespaces", "secrets",
                  "*", "*/scale", "*/status", "*/", "")
URLS = ("/healthz", "/healthz/*", "/metrics", "/api*", "/api/v1**", "*", "/", "/version")
NAMES = ("a", "b", "web-1")
PATTERNS = ("team-a", "dev-*", "dev", "kube-system", "d*", "prod-1", "default")

rules = st.builds(
    PolicyRule,
    verbs=st.lists(st.sampled_from(VERBS + ("*",)), max_size=3).map(tuple),
    api_groups=st.lists(st.sampled_from(GROUPS), max_size=3).map(tuple),
    resources=st.lists(st.sampled_from(RULE_RESOURCES), max_size=3).map(tuple),
    resource_names=st.lists(st.sampled_from(NAMES), max_size=2).map(tuple),
    non_resource_urls=st.one_of(st.just(()), st.lists(st.sampled_from(URLS), max_size=3).map(tuple)),
)
resource_requests = st.builds(
    ResourceRequest,
    namespace=st.sampled_from(("", "team-a", "team-ab", "dev-7", "dev-", "devops", "dev", "kube-system", "d")),
    verb=st.sampled_from(VERBS + ("*",)),
    group=st.sampled_from(GROUPS + ("other",)),
    version=st.sampled_from(("v1", "*")),
    resource=st.sampled_from(("pods", "deployments", "nodes", "namespaces", "secrets", "widgets", "*", "")),
    subresource=st.sampled_from(("", "log", "scale", "status", "exec")),
    name=st.sampled_from(("",) + NAMES),
)
non_resource_requests = st.builds(
    NonResourceRequest,
    path=st.sampled_from(("/healthz", "/healthz/ready", "/healthzz", "/metrics", "/api", "/api/v1", "/apis",
                          "/version", "/", "")),
    verb=st.sampled_from(("get", "post", "put", "delete", "*")),
)
requests = st.one_of(resource_requests, non_resource_requests)
namespace_scopes: st.SearchStrategy[AccessScope] = st.lists(
    st.sampled_from(PATTERNS), min_size=1, max_size=3, unique=True
).map(lambda names: AccessScope.create("namespace", names))
scopes = st.one_of(st.just(AccessScope.create("cluster", None)), namespace_scopes)
# Random policies alongside the real catalogue, which includes policies whose rules are not public.
RANDOM_ARNS = tuple(f"{POLICY_ARN_PREFIX}Random{i}" for i in range(3))


@st.composite
def catalogues(draw: st.DrawFn) -> dict[str, AccessPolicy]:
    extra = {arn: AccessPolicy(arn.rsplit("/", 1)[1], arn, tuple(draw(st.lists(rules, max_size=4))),
                               draw(st.booleans())) for arn in RANDOM_ARNS}
    return {**CATALOGUE, **extra}


def associations(scope_strategy: st.SearchStrategy[AccessScope] = scopes) -> st.SearchStrategy[list[PolicyAssociation]]:
    arns = st.sampled_from(tuple(CATALOGUE) + RANDOM_ARNS + (POLICY_ARN_PREFIX + "Unknown",))
    one = st.builds(lambda arn, scope: PolicyAssociation(arn, scope, NOW, NOW), arns, scope_strategy)
    return st.lists(one, max_size=6)


@settings(max_examples=400)
@given(rules, requests)
def test_rule_allows_agrees_with_reference(rule: PolicyRule, request: Request) -> None:
    assert rule_allows(rule, request) is reference_rule(rule, request)


@settings(max_examples=200)
@given(associations(), requests, catalogues())
def test_decide_agrees_with_reference(entry: list[PolicyAssociation], request: Request,
                                      policies: dict[str, AccessPolicy]) -> None:
    decision = decide(entry, request, policies)
    assert decision.allowed is reference_decide(entry, request, policies)
    assert (decision.grant is not None) is decision.allowed and decision.reason
    assert [g.policy_arn for g in grants(entry, request, policies)][:1] == (
        [decision.grant.policy_arn] if decision.grant else [])


@settings(max_examples=200)
@given(associations(namespace_scopes), requests, catalogues())
def test_namespace_scope_never_grants_outside_its_namespaces(entry: list[PolicyAssociation], request: Request,
                                                             policies: dict[str, AccessPolicy]) -> None:
    for grant in grants(entry, request, policies):
        assert isinstance(request, ResourceRequest) and request.namespace
        assert (request.group, request.resource) not in CLUSTER_SCOPED
        assert grant.scope_match in grant.scope.namespaces and fnmatchcase(request.namespace, grant.scope_match)


@settings(max_examples=200)
@given(associations(), requests, catalogues(), st.data())
def test_removing_an_association_never_adds_a_permission(
    entry: list[PolicyAssociation], request: Request, policies: dict[str, AccessPolicy], data: st.DataObject
) -> None:
    if not entry:
        return
    drop = data.draw(st.integers(min_value=0, max_value=len(entry) - 1))
    fewer = entry[:drop] + entry[drop + 1:]
    if decide(fewer, request, policies).allowed:
        assert decide(entry, request, policies).allowed


@settings(max_examples=200)
@given(associations(), associations(), requests, catalogues(), st.data())
def test_adding_an_association_never_removes_one(entry: list[PolicyAssociation], added: list[PolicyAssociation],
                                                 request: Request, policies: dict[str, AccessPolicy],
                                                 data: st.DataObject) -> None:
    at = data.draw(st.integers(min_value=0, max_value=len(entry)))
    more = entry[:at] + added + entry[at:]
    if decide(entry, request, policies).allowed:
        assert decide(more, request, policies).allowed
