"""An OIDC ID token's verified claims → the Kubernetes user one config makes of them (EKS's rules).

Pure: the claims come already verified (``identity.oidc``). What reaches Kubernetes is a
username and groups only: no uid (Kubernetes' own OIDC authenticator sets none) and no IAM
extra, so the access-policy authorizer has no opinion and RBAC alone decides.

    username   the ``usernameClaim`` (default ``sub``), a string; ``email`` only if
               ``email_verified`` is true when that claim is present
    prefix     ``usernamePrefix`` if set (``-``: none); else ``<issuerUrl>#``, except for ``email``
    groups     the ``groupsClaim``: a string or a list of strings, each with ``groupsPrefix``
    required   every ``requiredClaims`` pair present with an equal value (compared as strings)
    reserved   a ``system:`` username or group after prefixing is refused
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kubegate.domain.identity_providers import OidcConfig

DEFAULT_USERNAME_CLAIM = "sub"
NO_PREFIX = "-"
RESERVED_PREFIX = "system:"


@dataclass(frozen=True)
class OidcUser:
    username: str
    groups: tuple[str, ...]
    claims_used: Mapping[str, Any]  # what the audit log records: sub, the username and groups claims


@dataclass(frozen=True)
class OidcRefused:
    reason: str


def username_claim(config: OidcConfig) -> str:
    return config.username_claim or DEFAULT_USERNAME_CLAIM


def map_claims(config: OidcConfig, claims: Mapping[str, Any]) -> OidcUser | OidcRefused:
    """The Kubernetes user `config` makes of `claims`, or why it makes none."""
    where = f"identity provider config {config.name}"
    for name, expected in config.required_claims:
        if name not in claims:
            return OidcRefused(f"{where}: required claim {name!r} is missing")
        if _as_string(claims[name]) != expected:
            return OidcRefused(f"{where}: required claim {name!r} does not have the required value")
    claim = username_claim(config)
    value = claims.get(claim)
    if value is None:
        return OidcRefused(f"{where}: the username claim {claim!r} is missing")
    if not isinstance(value, str) or not value:
        return OidcRefused(f"{where}: the username claim {claim!r} is not a non-empty string")
    if claim == "email" and "email_verified" in claims and claims["email_verified"] is not True:
        return OidcRefused(f"{where}: email {value!r} is not verified (email_verified is not true)")
    username = _prefixed_username(config, claim, value)
    groups: tuple[str, ...] = ()
    if config.groups_claim:
        raw = claims.get(config.groups_claim)
        if isinstance(raw, str):
            names: list[Any] = [raw]
        elif isinstance(raw, list):
            names = raw
        elif raw is None:
            names = []
        else:
            return OidcRefused(f"{where}: the groups claim {config.groups_claim!r} is neither a string "
                               "nor a list of strings")
        if not all(isinstance(name, str) for name in names):
            return OidcRefused(f"{where}: the groups claim {config.groups_claim!r} is not a list of strings")
        groups = tuple((config.groups_prefix or "") + name for name in names)
    if username.startswith(RESERVED_PREFIX):
        return OidcRefused(f"{where}: username {username!r} begins with {RESERVED_PREFIX}")
    for group in groups:
        if group.startswith(RESERVED_PREFIX):
            return OidcRefused(f"{where}: group {group!r} begins with {RESERVED_PREFIX}")
    used = {key: claims[key] for key in dict.fromkeys(("sub", claim, config.groups_claim or "")) if key in claims}
    return OidcUser(username, groups, used)


def _prefixed_username(config: OidcConfig, claim: str, value: str) -> str:
    if config.username_prefix == NO_PREFIX:
        return value
    if config.username_prefix:
        return config.username_prefix + value
    return value if claim == "email" else f"{config.issuer_url}#{value}"


def _as_string(value: Any) -> str | None:
    """A claim's value for comparison with a required claim's: strings as they are, scalars as JSON spells them."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return None
