"""The plan that moves a cluster's aws-auth rows to access entries (``eks-access.md`` §7.3).

eksctl's ``utils migrate-to-access-entry`` algorithm, decided row by row before anything is
written, so the plan can be shown, diffed and only then carried out. Two deliberate
departures, each said in the plan:

- duplicate ARNs: the row the authenticator uses (the last) is migrated, not eksctl's first,
  which would change who that principal is;
- a ``system:masters`` row keeps its other, non-``system:`` groups (eksctl drops every group):
  they are valid ``kubernetesGroups`` and dropping them would lose their RBAC bindings.

Whether a planned entry is valid is decided by ``identity_for``, the same rules
CreateAccessEntry applies, never a second copy of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

from kubegate.domain.access_entries import EntryType, identity_for
from kubegate.domain.arns import PrincipalArn, PrincipalKind, parse_principal_arn
from kubegate.domain.aws_auth import EC2_PRIVATE_DNS_NAME, AwsAuth, RoleMapping, UserMapping, row_arn
from kubegate.domain.errors import InvalidParameter
from kubegate.domain.modes import AuthenticationMode
from kubegate.domain.policies import CLUSTER_ADMIN_POLICY_ARN

MASTERS = "system:masters"
WINDOWS_GROUP = "eks:kube-proxy-windows"
NODE_USERNAME = f"system:node:{EC2_PRIVATE_DNS_NAME}"
TARGETS = (AuthenticationMode.API, AuthenticationMode.API_AND_CONFIG_MAP)
INVALID_TARGET = "target authentication mode is invalid, must be either API or API_AND_CONFIG_MAP"
NO_NEED = "cluster authentication mode is already API; there is no need to migrate to access entries"


class Action(str, Enum):
    CREATE = "create"  # becomes an access entry
    SKIP = "skip"  # stays in aws-auth only (or is not needed)
    ERROR = "error"  # the migration cannot start until this row is fixed


@dataclass(frozen=True)
class Resolved:
    """What IAM says of a row's principal: its ARN with any path restored, or that it is gone."""

    arn: str | None  # None: IAM has no such principal
    note: str | None = None


@dataclass(frozen=True)
class PlannedEntry:
    principal_arn: str
    type: EntryType
    username: str | None  # None: EKS's default for the type
    groups: tuple[str, ...]
    cluster_policies: tuple[str, ...] = ()  # policy ARNs associated at cluster scope


@dataclass(frozen=True)
class RowPlan:
    key: str  # mapRoles, mapUsers, mapAccounts
    index: int  # position within the key's list
    arn: str  # the row's ARN, or the account for mapAccounts
    username: str
    groups: tuple[str, ...]
    action: Action
    reason: str
    blocks_api: bool = False
    entry: PlannedEntry | None = None
    notes: tuple[str, ...] = ()  # where the access entry cannot keep the identity exactly

    @property
    def label(self) -> str:
        return f"{self.key}[{self.index}] {self.arn}"


@dataclass(frozen=True)
class MigrationPlan:
    cluster: str
    current: AuthenticationMode
    target: AuthenticationMode
    aws_auth_version: str  # the aws-auth the plan was made from (AwsAuthState.version)
    rows: tuple[RowPlan, ...] = ()
    no_need: bool = False  # already in API mode

    @property
    def entries(self) -> tuple[PlannedEntry, ...]:
        return tuple(row.entry for row in self.rows if row.entry is not None)

    @property
    def blockers(self) -> tuple[RowPlan, ...]:
        return tuple(row for row in self.rows if row.blocks_api)

    @property
    def errors(self) -> tuple[RowPlan, ...]:
        return tuple(row for row in self.rows if row.action is Action.ERROR)

    @property
    def mode_steps(self) -> tuple[AuthenticationMode, ...]:
        """The mode updates, in order; API only when no row blocks it."""
        if self.no_need or self.errors:
            return ()
        steps = [AuthenticationMode.API_AND_CONFIG_MAP] if self.current is AuthenticationMode.CONFIG_MAP else []
        if self.target is AuthenticationMode.API and not self.blockers:
            steps.append(AuthenticationMode.API)
        return tuple(steps)

    @property
    def deletes_aws_auth(self) -> bool:
        """eksctl deletes aws-auth once the cluster is in API mode: nothing reads it any more."""
        return AuthenticationMode.API in self.mode_steps

    @property
    def final_mode(self) -> AuthenticationMode:
        return self.mode_steps[-1] if self.mode_steps else self.current


def parse_target(text: str) -> AuthenticationMode:
    try:
        target = AuthenticationMode(text)
    except ValueError:
        raise InvalidParameter(INVALID_TARGET) from None
    if target not in TARGETS:
        raise InvalidParameter(INVALID_TARGET)
    return target


def principals_to_resolve(aws_auth: AwsAuth) -> list[PrincipalArn]:
    """The principals whose IAM ARN the plan needs (eksctl's GetRole/GetUser by name)."""
    found = []
    for row in aws_auth.rows:
        try:
            found.append(parse_principal_arn(row_arn(row)))
        except InvalidParameter:
            continue
    return found


def plan_migration(
    cluster: str,
    current: AuthenticationMode,
    target: AuthenticationMode,
    aws_auth: AwsAuth,
    aws_auth_version: str,
    *,
    account: str,
    resolved: Mapping[str, Resolved],
    existing_entries: frozenset[str],
) -> MigrationPlan:
    """Decide every row. ``resolved`` is keyed by the row's lower-cased ARN;
    ``existing_entries`` holds the lower-cased canonical ARNs that already have an entry."""
    if current is AuthenticationMode.API:
        return MigrationPlan(cluster, current, target, aws_auth_version, no_need=True)
    used = {id(row) for row in _rows_in_use(aws_auth)}
    rows: list[RowPlan] = []
    keyed: tuple[tuple[str, tuple[RoleMapping | UserMapping, ...]], ...] = (
        ("mapRoles", aws_auth.roles), ("mapUsers", aws_auth.users))
    for key, mappings in keyed:
        for index, mapping in enumerate(mappings):
            rows.append(_plan_row(key, index, mapping, id(mapping) in used, account=account, cluster=cluster,
                                  resolved=resolved, existing=existing_entries, aws_auth=aws_auth))
    for index, account_id in enumerate(sorted(aws_auth.accounts)):
        rows.append(RowPlan("mapAccounts", index, account_id, "", (), Action.SKIP,
                            "mapAccounts has no access-entry equivalent (any principal of the account "
                            "authenticates as its own ARN): it stays in aws-auth", blocks_api=True))
    return MigrationPlan(cluster, current, target, aws_auth_version, tuple(rows))


def _service_linked(principal: PrincipalArn) -> bool:
    """eksctl looks for ``:role/aws-service-role/``; an aws-auth rolearn has lost that path, but
    every service-linked role's name starts with AWSServiceRoleFor."""
    return principal.is_service_linked_role or (
        principal.kind is PrincipalKind.ROLE and principal.name.startswith("AWSServiceRoleFor"))


def _rows_in_use(aws_auth: AwsAuth) -> list[RoleMapping | UserMapping]:
    """The row the authenticator uses for each ARN: the last in mapRoles, else the last in mapUsers."""
    chosen: dict[str, RoleMapping | UserMapping] = {}
    for row in aws_auth.users:
        chosen[row.canonical_arn] = row
    for role in aws_auth.roles:  # roles are matched first: a role row wins over a user row
        chosen[role.canonical_arn] = role
    return list(chosen.values())


def _plan_row(key: str, index: int, mapping: RoleMapping | UserMapping, in_use: bool, *, account: str, cluster: str,
              resolved: Mapping[str, Resolved], existing: frozenset[str], aws_auth: AwsAuth) -> RowPlan:
    arn = row_arn(mapping)

    def row(action: Action, reason: str, *, blocks: bool = False, entry: PlannedEntry | None = None,
            notes: tuple[str, ...] = ()) -> RowPlan:
        return RowPlan(key, index, arn, mapping.username, mapping.groups, action, reason, blocks, entry, notes)

    if not in_use:
        winner = next(r for r in _rows_in_use(aws_auth) if r.canonical_arn == mapping.canonical_arn)
        where = "mapRoles" if isinstance(winner, RoleMapping) else "mapUsers"
        position = (aws_auth.roles if where == "mapRoles" else aws_auth.users).index(winner)
        return row(Action.SKIP, f"duplicate ARN: the authenticator uses {where}[{position}] for it (the last one "
                                "wins), so that row is migrated; eksctl would keep the first, which would change "
                                "who this principal is")
    try:
        principal = parse_principal_arn(arn)
    except InvalidParameter:
        return row(Action.SKIP, "not an IAM user or role ARN, so it never matched anyone: nothing to migrate")
    never_matched = isinstance(mapping, RoleMapping) and principal.path != "/"
    if _service_linked(principal):
        return row(Action.SKIP, "a service-linked role cannot have an access entry", blocks=True)
    lookup = resolved.get(arn.lower())
    if lookup is None or lookup.arn is None:
        kind = "role" if principal.kind is PrincipalKind.ROLE else "user"
        return row(Action.ERROR, f'{kind} "{principal.name}" does not exist in IAM, either delete the '
                                 f"iamidentitymapping (kubegate iamidentitymapping delete --cluster {cluster} "
                                 f"--arn {arn}) or create the {kind}")
    target = parse_principal_arn(lookup.arn)
    notes = tuple(n for n in (lookup.note,) if n)
    if never_matched:
        notes += ("this rolearn has a path, so it never matched (sessions carry none); as an access entry "
                  "it will: the principal gains access",)
    if _service_linked(target):
        return row(Action.SKIP, "a service-linked role cannot have an access entry", blocks=True)
    if target.canonical_arn.lower() in existing:
        return row(Action.SKIP, f"an access entry for {target.arn} already exists; it takes precedence over this "
                                "row, and the migration leaves it as it is", notes=notes)
    groups = mapping.groups
    if isinstance(mapping, RoleMapping) and mapping.username == NODE_USERNAME:
        entry_type = EntryType.EC2_WINDOWS if WINDOWS_GROUP in groups else EntryType.EC2_LINUX
        planned = PlannedEntry(target.arn, entry_type, None, ())
    elif MASTERS in groups:
        kept = tuple(g for g in groups if not g.startswith("system:"))
        planned = PlannedEntry(target.arn, EntryType.STANDARD, mapping.username or None, kept,
                               (CLUSTER_ADMIN_POLICY_ARN,))
        notes += ("system:masters becomes AmazonEKSClusterAdminPolicy at cluster scope: the same permissions, "
                  "granted by kubegate's webhook after RBAC instead of bypassing authorization",)
        dropped = [g for g in groups if g.startswith("system:") and g != MASTERS]
        if dropped:
            notes += (f"groups {dropped} cannot be access-entry groups and are dropped",)
        if kept:
            notes += (f"keeps groups {list(kept)} (eksctl would drop them)",)
    elif any(g.startswith("system:") for g in groups):
        system = next(g for g in groups if g.startswith("system:"))
        reason = (f'at least one group name associated with {arn} starts with "system:" ({system}), '
                  "can not create access entry, skipping")
        if mapping.username.startswith("system:node:"):
            reason += ("; a Fargate or hybrid node role gets its entry from EKS, or create it with "
                       "`aws eks create-access-entry --type FARGATE_LINUX` (or HYBRID_LINUX) before switching to API")
        return row(Action.SKIP, reason, blocks=True, notes=notes)
    else:
        planned = PlannedEntry(target.arn, EntryType.STANDARD, mapping.username or None, groups)
    try:
        username, entry_groups = identity_for(target, planned.type, planned.username, list(planned.groups), account)
    except InvalidParameter as exc:
        return row(Action.SKIP, f"cannot become an access entry: {exc.message}", blocks=True, notes=notes)
    if planned.type is not EntryType.STANDARD and tuple(entry_groups) != groups:
        notes += (f"an {planned.type.value} entry gives username {username} and groups {list(entry_groups)}; "
                  f"aws-auth gave groups {list(groups)}",)
    if planned.type is EntryType.STANDARD and not mapping.username:
        notes += (f"aws-auth gave an empty username; the entry gets EKS's default, {username}",)
    if target.arn != arn and not never_matched:
        notes += (f"IAM's ARN {target.arn} is used (aws-auth cannot hold a role path)",)
    return row(Action.CREATE, f"becomes a {planned.type.value} access entry", entry=planned, notes=notes)
