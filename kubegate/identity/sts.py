"""The embedded STS: GetCallerIdentity and AssumeRole, and the sessions AssumeRole issues.

A session is pinned to its role's unique ID. Its secret is stored encrypted and its token
only as a SHA-256 digest, so the database alone cannot be replayed as credentials. What
AssumeRole was given that limits or describes the session (session policies, session tags,
the source identity) is stored with it, so every later call made with it honours them.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.fernet import Fernet

from kubegate.domain import iam_policy
from kubegate.domain.arns import PrincipalKind, parse_principal_arn
from kubegate.domain.caller import Caller, RequestFacts
from kubegate.domain.condition_keys import (
    ActionKeys,
    PrincipalType,
    UnknownKeys,
    principal_type,
    request_tag_keys,
    tag_keys,
)
from kubegate.domain.errors import AccessDenied, ExpiredToken, InvalidParameter, MalformedPolicyDocument, ValidationError
from kubegate.domain.iam import (
    IamRole,
    OwnerKind,
    Session,
    check_session_name,
    check_session_tags,
    check_source_identity,
    session_duration,
)
from kubegate.identity import credentials as generate
from kubegate.identity.authorizer import Authorizer, denied_message
from kubegate.store.database import Store, Transaction
from kubegate.store.iam_rows import StoredSession

ROLE_CHAINING_LIMIT = timedelta(hours=1)
SESSION_POLICY_LIMIT = 2048


@dataclass(frozen=True)
class IssuedSession:
    session: Session
    secret_access_key: str
    session_token: str


@dataclass(frozen=True)
class AssumeRoleRequest:
    """AssumeRole's parameters that kubegate implements; the others are refused by the handler."""

    role_arn: str
    session_name: str
    duration_seconds: int | None = None
    external_id: str | None = None
    policy: str | None = None
    policy_arns: tuple[str, ...] = ()
    tags: Mapping[str, str] | None = None
    transitive_tag_keys: tuple[str, ...] = ()
    source_identity: str | None = None


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class StsService:
    def __init__(
        self, store: Store, cipher: Fernet, authorizer: Authorizer, *, account: str,
        clock: Callable[[], datetime],
    ) -> None:
        self.store = store
        self.cipher = cipher
        self.authorizer = authorizer
        self.account = account
        self.clock = clock

    def assume_role(self, caller: Caller, request: AssumeRoleRequest, facts: RequestFacts) -> IssuedSession:
        check_session_name(request.session_name)
        tags = self._session_tags(caller, request)
        source_identity = self._source_identity(caller, request.source_identity)
        if principal_type(caller) is PrincipalType.ROOT:
            raise AccessDenied("Roles may not be assumed by root accounts.")
        role = self._role(caller, request.role_arn, facts)
        with self.store.transaction() as tx:
            policies = self._session_policies(tx, request)
            role_tags = tx.iam.tags(OwnerKind.ROLE, role.name)
        keys = ActionKeys.of(
            {
                "sts:RoleSessionName": (request.session_name,),
                **({"sts:ExternalId": (request.external_id,)} if request.external_id else {}),
                **({"sts:SourceIdentity": (request.source_identity,)} if request.source_identity else {}),
                **({"sts:TransitiveTagKeys": request.transitive_tag_keys} if request.transitive_tag_keys else {}),
                **request_tag_keys(request.tags),
                **tag_keys("aws:ResourceTag", role_tags),
                **tag_keys("iam:ResourceTag", role_tags),
            },
            "sts:ExternalId", "sts:SourceIdentity", "sts:TransitiveTagKeys", "iam:ResourceTag/",
        )
        self._permit(caller, role, "sts:AssumeRole", keys, facts)
        if request.tags:
            self._permit(caller, role, "sts:TagSession", keys, facts)
        if request.source_identity:
            self._permit(caller, role, "sts:SetSourceIdentity", keys, facts)
        duration = session_duration(request.duration_seconds, role)
        if principal_type(caller) is PrincipalType.SESSION and duration > ROLE_CHAINING_LIMIT:
            raise ValidationError(
                "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining."
            )
        now = self.clock()
        inherited = {k for k, _ in caller.principal_tags if k in caller.transitive_tag_keys}
        secret, token = generate.secret_access_key(), generate.session_token()
        session = Session(
            access_key_id=generate.access_key_id("ASIA"), role_name=role.name, role_id=role.id,
            role_arn=role.arn, session_name=request.session_name, source_arn=caller.arn,
            expires_at=now + duration, issued_at=now, policies=policies, tags=tuple(tags.items()),
            transitive_tag_keys=tuple(sorted(inherited | set(request.transitive_tag_keys))),
            source_identity=source_identity,
        )
        with self.store.transaction() as tx:
            tx.iam.delete_expired_sessions(now)
            tx.iam.add_session(StoredSession(session, self.cipher.encrypt(secret.encode()), token_digest(token)))
        return IssuedSession(session, secret, token)

    def _role(self, caller: Caller, role_arn: str, facts: RequestFacts) -> IamRole:
        refused = AccessDenied(denied_message(caller, "sts:AssumeRole", role_arn, explicit=False))
        try:
            principal = parse_principal_arn(role_arn)
        except InvalidParameter:
            raise ValidationError(f"{role_arn} is invalid") from None
        if principal.kind is not PrincipalKind.ROLE or principal.account != self.account:
            raise refused
        with self.store.transaction() as tx:
            role = tx.iam.role(principal.name)
        if role is None or role.arn != principal.arn:
            raise refused
        return role

    def _permit(self, caller: Caller, role: IamRole, action: str, keys: ActionKeys, facts: RequestFacts) -> None:
        """AWS's logic for a same-account role: an explicit Deny in the trust policy or in the
        caller's own policies denies; a trust policy naming the caller allows by itself, one
        naming only the account needs the caller's policies to allow too. Session policies of a
        calling session always limit it (AWS lets a trust policy naming the session's own ARN
        skip them; kubegate does not: stricter, never wider)."""
        refused = AccessDenied(denied_message(caller, action, role.arn, explicit=False))
        trust = iam_policy.evaluate_trust(
            iam_policy.parse_policy(role.trust_policy, kind="trust"),
            caller=_trust_caller(caller, role),
            action=action,
            condition_keys={**self.authorizer.caller_keys(caller, facts), **keys.present},
            unknown=UnknownKeys(action, keys.covered),
        )
        if not trust.allowed:
            raise refused
        decision = self.authorizer.decide(caller, action, role.arn, facts, keys)
        if decision is None:
            return
        if decision.explicit_deny or (not decision.allowed and (trust.via_account or decision.policy_type == "session")):
            raise AccessDenied(denied_message(caller, action, role.arn, explicit=decision.explicit_deny,
                                              policy_type=decision.policy_type))

    def _session_policies(self, tx: Transaction, request: AssumeRoleRequest) -> tuple[str, ...] | None:
        """The documents that scope the session down; None when AssumeRole was given none."""
        if request.policy is None and not request.policy_arns:
            return None
        documents = []
        for arn in request.policy_arns:
            found = tx.iam.policy(arn)
            if found is None:
                raise MalformedPolicyDocument(f"Policy {arn} does not exist or is not attachable.")
            documents.append(found.document)
        if request.policy is not None:
            iam_policy.parse_policy(request.policy, kind="identity", max_length=SESSION_POLICY_LIMIT)
            documents.append(request.policy)
        return tuple(documents)

    @staticmethod
    def _session_tags(caller: Caller, request: AssumeRoleRequest) -> dict[str, str]:
        """The new session's tags: those given, plus the calling session's transitive ones,
        which a chained call may not override."""
        given = dict(request.tags or {})
        check_session_tags(given, request.transitive_tag_keys)
        inherited = {k: v for k, v in caller.principal_tags if k in caller.transitive_tag_keys}
        clash = sorted(k for k in given if k.lower() in {i.lower() for i in inherited})
        if clash:
            raise ValidationError(f"Cannot override transitive session tags: {', '.join(clash)}")
        return {**inherited, **given}

    @staticmethod
    def _source_identity(caller: Caller, requested: str | None) -> str | None:
        """A source identity, once set, stays for every chained session and cannot be changed."""
        if requested is not None:
            check_source_identity(requested)
        if caller.source_identity is not None and requested not in (None, caller.source_identity):
            raise ValidationError("The source identity of a session cannot be changed once it is set.")
        return caller.source_identity or requested

    def session_credentials(self, access_key_id: str, token: str | None, now: datetime) -> tuple[Caller, str] | None:
        """The caller and secret of a live session, None if there is no such session or token, or
        its role was deleted (a re-created namesake has another unique ID): a deleted role's
        sessions end with it, so its `k8s-aws-v1.` tokens stop authenticating at once."""
        with self.store.transaction() as tx:
            stored = tx.iam.session(access_key_id)
            role = tx.iam.role(stored.session.role_name) if stored is not None else None
        if stored is None or token is None or not hmac.compare_digest(stored.token_sha256, token_digest(token)):
            return None
        if role is None or role.id != stored.session.role_id:
            return None
        if now >= stored.session.expires_at:
            raise ExpiredToken("The security token included in the request is expired")
        session = stored.session
        caller = Caller(
            arn=session.assumed_role_arn, user_id=session.user_id, account=self.account,
            principal_arn=session.role_arn, issued_at=session.issued_at, session_policies=session.policies,
            principal_tags=session.tags, transitive_tag_keys=session.transitive_tag_keys,
            source_identity=session.source_identity,
        )
        return caller, self.cipher.decrypt(stored.secret_ciphertext).decode()


def _trust_caller(caller: Caller, role: IamRole) -> iam_policy.TrustCaller:
    """The caller as the trust policy sees it. A principal the policy named is bound to the unique
    ID it had when the policy was saved: a deleted and re-created namesake (a new ID) no longer
    matches its ARN, as on AWS."""
    principal_id = caller.user_id.split(":", 1)[0]
    bound = dict(role.trust_bindings).get(caller.principal_arn)
    if bound is not None and bound != principal_id:
        return iam_policy.TrustCaller(arn=principal_id, principal_arn=principal_id, account=caller.account)
    return iam_policy.TrustCaller(arn=caller.arn, principal_arn=caller.principal_arn, account=caller.account)
