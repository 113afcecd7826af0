"""The STS operations: GetCallerIdentity and AssumeRole."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from kubegate.domain.caller import Caller
from kubegate.identity.sts import StsService

Params = Mapping[str, Any]
Output = dict[str, Any]
Handler = Callable[[StsService, Caller, Params], Output]


def handlers() -> dict[str, Handler]:
    def get_caller_identity(s: StsService, c: Caller, p: Params) -> Output:
        return {"UserId": c.user_id, "Account": c.account, "Arn": c.arn}

    def assume_role(s: StsService, c: Caller, p: Params) -> Output:
        issued = s.assume_role(
            c, role_arn=p["RoleArn"], session_name=p["RoleSessionName"],
            duration_seconds=p.get("DurationSeconds"), external_id=p.get("ExternalId"),
        )
        session = issued.session
        return {
            "Credentials": {
                "AccessKeyId": session.access_key_id,
                "SecretAccessKey": issued.secret_access_key,
                "SessionToken": issued.session_token,
                "Expiration": session.expires_at,
            },
            "AssumedRoleUser": {"AssumedRoleId": session.user_id, "Arn": session.assumed_role_arn},
        }

    return {"GetCallerIdentity": get_caller_identity, "AssumeRole": assume_role}
