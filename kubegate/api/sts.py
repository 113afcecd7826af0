"""The STS operations: GetCallerIdentity and AssumeRole."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from kubegate.domain.caller import Caller, RequestFacts
from kubegate.domain.errors import ValidationError
from kubegate.identity.sts import AssumeRoleRequest, StsService

Params = Mapping[str, Any]
Output = dict[str, Any]
Handler = Callable[[StsService, Caller, Params, RequestFacts], Output]
# Accepted by the model, refused by kubegate rather than ignored: kubegate has no MFA devices
# and no trusted context providers, so it cannot check what they would assert.
_UNSUPPORTED = {"SerialNumber": "MFA devices", "TokenCode": "MFA devices", "ProvidedContexts": "provided contexts"}


def handlers() -> dict[str, Handler]:
    def get_caller_identity(s: StsService, c: Caller, p: Params, facts: RequestFacts) -> Output:
        return {"UserId": c.user_id, "Account": c.account, "Arn": c.arn}

    def assume_role(s: StsService, c: Caller, p: Params, facts: RequestFacts) -> Output:
        for member, what in _UNSUPPORTED.items():
            if p.get(member) is not None:
                raise ValidationError(f"kubegate does not support {what} ({member})")
        request = AssumeRoleRequest(
            role_arn=p["RoleArn"], session_name=p["RoleSessionName"], duration_seconds=p.get("DurationSeconds"),
            external_id=p.get("ExternalId"), policy=p.get("Policy"),
            policy_arns=_policy_arns(p.get("PolicyArns")),
            tags={str(t["Key"]): str(t["Value"]) for t in p.get("Tags") or ()} if p.get("Tags") is not None else None,
            transitive_tag_keys=tuple(p.get("TransitiveTagKeys") or ()), source_identity=p.get("SourceIdentity"),
        )
        issued = s.assume_role(c, request, facts)
        session = issued.session
        return {
            "Credentials": {
                "AccessKeyId": session.access_key_id,
                "SecretAccessKey": issued.secret_access_key,
                "SessionToken": issued.session_token,
                "Expiration": session.expires_at,
            },
            "AssumedRoleUser": {"AssumedRoleId": session.user_id, "Arn": session.assumed_role_arn},
            "SourceIdentity": session.source_identity,
        }

    return {"GetCallerIdentity": get_caller_identity, "AssumeRole": assume_role}


def _policy_arns(descriptors: Any) -> tuple[str, ...]:
    arns = tuple(d.get("arn") for d in descriptors or ())
    if any(arn is None for arn in arns):
        raise ValidationError("1 validation error detected: Value null at 'policyArns.member.arn' failed to satisfy "
                              "constraint: Member must not be null")
    return tuple(str(arn) for arn in arns)
