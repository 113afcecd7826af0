"""The embedded STS: GetCallerIdentity and AssumeRole, and the sessions AssumeRole issues.

A session is pinned to its role's unique ID. Its secret is stored encrypted and its token
only as a SHA-256 digest, so the database alone cannot be replayed as credentials.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.fernet import Fernet

from kubegate.domain import iam_policy
from kubegate.domain.arns import PrincipalKind, parse_principal_arn
from kubegate.domain.caller import Caller
from kubegate.domain.errors import AccessDenied, ExpiredToken, InvalidParameter, ValidationError
from kubegate.domain.iam import Session, check_session_name, session_duration
from kubegate.identity import credentials as generate
from kubegate.identity.authorizer import Authorizer, CallerKind, caller_kind, condition_keys, denied_message
from kubegate.store.database import Store
from kubegate.store.iam_rows import StoredSession

ROLE_CHAINING_LIMIT = timedelta(hours=1)


@dataclass(frozen=True)
class IssuedSession:
    session: Session
    secret_access_key: str
    session_token: str


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

    def assume_role(
        self, caller: Caller, *, role_arn: str, session_name: str, duration_seconds: int | None,
        external_id: str | None = None,
    ) -> IssuedSession:
        check_session_name(session_name)
        refused = AccessDenied(denied_message(caller, "sts:AssumeRole", role_arn, explicit=False))
        if caller_kind(caller) is CallerKind.ROOT:
            raise AccessDenied("Roles may not be assumed by root accounts.")
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
        keys = {**condition_keys(caller), **({"sts:ExternalId": (external_id,)} if external_id else {})}
        trust = iam_policy.evaluate_trust(
            iam_policy.parse_policy(role.trust_policy, kind="trust"),
            caller=iam_policy.TrustCaller(arn=caller.arn, principal_arn=caller.principal_arn, account=caller.account),
            action="sts:AssumeRole",
            condition_keys=keys,
        )
        if not trust.allowed:
            raise refused
        if trust.via_account:
            # A trust policy that names only the account delegates to the caller's own policies.
            self.authorizer.check(caller, "sts:AssumeRole", role.arn)
        duration = session_duration(duration_seconds, role)
        if caller_kind(caller) is CallerKind.SESSION and duration > ROLE_CHAINING_LIMIT:
            raise ValidationError(
                "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining."
            )
        secret, token = generate.secret_access_key(), generate.session_token()
        session = Session(
            access_key_id=generate.access_key_id("ASIA"), role_name=role.name, role_id=role.id,
            role_arn=role.arn, session_name=session_name, source_arn=caller.arn,
            expires_at=self.clock() + duration,
        )
        with self.store.transaction() as tx:
            tx.iam.delete_expired_sessions(self.clock())
            tx.iam.add_session(StoredSession(session, self.cipher.encrypt(secret.encode()), token_digest(token)))
        return IssuedSession(session, secret, token)

    def session_credentials(self, access_key_id: str, token: str | None, now: datetime) -> tuple[Caller, str] | None:
        """The caller and secret of a live session, None if there is no such session or token."""
        with self.store.transaction() as tx:
            stored = tx.iam.session(access_key_id)
        if stored is None or token is None or not hmac.compare_digest(stored.token_sha256, token_digest(token)):
            return None
        if now >= stored.session.expires_at:
            raise ExpiredToken("The security token included in the request is expired")
        session = stored.session
        caller = Caller(
            arn=session.assumed_role_arn, user_id=session.user_id, account=self.account,
            principal_arn=session.role_arn,
        )
        return caller, self.cipher.decrypt(stored.secret_ciphertext).decode()
