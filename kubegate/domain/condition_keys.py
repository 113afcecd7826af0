"""The request context AWS builds for a call: which condition keys are present, and which
are absent only because kubegate cannot know them.

AWS decides an IAM policy's conditions on the keys it puts into the request context, and a
key it leaves out follows the rules for absent keys (a positive operator is false, a
negated one true, ...). kubegate must therefore do two things: set every key AWS would set
that kubegate can know, and name the keys AWS would set that kubegate cannot know, so that
conditions on them fail closed instead of being read as "absent". The second list is what
keeps a Deny on, say, ``aws:PrincipalOrgID`` from silently never applying.

Global keys are listed in the IAM User Guide ("AWS global condition context keys");
service keys per action come from the Service Authorization Reference
(``data/condition-keys.json``). No I/O: the clock and the request arrive as arguments.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from enum import Enum
from functools import cache
from importlib import resources
from typing import Any, NamedTuple

from kubegate.domain.caller import Caller, RequestFacts

Keys = dict[str, tuple[str, ...]]


class ActionKeys(NamedTuple):
    """One action's service keys: those present, and every key name the builder considered
    (present, or known to be absent from this request as it would be on AWS)."""

    present: Keys
    covered: frozenset[str]

    @classmethod
    def of(cls, present: Keys, *absent: str) -> ActionKeys:
        return cls(present, frozenset(n.lower() for n in (*present, *absent)))


NO_KEYS = ActionKeys({}, frozenset())

# Global keys kubegate sets whenever AWS would, or leaves out exactly when AWS would (the
# request is not made through a VPC endpoint, by a service, with MFA, or by a federated user).
KNOWN_GLOBAL_KEYS = frozenset(name.lower() for name in (
    "aws:PrincipalArn", "aws:PrincipalAccount", "aws:PrincipalType", "aws:userid", "aws:username",
    "aws:CurrentTime", "aws:EpochTime", "aws:SecureTransport", "aws:SourceIp", "aws:RequestedRegion",
    "aws:UserAgent", "aws:TagKeys", "aws:TokenIssueTime", "aws:MultiFactorAuthPresent",
    "aws:MultiFactorAuthAge", "aws:SourceIdentity", "aws:ViaAWSService", "aws:PrincipalIsAWSService",
    "aws:ResourceAccount", "aws:CalledVia", "aws:CalledViaFirst", "aws:CalledViaLast", "aws:SourceVpc",
    "aws:SourceVpce", "aws:VpcSourceIp", "aws:SourceArn", "aws:SourceAccount", "aws:SourceOrgID",
    "aws:SourceOrgPaths", "aws:FederatedProvider", "aws:PrincipalServiceName", "aws:PrincipalServiceNamesList",
    "aws:Referer", "aws:Ec2InstanceSourceVpc", "aws:Ec2InstanceSourcePrivateIPv4", "aws:SourceVpcArn",
))
# Families keyed by a tag name: kubegate knows every tag it stores, so an unset tag is absent.
TAG_KEY_FAMILIES = ("aws:principaltag/", "aws:resourcetag/", "aws:requesttag/")


class PrincipalType(str, Enum):
    """aws:PrincipalType's values for the callers kubegate has."""

    ROOT = "Account"
    USER = "User"
    SESSION = "AssumedRole"


def principal_type(caller: Caller) -> PrincipalType:
    if caller.arn.endswith(":root"):
        return PrincipalType.ROOT
    if ":assumed-role/" in caller.arn:
        return PrincipalType.SESSION
    return PrincipalType.USER


def iso8601(moment: datetime) -> str:
    """How AWS writes aws:CurrentTime and aws:TokenIssueTime: UTC, seconds, a Z."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def global_keys(caller: Caller, facts: RequestFacts) -> Keys:
    """The global keys AWS puts into every request of ``caller``.

    MFA: AWS sets aws:MultiFactorAuthPresent only for temporary credentials (false for a
    session without MFA) and leaves it out for long-term access keys, so a Deny on
    ``Bool aws:MultiFactorAuthPresent false`` does not catch access keys: a documented pitfall
    that kubegate keeps (``BoolIfExists`` catches both).
    """
    kind = principal_type(caller)
    keys: Keys = {
        "aws:PrincipalArn": (caller.principal_arn,),
        "aws:PrincipalAccount": (caller.account,),
        "aws:PrincipalType": (kind.value,),
        "aws:userid": (caller.user_id,),
        **request_keys(facts),
    }
    if kind is PrincipalType.USER:
        keys["aws:username"] = (caller.principal_arn.rsplit("/", 1)[1],)
    if caller.federated_provider is not None:
        keys["aws:FederatedProvider"] = (caller.federated_provider,)
    if caller.issued_at is not None:
        keys["aws:TokenIssueTime"] = (iso8601(caller.issued_at),)
        keys["aws:MultiFactorAuthPresent"] = ("false",)
    if caller.source_identity is not None:
        keys["aws:SourceIdentity"] = (caller.source_identity,)
    for name, value in caller.principal_tags:
        keys[f"aws:PrincipalTag/{name}"] = (value,)
    return keys


def request_keys(facts: RequestFacts) -> Keys:
    """The global keys of the request itself, whoever makes it (an unsigned one too)."""
    keys: Keys = {
        "aws:CurrentTime": (iso8601(facts.now),),
        "aws:EpochTime": (str(int(facts.now.timestamp())),),
        "aws:SecureTransport": ("true" if facts.secure_transport else "false",),
        "aws:ViaAWSService": ("false",),
        "aws:PrincipalIsAWSService": ("false",),
    }
    if facts.source_ip:
        keys["aws:SourceIp"] = (facts.source_ip,)
    if facts.region:
        keys["aws:RequestedRegion"] = (facts.region,)
    if facts.user_agent:
        keys["aws:UserAgent"] = (facts.user_agent,)
    return keys


def tag_keys(prefix: str, tags: Mapping[str, str] | None) -> Keys:
    """``aws:RequestTag/*`` or ``aws:ResourceTag/*`` (or a service's own ``iam:ResourceTag/*``)."""
    return {f"{prefix}/{name}": (value,) for name, value in (tags or {}).items()}


def request_tag_keys(tags: Mapping[str, str] | None) -> Keys:
    """A request that carries tags sets aws:RequestTag/* and aws:TagKeys; one without leaves both out."""
    if not tags:
        return {}
    return {**tag_keys("aws:RequestTag", tags), "aws:TagKeys": tuple(tags)}


@cache
def _reference() -> dict[str, Any]:
    text = resources.files("kubegate.domain").joinpath("data/condition-keys.json").read_text()
    return dict(json.loads(text))


_SERVED_PREFIXES = ("eks:", "iam:", "sts:")


def action_keys(action: str) -> frozenset[str]:
    """The service keys the Service Authorization Reference lists for ``action`` (lower-cased):
    the action's own and those of its resource types. A family keyed by a name
    (``eks:loggingType/${type}``) is its prefix, ``eks:loggingtype/``. Other services' keys
    (an identity provider's ``accounts.google.com:aud``) are never set for kubegate's callers."""
    entry = _reference()["actions"].get(action)
    if entry is None:
        return frozenset()
    names: list[str] = list(entry.get("keys", ()))
    for resource_type in entry.get("resources", ()):
        names += resource_type.get("keys", ())
    lowered = (name.lower().split("${", 1)[0] for name in names)
    return frozenset(name for name in lowered if name.startswith(_SERVED_PREFIXES))


class UnknownKeys:
    """Which keys of one request kubegate cannot know, for the evaluator's fail-closed rule.

    - a global ``aws:`` key kubegate does not know of (a newer key, or one that only an
      AWS Organization could set, such as aws:PrincipalOrgID);
    - a service key the reference lists for the action that the action's key builder did
      not cover (it neither set it nor knows AWS leaves it out for this request).
    """

    __slots__ = ("_names", "_families")

    def __init__(self, action: str, covered: Iterable[str]) -> None:
        unknown = action_keys(action) - {name.lower() for name in covered}
        self._names = frozenset(name for name in unknown if not name.endswith("/"))
        self._families = tuple(name for name in unknown if name.endswith("/"))

    def __call__(self, name: str) -> bool:
        if name.startswith("aws:"):
            return not name.startswith(TAG_KEY_FAMILIES) and name not in KNOWN_GLOBAL_KEYS
        return name in self._names or name.startswith(self._families)
