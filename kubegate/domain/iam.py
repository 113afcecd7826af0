"""The embedded IAM: users, roles, managed and inline policies, access keys, sessions.

These mirror AWS's entities closely enough that ARNs and unique IDs read as AWS's do:
``AIDA…`` users, ``AROA…`` roles, ``ANPA…`` policies, ``AKIA…`` long-term keys and
``ASIA…`` session keys. A re-created user or role gets a new unique ID, which is what
lets EKS access entries refuse a namesake of a deleted principal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from kubegate.domain.errors import InvalidInput, ValidationError

MAX_ACCESS_KEYS_PER_USER = 2
DEFAULT_MAX_SESSION_SECONDS = 3600
MIN_SESSION_SECONDS = 900
MAX_SESSION_SECONDS = 43200
USER_INLINE_POLICY_LIMIT = 2048
ROLE_INLINE_POLICY_LIMIT = 10240
MANAGED_POLICY_LIMIT = 6144
TRUST_POLICY_LIMIT = 2048
_SESSION_NAME = re.compile(r"[\w+=,.@-]{2,64}", re.ASCII)  # with fullmatch: no trailing newline


class OwnerKind(str, Enum):
    USER = "user"
    ROLE = "role"
    POLICY = "policy"  # tags only: a managed policy is owned by its ARN
    OIDC_PROVIDER = "oidc"  # tags only: an OIDC provider is owned by its ARN


@dataclass(frozen=True)
class IamUser:
    name: str
    path: str
    id: str
    arn: str
    created_at: datetime


@dataclass(frozen=True)
class IamRole:
    name: str
    path: str
    id: str
    arn: str
    created_at: datetime
    trust_policy: str
    max_session_duration: int
    description: str | None
    # The principals the trust policy named, bound to their unique IDs when it was saved (as
    # AWS does): a deleted and re-created namesake does not match.
    trust_bindings: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ManagedPolicy:
    name: str
    path: str
    id: str
    arn: str
    document: str
    description: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Session:
    """Temporary credentials from AssumeRole; the role is pinned by its unique ID."""

    access_key_id: str
    role_name: str
    role_id: str
    role_arn: str
    session_name: str
    source_arn: str
    expires_at: datetime
    issued_at: datetime | None = None
    policies: tuple[str, ...] | None = None  # session policy documents (Policy, PolicyArns); None: none
    tags: tuple[tuple[str, str], ...] = ()  # session tags: aws:PrincipalTag/* over the role's tags
    transitive_tag_keys: tuple[str, ...] = ()  # tags a chained AssumeRole carries on
    source_identity: str | None = None

    @property
    def assumed_role_arn(self) -> str:
        partition, account = self.role_arn.split(":")[1], self.role_arn.split(":")[4]
        return f"arn:{partition}:sts::{account}:assumed-role/{self.role_name}/{self.session_name}"

    @property
    def user_id(self) -> str:
        return f"{self.role_id}:{self.session_name}"


def iam_arn(partition: str, account: str, kind: str, path: str, name: str) -> str:
    return f"arn:{partition}:iam::{account}:{kind}{path}{name}"


def check_path(path: str) -> str:
    if not (path.startswith("/") and path.endswith("/")) or len(path) > 512:
        raise ValidationError(
            f"1 validation error detected: Value '{path}' at 'path' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern: (\\u002F)|(\\u002F[\\u0021-\\u007E]+\\u002F)"
        )
    return path


def check_session_name(name: str) -> None:
    if not _SESSION_NAME.fullmatch(name):
        raise ValidationError(
            f"1 validation error detected: Value '{name}' at 'roleSessionName' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern: [\\w+=,.@-]*"
        )


MAX_SESSION_TAGS = 50


def check_session_tags(tags: dict[str, str], transitive: tuple[str, ...]) -> None:
    """STS's rules for session tags beyond the model's lengths and patterns."""
    if len(tags) > MAX_SESSION_TAGS:
        raise ValidationError(f"1 validation error detected: Value at 'tags' failed to satisfy constraint: "
                              f"Member must have length less than or equal to {MAX_SESSION_TAGS}")
    lowered = [key.lower() for key in tags]
    if len(set(lowered)) != len(lowered):
        raise ValidationError("Duplicate tag keys found. Please note that Tag keys are case insensitive.")
    if any(key.startswith("aws:") for key in lowered):
        raise ValidationError("Tag keys starting with 'aws:' are reserved for AWS use.")
    missing = sorted(key for key in transitive if key.lower() not in lowered)
    if missing:
        raise ValidationError(f"TransitiveTagKeys must be keys of the session's Tags: {', '.join(missing)}")


def check_source_identity(value: str) -> None:
    if not _SESSION_NAME.fullmatch(value):
        raise ValidationError(
            f"1 validation error detected: Value '{value}' at 'sourceIdentity' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern: [\\w+=,.@-]*"
        )
    if value.lower().startswith("aws:"):
        raise ValidationError("Source identity must not begin with 'aws:'")


def session_duration(requested: int | None, role: IamRole) -> timedelta:
    """AssumeRole's DurationSeconds: 900 s up to the role's MaxSessionDuration (default one hour)."""
    seconds = requested if requested is not None else DEFAULT_MAX_SESSION_SECONDS
    if seconds < MIN_SESSION_SECONDS or seconds > role.max_session_duration:
        raise ValidationError(
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
            if seconds > role.max_session_duration
            else f"1 validation error detected: Value '{seconds}' at 'durationSeconds' failed to satisfy "
            "constraint: Member must have value greater than or equal to 900"
        )
    return timedelta(seconds=seconds)


def check_max_session_duration(seconds: int | None) -> int:
    value = DEFAULT_MAX_SESSION_SECONDS if seconds is None else seconds
    if not DEFAULT_MAX_SESSION_SECONDS <= value <= MAX_SESSION_SECONDS:
        raise InvalidInput(f"The MaxSessionDuration must be between 3600 and 43200 seconds; got {value}")
    return value
