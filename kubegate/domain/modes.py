"""The cluster authentication mode and the one-way road between modes.

EKS lets a cluster move only towards access entries: CONFIG_MAP → API_AND_CONFIG_MAP →
API. Staying put, skipping a step or going back is refused with one message pattern.
"""

from __future__ import annotations

from enum import Enum

from kubegate.domain.errors import InvalidParameter, InvalidRequest


class AuthenticationMode(str, Enum):
    CONFIG_MAP = "CONFIG_MAP"
    API_AND_CONFIG_MAP = "API_AND_CONFIG_MAP"
    API = "API"

    @property
    def uses_access_entries(self) -> bool:
        return self is not AuthenticationMode.CONFIG_MAP

    @property
    def uses_config_map(self) -> bool:
        return self is not AuthenticationMode.API


DEFAULT_MODE = AuthenticationMode.CONFIG_MAP  # EKS API, SDKs and CloudFormation

_ALLOWED = {
    (AuthenticationMode.CONFIG_MAP, AuthenticationMode.API_AND_CONFIG_MAP),
    (AuthenticationMode.API_AND_CONFIG_MAP, AuthenticationMode.API),
}

ACCESS_ENTRIES_DISABLED = (
    "The cluster's authentication mode must be set to one of [API, API_AND_CONFIG_MAP] "
    "to perform this operation."
)
BOOTSTRAP_REQUIRED = (
    "bootstrapClusterCreatorAdminPermissions must be true if cluster authentication mode "
    "is set to CONFIG_MAP"
)


def check_transition(current: AuthenticationMode, new: AuthenticationMode) -> None:
    """Refuse any mode change EKS refuses (same mode, skipping a step, or going back)."""
    if (current, new) not in _ALLOWED:
        raise InvalidParameter(
            f"Unsupported authentication mode update from {current.value} to {new.value}"
        )


def require_access_entries(mode: AuthenticationMode, cluster_name: str) -> None:
    """The gate in front of every access-entry operation."""
    if not mode.uses_access_entries:
        raise InvalidRequest(ACCESS_ENTRIES_DISABLED, cluster_name=cluster_name)


def check_bootstrap(mode: AuthenticationMode, bootstrap_admin: bool) -> None:
    """CONFIG_MAP clusters always map their creator; the flag may not say otherwise."""
    if mode is AuthenticationMode.CONFIG_MAP and not bootstrap_admin:
        raise InvalidParameter(BOOTSTRAP_REQUIRED)
