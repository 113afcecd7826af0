"""The verified caller of a management request, and what the request itself tells about it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Caller:
    """Who signed a request, as the identity layer verified it.

    The session fields are set only for temporary credentials (an AssumeRole session); they
    travel with the session, so every later call honours what AssumeRole was given.
    """

    arn: str  # as GetCallerIdentity reports it
    user_id: str
    account: str
    principal_arn: str  # the IAM user, role or root that an access entry for the caller names
    issued_at: datetime | None = None  # aws:TokenIssueTime; temporary credentials only
    session_policies: tuple[str, ...] | None = None  # inline Policy and PolicyArns' documents; None: no session policy
    principal_tags: tuple[tuple[str, str], ...] = ()  # session tags (over the role's own as aws:PrincipalTag/*)
    transitive_tag_keys: tuple[str, ...] = ()  # session tags a chained AssumeRole carries on
    source_identity: str | None = None  # aws:SourceIdentity, set by AssumeRole's SourceIdentity; never changes
    federated_provider: str | None = None  # aws:FederatedProvider: the IAM OIDC provider of a web-identity session

    @classmethod
    def root(cls, account: str, partition: str = "aws") -> Caller:
        arn = f"arn:{partition}:iam::{account}:root"
        return cls(arn=arn, user_id=account, account=account, principal_arn=arn)


@dataclass(frozen=True)
class RequestFacts:
    """What the transport knows about one request, for the global condition keys AWS sets.

    ``region`` is the SigV4 credential scope's region (aws:RequestedRegion); kubegate serves
    HTTPS only, so aws:SecureTransport is always true.
    """

    now: datetime
    source_ip: str = ""
    region: str = ""
    user_agent: str = ""
    secure_transport: bool = field(default=True)
