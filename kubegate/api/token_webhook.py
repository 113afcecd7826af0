"""The Kubernetes token webhook: TokenReview in, the caller's Kubernetes identity out.

Only the kube-apiserver a webhook kubeconfig was issued to may call it: the request must
come with a client certificate from kubegate's CA issued for that cluster (that very cluster,
not a re-created namesake, and not revoked by a rotation), so kubegate is no token oracle for
anyone else. Every answer to a well-formed review is HTTP 200;
"no" is ``authenticated: false`` with the reason in ``error``.

A token's STS call runs where its host says: kubegate's own STS in the threadpool (a few
ms), AWS's through the AwsStsGate (its own bounded threads, refusals remembered), so
forged tokens pointing at AWS cannot occupy what the management API needs.

An OIDC ID token (a JWT: three base64url segments) goes to the cluster's ACTIVE identity
provider configs whose issuer is the token's (unverified) ``iss``; the OidcGate verifies it
on its own bounded threads (discovery and keys may need a fetch), and the config maps its
claims (``domain.oidc``). Such users get a username and groups only, no uid and no IAM
extra: the authorization webhook has no opinion on them, RBAC decides.
"""

from __future__ import annotations

import hashlib
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime
from typing import Any

from starlette.concurrency import run_in_threadpool

from kubegate.api import metrics
from kubegate.api.audit import AuditLog
from kubegate.api.tls import caller_is_cluster, load_review
from kubegate.api.webhook_routes import Reply, Scope
from kubegate.domain.aws_auth import CallerIdentity, ec2_instance_id
from kubegate.domain.identity_providers import OidcConfig
from kubegate.domain.oidc import OidcUser, map_claims
from kubegate.engine.mapping import Mapped, map_identity
from kubegate.engine.registry import SnapshotRegistry
from kubegate.engine.snapshot import ClusterSnapshot
from kubegate.identity.aws_sts import AwsStsGate
from kubegate.identity.iam_token import StsIdentity, TokenError, TokenVerifier
from kubegate.identity.oidc import OidcError, OidcGate, VerifiedIdToken, looks_like_jwt, unverified_issuer

TOKEN_REVIEW_VERSIONS = ("authentication.k8s.io/v1", "authentication.k8s.io/v1beta1")
CACHE_SIZE = 10_000
ISSUER_SHOWN = 200  # characters of a token's unverified iss that reach the audit log and the reason
NEVER_STALE = sys.maxsize
"""The IAM generation of identities AWS's STS vouched for: kubegate cannot see AWS revoke a key."""


class IdentityCache:
    """Verified STS answers by (cluster, token digest), kept until the token expires or IAM revokes them.

    Each entry carries the IAM generation it was verified at (NEVER_STALE for AWS's STS); a
    lookup at a newer generation drops it, so a key deactivated in kubegate's IAM stops
    working at the next review rather than when the token expires.
    """

    def __init__(self, clock: Callable[[], datetime], size: int = CACHE_SIZE) -> None:
        self.clock = clock
        self.size = size
        self._items: OrderedDict[tuple[str, str], tuple[StsIdentity, datetime, int]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(cluster: str, token: str) -> tuple[str, str]:
        return cluster, hashlib.sha256(token.encode()).hexdigest()

    def get(self, key: tuple[str, str], generation: int) -> StsIdentity | None:
        """The identity if unexpired and verified at `generation` (IAM's current one) or later."""
        with self._lock:
            found = self._items.get(key)
            if found is None:
                return None
            if found[2] < generation or self.clock() > found[1]:
                del self._items[key]
                return None
            return found[0]

    def put(self, key: tuple[str, str], identity: StsIdentity, until: datetime, generation: int) -> None:
        with self._lock:
            self._items[key] = (identity, until, generation)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


class IdTokenCache:
    """Verified ID tokens by (cluster, token digest), until their exp; the oldest go first beyond `size`.

    Each entry remembers the issuer and audience it was verified for, so a config changed since
    (another client ID, another issuer) does not accept it from the cache.
    """

    def __init__(self, clock: Callable[[], datetime], size: int = CACHE_SIZE) -> None:
        self.clock = clock
        self.size = size
        self._items: OrderedDict[tuple[str, str], tuple[VerifiedIdToken, str, float]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str], issuer: str, audiences: frozenset[str]) -> VerifiedIdToken | None:
        with self._lock:
            found = self._items.get(key)
            if found is None:
                return None
            verified, audience, until = found
            if self.clock().timestamp() > until or verified.issuer != issuer or audience not in audiences:
                del self._items[key]
                return None
            return verified

    def put(self, key: tuple[str, str], verified: VerifiedIdToken, audience: str) -> None:
        exp = verified.claims.get("exp")
        if not isinstance(exp, (int, float)):
            return
        with self._lock:
            self._items[key] = (verified, audience, float(exp))
            while len(self._items) > self.size:
                self._items.popitem(last=False)


def oidc_configs(snapshot: ClusterSnapshot, issuer: str, now: datetime) -> list[OidcConfig]:
    """The cluster's configs that let tokens from `issuer` in now (ACTIVE, same issuer URL exactly)."""
    return [config for config in snapshot.oidc_configs if config.issuer_url == issuer and config.authenticates(now)]


def audience_of(verified: VerifiedIdToken, configs: list[OidcConfig]) -> OidcConfig:
    """The config whose client ID the verified token's aud holds (verification made sure one does)."""
    aud = verified.claims.get("aud")
    auds = {aud} if isinstance(aud, str) else set(aud) if isinstance(aud, list) else set()
    return next(config for config in configs if config.client_id in auds)


def oidc_authenticated(api_version: str, user: OidcUser, audiences: list[str] | None) -> Reply:
    body: dict[str, Any] = {"username": user.username}
    if user.groups:
        body["groups"] = list(user.groups)
    status: dict[str, Any] = {"authenticated": True, "user": body}
    if audiences:
        status["audiences"] = audiences
    return 200, review(api_version, status)


def caller_identity(identity: StsIdentity) -> CallerIdentity:
    return CallerIdentity(
        arn=identity.arn,
        canonical_arn=identity.canonical_arn,
        account=identity.account,
        user_id=identity.principal_id,
        session_name=identity.session_name or None,
        access_key_id=identity.access_key_id or None,
    )


def review(api_version: str, status: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": "TokenReview", "metadata": {}, "status": status}


def unauthenticated(api_version: str, reason: str, status_code: int = 200) -> Reply:
    return status_code, review(api_version, {"authenticated": False, "error": reason})


def authenticated(api_version: str, identity: StsIdentity, mapped: Mapped, audiences: list[str] | None) -> Reply:
    user: dict[str, Any] = {
        "username": mapped.user.username,
        "uid": f"aws-iam-authenticator:{identity.account}:{identity.principal_id}",
        "extra": {
            "arn": [identity.arn],
            "canonicalArn": [identity.canonical_arn],
            "sessionName": [identity.session_name],
            "accessKeyId": [identity.access_key_id],
            "principalId": [identity.principal_id],
            "sigs.k8s.io/aws-iam-authenticator/principalId": [identity.principal_id],
        },
    }
    if mapped.user.groups:
        user["groups"] = list(mapped.user.groups)
    status: dict[str, Any] = {"authenticated": True, "user": user}
    if audiences:
        status["audiences"] = audiences
    return 200, review(api_version, status)


def parse_review(body: bytes) -> tuple[str, str, list[str] | None]:
    """apiVersion, token and audiences of a TokenReview, or ValueError saying what is wrong."""
    api_version, spec = load_review(body, "TokenReview", TOKEN_REVIEW_VERSIONS)
    token = spec.get("token")
    if not isinstance(token, str) or not token:
        raise ValueError("TokenReview spec.token must be a non-empty string")
    audiences = spec.get("audiences")
    return api_version, token, audiences if isinstance(audiences, list) else None


class TokenWebhook:
    def __init__(
        self, registry: SnapshotRegistry, verifier_for: Callable[[str], TokenVerifier], clock: Callable[[], datetime],
        audit: AuditLog,
        resolve_instance: Callable[[str], str | None] | None = None,
        register_instance: Callable[[str, str], None] | None = None,
        *, embedded_hosts: frozenset[str] = frozenset(), aws_sts: AwsStsGate | None = None,
        oidc: OidcGate | None = None,
    ) -> None:
        self.registry = registry
        self.verifier_for = verifier_for
        self.cache = IdentityCache(clock)
        self.audit = audit
        self.resolve_instance = resolve_instance  # EC2 DescribeInstances, when kubegate fronts real EC2 nodes
        self.register_instance = register_instance
        self.embedded_hosts = embedded_hosts  # presigned-URL hosts the embedded STS answers; all others are AWS's
        self.aws_sts = aws_sts if aws_sts is not None else AwsStsGate()
        self.clock = clock
        self.oidc = oidc  # None: ID tokens are refused
        self.id_tokens = IdTokenCache(clock)

    def _learn_instance(self, snapshot: ClusterSnapshot, caller: CallerIdentity) -> ClusterSnapshot:
        """An EC2 node kubegate has not seen: ask EC2 once, keep the answer in the registry."""
        instance = ec2_instance_id(caller)
        if instance is None or instance in snapshot.instances or self.resolve_instance is None:
            return snapshot
        name = self.resolve_instance(instance)
        if name is None or self.register_instance is None:
            return snapshot
        self.register_instance(instance, name)  # commits; the registry rebuilds before this returns
        return self.registry.snapshot(snapshot.name) or snapshot

    async def _verify(self, cluster: str, token: str, key: tuple[str, str]) -> StsIdentity:
        """Check the token, ask the STS it names, and cache the identity.

        The local checks run here (no I/O, tens of microseconds): the host they vouch for picks
        where the STS call runs. The IAM generation is read before the embedded STS is asked, so
        a revocation committed while it answers still drops the entry.
        """
        verifier = self.verifier_for(cluster)
        unverified = verifier.check_locally(token)
        if unverified.host in self.embedded_hosts:
            generation = self.registry.iam_generation
            identity, until = await run_in_threadpool(verifier.confirm, unverified)
        else:
            generation = NEVER_STALE
            identity, until = await self.aws_sts.confirm(verifier, unverified)
        self.cache.put(key, identity, until, generation)
        return identity

    def failure(self, reason: str) -> dict[str, Any]:
        return unauthenticated(TOKEN_REVIEW_VERSIONS[0], reason)[1]

    async def handle(self, cluster: str, body: bytes, scope: Scope) -> Reply:
        started = time.perf_counter()
        try:
            reply, record = await self._authenticate(cluster, body, scope)
        except Exception:  # WebhookRoutes answers it fail-closed
            seconds = time.perf_counter() - started
            metrics.webhook_review("authentication", self._cluster_label(cluster), "error", seconds)
            raise
        seconds = time.perf_counter() - started
        if record is not None:  # past the certificate check, so the cluster has a snapshot
            self.audit.record("authentication", **record, latency_ms=round(seconds * 1000, 3))
            metrics.webhook_review("authentication", cluster,
                                   "authenticated" if record["authenticated"] else "unauthenticated", seconds)
        elif reply[0] == 403:
            metrics.webhook_review("authentication", self._cluster_label(cluster), "forbidden", seconds)
        else:  # a malformed review, also past the certificate check
            metrics.webhook_review("authentication", cluster, "invalid", seconds)
        return reply

    def _cluster_label(self, cluster: str) -> str:
        """The cluster as a metric label: only a cluster with a snapshot, so callers cannot mint series."""
        return cluster if self.registry.snapshot(cluster) is not None else metrics.UNKNOWN

    async def _authenticate(self, cluster: str, body: bytes, scope: Scope) -> tuple[Reply, dict[str, Any] | None]:
        """The answer, and what the audit log records of it (never the token)."""
        snapshot = self.registry.snapshot(cluster)  # the certificate must be this cluster's current one,
        if snapshot is None or not caller_is_cluster(scope, snapshot):  # checked before the body is even parsed
            reason = f"a current client certificate issued by kubegate for cluster {cluster} is required"
            return unauthenticated(TOKEN_REVIEW_VERSIONS[0], reason, 403), None
        try:
            api_version, token, audiences = parse_review(body)
        except ValueError as exc:
            return unauthenticated(TOKEN_REVIEW_VERSIONS[0], str(exc), 400), None
        record: dict[str, Any] = {"cluster": cluster, "principal": None, "user": None, "authenticated": False}
        if looks_like_jwt(token):
            return await self._authenticate_id_token(snapshot, api_version, token, audiences, record)
        key = IdentityCache.key(cluster, token)
        identity = self.cache.get(key, self.registry.iam_generation)
        metrics.token_cache(identity is not None)
        if identity is None:
            try:
                identity = await self._verify(cluster, token, key)
            except TokenError as exc:
                return unauthenticated(api_version, exc.message), {**record, "reason": exc.message}
        record["principal"] = identity.arn
        caller = caller_identity(identity)
        if self.resolve_instance is not None:
            snapshot = await run_in_threadpool(self._learn_instance, snapshot, caller)
        mapped = map_identity(snapshot, caller)
        if not isinstance(mapped, Mapped):
            return unauthenticated(api_version, mapped.reason), {**record, "reason": mapped.reason}
        record.update(user=mapped.user.username, groups=list(mapped.user.groups), authenticated=True,
                      reason=mapped.reason)
        return authenticated(api_version, identity, mapped, audiences), record

    async def _authenticate_id_token(
        self, snapshot: ClusterSnapshot, api_version: str, token: str, audiences: list[str] | None,
        record: dict[str, Any],
    ) -> tuple[Reply, dict[str, Any]]:
        """An OIDC ID token: the configs for its issuer, verification (cached, or on the OidcGate), the mapping."""
        issuer = unverified_issuer(token)
        shown = None if issuer is None else issuer[:ISSUER_SHOWN] + ("…" if len(issuer) > ISSUER_SHOWN else "")
        record["oidc_issuer"] = shown  # unverified: whoever made the token chose it, so it is cut short
        configs = oidc_configs(snapshot, issuer, self.clock()) if issuer is not None else []
        if not configs:
            reason = (f"no active OIDC identity provider config of cluster {snapshot.name} has issuer {shown}"
                      if issuer is not None else "the JWT has no iss claim")
            return unauthenticated(api_version, reason), {**record, "reason": reason}
        assert issuer is not None
        client_ids = frozenset(config.client_id for config in configs)
        key = IdentityCache.key(snapshot.name, token)
        verified = self.id_tokens.get(key, issuer, client_ids)
        if verified is None:
            if self.oidc is None:
                reason = "OIDC ID tokens are not verified by this kubegate"
                return unauthenticated(api_version, reason), {**record, "reason": reason}
            refusal = hashlib.sha256(f"{snapshot.name}\n{issuer}\n{sorted(client_ids)}\n{token}".encode()).hexdigest()
            try:
                verified = await self.oidc.verify(refusal, token, issuer=issuer, audiences=client_ids)
            except OidcError as exc:
                reason = f"OIDC ID token refused: {exc.reason}"
                return unauthenticated(api_version, reason), {**record, "reason": reason}
        config = audience_of(verified, configs)
        self.id_tokens.put(key, verified, config.client_id)
        record["oidc_config"] = config.name
        mapped = map_claims(config, verified.claims)
        if not isinstance(mapped, OidcUser):
            sub = verified.claims.get("sub")
            return unauthenticated(api_version, mapped.reason), {**record, "claims": {"sub": sub}, "reason": mapped.reason}
        record.update(user=mapped.username, groups=list(mapped.groups), authenticated=True,
                      claims=dict(mapped.claims_used), reason=f"OIDC identity provider config {config.name}")
        return oidc_authenticated(api_version, mapped, audiences), record
