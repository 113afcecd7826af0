"""What the cluster pages show, read as the signed-in principal.

Access entries, their policies and OIDC configs come from the EKS API through
:meth:`Console.call`, so a principal sees exactly what ``aws eks`` would show it. aws-auth has
no EKS operation: it is read as kubegate's ``DescribeIdentityMappings`` reads it, after the same
``kubegate:DescribeIdentityMappings`` check, and which row wins for a duplicate ARN is asked of
the authenticator's own matcher (:meth:`AwsAuth.match`), not worked out again here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from kubegate.console.app import Console, View, failure
from kubegate.domain.aws_auth import AwsAuth, AwsAuthError, CallerIdentity, RoleMapping, UserMapping, row_arn
from kubegate.domain.errors import DomainError
from kubegate.domain.modes import AuthenticationMode, check_transition
from kubegate.service.stacks.calls import ServiceError

PAGE_SIZE = 20
"""Access entries per page (ListAccessEntries' maxResults). Each costs two calls (describe, list its
policies) and, for an IAM user, their permission checks: 20 keep a page of a 1,000-entry cluster under
200 ms for an IAM user as well as for the root (bench/console)."""
DESCRIBE_MAPPINGS = "DescribeIdentityMappings"
_NO_ACCOUNT = "not-an-account"  # an identity that no mapAccounts line can match


@dataclass
class Chip:
    """One associated access policy and its scope, with whether the caller may disassociate it."""

    policy_arn: str
    name: str
    scope: str  # "cluster" or "namespace"
    namespaces: list[str]
    missing: str | None = None  # the action the caller lacks to disassociate it

    @property
    def label(self) -> str:
        return self.name if self.scope == "cluster" else f"{self.name}: {', '.join(self.namespaces)}"


@dataclass
class EntryRow:
    principal_arn: str
    type: str = ""
    username: str = ""
    groups: list[str] = field(default_factory=list)
    chips: list[Chip] = field(default_factory=list)
    error: str | None = None  # the entry could not be described (shown in its row)
    policies_error: str | None = None
    policies_na: bool = False  # a node (or other typed) entry: access policies do not apply


@dataclass
class EntryPage:
    """One page of entries: ``token`` fetched it, ``trail`` holds the tokens of the pages before it
    (the first page's is ""), so "previous" needs no walk from the start."""

    rows: list[EntryRow] = field(default_factory=list)
    token: str = ""
    trail: list[str] = field(default_factory=list)
    next_token: str | None = None
    total: int | None = None
    error: str | None = None  # listing was refused (or the mode has no access entries)

    @property
    def number(self) -> int:
        return len(self.trail) + 1

    @property
    def pages(self) -> int:
        return max(1, -(-(self.total or 0) // PAGE_SIZE))


@dataclass
class MappingView:
    number: int  # 1-based, in the order shown (mapRoles, mapUsers, mapAccounts)
    kind: str
    arn: str
    username: str
    groups: tuple[str, ...]
    winner: int | None = None  # the row that wins this ARN, when it is not this one


@dataclass
class AwsAuthView:
    rows: list[MappingView] = field(default_factory=list)
    warnings: tuple[str, ...] = ()
    version: str = ""
    error: str | None = None

    @property
    def overridden(self) -> int:
        return sum(1 for r in self.rows if r.winner is not None)


def domain_failure(console: Console, exc: DomainError) -> str:
    """A refusal raised below the API (a kubegate: check, a rehearsal) as the EKS API would word it."""
    codes = console.apis["eks"].error_codes
    code = next((codes[k][0] for k in type(exc).__mro__ if k in codes), "InternalFailure")
    return f"{exc.message} ({code})"


def walk(console: Console, view: View, operation: str, params: dict[str, Any], key: str,
         limit: int = 100) -> Iterator[list[Any]]:
    """Each page of a paginated EKS list, following nextToken (a refusal raises ServiceError)."""
    token: str | None = None
    while True:
        answer = console.call(view, "eks", operation, {**params, "maxResults": limit,
                                                       **({"nextToken": token} if token else {})})
        yield list(answer.get(key) or [])
        token = answer.get("nextToken")
        if not token:
            return


def every(console: Console, view: View, operation: str, params: dict[str, Any], key: str) -> list[Any]:
    return [item for page in walk(console, view, operation, params, key) for item in page]


def next_modes(mode: str) -> list[str]:
    """The modes EKS lets this cluster move to now (one step, towards access entries only)."""
    allowed = []
    for candidate in AuthenticationMode:
        try:
            check_transition(AuthenticationMode(mode), candidate)
        except (DomainError, ValueError):
            continue
        allowed.append(candidate.value)
    return allowed


# --- access entries ---------------------------------------------------------------------------


def entry_page(console: Console, view: View, cluster: str, token: str = "",
               trail: list[str] | None = None) -> EntryPage:
    """The page of entries ``token`` names (ListAccessEntries' nextToken), each described.

    The total comes from the server's snapshot, once ListAccessEntries has shown the caller may
    list: counting through the API would list every entry again on every page."""
    found = EntryPage(token=token, trail=list(trail or []))
    params: dict[str, Any] = {"clusterName": cluster, "maxResults": PAGE_SIZE}
    if token:
        params["nextToken"] = token
    try:
        answer = console.call(view, "eks", "ListAccessEntries", params)
    except ServiceError as exc:
        found.error = failure(exc)
        return found
    found.next_token = answer.get("nextToken") or None
    found.rows = [entry_row(console, view, cluster, arn) for arn in answer.get("accessEntries") or []]
    found.total = snapshot_entry_count(console, cluster)
    return found


def described_mode(console: Console, view: View, name: str) -> tuple[str | None, dict[str, Any]]:
    """The cluster's authentication mode (DescribeCluster, as the caller), or the refusal that ends
    the page: 403 when denied, 404 otherwise."""
    try:
        cluster = console.call(view, "eks", "DescribeCluster", {"name": name})["cluster"]
    except ServiceError as exc:
        return None, {"fatal": failure(exc), "fatal_status": 403 if exc.status == 403 else 404}
    return str(cluster["accessConfig"]["authenticationMode"]), {}


def snapshot_entry_count(console: Console, cluster: str) -> int | None:
    snapshot = console.registry.snapshot(cluster)
    return None if snapshot is None else len(snapshot.entries_by_principal)


def entry_row(console: Console, view: View, cluster: str, principal_arn: str) -> EntryRow:
    """DescribeAccessEntry and ListAssociatedAccessPolicies for one principal."""
    row = EntryRow(principal_arn)
    try:
        entry = console.call(view, "eks", "DescribeAccessEntry",
                             {"clusterName": cluster, "principalArn": principal_arn})["accessEntry"]
    except ServiceError as exc:
        row.error = failure(exc)
        return row
    row.type, row.username = entry.get("type") or "", entry.get("username") or ""
    row.groups = list(entry.get("kubernetesGroups") or [])
    if row.type != "STANDARD":  # EKS gives node and other typed entries no access policies
        row.policies_na = True
        return row
    try:
        row.chips = chips(console, view, cluster, principal_arn)
    except ServiceError as exc:
        row.policies_error = failure(exc)
    return row


def chips(console: Console, view: View, cluster: str, principal_arn: str) -> list[Chip]:
    params = {"clusterName": cluster, "principalArn": principal_arn}
    found = []
    for association in every(console, view, "ListAssociatedAccessPolicies", params, "associatedAccessPolicies"):
        scope = association.get("accessScope") or {}
        arn = association["policyArn"]
        found.append(Chip(arn, arn.rsplit("/", 1)[-1], scope.get("type") or "cluster",
                          list(scope.get("namespaces") or []),
                          console.missing(view, "eks", "DisassociateAccessPolicy", {**params, "policyArn": arn})))
    return found


def access_policies(console: Console, view: View) -> tuple[list[dict[str, str]], str | None]:
    """The policies an entry can be given (ListAccessPolicies), for the associate form's select."""
    try:
        return every(console, view, "ListAccessPolicies", {}, "accessPolicies"), None
    except ServiceError as exc:
        return [], failure(exc)


def oidc_count(console: Console, view: View, cluster: str) -> tuple[int | None, str | None]:
    try:
        return len(every(console, view, "ListIdentityProviderConfigs", {"clusterName": cluster},
                         "identityProviderConfigs")), None
    except ServiceError as exc:
        return None, failure(exc)


def entry_count(console: Console, view: View, cluster: str) -> tuple[int | None, str | None]:
    """How many entries, for a caller who may ListAccessEntries (the list page's column)."""
    missing = console.missing(view, "eks", "ListAccessEntries", {"clusterName": cluster})
    if missing:
        return None, f"needs {missing}"
    return snapshot_entry_count(console, cluster), None


# --- aws-auth --------------------------------------------------------------------------------


def aws_auth_denied(console: Console, view: View, cluster: str) -> str | None:
    """kubegate:DescribeIdentityMappings on the cluster, as ``kubegate awsauth get`` is authorized."""
    try:
        console.extras["insight"].signed.check_kubegate(view.caller, DESCRIBE_MAPPINGS, cluster, view.facts)
    except DomainError as exc:
        return domain_failure(console, exc)
    return None


def aws_auth_view(console: Console, view: View, cluster: str) -> AwsAuthView:
    """The cluster's current aws-auth (the live ConfigMap when the cluster has one), row by row."""
    denied = aws_auth_denied(console, view, cluster)
    if denied:
        return AwsAuthView(error=denied)
    try:
        state = console.extras["edits"].state(cluster)
        parsed = state.parsed
    except DomainError as exc:
        return AwsAuthView(error=domain_failure(console, exc))
    except AwsAuthError as exc:
        return AwsAuthView(error=exc.message)
    return AwsAuthView(rows=mapping_rows(parsed), warnings=parsed.warnings, version=state.version)


def mapping_rows(auth: AwsAuth) -> list[MappingView]:
    """Every row in ConfigMap order, each marked with the row that wins its ARN if another does."""
    numbered: dict[int, int] = {}  # id(mapping) -> row number
    rows: list[MappingView] = []
    for kind, items in (("mapRoles", auth.roles), ("mapUsers", auth.users)):
        for item in items:
            rows.append(MappingView(len(rows) + 1, kind, row_arn(item), item.username, item.groups))
            numbered[id(item)] = len(rows)
    for mapping in auth.rows:
        winner = _winner(auth, mapping)
        if winner is not None and winner is not mapping:
            rows[numbered[id(mapping)] - 1].winner = numbered.get(id(winner))
    rows += [MappingView(len(rows) + i + 1, "mapAccounts", account, "", ())
             for i, account in enumerate(sorted(auth.accounts))]
    return rows


def _winner(auth: AwsAuth, item: RoleMapping | UserMapping) -> object | None:
    """The row the authenticator uses for a caller with this row's ARN."""
    identity = CallerIdentity(arn=row_arn(item), canonical_arn=item.canonical_arn, account=_NO_ACCOUNT, user_id="")
    return auth.match(identity)


def aws_auth_count(console: Console, view: View, cluster: str) -> tuple[int | None, str | None]:
    """Rows of aws-auth as the authenticator holds it now (the server's snapshot), for the list page."""
    denied = aws_auth_denied(console, view, cluster)
    if denied:
        return None, denied
    snapshot = console.registry.snapshot(cluster)
    if snapshot is None:
        return 0, None
    return len(snapshot.aws_auth.rows) + len(snapshot.aws_auth.accounts), None
