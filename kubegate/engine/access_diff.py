"""Who gains or loses what between two states of one cluster: before a change and after it.

Every principal that can reach the cluster in either state is put through ``map_identity``,
the code the TokenReview webhook runs, and its access entry's policies are read the way the
authorization webhook reads them, so the diff cannot disagree with the webhooks.

Principals stand for every session they can have: a role's session name and a node's DNS
name stay templates (``{{SessionName}}``, ``{{EC2PrivateDNSName}}``), so a username shows
as the mapping writes it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from kubegate.domain.access_entries import AccessEntry, EntryType
from kubegate.domain.arns import PrincipalArn, PrincipalKind, parse_principal_arn
from kubegate.domain.aws_auth import EC2_PRIVATE_DNS_NAME, CallerIdentity, row_arn
from kubegate.domain.errors import InvalidParameter
from kubegate.domain.policies import CLUSTER_ADMIN_POLICY_ARN, ScopeType
from kubegate.engine.mapping import Mapped, map_identity
from kubegate.engine.snapshot import ClusterSnapshot

SYMBOLIC_INSTANCE = "i-symbolic"  # an instance-ID-shaped session whose DNS name renders as the template itself
SESSION = "{{SessionName}}"
MASTERS = "system:masters"
NODE_TYPES = frozenset({EntryType.EC2_LINUX, EntryType.EC2_WINDOWS, EntryType.EC2})
CLUSTER_ADMIN = CLUSTER_ADMIN_POLICY_ARN.rsplit("/", 1)[-1]

UniqueId = Callable[[PrincipalArn], "str | None"]


@dataclass(frozen=True)
class Subject:
    """One principal (or class of principals) whose access is compared."""

    key: str
    label: str
    identity: CallerIdentity
    node: bool = False
    creator: bool = False
    caller: bool = False


@dataclass(frozen=True)
class Access:
    authenticated: bool
    source: str  # the entry or aws-auth row that decided, or why nothing did
    username: str = ""
    groups: tuple[str, ...] = ()
    grants: frozenset[str] = frozenset()  # "AmazonEKSViewPolicy (cluster)", "… (namespace dev)"

    def describe(self) -> str:
        if not self.authenticated:
            return "no access"
        grants = f", policies {sorted(self.grants)}" if self.grants else ""
        return f"user {self.username!r}, groups {list(self.groups)}{grants}"


@dataclass(frozen=True)
class Change:
    subject: Subject
    before: Access
    after: Access
    gains: tuple[str, ...] = ()
    loses: tuple[str, ...] = ()
    changes: tuple[str, ...] = ()

    @property
    def loses_all(self) -> bool:
        return self.before.authenticated and not self.after.authenticated

    def as_dict(self) -> dict[str, Any]:
        return {
            "principal": self.subject.label, "node": self.subject.node, "creator": self.subject.creator,
            "you": self.subject.caller, "losesAllAccess": self.loses_all,
            "gains": list(self.gains), "loses": list(self.loses), "changes": list(self.changes),
            "before": _access_dict(self.before), "after": _access_dict(self.after),
        }


@dataclass(frozen=True)
class AccessDiff:
    changes: tuple[Change, ...] = field(default=())
    unchanged: int = 0

    @property
    def anyone_loses(self) -> bool:
        return any(c.loses for c in self.changes)

    def as_dict(self) -> dict[str, Any]:
        return {"changes": [c.as_dict() for c in self.changes], "unchanged": self.unchanged,
                "anyoneLoses": self.anyone_loses}


def _access_dict(access: Access) -> dict[str, Any]:
    return {"authenticated": access.authenticated, "source": access.source, "username": access.username,
            "groups": list(access.groups), "policies": sorted(access.grants)}


def access_of(snapshot: ClusterSnapshot, identity: CallerIdentity) -> Access:
    """What the webhooks make of ``identity``: its user, and the access policies the authorizer applies."""
    mapped = map_identity(_symbolic(snapshot), identity)
    if not isinstance(mapped, Mapped):
        return Access(False, mapped.reason)
    grants: set[str] = set()
    if mapped.entry is not None and snapshot.mode.uses_access_entries:
        for association in mapped.entry.policies:
            name = association.policy_arn.rsplit("/", 1)[-1]
            if association.scope.type is ScopeType.CLUSTER:
                grants.add(f"{name} (cluster)")
            else:
                grants.update(f"{name} (namespace {ns})" for ns in association.scope.namespaces)
    return Access(True, mapped.reason, mapped.user.username, mapped.user.groups, frozenset(grants))


def _symbolic(snapshot: ClusterSnapshot) -> ClusterSnapshot:
    return replace(snapshot, instances={**snapshot.instances, SYMBOLIC_INSTANCE: EC2_PRIVATE_DNS_NAME})


def compare(subject: Subject, before: Access, after: Access) -> Change:
    if before == after:
        return Change(subject, before, after)
    if not after.authenticated:
        return Change(subject, before, after, loses=(f"all access ({before.describe()})",))
    if not before.authenticated:
        return Change(subject, before, after, gains=(f"access as {after.describe()}",))
    gains: list[str] = []
    loses: list[str] = []
    changes: list[str] = []
    if before.username != after.username:
        changes.append(f"username {before.username!r} -> {after.username!r}")
    lost_groups = [g for g in before.groups if g not in after.groups]
    gained_grants = after.grants - before.grants
    if MASTERS in lost_groups and f"{CLUSTER_ADMIN} (cluster)" in after.grants:
        lost_groups.remove(MASTERS)
        changes.append(f"{MASTERS} becomes {CLUSTER_ADMIN} (cluster): the same permissions, granted by the "
                       "authorization webhook after RBAC instead of bypassing authorization")
        gained_grants -= {f"{CLUSTER_ADMIN} (cluster)"}
    loses += [f"group {g}" for g in lost_groups]
    gains += [f"group {g}" for g in after.groups if g not in before.groups]
    loses += [f"policy {g}" for g in sorted(before.grants - after.grants)]
    gains += [f"policy {g}" for g in sorted(gained_grants)]
    if before.source != after.source:
        changes.append(f"mapped by {after.source} (was {before.source})")
    return Change(subject, before, after, tuple(gains), tuple(loses), tuple(changes))


def diff(before: ClusterSnapshot, after: ClusterSnapshot, subjects: Iterable[Subject]) -> AccessDiff:
    changes: list[Change] = []
    unchanged = 0
    for subject in subjects:
        change = compare(subject, access_of(before, subject.identity), access_of(after, subject.identity))
        if change.gains or change.loses or change.changes:
            changes.append(change)
        else:
            unchanged += 1
    order = sorted(changes, key=lambda c: (not c.loses_all, not c.loses, c.subject.label))
    return AccessDiff(tuple(order), unchanged)


# --- who to compare ---------------------------------------------------------------------------


def subjects(snapshots: Iterable[ClusterSnapshot], *, unique_id: UniqueId, creator: tuple[str, str] | None = None,
             caller: tuple[str, str] | None = None) -> list[Subject]:
    """Every principal that some state maps: aws-auth rows, access entries, node roles,
    mapAccounts (as "any principal of account X"), the cluster creator and the caller
    (``(principal ARN, unique ID)`` each)."""
    found: dict[str, Subject] = {}

    def add(subject: Subject | None) -> None:
        if subject is None:
            return
        known = found.get(subject.key)
        if known is None:
            found[subject.key] = subject
        else:  # a node mapping renders only for an instance session: keep that identity when one is a node's
            base = subject if subject.node and not known.node else known
            found[subject.key] = replace(base, node=known.node or subject.node, creator=known.creator or subject.creator,
                                         caller=known.caller or subject.caller)

    for snapshot in snapshots:
        for row in snapshot.aws_auth.rows:
            add(_principal(row_arn(row), unique_id, node=EC2_PRIVATE_DNS_NAME in row.username))
        for entry in _entries(snapshot):
            add(_principal(entry.principal_arn, unique_id, node=entry.type in NODE_TYPES, known_id=entry.principal_id))
        for account in sorted(snapshot.aws_auth.accounts):
            identity = CallerIdentity(arn=f"arn:aws:iam::{account}:*", canonical_arn=f"arn:aws:iam::{account}:*",
                                      account=account, user_id=f"any-principal-of:{account}")
            add(Subject(f"account:{account}", f"any principal of account {account} (mapAccounts)", identity))
    if creator is not None:
        add(_principal(creator[0], unique_id, known_id=creator[1], creator=True))
    if caller is not None:
        add(_principal(caller[0], unique_id, known_id=caller[1], caller=True))
    return list(found.values())


def _entries(snapshot: ClusterSnapshot) -> list[AccessEntry]:
    return [*snapshot.entries_by_id.values(), *snapshot.entries_by_arn.values()]


def _principal(arn: str, unique_id: UniqueId, *, node: bool = False, known_id: str | None = None,
               creator: bool = False, caller: bool = False) -> Subject | None:
    try:
        principal = parse_principal_arn(arn)
    except InvalidParameter:
        return None  # never matches a caller: nobody to compare
    user_id = known_id or unique_id(principal) or f"unknown:{principal.canonical_arn.lower()}"
    if principal.kind is PrincipalKind.ROLE:
        session = SYMBOLIC_INSTANCE if node else SESSION
        identity = CallerIdentity(
            arn=f"arn:{principal.partition}:sts::{principal.account}:assumed-role/{principal.name}/{session}",
            canonical_arn=principal.canonical_arn, account=principal.account, user_id=user_id,
            session_name=session, access_key_id="{{AccessKeyID}}")
        label = f"nodes of role {principal.arn}" if node else f"role {principal.arn}"
    else:
        identity = CallerIdentity(arn=principal.arn, canonical_arn=principal.canonical_arn, account=principal.account,
                                  user_id=user_id, access_key_id="{{AccessKeyID}}")
        label = f"{principal.kind.value} {principal.arn}"
    return Subject(f"id:{user_id}", label, identity, node=node, creator=creator, caller=caller)
