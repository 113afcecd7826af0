"""Access entries: who a principal becomes in Kubernetes, and the rules on each type.

An entry's ``username`` may hold templates (``{{SessionName}}`` …) stored literally and
rendered only at authentication time. Node types get EKS-generated usernames and groups
that the caller may not set; only STANDARD entries (and EC2 Auto Mode entries, for
AmazonEKSAutoNodePolicy) take access policies.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import Enum
from typing import Any

from kubegate.domain.arns import PrincipalArn, PrincipalKind
from kubegate.domain.errors import InvalidParameter
from kubegate.domain.policies import (
    AUTO_NODE_POLICY_ARN,
    AccessPolicy,
    AccessScope,
    ScopeType,
)

MAX_ENTRIES_PER_CLUSTER = 3000
RESERVED_USERNAME_PREFIXES = ("system:", "eks:", "aws:", "amazon:", "iam:")
SESSION_TEMPLATES = ("{{SessionName}}", "{{SessionNameRaw}}")
STANDARD_ONLY = 'This operation can only be performed on Access Entries with a type of "STANDARD".'

# Neither the EKS model nor its documentation limits usernames or group names, and Kubernetes
# has no limit either. kubegate caps both at 1024 characters: the longest username EKS itself
# generates (an IAM user's ARN with a 512-character path) is about 620, so every generated
# default can be sent back, while a name can no longer bloat every TokenReview it is part of.
MAX_NAME_LENGTH = 1024
# Control characters (NUL, newlines …), invisible format characters (bidi overrides and
# isolates, zero-width characters, the BOM), lone surrogates and the line/paragraph
# separators: a name holding one can render as another ("\u202esretsam:metsys" displays as
# "system:masters") or break the logs and RBAC bindings it is written to.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


class EntryType(str, Enum):
    STANDARD = "STANDARD"
    EC2 = "EC2"
    EC2_LINUX = "EC2_LINUX"
    EC2_WINDOWS = "EC2_WINDOWS"
    FARGATE_LINUX = "FARGATE_LINUX"
    HYBRID_LINUX = "HYBRID_LINUX"
    HYPERPOD_LINUX = "HYPERPOD_LINUX"

    @classmethod
    def parse(cls, text: str | None) -> EntryType:
        if text is None:
            return cls.STANDARD
        try:
            return cls(text)
        except ValueError:
            valid = ", ".join(t.value for t in cls)
            raise InvalidParameter(f"The type {text} is not valid. Valid types are: [{valid}]") from None


# EKS-generated identities of node entry types. EC2_LINUX is documented; the groups of the
# other node types are not public, so they follow EC2_LINUX (UNCONFIRMED, see the spec §3.1).
_NODE_IDENTITY: dict[EntryType, tuple[str, tuple[str, ...]]] = {
    EntryType.EC2_LINUX: ("system:node:{{EC2PrivateDNSName}}", ("system:nodes",)),
    EntryType.EC2_WINDOWS: ("system:node:{{EC2PrivateDNSName}}", ("system:nodes",)),
    EntryType.EC2: ("system:node:{{EC2PrivateDNSName}}", ()),
    EntryType.FARGATE_LINUX: ("system:node:{{SessionName}}", ("system:nodes",)),
    EntryType.HYBRID_LINUX: ("system:node:{{SessionName}}", ("system:nodes",)),
    EntryType.HYPERPOD_LINUX: ("system:node:{{EC2PrivateDNSName}}", ("system:nodes",)),
}


@dataclass(frozen=True)
class PolicyAssociation:
    policy_arn: str
    scope: AccessScope
    associated_at: datetime
    modified_at: datetime


@dataclass(frozen=True)
class AccessEntry:
    cluster_name: str
    principal: PrincipalArn
    principal_id: str | None  # the IAM unique ID, bound at creation when known
    type: EntryType
    username: str
    kubernetes_groups: tuple[str, ...]
    arn: str
    created_at: datetime
    modified_at: datetime
    client_request_token: str | None = None
    policies: tuple[PolicyAssociation, ...] = field(default=())

    @property
    def principal_arn(self) -> str:
        return self.principal.arn


def default_username(principal: PrincipalArn, entry_type: EntryType) -> str:
    """The username EKS generates when none is given (role paths are dropped)."""
    if entry_type in _NODE_IDENTITY:
        return _NODE_IDENTITY[entry_type][0]
    if principal.kind is PrincipalKind.ROLE:
        return f"arn:{principal.partition}:sts::{principal.account}:assumed-role/{principal.name}/{{{{SessionName}}}}"
    return principal.arn


def _check_name(text: str, what: str) -> None:
    """Length and characters, checked before any rule that echoes the value back."""
    if len(text) > MAX_NAME_LENGTH:
        raise InvalidParameter(f"The {what} must be at most {MAX_NAME_LENGTH} characters long")
    for char in text:
        if unicodedata.category(char) in _REFUSED_CATEGORIES:
            raise InvalidParameter(
                f"The {what} must not contain control or invisible formatting characters (found U+{ord(char):04X})"
            )


def check_username(username: str) -> None:
    _check_name(username, "username")
    for prefix in RESERVED_USERNAME_PREFIXES:
        if username.startswith(prefix):
            raise InvalidParameter(f"The username must not begin with {prefix}")
    for template in SESSION_TEMPLATES:
        at = username.find(template)
        if at >= 0 and ":" not in username[:at]:
            raise InvalidParameter(
                f"The username must include a colon before {template} when {template} is used"
            )
    if not username:
        raise InvalidParameter("The username must not be empty")


def check_groups(groups: list[str]) -> tuple[str, ...]:
    for group in groups:
        _check_name(group, "kubernetes group name")
        if group.startswith("system:"):
            raise InvalidParameter(f"The kubernetes group name {group} is invalid, it cannot start with system:")
        if not group:
            raise InvalidParameter("The kubernetes group name must not be empty")
    return tuple(dict.fromkeys(groups))


def identity_for(
    principal: PrincipalArn,
    entry_type: EntryType,
    username: str | None,
    groups: list[str] | None,
    cluster_account: str,
) -> tuple[str, tuple[str, ...]]:
    """Validate what the caller asked for and return the entry's username and groups."""
    if principal.is_service_linked_role:
        raise InvalidParameter(
            "The caller is not allowed to modify access entries with a principalArn value of a Service Linked Role"
        )
    checked_groups = check_groups(groups or [])
    if entry_type is EntryType.STANDARD:
        if username is not None:
            check_username(username)
        return username or default_username(principal, entry_type), checked_groups
    if username is not None:
        check_username(username)
        raise InvalidParameter(f"The username cannot be specified for an access entry of type {entry_type.value}")
    if groups:
        raise InvalidParameter(f"kubernetesGroups cannot be specified for an access entry of type {entry_type.value}")
    if principal.kind is not PrincipalKind.ROLE:
        raise InvalidParameter(f"The principalArn for an access entry of type {entry_type.value} must be an IAM role")
    if principal.account != cluster_account:
        raise InvalidParameter(
            f"The principalArn for an access entry of type {entry_type.value} must be in the cluster's account"
        )
    node_username, node_groups = _NODE_IDENTITY[entry_type]
    return node_username, node_groups


def updated(
    entry: AccessEntry, username: str | None, groups: list[str] | None, now: datetime
) -> AccessEntry:
    """Apply UpdateAccessEntry: groups are declarative (omitted means none), username optional."""
    if entry.type is not EntryType.STANDARD:
        if username is not None:
            check_username(username)
        if username is not None or groups:
            raise InvalidParameter(
                f"The username and kubernetesGroups cannot be updated for an access entry of type {entry.type.value}"
            )
        return replace(entry, modified_at=now)
    new_groups = check_groups(groups or [])
    if username is not None:
        check_username(username)
    return replace(
        entry,
        username=username if username is not None else entry.username,
        kubernetes_groups=new_groups,
        modified_at=now,
    )


def requested_scope(access_scope: Mapping[str, Any]) -> AccessScope:
    """AssociateAccessPolicy's accessScope: every member is optional in the model, but EKS needs a type."""
    kind = access_scope.get("type")
    if kind not in {t.value for t in ScopeType}:
        valid = ", ".join(t.value for t in ScopeType)
        raise InvalidParameter(f"accessScope.type must be specified as one of: [{valid}]")
    return AccessScope.create(kind, access_scope.get("namespaces"))


def check_policy_allowed(entry: AccessEntry, policy: AccessPolicy | None, scope: AccessScope | None) -> None:
    """STANDARD entries take any policy; EC2 (Auto Mode) entries take only the node policy."""
    if entry.type is EntryType.STANDARD:
        if policy is not None and policy.service_linked_only:
            raise InvalidParameter(
                f"The access policy {policy.name} is designated for AWS service-linked roles only "
                "and cannot be used with customer-managed roles"
            )
        return
    if entry.type is EntryType.EC2:
        if policy is None or (
            policy.arn == AUTO_NODE_POLICY_ARN and scope is not None and scope.type is ScopeType.CLUSTER
        ):
            return
    raise InvalidParameter(STANDARD_ONLY)


def associate(
    entry: AccessEntry, policy: AccessPolicy, scope: AccessScope, now: datetime
) -> tuple[AccessEntry, PolicyAssociation]:
    """Associate or re-associate: a policy appears once per entry, a second call replaces its scope."""
    check_policy_allowed(entry, policy, scope)
    previous = next((p for p in entry.policies if p.policy_arn == policy.arn), None)
    association = PolicyAssociation(
        policy_arn=policy.arn,
        scope=scope,
        associated_at=previous.associated_at if previous else now,
        modified_at=now,
    )
    others = tuple(p for p in entry.policies if p.policy_arn != policy.arn)
    return replace(entry, policies=others + (association,)), association
