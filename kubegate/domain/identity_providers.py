"""OIDC identity provider configs of a cluster (EKS's AssociateIdentityProviderConfig).

A config names an OpenID provider whose ID tokens the cluster's TokenReview webhook accepts
for users who are not IAM principals; they get only what RBAC gives their (prefixed)
username and groups. Associating and disassociating are cluster updates: a config is
CREATING, then ACTIVE; DELETING, then gone, each for ``--settle-seconds``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any
from urllib.parse import SplitResult, urlsplit

from kubegate.domain.errors import InvalidParameter


class ConfigStatus(str, Enum):
    CREATING = "CREATING"
    ACTIVE = "ACTIVE"
    DELETING = "DELETING"


@dataclass(frozen=True)
class OidcConfig:
    """One cluster's OIDC identity provider config, as AssociateIdentityProviderConfig stored it."""

    cluster_name: str
    name: str
    issuer_url: str  # compared with a token's ``iss`` exactly
    client_id: str  # the audience a token must carry
    arn: str
    created_at: datetime
    settles_at: datetime  # CREATING until then
    username_claim: str | None = None  # None: "sub"
    username_prefix: str | None = None  # None: EKS's default ("<issuer>#" unless the claim is email); "-": none
    groups_claim: str | None = None
    groups_prefix: str | None = None
    required_claims: tuple[tuple[str, str], ...] = field(default=())
    deleting_until: datetime | None = None  # set by Disassociate: DELETING until then, gone after
    client_request_token: str | None = None  # Associate's idempotency token

    def status(self, now: datetime) -> ConfigStatus:
        if self.deleting_until is not None:
            return ConfigStatus.DELETING
        return ConfigStatus.CREATING if now <= self.settles_at else ConfigStatus.ACTIVE

    def authenticates(self, now: datetime) -> bool:
        """Only an ACTIVE config lets tokens in: not while it is being created or deleted."""
        return self.status(now) is ConfigStatus.ACTIVE


# What AssociateIdentityProviderConfig checks beyond the botocore model (which bounds
# requiredClaims keys to 1-63 and values to 1-253 characters and requires name, issuer, client).

OIDC = "oidc"  # the only identity provider config type EKS has
MAX_CONFIGS_PER_CLUSTER = 10  # "up to 10" from Kubernetes 1.32; the error for the 11th is kubegate's choice
_RESERVED_PREFIX = "system:"
_CONFIG_NAME = re.compile(r"[0-9A-Za-z][A-Za-z0-9._\-]*")  # it is an ARN segment: no "/" (kubegate's rule)
_MAX_CLAIM_KEY, _MAX_CLAIM_VALUE = 63, 253


def is_gone(config: OidcConfig, now: datetime) -> bool:
    """A disassociated config past its DELETING time no longer exists (purged on the next write)."""
    return config.deleting_until is not None and now > config.deleting_until


def not_found_message(cluster_name: str, config_type: str, name: str) -> str:
    return f"No config found for cluster: {cluster_name}, config type: {config_type}, config name: {name}"


def not_associated_message(cluster_name: str) -> str:
    """Disassociating what is not associated; Terraform's provider matches this text."""
    return f"Identity provider config is not associated with cluster {cluster_name}"


def check_oidc_request(oidc: Mapping[str, Any], cluster_name: str) -> None:
    """The OIDC fields' rules from EKS's documentation, each an InvalidParameterException."""

    def invalid(message: str) -> InvalidParameter:
        return InvalidParameter(message, cluster_name=cluster_name)

    name = oidc.get("identityProviderConfigName") or ""
    if not name or len(name) > 100 or not _CONFIG_NAME.fullmatch(name):
        raise invalid(
            "The identityProviderConfigName parameter is invalid: it must be 1-100 letters, digits, "
            "dashes, underscores or dots"
        )
    check_issuer_url(oidc.get("issuerUrl") or "", cluster_name)
    client_id = oidc.get("clientId") or ""
    if not client_id.strip():
        raise invalid("The clientId parameter must not be empty")
    for member in ("usernamePrefix", "groupsPrefix"):
        prefix = oidc.get(member)
        if prefix is not None and _RESERVED_PREFIX in prefix:
            raise invalid(f"The {member} parameter can't contain {_RESERVED_PREFIX}")
    for key, value in (oidc.get("requiredClaims") or {}).items():
        if not 1 <= len(key) <= _MAX_CLAIM_KEY:
            raise invalid(f"requiredClaims key {key!r} must be 1-{_MAX_CLAIM_KEY} characters long")
        if not isinstance(value, str) or not 1 <= len(value) <= _MAX_CLAIM_VALUE:
            raise invalid(f"requiredClaims value for {key!r} must be 1-{_MAX_CLAIM_VALUE} characters long")


def check_issuer_url(issuer_url: str, cluster_name: str) -> None:
    """https://, a host, a path if any, and neither query parameters nor a fragment."""
    try:
        parts: SplitResult | None = urlsplit(issuer_url)
        _ = parts.port if parts else None  # a malformed port raises
    except ValueError:
        parts = None
    if parts is None or parts.scheme != "https" or not issuer_url.startswith("https://") or not parts.hostname:
        raise InvalidParameter(
            f"The issuerUrl parameter is invalid: {issuer_url!r} must begin with https:// and name a host",
            cluster_name=cluster_name,
        )
    if "?" in issuer_url or "#" in issuer_url:
        raise InvalidParameter(
            f"The issuerUrl parameter is invalid: {issuer_url!r} must not contain query parameters or a fragment",
            cluster_name=cluster_name,
        )
    if parts.username is not None or any(c.isspace() or ord(c) < 0x20 for c in issuer_url):
        raise InvalidParameter(f"The issuerUrl parameter is invalid: {issuer_url!r}", cluster_name=cluster_name)


def update_param(name: str) -> tuple[str, str]:
    """The param (Dis)AssociateIdentityProviderConfig updates carry, as EKS writes it."""
    return ("IdentityProviderConfig", json.dumps([{"type": OIDC, "name": name}], separators=(",", ":")))
