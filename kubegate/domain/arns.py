"""ARNs and IAM principals, as EKS reads them.

EKS accepts IAM users and roles (with paths) as access-entry principals, never STS
session ARNs; aws-auth and the authenticator compare *canonical* ARNs, where an
assumed-role session or a role with a path collapses to ``role/<name>``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from functools import cached_property

from kubegate.domain.errors import InvalidParameter

PARTITIONS = ("aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b")
_ACCOUNT = re.compile(r"[0-9]{12}")  # ASCII digits only; used with fullmatch, so no newline slips by
_IAM_NAME = re.compile(r"[\w+=,.@-]{1,128}", re.ASCII)
_PATH = re.compile(r"/([\x21-\x7e]*/)?")
SERVICE_LINKED_ROLE_PATH = "/aws-service-role/"

PRINCIPAL_FORMAT_INVALID = "The principalArn parameter format is not valid"


@dataclass(frozen=True)
class Arn:
    """The six colon-separated fields of an ARN (the resource keeps any further colons)."""

    partition: str
    service: str
    region: str
    account: str
    resource: str

    def __str__(self) -> str:
        return f"arn:{self.partition}:{self.service}:{self.region}:{self.account}:{self.resource}"

    @classmethod
    def parse(cls, text: str) -> Arn:
        parts = text.split(":", 5)
        if len(parts) != 6 or parts[0] != "arn" or parts[1] not in PARTITIONS or not parts[2]:
            raise ValueError(f"not an ARN: {text!r}")
        return cls(parts[1], parts[2], parts[3], parts[4], parts[5])


class PrincipalKind(str, Enum):
    USER = "user"
    ROLE = "role"
    ROOT = "root"


@dataclass(frozen=True)
class PrincipalArn:
    """An IAM user, role or account root that may own an access entry."""

    partition: str
    account: str
    kind: PrincipalKind
    path: str
    name: str

    @cached_property  # every allowed review names its entry's ARN
    def arn(self) -> str:
        if self.kind is PrincipalKind.ROOT:
            return f"arn:{self.partition}:iam::{self.account}:root"
        return f"arn:{self.partition}:iam::{self.account}:{self.kind.value}{self.path}{self.name}"

    @property
    def canonical_arn(self) -> str:
        """The ARN with any path dropped: the form aws-auth and sessions use."""
        if self.kind is PrincipalKind.ROOT:
            return self.arn
        return f"arn:{self.partition}:iam::{self.account}:{self.kind.value}/{self.name}"

    @property
    def is_service_linked_role(self) -> bool:
        return self.kind is PrincipalKind.ROLE and self.path.startswith(SERVICE_LINKED_ROLE_PATH)

    def __str__(self) -> str:
        return self.arn


def parse_principal_arn(text: str) -> PrincipalArn:
    """Parse an access-entry principal; anything but an IAM user, role or root is refused.

    STS session ARNs are refused with the same message EKS gives, because an entry must
    outlive any one session.
    """
    try:
        arn = Arn.parse(text)
    except ValueError:
        raise InvalidParameter(PRINCIPAL_FORMAT_INVALID) from None
    if arn.service != "iam" or arn.region or not _ACCOUNT.fullmatch(arn.account):
        raise InvalidParameter(PRINCIPAL_FORMAT_INVALID)
    if arn.resource == "root":
        return PrincipalArn(arn.partition, arn.account, PrincipalKind.ROOT, "/", "")
    kind_text, _, rest = arn.resource.partition("/")
    if kind_text not in ("user", "role") or not rest:
        raise InvalidParameter(PRINCIPAL_FORMAT_INVALID)
    path, _, name = ("/" + rest).rpartition("/")
    path += "/"
    if not _IAM_NAME.fullmatch(name) or not _PATH.fullmatch(path) or len(path) > 512:
        raise InvalidParameter(PRINCIPAL_FORMAT_INVALID)
    return PrincipalArn(arn.partition, arn.account, PrincipalKind(kind_text), path, name)


def is_iam_role_arn(text: str) -> bool:
    """Whether ``text`` names an IAM role (the cluster's service role must be one)."""
    try:
        principal = parse_principal_arn(text)
    except InvalidParameter:
        return False
    return principal.kind is PrincipalKind.ROLE
