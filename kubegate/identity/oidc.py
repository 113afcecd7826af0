"""OIDC ID-token verification: discovery, JWKS, signature and claims, with PyJWT.

What `OidcVerifier.verify(token, issuer=…, audiences=…)` checks, cheapest first:

    size        at most 64 KiB, refused unparsed beyond
    shape       a JWS compact serialization (PyJWT parses the header)
    algorithm   RS256/384/512, ES256/384, PS256 only: never ``none``, never HMAC, refused
                before any key is looked at (so "HS256 signed with the public key" cannot apply)
    key         from the issuer's JWKS (discovery ``<issuer>/.well-known/openid-configuration``,
                whose ``issuer`` must equal the configured one exactly, then ``jwks_uri``; HTTPS only);
                an unknown ``kid`` refreshes them, at most once per REFRESH_INTERVAL per issuer;
                the key's type must suit the algorithm
    signature   PyJWT
    claims      ``iss`` exactly the issuer; ``aud`` (string or list) holds a configured audience;
                ``exp`` required, EXP_LEEWAY; ``nbf`` NBF_LEEWAY (as Kubernetes' OIDC authenticator);
                ``iat`` not required

Fetches: HTTPS with the system trust store plus ``ca_file`` (``SSL_CERT_FILE`` works as
usual), no redirects, connect 2 s and 5 s in all, at most MAX_DOCUMENT_BYTES. Discovery and
keys are cached per issuer, refreshed when the JWKS response's ``Cache-Control: max-age``
runs out; keys already cached keep working while the provider is down. A provider that
could not be reached is not asked again for REFRESH_INTERVAL: a new issuer that is down
fails at once with the reason.

`verify` blocks: callers run it off the event loop (`OidcGate` does, on its own threads).

Errors: every refusal is an `OidcError` whose ``reason`` names the failed check and is safe
to log and to return in a TokenReview (never the token, never a key).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
import ssl
import threading
import time
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt

from kubegate.identity.aws_sts import RefusalCache

log = logging.getLogger("kubegate.oidc")

MAX_TOKEN_BYTES = 64 * 1024
MAX_DOCUMENT_BYTES = 1024 * 1024
ALGORITHMS = ("RS256", "RS384", "RS512", "ES256", "ES384", "PS256")
EXP_LEEWAY = 60.0  # seconds after exp a token still passes
NBF_LEEWAY = 300.0  # seconds before nbf it already passes, as Kubernetes' OIDC authenticator allows
REFRESH_INTERVAL = 10.0  # seconds: at most one fetch per issuer this often (unknown kid, provider down)
DEFAULT_KEYS_TTL = 3600.0  # when the JWKS response says nothing about caching
MIN_KEYS_TTL = REFRESH_INTERVAL
MAX_KEYS_TTL = 24 * 3600.0
CONNECT_TIMEOUT = 2.0
OIDC_CONCURRENCY = 8
REFUSAL_TTL = 5.0  # seconds a refused token is refused again without verifying
# Reasons other modules tell apart (STS maps them to its own error codes): kept word for word.
REASON_EXPIRED = "the token has expired"
REASON_AUDIENCE = "the token's aud holds none of the configured audiences"
_SEGMENT = re.compile(r"^[A-Za-z0-9_-]+$")
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)\"?\s*(?:,|$)", re.IGNORECASE)


class OidcError(Exception):
    """A token refused, or a provider that could not vouch for it; `reason` says which check failed."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class VerifiedIdToken:
    claims: Mapping[str, Any]
    issuer: str
    key_id: str | None
    algorithm: str


def _b64url_json(segment: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def unverified_issuer(token: str) -> str | None:
    """The ``iss`` claim of a JWT-shaped token (three base64url segments), else None. Nothing is verified."""
    if not looks_like_jwt(token):
        return None
    parts = token.split(".")
    try:
        payload = _b64url_json(parts[1])
    except (ValueError, UnicodeDecodeError):
        return None
    issuer = payload.get("iss") if isinstance(payload, dict) else None
    return issuer if isinstance(issuer, str) else None


def looks_like_jwt(token: str) -> bool:
    """Three base64url segments (the last may be empty, as with alg none) and not an IAM token."""
    if len(token) > MAX_TOKEN_BYTES or token.startswith("k8s-aws-v1."):
        return False
    parts = token.split(".")
    return len(parts) == 3 and all(_SEGMENT.match(part) for part in parts[:2]) and (
        not parts[2] or _SEGMENT.match(parts[2]) is not None)


def _https(url: Any, what: str) -> str:
    if not isinstance(url, str) or urlsplit(url).scheme != "https" or not urlsplit(url).netloc:
        raise OidcError(f"{what} must be an https URL")
    return url


def _keys_ttl(headers: httpx.Headers) -> float:
    control = headers.get("cache-control", "")
    if re.search(r"no-store|no-cache", control, re.IGNORECASE):
        return MIN_KEYS_TTL
    found = _MAX_AGE.search(control)
    if found is None:
        return DEFAULT_KEYS_TTL
    return min(max(float(found.group(1)), MIN_KEYS_TTL), MAX_KEYS_TTL)


_KEY_TYPES = {"RS": "RSA", "PS": "RSA", "ES": "EC"}
_CURVES = {"ES256": "P-256", "ES384": "P-384"}


@dataclass(frozen=True)
class _Key:
    jwk: jwt.PyJWK
    kty: str
    crv: str | None

    def suits(self, algorithm: str) -> bool:
        """An RSA key for RS*/PS*, an EC key on the algorithm's curve for ES*; never an HMAC secret."""
        if self.kty != _KEY_TYPES[algorithm[:2]]:
            return False
        return self.kty != "EC" or self.crv == _CURVES[algorithm]


@dataclass
class _Provider:
    """One issuer's keys, as last fetched."""

    keys: dict[str | None, list[_Key]] = field(default_factory=dict)  # kid (None: no kid) → keys
    expires: float = 0.0  # monotonic: refresh after
    fetched: bool = False
    last_attempt: float = -1e18  # monotonic
    last_error: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


class OidcVerifier:
    def __init__(self, *, ca_file: str | None = None, timeout: float = 5.0, clock: Callable[[], datetime]) -> None:
        context = ssl.create_default_context()  # the system store (SSL_CERT_FILE and SSL_CERT_DIR honoured)
        if ca_file is not None:
            try:
                context.load_verify_locations(cafile=ca_file)
            except (OSError, ssl.SSLError) as exc:
                raise ValueError(
                    f"OIDC CA file {ca_file}: not a readable PEM file of CA certificates ({exc})") from None
        self.ca_file = ca_file
        self.timeout = timeout
        self.clock = clock
        self.refresh_interval = REFRESH_INTERVAL
        self._client = httpx.Client(
            verify=context, follow_redirects=False, trust_env=False,
            timeout=httpx.Timeout(timeout, connect=min(CONNECT_TIMEOUT, timeout)),
            headers={"Accept": "application/json"},
        )
        self._providers: dict[str, _Provider] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        self._client.close()

    # -- verification ------------------------------------------------------------------------

    def verify(self, token: str, *, issuer: str, audiences: Collection[str]) -> VerifiedIdToken:
        """The token's verified claims, or OidcError with the reason. Blocks on fetches."""
        if len(token) > MAX_TOKEN_BYTES:
            raise OidcError(f"the token is larger than {MAX_TOKEN_BYTES // 1024} KiB")
        if not looks_like_jwt(token):
            raise OidcError("the token is not a JWT (three base64url segments)")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise OidcError("the token's JOSE header is malformed") from None
        algorithm = header.get("alg")
        if algorithm not in ALGORITHMS:
            raise OidcError(f"signing algorithm {str(algorithm)[:20]!r} is not accepted "
                            f"(accepted: {', '.join(ALGORITHMS)})")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise OidcError("the token's kid is not a string")
        if not audiences:
            raise OidcError("no audience is configured")
        _https(issuer, "the issuer")
        keys = self._keys(issuer, kid, algorithm)  # one for a kid; every suitable key for a token without one
        try:
            claims = self._decode(token, keys, algorithm, audiences, issuer)
        except jwt.InvalidSignatureError:
            raise OidcError("the token's signature does not verify") from None
        except jwt.InvalidAudienceError:
            raise OidcError(REASON_AUDIENCE) from None
        except jwt.InvalidIssuerError:
            raise OidcError("the token's iss is not the configured issuer") from None
        except jwt.MissingRequiredClaimError as exc:
            raise OidcError(f"the token has no {exc.claim} claim") from None
        except jwt.PyJWTError as exc:
            raise OidcError(f"the token is malformed ({type(exc).__name__})") from None
        self._check_times(claims)
        return VerifiedIdToken(claims=claims, issuer=issuer, key_id=kid, algorithm=algorithm)

    @staticmethod
    def _decode(token: str, keys: list[jwt.PyJWK], algorithm: str, audiences: Collection[str],
                issuer: str) -> dict[str, Any]:
        for n, key in enumerate(keys):
            try:
                return jwt.decode(
                    token, key=key.key, algorithms=[algorithm], audience=list(audiences), issuer=issuer,
                    options={"verify_exp": False, "verify_nbf": False, "verify_iat": False, "require": ["exp"]},
                )
            except jwt.InvalidSignatureError:
                if n == len(keys) - 1:
                    raise
        raise jwt.InvalidSignatureError("no key")

    def _check_times(self, claims: Mapping[str, Any]) -> None:
        now = self.clock().timestamp()
        exp = claims.get("exp")
        if isinstance(exp, bool) or not isinstance(exp, (int, float)):
            raise OidcError("the token's exp is not a number")
        if now > exp + EXP_LEEWAY:
            raise OidcError(REASON_EXPIRED)
        nbf = claims.get("nbf")
        if nbf is not None:
            if isinstance(nbf, bool) or not isinstance(nbf, (int, float)):
                raise OidcError("the token's nbf is not a number")
            if now + NBF_LEEWAY < nbf:
                raise OidcError("the token is not valid yet (nbf is in the future)")

    # -- keys --------------------------------------------------------------------------------

    def _provider(self, issuer: str) -> _Provider:
        with self._lock:
            return self._providers.setdefault(issuer, _Provider())

    def _keys(self, issuer: str, kid: str | None, algorithm: str) -> list[jwt.PyJWK]:
        provider = self._provider(issuer)
        with provider.lock:
            now = time.monotonic()
            if not provider.fetched or now >= provider.expires:
                self._refresh(issuer, provider, now)  # stale keys keep working if this fails
            found = self._match(provider, kid, algorithm)
            if not found and provider.fetched and now - provider.last_attempt >= self.refresh_interval:
                self._refresh(issuer, provider, now)  # an unknown kid: the provider may have rotated
                found = self._match(provider, kid, algorithm)
            if found:
                return [key.jwk for key in found]
            if not provider.fetched:
                raise OidcError(f"the keys of issuer {issuer} could not be fetched: {provider.last_error}")
            if kid is not None and kid not in provider.keys:
                raise OidcError(f"no key with kid {kid[:64]!r} in the issuer's JWKS (after a refresh)")
            raise OidcError(f"no {_KEY_TYPES[algorithm[:2]]} key in the issuer's JWKS suits {algorithm}")

    @staticmethod
    def _match(provider: _Provider, kid: str | None, algorithm: str) -> list[_Key]:
        candidates = provider.keys.get(kid, []) if kid is not None else [
            key for keys in provider.keys.values() for key in keys
        ]
        return [key for key in candidates if key.suits(algorithm)]

    def _refresh(self, issuer: str, provider: _Provider, now: float) -> None:
        """Fetch discovery and keys unless tried within refresh_interval; on failure keep what is cached."""
        if now - provider.last_attempt < self.refresh_interval:
            return
        provider.last_attempt = now
        try:
            keys, ttl = self._fetch_keys(issuer)
        except OidcError as exc:
            provider.last_error = exc.reason
            if provider.fetched:
                log.warning("OIDC issuer %s: refresh failed, keeping the cached keys: %s", issuer, exc.reason)
            return
        provider.keys, provider.expires, provider.fetched, provider.last_error = keys, now + ttl, True, None

    def _fetch_keys(self, issuer: str) -> tuple[dict[str | None, list[_Key]], float]:
        discovery, _ = self._get_json(issuer.rstrip("/") + "/.well-known/openid-configuration", "discovery")
        if not isinstance(discovery, dict) or discovery.get("issuer") != issuer:
            raise OidcError("the discovery document's issuer is not the configured issuer URL")
        jwks_uri = _https(discovery.get("jwks_uri"), "the discovery document's jwks_uri")
        document, headers = self._get_json(jwks_uri, "JWKS")
        if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
            raise OidcError("the JWKS document has no keys list")
        keys: dict[str | None, list[_Key]] = {}
        for data in document["keys"]:
            if not isinstance(data, dict) or data.get("kty") not in ("RSA", "EC") or data.get("use", "sig") != "sig":
                continue  # symmetric ("oct") keys are never used; encryption keys neither
            try:
                key = jwt.PyJWK(data)
            except jwt.PyJWTError:
                continue
            kid, crv = data.get("kid"), data.get("crv")
            keys.setdefault(kid if isinstance(kid, str) else None, []).append(
                _Key(key, data["kty"], crv if isinstance(crv, str) else None))
        if not keys:
            raise OidcError("the JWKS holds no usable RSA or EC signing key")
        return keys, _keys_ttl(headers)

    def _get_json(self, url: str, what: str) -> tuple[Any, httpx.Headers]:
        deadline = time.monotonic() + self.timeout
        try:
            with self._client.stream("GET", url) as response:
                if response.status_code != 200:
                    raise OidcError(f"{what} {url} answered HTTP {response.status_code}")
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > MAX_DOCUMENT_BYTES:
                        raise OidcError(f"{what} {url} is larger than {MAX_DOCUMENT_BYTES} bytes")
                    if time.monotonic() > deadline:
                        raise OidcError(f"{what} {url} took more than {self.timeout:g} s")
                headers = response.headers
        except httpx.TimeoutException:
            raise OidcError(f"{what} {url} timed out") from None
        except httpx.HTTPError as exc:
            raise OidcError(f"{what} {url} could not be fetched ({type(exc).__name__}: {exc})") from None
        try:
            return json.loads(body), headers
        except ValueError:
            raise OidcError(f"{what} {url} is not JSON") from None


class OidcGate:
    """Where the token webhook sends ID tokens: its own bounded threads, recent refusals remembered.

    As `AwsStsGate` does for AWS's STS: a slow or unreachable provider holds at most `limit`
    of these threads, never the event loop, the management API's threadpool or IAM reviews;
    a review beyond that is refused at once ("busy", not remembered).
    """

    def __init__(self, verifier: OidcVerifier, *, limit: int = OIDC_CONCURRENCY,
                 refusals: RefusalCache | None = None) -> None:
        if limit < 1:
            raise ValueError("the OIDC concurrency limit must be at least 1")
        self.verifier = verifier
        self.limit = limit
        self.refusals = refusals if refusals is not None else RefusalCache(ttl=REFUSAL_TTL)
        self._executor = ThreadPoolExecutor(max_workers=limit, thread_name_prefix="kubegate-oidc")
        self._in_flight = 0
        self._lock = threading.Lock()

    async def verify(self, key: str, token: str, *, issuer: str, audiences: Collection[str]) -> VerifiedIdToken:
        """`verifier.verify` on the gate's threads; `key` (a digest naming the token) keys the refusal cache."""
        remembered = self.refusals.get(key)
        if remembered is not None:
            raise OidcError(remembered)
        with self._lock:
            if self._in_flight >= self.limit:
                raise OidcError(f"OIDC verification busy: {self.limit} already in flight; answered at once")
            self._in_flight += 1
        try:
            future: Future[VerifiedIdToken] = self._executor.submit(
                self.verifier.verify, token, issuer=issuer, audiences=audiences)
        except BaseException:
            self._release()
            raise
        future.add_done_callback(self._release)
        try:
            return await asyncio.wrap_future(future)
        except OidcError as exc:
            self.refusals.put(key, exc.reason)
            raise

    def _release(self, _: object = None) -> None:
        with self._lock:
            self._in_flight -= 1
