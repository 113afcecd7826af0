"""Why a principal can or cannot do something in a cluster, and who can.

The same walk the webhooks make, written out step by step: the mode and its sources, the
access entry or aws-auth row that maps the principal, its username and groups, each
policy with its scope, and the decision. Users of a cluster's OIDC identity providers are
not IAM principals: no access policy applies to them, RBAC alone authorizes them (OIDC_NOTE).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from kubegate.domain import rbac
from kubegate.domain.aws_auth import CallerIdentity
from kubegate.domain.policies import catalogue
from kubegate.engine.mapping import Mapped, map_identity
from kubegate.engine.snapshot import ClusterSnapshot

OIDC_NOTE = ("Users of OIDC identity providers are authorized by Kubernetes RBAC only: access policies apply "
             "to IAM principals, never to them.")


@dataclass(frozen=True)
class Explanation:
    allowed: bool
    steps: list[str] = field(default_factory=list)
    username: str | None = None
    groups: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"allowed": self.allowed, "username": self.username, "groups": list(self.groups), "steps": self.steps,
                "note": OIDC_NOTE}


def explain(snapshot: ClusterSnapshot, caller: CallerIdentity, request: rbac.Request) -> Explanation:
    steps = [f"cluster {snapshot.name}: authentication mode {snapshot.mode.value} consults {', '.join(snapshot.sources)}"]
    mapped = map_identity(snapshot, caller)
    if not isinstance(mapped, Mapped):
        steps.append(f"not authenticated: {mapped.reason}")
        return Explanation(False, steps)
    user = mapped.user
    steps.append(f"mapped by {mapped.reason} to user {user.username!r} with groups {list(user.groups)}")
    if mapped.entry is None or not snapshot.mode.uses_access_entries:
        steps.append(f"no access policies apply; left to RBAC for groups {list(user.groups)}")
        return Explanation(False, steps, user.username, user.groups)
    for association in mapped.entry.policies:
        single = rbac.decide([association], request, catalogue())
        steps.append(f"{association.policy_arn.rsplit('/', 1)[-1]} ({_scope(association.scope)}): "
                     f"{'allows' if single.allowed else 'does not allow'} — {single.reason}")
    decision = rbac.decide(mapped.entry.policies, request, catalogue())
    if decision.allowed:
        steps.append(f"allowed: entry {mapped.entry.principal_arn}, {decision.reason}")
    else:
        steps.append(f"no access policy allows it; left to RBAC for groups {list(user.groups)}")
    return Explanation(decision.allowed, steps, user.username, user.groups)


def _scope(scope: Any) -> str:
    if scope.namespaces:
        return f"{scope.type.value} scope {list(scope.namespaces)}"
    return f"{scope.type.value} scope"


@dataclass(frozen=True)
class Holder:
    principal_arn: str
    username: str
    grant: rbac.Grant


def who_can(snapshot: ClusterSnapshot, request: rbac.Request) -> Sequence[Holder]:
    """Every access entry, policy and scope that allows the request (RBAC bindings are not kubegate's)."""
    if not snapshot.mode.uses_access_entries:
        return []
    entries = list(snapshot.entries_by_id.values()) + list(snapshot.entries_by_arn.values())
    holders = [
        Holder(entry.principal_arn, entry.username, grant)
        for entry in sorted(entries, key=lambda e: e.principal_arn)
        for grant in rbac.grants(entry.policies, request, catalogue())
    ]
    return holders
