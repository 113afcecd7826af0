"""The embedded STS: GetCallerIdentity, AssumeRole and AssumeRoleWithWebIdentity, and the
sessions they issue.

A session is pinned to its role's unique ID. Its secret is stored encrypted and its token
only as a SHA-256 digest, so the database alone cannot be replayed as credentials. What
AssumeRole was given that limits or describes the session (session policies, session tags,
the source identity) is stored with it, so every later call made with it honours them.
"""

from __future__ import annotations

import hashlib
import threading
import hmac
import logging
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
    request_keys,
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
from kubegate.domain.oidc_providers import (
    ExpiredIdentityToken,
    IDPCommunicationError,
    IDPRejectedClaim,
    InvalidIdentityToken,
    OidcProvider,
    claim_keys,
)
from kubegate.identity import credentials as generate
from kubegate.identity.oidc import REASON_AUDIENCE, REASON_EXPIRED, OidcError, OidcVerifier, unverified_issuer
from kubegate.identity.authorizer import Authorizer, denied_message
from kubegate.store.database import Store, Transaction
from kubegate.store.iam_rows import StoredSession

ROLE_CHAINING_LIMIT = timedelta(hours=1)
SESSION_POLICY_LIMIT = 2048
WEB_IDENTITY = "sts:AssumeRoleWithWebIdentity"
# STS's messages; the reason a token was refused goes to the log only (the caller is unauthenticated).
NOT_A_JWT = "The ID Token provided is not a valid JWT. (You may see this error if you sent an Access Token)"
NO_PROVIDER = "No OpenIDConnect provider found in your account for {issuer}"
INCORRECT_AUDIENCE = "Incorrect token audience"
TOKEN_NOT_VERIFIED = "The web identity token could not be verified"
TOKEN_EXPIRED = "Token expired: current date/time must be before the expiration date/time"
IDP_BUSY = "The identity provider is being asked about other tokens; try again shortly"
WEB_IDENTITY_CONCURRENCY = 4
NOT_AUTHORIZED = f"Not authorized to perform {WEB_IDENTITY}"
SESSION_TAGS_CLAIM = "https://aws.amazon.com/tags"
SOURCE_IDENTITY_CLAIM = "https://aws.amazon.com/source_identity"
log = logging.getLogger("kubegate.sts")


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


@dataclass(frozen=True)
class WebIdentityRequest:
    """AssumeRoleWithWebIdentity's parameters that kubegate implements (ProviderId is refused)."""

    role_arn: str
    session_name: str
    unverified_token: str  # the caller's WebIdentityToken: nothing in it is trusted until OidcVerifier checked it
    duration_seconds: int | None = None
    policy: str | None = None
    policy_arns: tuple[str, ...] = ()


@dataclass(frozen=True)
class WebIdentitySession:
    issued: IssuedSession
    subject: str  # the token's sub
    audience: str  # the client ID the token was accepted for
    provider_arn: str  # AWS answers Provider with the IAM OIDC provider's ARN


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class StsService:
    def __init__(
        self, store: Store, cipher: Fernet, authorizer: Authorizer, *, account: str,
        clock: Callable[[], datetime], oidc: OidcVerifier | None = None,
    ) -> None:
        """``oidc`` verifies AssumeRoleWithWebIdentity's ID tokens; without one, every such call
        is refused as InvalidIdentityToken."""
        self.store = store
        self.cipher = cipher
        self.authorizer = authorizer
        self.account = account
        self.clock = clock
        self.oidc = oidc
        # AssumeRoleWithWebIdentity is unsigned and runs in the management API's threads: at most
        # this many may wait on an identity provider at once, the others are told to retry.
        self._verifying = threading.BoundedSemaphore(WEB_IDENTITY_CONCURRENCY)

    def assume_role(self, caller: Caller, request: AssumeRoleRequest, facts: RequestFacts) -> IssuedSession:
        check_session_name(request.session_name)
        tags = self._session_tags(caller, request)
        source_identity = self._source_identity(caller, request.source_identity)
        if principal_type(caller) is PrincipalType.ROOT:
            raise AccessDenied("Roles may not be assumed by root accounts.")
        role = self._role(request.role_arn, AccessDenied(denied_message(caller, "sts:AssumeRole", request.role_arn,
                                                                            explicit=False)))
        with self.store.transaction() as tx:
            policies = self._session_policies(tx, request.policy, request.policy_arns)
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

    def assume_role_with_web_identity(self, request: WebIdentityRequest, facts: RequestFacts) -> WebIdentitySession:
        """AssumeRoleWithWebIdentity. The request is unsigned, so nothing about the caller is
        trusted; the checks run cheapest first, and nothing is fetched from an identity provider
        before the token's (unverified) issuer is found to be a provider registered in IAM:

        session name → the token names a registered provider's issuer → the provider has client
        IDs → OidcVerifier (signature by the issuer's keys, iss, aud among the client IDs, exp)
        → sub and the claims kubegate honours → the role → its trust policy, with Federated =
        the provider's ARN and the keys <url>:sub/aud/amr → session policies → the session.
        """
        check_session_name(request.session_name)
        issuer = unverified_issuer(request.unverified_token)
        if issuer is None:
            raise InvalidIdentityToken(NOT_A_JWT)
        provider = self._provider(issuer)
        if not provider.client_ids:
            raise InvalidIdentityToken(INCORRECT_AUDIENCE)
        claims = self._verified_claims(request.unverified_token, provider)
        subject, audience = claims.get("sub"), _audience(claims.get("aud"), provider.client_ids)
        if not isinstance(subject, str) or not subject:
            raise InvalidIdentityToken(TOKEN_NOT_VERIFIED)
        if SESSION_TAGS_CLAIM in claims:
            raise IDPRejectedClaim(f"kubegate does not support session tags in web identity tokens "
                                   f"({SESSION_TAGS_CLAIM})")
        source_identity = _source_identity_claim(claims.get(SOURCE_IDENTITY_CLAIM, None))
        role = self._role(request.role_arn, AccessDenied(NOT_AUTHORIZED))
        with self.store.transaction() as tx:
            policies = self._session_policies(tx, request.policy, request.policy_arns)
            role_tags = tx.iam.tags(OwnerKind.ROLE, role.name)
        keys = ActionKeys.of(
            {
                **claim_keys(provider, claims, audience),
                "sts:RoleSessionName": (request.session_name,),
                **({"sts:SourceIdentity": (source_identity,)} if source_identity else {}),
                **tag_keys("aws:ResourceTag", role_tags),
                **tag_keys("iam:ResourceTag", role_tags),
            },
            # no session tags (refused above) and no roles claim: AWS leaves these out
            "sts:SourceIdentity", "sts:TransitiveTagKeys", "sts:RoleAuthorizedByIdp", "iam:ResourceTag/",
        )
        self._trust_web_identity(role, provider, WEB_IDENTITY, keys, facts)
        if source_identity:
            self._trust_web_identity(role, provider, "sts:SetSourceIdentity", keys, facts)
        now = self.clock()
        secret, token = generate.secret_access_key(), generate.session_token()
        session = Session(
            access_key_id=generate.access_key_id("ASIA"), role_name=role.name, role_id=role.id,
            role_arn=role.arn, session_name=request.session_name, source_arn=provider.arn,
            expires_at=now + session_duration(request.duration_seconds, role), issued_at=now, policies=policies,
            source_identity=source_identity,
        )
        with self.store.transaction() as tx:
            tx.iam.delete_expired_sessions(now)
            tx.iam.add_session(StoredSession(session, self.cipher.encrypt(secret.encode()), token_digest(token)))
        return WebIdentitySession(IssuedSession(session, secret, token), subject, audience, provider.arn)

    def _provider(self, issuer: str) -> OidcProvider:
        """The IAM OIDC provider whose ``https://<url>`` is the token's issuer, exactly."""
        found = None
        if issuer.startswith("https://"):
            with self.store.transaction() as tx:
                found = tx.iam.oidc_provider(issuer.removeprefix("https://"))
        if found is None or found.issuer != issuer:
            raise InvalidIdentityToken(NO_PROVIDER.format(issuer=issuer[:256]))
        return found

    def _verified_claims(self, unverified_token: str, provider: OidcProvider) -> Mapping[str, object]:
        if self.oidc is None:
            log.warning("AssumeRoleWithWebIdentity refused: kubegate has no OIDC verifier")
            raise InvalidIdentityToken(TOKEN_NOT_VERIFIED)
        if not self._verifying.acquire(blocking=False):  # anyone may call this unsigned: never queue on a slow IdP
            raise IDPCommunicationError(IDP_BUSY)
        try:
            verified = self.oidc.verify(unverified_token, issuer=provider.issuer, audiences=provider.client_ids)
        except OidcError as exc:
            log.info("AssumeRoleWithWebIdentity: a token of %s refused: %s", provider.issuer, exc.reason)
            if exc.reason == REASON_EXPIRED:
                raise ExpiredIdentityToken(TOKEN_EXPIRED) from None
            if exc.reason == REASON_AUDIENCE:
                raise InvalidIdentityToken(INCORRECT_AUDIENCE) from None
            raise InvalidIdentityToken(TOKEN_NOT_VERIFIED) from None
        finally:
            self._verifying.release()
        return verified.claims

    def _trust_web_identity(self, role: IamRole, provider: OidcProvider, action: str, keys: ActionKeys,
                            facts: RequestFacts) -> None:
        """Only the trust policy decides: a web identity has no identity policies of its own."""
        trust = iam_policy.evaluate_trust(
            iam_policy.parse_policy(role.trust_policy, kind="trust"),
            caller=iam_policy.TrustCaller.web_identity(provider.arn),
            action=action,
            condition_keys={**request_keys(facts), "aws:FederatedProvider": (provider.arn,), **keys.present},
            unknown=UnknownKeys(action, keys.covered),
        )
        if not trust.allowed:
            log.info("%s on %s for %s refused: %s", action, role.arn, provider.arn, trust.reason)
            raise AccessDenied(f"Not authorized to perform {action}")

    def _role(self, role_arn: str, refused: AccessDenied) -> IamRole:
        """The role of kubegate's account that ``role_arn`` names exactly, else ``refused`` (AWS does
        not tell a missing role from one the caller may not assume)."""
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

    def _session_policies(self, tx: Transaction, policy: str | None,
                          policy_arns: tuple[str, ...]) -> tuple[str, ...] | None:
        """The documents that scope the session down; None when the call was given none."""
        if policy is None and not policy_arns:
            return None
        documents = []
        for arn in policy_arns:
            found = tx.iam.policy(arn)
            if found is None:
                raise MalformedPolicyDocument(f"Policy {arn} does not exist or is not attachable.")
            documents.append(found.document)
        if policy is not None:
            iam_policy.parse_policy(policy, kind="identity", max_length=SESSION_POLICY_LIMIT)
            documents.append(policy)
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

    def session_credentials(self, access_key_id: str, token: str | None,
                            now: datetime) -> tuple[Caller, str, datetime] | None:
        """The caller and secret of a live session, None if there is no such session or token, or
        its role was deleted (a re-created namesake has another unique ID): a deleted role's
        sessions end with it, so its `k8s-aws-v1.` tokens stop authenticating at once. Also when the
    session ends."""
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
            federated_provider=session.source_arn if ":oidc-provider/" in session.source_arn else None,
        )
        return caller, self.cipher.decrypt(stored.secret_ciphertext).decode(), session.expires_at


def _trust_caller(caller: Caller, role: IamRole) -> iam_policy.TrustCaller:
    """The caller as the trust policy sees it. A principal the policy named is bound to the unique
    ID it had when the policy was saved: a deleted and re-created namesake (a new ID) no longer
    matches its ARN, as on AWS."""
    principal_id = caller.user_id.split(":", 1)[0]
    bound = dict(role.trust_bindings).get(caller.principal_arn)
    if bound is not None and bound != principal_id:
        return iam_policy.TrustCaller(arn=principal_id, principal_arn=principal_id, account=caller.account)
    return iam_policy.TrustCaller(arn=caller.arn, principal_arn=caller.principal_arn, account=caller.account)


def _audience(aud: object, client_ids: tuple[str, ...]) -> str:
    """The client ID the verified token was accepted for (its aud, or the first of its list)."""
    values = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    return next((value for value in values if value in client_ids), "")


def _source_identity_claim(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise IDPRejectedClaim(f"The {SOURCE_IDENTITY_CLAIM} claim must be a string")
    try:
        check_source_identity(value)
    except ValidationError as exc:
        raise IDPRejectedClaim(exc.message) from None
    return value


