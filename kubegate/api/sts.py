"""The STS operations: GetCallerIdentity, AssumeRole and AssumeRoleWithWebIdentity."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from kubegate.domain.caller import Caller, RequestFacts
from kubegate.domain.errors import ValidationError
from kubegate.identity.sts import AssumeRoleRequest, IssuedSession, StsService, WebIdentityRequest

Params = Mapping[str, Any]
Output = dict[str, Any]
Handler = Callable[[StsService, Caller, Params, RequestFacts], Output]
# Accepted by the model, refused by kubegate rather than ignored: kubegate has no MFA devices
# and no trusted context providers, so it cannot check what they would assert.
_UNSUPPORTED = {"SerialNumber": "MFA devices", "TokenCode": "MFA devices", "ProvidedContexts": "provided contexts"}
# AssumeRoleWithWebIdentity's ProviderId names an OAuth 2.0 provider (Login with Amazon, Facebook):
# kubegate takes OpenID Connect ID tokens from IAM OIDC providers only.
_WEB_IDENTITY_UNSUPPORTED = {"ProviderId": "OAuth 2.0 access tokens"}


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
        return _session_output(s.assume_role(c, request, facts))

    def assume_role_with_web_identity(s: StsService, c: Caller, p: Params, facts: RequestFacts) -> Output:
        """Unsigned, as on AWS: ``c`` is whoever the endpoint let in (anonymous) and is not used."""
        for member, what in _WEB_IDENTITY_UNSUPPORTED.items():
            if p.get(member) is not None:
                raise ValidationError(f"kubegate does not support {what} ({member})")
        request = WebIdentityRequest(
            role_arn=p["RoleArn"], session_name=p["RoleSessionName"], unverified_token=p["WebIdentityToken"],
            duration_seconds=p.get("DurationSeconds"), policy=p.get("Policy"),
            policy_arns=_policy_arns(p.get("PolicyArns")),
        )
        issued = s.assume_role_with_web_identity(request, facts)
        return {**_session_output(issued.issued), "SubjectFromWebIdentityToken": issued.subject,
                "Audience": issued.audience, "Provider": issued.provider_arn}

    return {"GetCallerIdentity": get_caller_identity, "AssumeRole": assume_role,
            "AssumeRoleWithWebIdentity": assume_role_with_web_identity}


def _session_output(issued: IssuedSession) -> Output:
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


def _policy_arns(descriptors: Any) -> tuple[str, ...]:
    arns = tuple(d.get("arn") for d in descriptors or ())
    if any(arn is None for arn in arns):
        raise ValidationError("1 validation error detected: Value null at 'policyArns.member.arn' failed to satisfy "
                              "constraint: Member must not be null")
    return tuple(str(arn) for arn in arns)
