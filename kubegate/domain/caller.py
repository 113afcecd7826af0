"""The verified caller of a management request."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Caller:
    """Who signed a request, as the identity layer verified it."""

    arn: str  # as GetCallerIdentity reports it
    user_id: str
    account: str
    principal_arn: str  # the IAM user, role or root that an access entry for the caller names

    @classmethod
    def root(cls, account: str, partition: str = "aws") -> Caller:
        arn = f"arn:{partition}:iam::{account}:root"
        return cls(arn=arn, user_id=account, account=account, principal_arn=arn)
