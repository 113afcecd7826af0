"""The access matrix: each principal's strongest access-policy level per namespace and at cluster scope.

Pure (no I/O). Built in two steps so that a page stays cheap with thousands of entries:

- :func:`build_index` walks a snapshot's entries once: rows sorted by principal ARN, and the
  namespaces and ``prefix*`` patterns their scopes name. A snapshot is immutable, so
  :class:`MatrixCache` keeps the index per ``(cluster, revision)``.
- :meth:`PrincipalRow.cell` then answers one (principal, namespace) in a dict lookup or two (a
  row's grants are indexed on first use), and a page computes only its own rows × columns
  (:func:`page_of` slices both).

Levels rank cluster-admin > admin > edit > view > custom. A policy's level comes from its name
(the four EKS policies that mirror Kubernetes' user-facing ClusterRoles); any other policy, and
an entry's ``kubernetesGroups`` (which Kubernetes RBAC, not EKS, decides), count as ``custom``.
Groups are placed at cluster scope: kubegate cannot see the RBAC bindings, which may reach any
namespace, so a cell with nothing stronger shows ``custom`` rather than a misleading blank.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from functools import cache

from kubegate.domain.access_entries import AccessEntry
from kubegate.domain.policies import POLICY_ARN_PREFIX, AccessScope, ScopeType
from kubegate.engine.snapshot import ClusterSnapshot

CLUSTER = "cluster"
"""Where a cluster-scoped grant applies (the matrix's cluster column)."""
GROUPS = "kubernetesGroups"
"""The source name of an entry's Kubernetes groups (RBAC decides what they allow)."""
WILDCARD = "*"


class Level(IntEnum):
    """An access-policy level; a larger value is stronger."""

    CUSTOM = 1
    VIEW = 2
    EDIT = 3
    ADMIN = 4
    CLUSTER_ADMIN = 5

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {level: level.name.lower().replace("_", "-") for level in Level}


_BY_NAME = {
    "AmazonEKSClusterAdminPolicy": Level.CLUSTER_ADMIN,
    "AmazonEKSAdminPolicy": Level.ADMIN,
    "AmazonEKSEditPolicy": Level.EDIT,
    "AmazonEKSViewPolicy": Level.VIEW,
}


@cache
def policy_name(policy_arn: str) -> str:
    return policy_arn.removeprefix(POLICY_ARN_PREFIX).rsplit("/", 1)[-1]


@cache
def policy_level(policy_arn: str) -> Level:
    """The level of an access policy, by its name; anything but the four mirrored ClusterRoles is custom."""
    if not policy_arn.startswith(POLICY_ARN_PREFIX):
        return Level.CUSTOM
    return _BY_NAME.get(policy_name(policy_arn), Level.CUSTOM)


def namespace_matches(pattern: str, namespace: str) -> bool:
    """A scope's namespace pattern against a namespace, as `kubegate.domain.rbac` matches a request's.

    Exact, or a trailing ``*`` matching any namespace that starts with what precedes it.
    """
    return pattern == namespace or (pattern.endswith(WILDCARD) and namespace.startswith(pattern[:-1]))


@dataclass(frozen=True, slots=True)
class Grant:
    """One reason a principal has a level somewhere: a policy (or its groups) and the scope pattern that applies."""

    level: Level
    source: str  # the policy's name, or GROUPS
    where: str  # CLUSTER, a namespace, or a "prefix*" pattern

    def describe(self) -> str:
        if self.source == GROUPS:
            return f"{self.level.label}: Kubernetes groups (RBAC decides)"
        where = "cluster scope" if self.where == CLUSTER else f"namespace {self.where}"
        return f"{self.level.label}: {self.source} ({where})"


@dataclass(frozen=True, slots=True)
class Cell:
    """A matrix cell: the strongest level that applies (None: nothing does), and every grant behind it."""

    level: Level | None
    inherited: bool  # the level comes from cluster scope, not from a namespace scope
    grants: tuple[Grant, ...]  # strongest first

    @property
    def label(self) -> str:
        return self.level.label if self.level is not None else ""


EMPTY = Cell(None, False, ())


class PrincipalRow:
    """One access entry, and (computed on first use, then kept) its grants indexed by where they apply.

    Lazy because a page shows 50 of maybe thousands of principals: building every row's grants
    up front would make each new snapshot revision pay for rows nobody looks at.
    """

    __slots__ = ("entry", "principal_arn", "username", "search_key", "_grants")

    def __init__(self, entry: AccessEntry) -> None:
        self.entry = entry
        self.principal_arn = entry.principal_arn
        self.username = entry.username
        self.search_key = f"{entry.principal_arn}\n{entry.username}".lower()  # for the substring filter
        self._grants: _Grants | None = None

    @property
    def grants(self) -> _Grants:
        found = self._grants
        if found is None:  # two threads may both compute it: same value, last write wins
            found = self._grants = _grants_of(self.entry)
        return found

    def cluster_cell(self) -> Cell:
        return self.grants.at_cluster

    def inherited_cell(self) -> Cell:
        """The one Cell object every namespace cell without a namespace-scoped grant is (identity, not just equality)."""
        return self.grants.inherited

    def cell(self, namespace: str) -> Cell:
        """The cell in a namespace column: namespace-scoped grants that match it, and the inherited cluster ones.

        Most cells have no namespace-scoped grant: they all share one Cell object (the row's
        inherited one), which lets a page describe it once per row."""
        grants = self.grants
        scoped = grants.exact.get(namespace, ())
        if grants.prefixes:
            scoped = scoped + tuple(g for g in grants.prefixes if namespace_matches(g.where, namespace))
        return _cell(scoped, grants.cluster) if scoped else grants.inherited


@dataclass(frozen=True, slots=True)
class _Grants:
    cluster: tuple[Grant, ...]
    exact: Mapping[str, tuple[Grant, ...]]
    prefixes: tuple[Grant, ...]  # wildcard grants; Grant.where is the pattern
    at_cluster: Cell  # the cluster column's cell
    inherited: Cell  # a namespace cell that no namespace scope reaches


def _strongest(grants: Iterable[Grant]) -> tuple[Grant, ...]:
    return tuple(sorted(grants, key=lambda g: (-g.level, g.source, g.where)))


def _cell(scoped: tuple[Grant, ...], inherited: tuple[Grant, ...]) -> Cell:
    if not scoped:
        return Cell(inherited[0].level, True, inherited) if inherited else EMPTY
    best_scoped = max(g.level for g in scoped)
    if inherited and inherited[0].level > best_scoped:  # inherited is sorted strongest first
        return Cell(inherited[0].level, True, _strongest(scoped + inherited))
    return Cell(best_scoped, False, _strongest(scoped + inherited))


def _grants_of(entry: AccessEntry) -> _Grants:
    cluster: list[Grant] = []
    exact: dict[str, list[Grant]] = {}
    prefixes: list[Grant] = []
    for association in entry.policies:
        level, name = policy_level(association.policy_arn), policy_name(association.policy_arn)
        scope: AccessScope = association.scope
        if scope.type is ScopeType.CLUSTER:
            cluster.append(Grant(level, name, CLUSTER))
            continue
        for pattern in scope.namespaces:
            if pattern.endswith(WILDCARD):
                prefixes.append(Grant(level, name, pattern))
            else:
                exact.setdefault(pattern, []).append(Grant(level, name, pattern))
    if entry.kubernetes_groups:
        cluster.append(Grant(Level.CUSTOM, GROUPS, CLUSTER))
    cluster_grants = _strongest(cluster)
    return _Grants(cluster_grants, {ns: _strongest(grants) for ns, grants in exact.items()}, _strongest(prefixes),
                   _cell(cluster_grants, ()), _cell((), cluster_grants))


@dataclass(frozen=True, slots=True)
class MatrixIndex:
    """One snapshot revision's matrix index: rows sorted by principal ARN, the namespaces scopes name."""

    cluster: str
    revision: int
    rows: tuple[PrincipalRow, ...]
    namespaces: frozenset[str]  # every exact namespace named in a scope
    wildcards: tuple[str, ...]  # every "prefix*" pattern named in a scope, sorted

    def principals(self, contains: str = "") -> Sequence[PrincipalRow]:
        """The rows whose principal ARN or username contains ``contains`` (case-insensitive)."""
        needle = contains.strip().lower()
        if not needle:
            return self.rows
        return [row for row in self.rows if needle in row.search_key]

    def columns(self, extra: Iterable[str] = ()) -> tuple[str, ...]:
        """The namespace columns: every namespace a scope names, plus ``extra``, sorted and unique."""
        return tuple(sorted(self.namespaces.union(extra)))


def build_index(snapshot: ClusterSnapshot) -> MatrixIndex:
    entries = snapshot.entries_by_principal
    rows = tuple(PrincipalRow(entries[arn]) for arn in sorted(entries))
    namespaces: set[str] = set()
    wildcards: set[str] = set()
    for entry in entries.values():
        for association in entry.policies:
            for pattern in association.scope.namespaces:
                (wildcards if pattern.endswith(WILDCARD) else namespaces).add(pattern)
    return MatrixIndex(snapshot.name, snapshot.revision, rows, frozenset(namespaces), tuple(sorted(wildcards)))


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a sequence: which slice it shows, and how many pages there are (at least one)."""

    number: int  # 1-based, clamped into range
    pages: int
    start: int
    stop: int
    total: int


def page_of(total: int, number: int, size: int) -> Page:
    """The page ``number`` (1-based; out of range: the nearest page) of ``total`` items, ``size`` a page."""
    if size < 1:
        raise ValueError("page size must be at least 1")
    pages = max(1, -(-total // size))
    number = min(max(1, number), pages)
    start = (number - 1) * size
    return Page(number, pages, start, min(total, start + size), total)


class MatrixCache:
    """Matrix indexes by (cluster, revision), the most recently used few kept.

    A snapshot never changes once built, so an index stays right for its revision; a newer
    revision simply gets its own (the old one ages out). A cluster deleted and created again
    starts its revisions over, so a cached index also remembers the entries mapping it was built
    from and is rebuilt when the snapshot holds another. Thread-safe: pages run in a pool.
    """

    def __init__(self, build: Callable[[ClusterSnapshot], MatrixIndex] = build_index, size: int = 8) -> None:
        self._build = build
        self._size = size
        self._indexes: OrderedDict[tuple[str, int], tuple[object, MatrixIndex]] = OrderedDict()
        self._lock = threading.Lock()

    def index(self, snapshot: ClusterSnapshot) -> MatrixIndex:
        key, source = (snapshot.name, snapshot.revision), snapshot.entries_by_principal
        with self._lock:
            found = self._indexes.get(key)
            if found is not None and found[0] is source:
                self._indexes.move_to_end(key)
                return found[1]
        built = self._build(snapshot)  # outside the lock: a rare duplicate build beats blocking every page
        with self._lock:
            self._indexes[key] = (source, built)
            self._indexes.move_to_end(key)
            while len(self._indexes) > self._size:
                self._indexes.popitem(last=False)
        return built
