"""The access matrix engine: levels, inheritance, wildcards, strongest-wins, paging and the index cache."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

from hypothesis import given
from hypothesis import strategies as st

from kubegate.domain import rbac
from kubegate.domain.access_entries import AccessEntry, EntryType, PolicyAssociation
from kubegate.domain.arns import parse_principal_arn
from kubegate.domain.aws_auth import AwsAuth
from kubegate.domain.modes import AuthenticationMode
from kubegate.domain.policies import POLICY_ARN_PREFIX, AccessScope, ScopeType
from kubegate.engine.access_matrix import (
    GROUPS,
    Level,
    MatrixCache,
    MatrixIndex,
    PrincipalRow,
    build_index,
    namespace_matches,
    page_of,
    policy_level,
)
from kubegate.engine.snapshot import ClusterSnapshot

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)
VIEW, EDIT, ADMIN, CLUSTER_ADMIN = (POLICY_ARN_PREFIX + n for n in (
    "AmazonEKSViewPolicy", "AmazonEKSEditPolicy", "AmazonEKSAdminPolicy", "AmazonEKSClusterAdminPolicy"))
SECRETS = POLICY_ARN_PREFIX + "AmazonEKSSecretReaderPolicy"


def cluster_scope() -> AccessScope:
    return AccessScope.create("cluster", None)


def ns_scope(*names: str) -> AccessScope:
    return AccessScope.create("namespace", list(names))


def entry(name: str, *policies: tuple[str, AccessScope], groups: tuple[str, ...] = ()) -> AccessEntry:
    principal = parse_principal_arn(f"arn:aws:iam::111122223333:role/{name}")
    return AccessEntry(
        cluster_name="c", principal=principal, principal_id=None, type=EntryType.STANDARD,
        username=f"user-{name}", kubernetes_groups=groups, arn=f"arn:aws:eks:us-east-1:111122223333:access-entry/c/{name}",
        created_at=NOW, modified_at=NOW,
        policies=tuple(PolicyAssociation(arn, scope, NOW, NOW) for arn, scope in policies),
    )


def snapshot(*entries: AccessEntry, revision: int = 1) -> ClusterSnapshot:
    return ClusterSnapshot(
        name="c", revision=revision, mode=AuthenticationMode.API, creator_id=None, entries_by_id={},
        entries_by_arn={}, aws_auth=AwsAuth(), aws_auth_version=None,
        entries_by_principal={e.principal_arn: e for e in entries},
    )


def row_of(index: MatrixIndex, name: str) -> PrincipalRow:
    return next(r for r in index.rows if r.principal_arn.endswith(f"/{name}"))


def test_policy_levels_by_name() -> None:
    assert [policy_level(a) for a in (CLUSTER_ADMIN, ADMIN, EDIT, VIEW, SECRETS)] == [
        Level.CLUSTER_ADMIN, Level.ADMIN, Level.EDIT, Level.VIEW, Level.CUSTOM]
    assert [lv.label for lv in Level] == ["custom", "view", "edit", "admin", "cluster-admin"]


def test_cluster_scope_is_inherited_by_every_namespace_column() -> None:
    index = build_index(snapshot(entry("a", (EDIT, ns_scope("team-a")), (VIEW, cluster_scope()))))
    row = row_of(index, "a")
    assert index.columns() == ("team-a",)
    assert row.cluster_cell().label == "view" and not row.cluster_cell().inherited
    team_a = row.cell("team-a")
    assert (team_a.label, team_a.inherited) == ("edit", False)
    team_b = row.cell("team-b")
    assert (team_b.label, team_b.inherited) == ("view", True)
    assert [g.source for g in team_a.grants] == ["AmazonEKSEditPolicy", "AmazonEKSViewPolicy"]


def test_stronger_cluster_scope_wins_and_is_marked_inherited() -> None:
    row = row_of(build_index(snapshot(entry("a", (VIEW, ns_scope("team-a")), (ADMIN, cluster_scope())))), "a")
    cell = row.cell("team-a")
    assert (cell.label, cell.inherited) == ("admin", True)


def test_namespace_scope_reaches_only_its_namespaces() -> None:
    index = build_index(snapshot(entry("a", (EDIT, ns_scope("team-a", "team-c")))))
    row = row_of(index, "a")
    assert index.columns(["team-b"]) == ("team-a", "team-b", "team-c")
    assert [row.cell(ns).label for ns in index.columns(["team-b"])] == ["edit", "", "edit"]
    assert row.cluster_cell().label == ""


def test_wildcard_namespaces_apply_to_matching_columns_only() -> None:
    index = build_index(snapshot(entry("a", (VIEW, ns_scope("dev-*"))), entry("b", (EDIT, ns_scope("dev-x", "prod")))))
    assert index.columns() == ("dev-x", "prod")  # a pattern is not a column
    assert index.wildcards == ("dev-*",)
    row = row_of(index, "a")
    assert [row.cell(ns).label for ns in ("dev-x", "dev-", "prod", "de")] == ["view", "view", "", ""]
    assert row.cell("dev-x").grants[0].where == "dev-*"


def test_strongest_of_several_wins() -> None:
    row = row_of(build_index(snapshot(entry(
        "a", (SECRETS, ns_scope("team-a")), (VIEW, ns_scope("team-*")), (ADMIN, ns_scope("team-a")),
        (EDIT, ns_scope("team-a"))))), "a")
    cell = row.cell("team-a")
    assert cell.label == "admin"
    assert [g.level.label for g in cell.grants] == ["admin", "edit", "view", "custom"]
    assert row.cell("team-b").label == "view"


def test_rbac_groups_only_entry_is_custom() -> None:
    index = build_index(snapshot(entry("g", groups=("devs",)), entry("none")))
    groups = row_of(index, "g")
    assert groups.cluster_cell().label == "custom"
    assert groups.cluster_cell().grants[0].source == GROUPS
    assert groups.cell("anything").label == "custom"
    assert row_of(index, "none").cell("anything").label == ""


def test_groups_never_hide_a_policy_level() -> None:
    row = row_of(build_index(snapshot(entry("a", (EDIT, ns_scope("team-a")), groups=("devs",)))), "a")
    assert row.cell("team-a").label == "edit"
    assert row.cell("team-b").label == "custom"


def test_principal_filter_matches_arn_or_username_case_insensitively() -> None:
    index = build_index(snapshot(entry("Alice"), entry("bob"), entry("carol")))
    assert [r.principal_arn.rsplit("/", 1)[1] for r in index.principals("ALI")] == ["Alice"]
    assert len(index.principals("user-")) == 3 and len(index.principals("")) == 3
    assert [r.principal_arn for r in index.rows] == sorted(r.principal_arn for r in index.rows)


namespace_names = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,6}[a-z0-9])?", fullmatch=True)
patterns = st.one_of(namespace_names, st.from_regex(r"[a-z0-9][-a-z0-9]{0,4}\*", fullmatch=True))


@given(patterns, namespace_names)
def test_namespace_matching_is_rbacs(pattern: str, namespace: str) -> None:
    request = rbac.ResourceRequest(namespace=namespace, verb="get", group="", version="v1", resource="pods",
                                   subresource="", name="")
    allowed, _ = rbac.scope_allows(AccessScope(ScopeType.NAMESPACE, (pattern,)), request)
    assert namespace_matches(pattern, namespace) == allowed


@given(st.integers(0, 400), st.integers(1, 60))
def test_paging_covers_everything_exactly_once(total: int, size: int) -> None:
    first = page_of(total, 1, size)
    seen: list[int] = []
    for number in range(1, first.pages + 1):
        p = page_of(total, number, size)
        assert p.number == number and p.stop - p.start <= size
        seen.extend(range(p.start, p.stop))
    assert seen == list(range(total))
    assert page_of(total, 0, size).number == 1 and page_of(total, first.pages + 5, size).number == first.pages


@given(st.lists(st.tuples(st.sampled_from([VIEW, EDIT, ADMIN, CLUSTER_ADMIN, SECRETS]),
                          st.one_of(st.none(), st.lists(patterns, min_size=1, max_size=3))), max_size=6),
       namespace_names)
def test_cell_is_the_strongest_applicable_policy(chosen: list[tuple[str, list[str] | None]], namespace: str) -> None:
    policies = [(arn, cluster_scope() if names is None else ns_scope(*names)) for arn, names in chosen]
    row = row_of(build_index(snapshot(entry("p", *policies))), "p")
    applicable = [policy_level(arn) for arn, names in chosen
                  if names is None or any(namespace_matches(n, namespace) for n in names)]
    expected = max(applicable).label if applicable else ""
    assert row.cell(namespace).label == expected


def test_cache_is_per_revision_and_per_snapshot() -> None:
    built: list[int] = []

    def build(s: ClusterSnapshot) -> MatrixIndex:
        built.append(s.revision)
        return build_index(s)

    cache = MatrixCache(build, size=2)
    first = snapshot(entry("a"), revision=1)
    assert cache.index(first) is cache.index(first)
    second = snapshot(entry("a"), entry("b"), revision=2)
    assert len(cache.index(second).rows) == 2
    recreated = replace(first, entries_by_principal=dict(first.entries_by_principal))  # same revision, new cluster
    cache.index(recreated)
    assert built == [1, 2, 1]


def test_cells_no_namespace_scope_reaches_share_the_rows_inherited_cell() -> None:
    row = row_of(build_index(snapshot(entry("a", (EDIT, ns_scope("team-a")), (VIEW, cluster_scope())))), "a")
    assert row.cell("x") is row.cell("y") is row.inherited_cell()
    assert row.cell("team-a") is not row.inherited_cell()
