"""Clusters, their access configuration, and the asynchronous updates EKS reports.

A kubegate cluster registers one Kubernetes cluster: it keeps every CreateCluster input
as given (``spec``) so DescribeCluster can echo it, plus what kubegate itself owns: the
authentication mode, the creator, and the API server's URL and CA once recorded.

EKS reports slow changes (creation, mode switches) as ``CREATING``/``UPDATING`` and
``InProgress`` updates. kubegate's changes take effect at once, so the status is derived
from the time: a change settles ``settle_seconds`` after it was made, and the answer to the
call that made it always reports it in progress, as EKS's does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import Any

from kubegate.domain.arns import is_iam_role_arn
from kubegate.domain.errors import InvalidParameter
from kubegate.domain.modes import AuthenticationMode

DEFAULT_KUBERNETES_VERSION = "1.34"
_CLUSTER_NAME = re.compile(r"[0-9A-Za-z][A-Za-z0-9\-_]*")  # with fullmatch: no trailing newline
CLUSTER_NAME_INVALID = (
    "The clusterName parameter contains invalid characters. It should conform to the regular "
    'expression "^[0-9A-Za-z][A-Za-z0-9-_]*"In other words, it should start with a number or '
    "letter, and can contain numbers, letters, dashes, and underscores."
)


def check_cluster_name(name: str) -> None:
    if not _CLUSTER_NAME.fullmatch(name) or len(name) > 100:
        raise InvalidParameter(CLUSTER_NAME_INVALID)


def check_role_arn(role_arn: str) -> None:
    if not is_iam_role_arn(role_arn):
        raise InvalidParameter(f"The roleArn parameter is not a valid IAM role ARN: {role_arn}")


class UpdateStatus(str, Enum):
    IN_PROGRESS = "InProgress"
    SUCCESSFUL = "Successful"


@dataclass(frozen=True)
class Update:
    id: str
    cluster_name: str
    type: str  # AccessConfigUpdate, LoggingUpdate, EndpointAccessUpdate, …
    params: tuple[tuple[str, str], ...]  # (UpdateParamType, value)
    created_at: datetime
    settles_at: datetime

    def status(self, now: datetime) -> UpdateStatus:
        return UpdateStatus.SUCCESSFUL if now > self.settles_at else UpdateStatus.IN_PROGRESS


@dataclass(frozen=True)
class Creator:
    """The IAM identity that created the cluster (its entry principal and unique ID)."""

    principal_arn: str
    principal_id: str


WEBHOOK_GENERATION = "kubegate:webhookCertificateGeneration"
"""The spec key holding a cluster's webhook-certificate generation (absent: 0). No EKS input can
set it (it is no model member) and DescribeCluster never shows it (outputs are projected)."""
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Cluster:
    name: str
    arn: str
    created_at: datetime
    settles_at: datetime
    spec: dict[str, Any]  # CreateCluster's inputs, as given (besides name, tags, accessConfig)
    authentication_mode: AuthenticationMode
    bootstrap_admin: bool
    creator: Creator
    endpoint: str | None = None
    certificate_authority: str | None = None  # base64 PEM, as EKS's certificateAuthority.data
    api_token_ciphertext: bytes | None = None  # kubegate's credential for reading the live aws-auth
    updates: tuple[Update, ...] = field(default=())

    def status(self, now: datetime) -> str:
        if now <= self.settles_at:
            return "CREATING"
        if any(u.status(now) is UpdateStatus.IN_PROGRESS for u in self.updates):
            return "UPDATING"
        return "ACTIVE"

    def update_in_progress(self, now: datetime) -> Update | None:
        return next((u for u in self.updates if u.status(now) is UpdateStatus.IN_PROGRESS), None)

    @property
    def webhook_generation(self) -> int:
        """Bumped by `kubegate webhook-config --rotate`, revoking the certificates of earlier ones."""
        value = self.spec.get(WEBHOOK_GENERATION, 0)
        return value if isinstance(value, int) else 0

    @property
    def webhook_identity(self) -> str:
        """The URI SAN a cluster's webhook client certificates carry, and the webhooks require: the
        cluster's name, its creation time (a deleted and re-created namesake has another) and the
        certificate generation."""
        created_ms = (self.created_at - _EPOCH) // timedelta(milliseconds=1)
        return f"kubegate:cluster:{self.name}:{created_ms}:{self.webhook_generation}"


def settle_time(now: datetime, settle_seconds: float) -> datetime:
    return now + timedelta(seconds=settle_seconds)
