"""``kubegate iamidentitymapping create|get|delete``: eksctl's aws-auth edits as pure functions.

Each edit takes a ConfigMap's ``data`` and returns new ``data``, so the caller decides where
it is stored and the rules can be tested without a cluster (``eks-access.md`` §7.1). Semantics
and messages are eksctl's (``pkg/actions/iamidentitymapping/create.go``,
``pkg/authconfigmap/authconfigmap.go``, ``pkg/iam/mapping.go``, ``pkg/ctl/delete/
iamidentitymapping.go``) except where eksctl would write a mapping that can never match:

- a role ARN with a path is refused (eksctl writes it as given; the authenticator compares
  path-less role ARNs, so the row would be dead);
- ARNs are compared case-insensitively, as the authenticator does (eksctl compares exactly);
- ``delete --all`` that matches nothing is an error (eksctl silently writes nothing).

Edits read ``data`` strictly first: a ConfigMap the parser refuses is never rewritten, because
rebuilding a list from what a lenient parse kept would silently drop the rows it skipped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import yaml

from kubegate.domain.aws_auth import (
    AwsAuth,
    AwsAuthError,
    RoleMapping,
    UserMapping,
    account_list,
    config_map_values,
    item_count,
    parse_config_map,
)
from kubegate.domain.errors import InvalidParameter

ROLES, USERS, ACCOUNTS = "mapRoles", "mapUsers", "mapAccounts"
_ACCOUNT_ID = re.compile(r"[0-9]{12}")

# eksctl's messages (Go's %q is rendered by _q).
NEITHER_USERNAME_NOR_GROUP = "neither username nor group are set for iam identity"  # pkg/iam/mapping.go
NEITHER_USER_NOR_ROLE = "arn is neither user nor role"  # pkg/iam/mapping.go
EMPTY_ARN = "expected a valid arn but got empty string"  # pkg/iam/mapping.go NewIdentity
ACCOUNT_WITH_OTHERS = "account cannot be configured with any other options"  # v1alpha5 IAMIdentityMapping.Validate
DELETE_NEEDS_ONE = "either --arn or --account must be set"  # pkg/ctl/delete/iamidentitymapping.go


class IdentityMappingError(InvalidParameter):
    """An identity-mapping edit was refused; ``message`` is what the user reads."""


@dataclass(frozen=True)
class MappingRow:
    """One row as ``get`` prints it (eksctl's columns ARN, USERNAME, GROUPS, ACCOUNT)."""

    arn: str
    username: str
    groups: tuple[str, ...]
    account: str
    key: str


def _q(text: str) -> str:
    """Go's ``%q`` for the ASCII text ARNs and account ids are made of."""
    return json.dumps(text)


def _parse(data: Mapping[str, str], *, strict: bool = True) -> AwsAuth:
    try:
        return parse_config_map(data, strict=strict)
    except AwsAuthError as exc:
        raise IdentityMappingError(exc.message) from exc


def _accounts(data: Mapping[str, str]) -> list[str]:
    try:
        return account_list(data.get(ACCOUNTS))
    except AwsAuthError as exc:
        raise IdentityMappingError(exc.message) from exc


def config_map_data(document: str) -> dict[str, str]:
    """The ``data`` of a stored aws-auth document: a whole manifest (as kubectl prints it) or a
    bare data mapping. Anything but ConfigMap kube-system/aws-auth is refused."""
    try:
        values, _ = config_map_values(document)
    except AwsAuthError as exc:
        raise IdentityMappingError(exc.message) from exc
    return values


def mapping_rows(data: Mapping[str, str], *, strict: bool = True) -> list[MappingRow]:
    """Roles, then users, then accounts, each in ConfigMap order with duplicates kept, as
    eksctl's ``GetIdentities`` lists them. ``strict=False`` shows what the authenticator keeps."""
    auth = _parse(data, strict=strict)
    rows = [MappingRow(r.rolearn, r.username, r.groups, "", ROLES) for r in auth.roles]
    rows += [MappingRow(u.userarn, u.username, u.groups, "", USERS) for u in auth.users]
    accounts = _accounts(data) if strict else sorted(auth.accounts)
    return rows + [MappingRow("", "", (), account, ACCOUNTS) for account in accounts]


def select_rows(rows: Sequence[MappingRow], arn: str) -> list[MappingRow]:
    """``get --arn``: the rows for one ARN, or eksctl's error when there are none."""
    selected = [row for row in rows if row.arn and row.arn.lower() == arn.lower()]
    if not selected:
        raise IdentityMappingError(f"no iamidentitymapping with arn {_q(arn)} found")
    return selected


def _key_for_arn(arn: str) -> str:
    """mapRoles or mapUsers, told apart as eksctl does: by the resource type before the first
    ``/``. The other checks are kubegate's, for ARNs that could never match a caller."""
    if not arn.startswith("arn:"):
        raise IdentityMappingError(f"arn: invalid prefix: {_q(arn)}")  # aws-sdk-go arn.Parse
    parts = arn.split(":", 5)
    if len(parts) != 6:
        raise IdentityMappingError(f"arn: not enough sections: {_q(arn)}")  # aws-sdk-go arn.Parse
    _, _, service, _, account, resource = parts
    kind, _, rest = resource.partition("/")
    name = rest.rsplit("/", 1)[-1]
    if kind not in ("role", "user"):
        raise IdentityMappingError(f"{NEITHER_USER_NOR_ROLE}: {_q(arn)} (expected "
                                   "arn:<partition>:iam::<account>:role/<name> or :user/<name>)")
    if service != "iam" or not _ACCOUNT_ID.fullmatch(account) or not name:
        raise IdentityMappingError(f"{_q(arn)} is not an IAM {kind} ARN (expected "
                                   f"arn:<partition>:iam::<12-digit account>:{kind}/<name>)")
    if kind == "role" and "/" in rest:
        pathless = f"{arn.rsplit(':', 1)[0]}:role/{name}"
        raise IdentityMappingError(f"aws-auth rolearn values cannot include a path (the authenticator "
                                   f"compares path-less role ARNs): use {_q(pathless)} instead of {_q(arn)}")
    return ROLES if kind == "role" else USERS


class _Dumper(yaml.SafeDumper):
    """Quotes what Go's yaml.v2 would read back as non-strings: besides YAML 1.1's booleans,
    ``y``/``n`` (the parser's loader resolves them the same way)."""


_Dumper.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:y|Y|n|N)$"), list("yYnN"))


def _dump(items: Sequence[object]) -> str:
    return str(yaml.dump(items, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True))


def _dump_mappings(key: str, mappings: Sequence[RoleMapping | UserMapping]) -> str:
    """eksctl marshals through sigs.k8s.io/yaml, which sorts keys (groups, rolearn/userarn,
    username) and omits empty ones; an empty list is written as ``[]``."""
    arn_name = "rolearn" if key == ROLES else "userarn"
    items: list[dict[str, object]] = []
    for m in mappings:
        arn = m.rolearn if isinstance(m, RoleMapping) else m.userarn
        fields = (("groups", list(m.groups)), (arn_name, arn), ("username", m.username))
        items.append({name: value for name, value in fields if value})
    return _dump(items)


def _mappings(auth: AwsAuth, key: str) -> tuple[RoleMapping | UserMapping, ...]:
    return auth.roles if key == ROLES else auth.users


def _rewrite(data: Mapping[str, str], key: str, old: tuple[RoleMapping | UserMapping, ...],
             new: Sequence[RoleMapping | UserMapping]) -> dict[str, str]:
    """``data`` with one key rebuilt from mappings; every other key is kept as it was."""
    try:
        items = item_count(key, data.get(key))
    except AwsAuthError as exc:
        raise IdentityMappingError(exc.message) from exc
    if items != len(old):  # e.g. sso items, which the parser skips
        raise IdentityMappingError(f"aws-auth {key} holds {items - len(old)} item(s) without an ARN (sso) "
                                   "that rewriting it would drop: edit aws-auth by hand")
    result = dict(data)
    result[key] = _dump_mappings(key, new)
    if _mappings(_parse(result), key) != tuple(new):
        raise IdentityMappingError(f"cannot write aws-auth {key} so that it reads back the same: "
                                   "edit aws-auth by hand")
    return result


def _same_groups(a: Sequence[str], b: Sequence[str]) -> bool:
    return sorted(a) == sorted(b)


def create_mapping(data: Mapping[str, str], *, arn: str | None, username: str | None, groups: Sequence[str],
                   account: str | None, no_duplicate_arns: bool = False) -> dict[str, str]:
    """``create iamidentitymapping``: append a role or user row, or add an account. A duplicate
    ARN is appended (it shadows the earlier rows: the authenticator uses the last) unless
    ``no_duplicate_arns``; then an identical existing row makes this a no-op, as in eksctl."""
    username, groups = username or "", [g for g in groups if g]
    if account:
        if arn or username or groups:
            raise IdentityMappingError(ACCOUNT_WITH_OTHERS)
        return _add_account(data, account)
    if not arn:
        raise IdentityMappingError(EMPTY_ARN)
    if not username and not groups:
        raise IdentityMappingError(NEITHER_USERNAME_NOR_GROUP)
    key = _key_for_arn(arn)
    auth = _parse(data)
    mapping: RoleMapping | UserMapping = (RoleMapping(arn, username, tuple(groups)) if key == ROLES
                                          else UserMapping(arn, username, tuple(groups)))
    if no_duplicate_arns:
        for row in mapping_rows(data):
            if row.arn.lower() != arn.lower():
                continue
            if row.key == key and row.arn == arn and row.username == username and _same_groups(row.groups, groups):
                return dict(data)  # "found existing mapping that matches the one being created, skipping."
            raise IdentityMappingError(f"found existing mapping with the same arn {_q(arn)} and shadowing is disabled")
    old = _mappings(auth, key)
    return _rewrite(data, key, old, (*old, mapping))


def _add_account(data: Mapping[str, str], account: str) -> dict[str, str]:
    """eksctl's AddAccount keeps mapAccounts distinct and sorted; adding one already there
    changes nothing."""
    if not _ACCOUNT_ID.fullmatch(account):
        raise IdentityMappingError(f"account {_q(account)} is not a 12-digit AWS account ID")
    _parse(data)
    accounts = _accounts(data)
    if account in accounts:
        return dict(data)
    return {**data, ACCOUNTS: _dump(sorted({*accounts, account}))}


def delete_mapping(data: Mapping[str, str], *, arn: str | None, account: str | None,
                   all: bool = False) -> dict[str, str]:
    """``delete iamidentitymapping``: the first matching row (roles, then users), or every
    match with ``all``. An emptied list stays as ``[]``, as eksctl writes it."""
    if bool(arn) == bool(account):
        raise IdentityMappingError(DELETE_NEEDS_ONE)
    auth = _parse(data)
    if account:
        accounts = _accounts(data)
        if account not in accounts:
            raise IdentityMappingError(f"account {_q(account)} not found in auth ConfigMap")
        kept = [a for a in accounts if a != account] if all else accounts
        if not all:
            kept.remove(account)  # eksctl's RemoveAccount: the first occurrence
        return {**data, ACCOUNTS: _dump(list(kept))}
    assert arn is not None
    wanted = arn.lower()
    result = dict(data)
    found = False
    for key in (ROLES, USERS):
        old = _mappings(auth, key)
        if all:
            new = tuple(m for m in old if m.canonical_arn != wanted)
        else:
            index = next((i for i, m in enumerate(old) if m.canonical_arn == wanted), None)
            new = old if index is None or found else old[:index] + old[index + 1:]
        if new != old:
            found = True
            result = _rewrite(result, key, old, new)
    if not found:
        raise IdentityMappingError(f"instance identity ARN {_q(arn)} not found in auth ConfigMap")
    return result


def remaining_matches(data: Mapping[str, str], *, arn: str | None = None, account: str | None = None) -> int:
    """How many rows still match after a delete, for eksctl's warning "there are %d mappings
    left with same arn %q (use --all to delete them at once)"."""
    rows = mapping_rows(data, strict=False)
    if arn:
        return sum(1 for row in rows if row.arn.lower() == arn.lower())
    return sum(1 for row in rows if account and row.account == account)


def _effective(auth: AwsAuth, key: str) -> dict[str, RoleMapping | UserMapping]:
    """The row the authenticator uses per lower-cased ARN: the last duplicate."""
    return {m.canonical_arn: m for m in _mappings(auth, key)}


def _name(username: str) -> str:
    return username or '""'


def _show(mapping: RoleMapping | UserMapping) -> str:
    return f"{_name(mapping.username)} [{', '.join(mapping.groups)}]"


def _arn(mapping: RoleMapping | UserMapping) -> str:
    return mapping.rolearn if isinstance(mapping, RoleMapping) else mapping.userarn


def describe_changes(before: Mapping[str, str], after: Mapping[str, str]) -> list[str]:
    """Human lines for an audit trail: what changed in what the authenticator would do.
    Duplicates that stay shadowed, reordering and re-serialising are not changes. Both sides
    are read leniently, so a history of a once-invalid ConfigMap can still be described."""
    old_auth, new_auth = _parse(before, strict=False), _parse(after, strict=False)
    lines: list[str] = []
    for key in (ROLES, USERS):
        old, new = _effective(old_auth, key), _effective(new_auth, key)
        for arn_key, was in old.items():
            now = new.get(arn_key)
            if now is None:
                lines.append(f"removed {key} {_arn(was)} -> {_show(was)}")
                continue
            parts = []
            if now.username != was.username:
                parts.append(f"username {_name(was.username)} -> {_name(now.username)}")
            if sorted(now.groups) != sorted(was.groups):  # order means nothing to RBAC
                parts.append(f"groups [{', '.join(was.groups)}] -> [{', '.join(now.groups)}]")
            if parts:
                lines.append(f"changed {key} {_arn(now)}: {', '.join(parts)}")
        lines += [f"added {key} {_arn(now)} -> {_show(now)}" for arn_key, now in new.items() if arn_key not in old]
    lines += [f"removed {ACCOUNTS} {a}" for a in sorted(old_auth.accounts - new_auth.accounts)]
    lines += [f"added {ACCOUNTS} {a}" for a in sorted(new_auth.accounts - old_auth.accounts)]
    return lines
