"""OIDC ID tokens: EKS's claim-mapping rules, verification against a provider, the TokenReview webhook.

Mapping (`domain.oidc`) is tested on claims directly. Verification (`identity.oidc`) uses
tokens signed here with PyJWT and keys generated here, served by a small HTTPS discovery/JWKS
server (`JwksServer`), so every bad input can be made. The webhook is tested end to end with
the real provider fixture (`oidc_provider`), a kubegate started with `--oidc-ca-file`, and
real kubectl through the stand-in apiserver.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from conftest import BIN, SAMPLES, Server, ensure_role, eventually
from kubegate import pki
from kubegate.domain.identity_providers import OidcConfig
from kubegate.domain.oidc import OidcRefused, OidcUser, map_claims
from kubegate.identity.oidc import (
    MAX_TOKEN_BYTES,
    OidcError,
    OidcGate,
    OidcVerifier,
    VerifiedIdToken,
    _keys_ttl,
    unverified_issuer,
)

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=timezone.utc)
ISSUER = "https://idp.example.com"


def config(**changes: Any) -> OidcConfig:
    base: dict[str, Any] = dict(
        cluster_name="c", name="corp", issuer_url=ISSUER, client_id="kubernetes",
        arn="arn:aws:eks:us-east-1:111122223333:identityproviderconfig/c/oidc/corp/x",
        created_at=NOW - timedelta(hours=1), settles_at=NOW - timedelta(minutes=30),
    )
    return OidcConfig(**{**base, **changes})


def mapped(cfg: OidcConfig, claims: dict[str, Any]) -> OidcUser:
    result = map_claims(cfg, claims)
    assert isinstance(result, OidcUser), result
    return result


def refused(cfg: OidcConfig, claims: dict[str, Any]) -> str:
    result = map_claims(cfg, claims)
    assert isinstance(result, OidcRefused), result
    return result.reason


# -- mapping rules (domain.oidc) -------------------------------------------------------------------


def test_default_username_is_sub_prefixed_with_the_issuer() -> None:
    user = mapped(config(), {"sub": "alice", "email": "a@example.com"})
    assert (user.username, user.groups) == (f"{ISSUER}#alice", ())
    assert user.claims_used == {"sub": "alice"}


def test_email_claim_is_not_prefixed_and_must_be_verified_when_the_claim_says() -> None:
    cfg = config(username_claim="email")
    assert mapped(cfg, {"sub": "s", "email": "a@example.com"}).username == "a@example.com"
    assert mapped(cfg, {"sub": "s", "email": "a@example.com", "email_verified": True}).username == "a@example.com"
    assert "not verified" in refused(cfg, {"sub": "s", "email": "a@example.com", "email_verified": False})
    assert "not verified" in refused(cfg, {"sub": "s", "email": "a@example.com", "email_verified": "true"})


def test_username_prefix_given_or_disabled() -> None:
    assert mapped(config(username_prefix="oidc:"), {"sub": "bob"}).username == "oidc:bob"
    assert mapped(config(username_prefix="-"), {"sub": "bob"}).username == "bob"
    assert mapped(config(username_claim="email", username_prefix="corp:"), {"email": "b@x"}).username == "corp:b@x"
    assert mapped(config(username_claim="preferred_username"), {"preferred_username": "bob"}).username == \
        f"{ISSUER}#bob"


def test_missing_or_non_string_username_claim_is_refused() -> None:
    assert "username claim 'email' is missing" in refused(config(username_claim="email"), {"sub": "s"})
    assert "not a non-empty string" in refused(config(), {"sub": 42})
    assert "not a non-empty string" in refused(config(), {"sub": ""})


def test_groups_from_a_string_or_a_list_with_the_prefix() -> None:
    cfg = config(groups_claim="groups", groups_prefix="oidc:")
    assert mapped(cfg, {"sub": "s", "groups": ["dev", "ops"]}).groups == ("oidc:dev", "oidc:ops")
    assert mapped(cfg, {"sub": "s", "groups": "dev"}).groups == ("oidc:dev",)
    assert mapped(cfg, {"sub": "s"}).groups == ()
    assert mapped(config(groups_claim="groups"), {"sub": "s", "groups": ["dev"]}).groups == ("dev",)
    assert mapped(cfg, {"sub": "s", "groups": ["dev"]}).claims_used == {"sub": "s", "groups": ["dev"]}
    assert "neither a string nor a list" in refused(cfg, {"sub": "s", "groups": {"dev": True}})
    assert "not a list of strings" in refused(cfg, {"sub": "s", "groups": ["dev", 7]})


def test_required_claims_present_and_equal() -> None:
    cfg = config(required_claims=(("hd", "example.com"), ("level", "3")))
    assert mapped(cfg, {"sub": "s", "hd": "example.com", "level": 3}).username == f"{ISSUER}#s"
    assert "'level' is missing" in refused(cfg, {"sub": "s", "hd": "example.com"})
    assert "'hd' does not have the required value" in refused(cfg, {"sub": "s", "hd": "evil.com", "level": "3"})
    assert "'hd' does not have the required value" in refused(cfg, {"sub": "s", "hd": ["example.com"], "level": "3"})


def test_system_username_or_group_after_mapping_is_refused() -> None:
    assert "begins with system:" in refused(config(username_prefix="-"), {"sub": "system:admin"})
    assert "begins with system:" in refused(config(username_prefix="system:"), {"sub": "x"})
    cfg = config(groups_claim="groups")
    assert "group 'system:masters'" in refused(cfg, {"sub": "s", "groups": ["dev", "system:masters"]})
    assert mapped(config(groups_claim="groups", groups_prefix="oidc:"), {"sub": "s", "groups": ["system:masters"]}) \
        .groups == ("oidc:system:masters",)  # prefixed, it is not reserved


def test_only_active_configs_authenticate() -> None:
    assert config().authenticates(NOW)
    assert not config(settles_at=NOW + timedelta(minutes=1)).authenticates(NOW)
    assert not config(deleting_until=NOW + timedelta(minutes=1)).authenticates(NOW)


# -- a small HTTPS discovery + JWKS server, and tokens signed here -------------------------------------


def _jwk(key: Any, kid: str, alg: str) -> dict[str, Any]:
    public = key.public_key()
    data = json.loads(RSAAlgorithm.to_jwk(public) if isinstance(key, rsa.RSAPrivateKey) else ECAlgorithm.to_jwk(public))
    return {**data, "kid": kid, "alg": alg, "use": "sig"}


class JwksServer:
    """https://127.0.0.1:<port> serving discovery and a JWKS this test controls; counts its requests."""

    def __init__(self, tmp: Path) -> None:
        authority = pki.new_authority("oidc test CA")
        certificate, key = authority.issue("127.0.0.1", ip_addresses=("127.0.0.1",))
        self.ca_file = str(tmp / "oidc-ca.crt")
        Path(self.ca_file).write_bytes(pki.certificate_pem(authority.certificate))
        (tmp / "tls.crt").write_bytes(pki.certificate_pem(certificate))
        (tmp / "tls.key").write_bytes(pki.key_pem(key))
        self.keys: dict[str, tuple[Any, str]] = {
            "rsa-1": (rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256"),
            "ec-1": (ec.generate_private_key(ec.SECP256R1()), "ES256"),
            "ec-384": (ec.generate_private_key(ec.SECP384R1()), "ES384"),
        }
        self.cache_control = "max-age=600"
        self.discovery_issuer: str | None = None  # None: the real issuer
        self.requests: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                outer.requests.append(self.path)
                body: dict[str, Any]
                headers: dict[str, str] = {}
                if self.path == "/.well-known/openid-configuration":
                    body = {"issuer": outer.discovery_issuer or outer.issuer, "jwks_uri": f"{outer.issuer}/jwks"}
                elif self.path == "/jwks":
                    body = {"keys": [_jwk(k, kid, alg) for kid, (k, alg) in outer.keys.items()]
                            + [{"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"}]}
                    headers = {"Cache-Control": outer.cache_control}
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(tmp / "tls.crt"), str(tmp / "tls.key"))
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.issuer = f"https://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def jwks_fetches(self) -> int:
        return self.requests.count("/jwks")

    def mint(self, *, kid: str = "rsa-1", alg: str | None = None, drop: tuple[str, ...] = (), send_kid: bool = True,
             **claims: Any) -> str:
        key, key_alg = self.keys[kid]
        now = int(time.time())
        body = {"iss": self.issuer, "aud": "kubernetes", "sub": "alice", "iat": now, "exp": now + 600, **claims}
        for name in drop:
            body.pop(name)
        return jwt.encode(body, key, algorithm=alg or key_alg, headers={"kid": kid} if send_kid else None)


@pytest.fixture()
def idp(tmp_path: Path) -> Iterator[JwksServer]:
    server = JwksServer(tmp_path)
    yield server
    server.stop()


def verifier_for(idp: JwksServer) -> OidcVerifier:
    return OidcVerifier(ca_file=idp.ca_file, clock=lambda: datetime.now(timezone.utc))


def reason(verifier: OidcVerifier, token: str, issuer: str, audiences: tuple[str, ...] = ("kubernetes",)) -> str:
    with pytest.raises(OidcError) as caught:
        verifier.verify(token, issuer=issuer, audiences=audiences)
    return caught.value.reason


# -- verification (identity.oidc) ------------------------------------------------------------------


@pytest.mark.parametrize(("kid", "alg"), [("rsa-1", "RS256"), ("rsa-1", "RS512"), ("rsa-1", "PS256"),
                                          ("ec-1", "ES256"), ("ec-384", "ES384")])
def test_signed_tokens_verify(idp: JwksServer, kid: str, alg: str) -> None:
    verifier = verifier_for(idp)
    token = idp.mint(kid=kid, alg=alg, groups=["dev"], aud=["other", "kubernetes"])
    assert unverified_issuer(token) == idp.issuer
    verified = verifier.verify(token, issuer=idp.issuer, audiences=("kubernetes",))
    assert verified == VerifiedIdToken(claims=verified.claims, issuer=idp.issuer, key_id=kid, algorithm=alg)
    assert verified.claims["sub"] == "alice" and verified.claims["groups"] == ["dev"]


def test_a_token_without_kid_is_tried_against_each_suitable_key(idp: JwksServer) -> None:
    idp.keys["rsa-2"] = (rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256")
    verifier = verifier_for(idp)
    verified = verifier.verify(idp.mint(kid="rsa-2", send_kid=False), issuer=idp.issuer, audiences=("kubernetes",))
    assert (verified.key_id, verified.claims["sub"]) == (None, "alice")
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    idp.keys["x"] = (stranger, "RS256")
    forged = idp.mint(kid="x", send_kid=False)
    del idp.keys["x"]
    assert "signature does not verify" in reason(verifier, forged, idp.issuer)


def test_claims_are_checked(idp: JwksServer) -> None:
    verifier = verifier_for(idp)
    now = int(time.time())
    assert "aud holds none" in reason(verifier, idp.mint(aud="someone-else"), idp.issuer)
    assert "aud holds none" in reason(verifier, idp.mint(aud=["a", "b"]), idp.issuer)
    assert "iss is not the configured issuer" in reason(verifier, idp.mint(iss=idp.issuer + "/"), idp.issuer)
    assert "has expired" in reason(verifier, idp.mint(exp=now - 90), idp.issuer)
    verifier.verify(idp.mint(exp=now - 30), issuer=idp.issuer, audiences=("kubernetes",))  # within the 60 s leeway
    assert "no exp claim" in reason(verifier, idp.mint(drop=("exp",)), idp.issuer)
    assert "exp is not a number" in reason(verifier, idp.mint(exp="tomorrow"), idp.issuer)
    assert "not valid yet" in reason(verifier, idp.mint(nbf=now + 400), idp.issuer)
    verifier.verify(idp.mint(nbf=now + 200), issuer=idp.issuer, audiences=("kubernetes",))  # 5 minutes' leeway
    verifier.verify(idp.mint(drop=("iat",)), issuer=idp.issuer, audiences=("kubernetes",))  # iat not required


def test_the_clock_is_the_verifiers(idp: JwksServer) -> None:
    later = OidcVerifier(ca_file=idp.ca_file, clock=lambda: datetime.now(timezone.utc) + timedelta(hours=1))
    assert "has expired" in reason(later, idp.mint(), idp.issuer)


def test_unknown_kid_refreshes_once_then_is_refused(idp: JwksServer) -> None:
    verifier = verifier_for(idp)
    verifier.verify(idp.mint(), issuer=idp.issuer, audiences=("kubernetes",))
    assert idp.jwks_fetches() == 1
    idp.keys["rsa-2"] = (rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256")
    rotated = idp.mint(kid="rsa-2")
    # Rate-limited: within REFRESH_INTERVAL of the last fetch an unknown kid does not fetch again.
    assert "no key with kid 'rsa-2'" in reason(verifier, rotated, idp.issuer)
    assert idp.jwks_fetches() == 1
    verifier.refresh_interval = 0.0
    assert verifier.verify(rotated, issuer=idp.issuer, audiences=("kubernetes",)).key_id == "rsa-2"
    assert idp.jwks_fetches() == 2
    forged_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    idp.keys["nobody"] = (forged_key, "RS256")
    forged = idp.mint(kid="nobody")
    del idp.keys["nobody"]
    assert "no key with kid 'nobody' in the issuer's JWKS (after a refresh)" in reason(verifier, forged, idp.issuer)
    assert idp.jwks_fetches() == 3  # exactly one refresh for it


def test_refused_algorithms_and_key_confusion(idp: JwksServer) -> None:
    verifier = verifier_for(idp)
    now = int(time.time())
    claims = {"iss": idp.issuer, "aud": "kubernetes", "sub": "mallory", "exp": now + 600}
    unsigned = jwt.encode(claims, None, algorithm="none")  # type: ignore[arg-type]
    assert "'none' is not accepted" in reason(verifier, unsigned, idp.issuer)
    # HS256 "signed" with the RSA public key (the classic confusion), built by hand as an attacker would.
    public_pem = idp.keys["rsa-1"][0].public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}).encode()) + "." + \
        b64(json.dumps(claims).encode())
    confused = signing_input + "." + b64(hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest())
    assert "'HS256' is not accepted" in reason(verifier, confused, idp.issuer)
    # The JWKS's symmetric key is never used either, whatever the header says.
    hs_with_kid = jwt.encode(claims, "s" * 32, algorithm="HS256", headers={"kid": "hmac"})
    assert "'HS256' is not accepted" in reason(verifier, hs_with_kid, idp.issuer)
    # An ES256 header naming an RSA key: the key must suit the algorithm.
    mismatched = idp.mint(kid="ec-1", alg="ES256")
    header, payload, signature = mismatched.split(".")
    swapped = b64(json.dumps({"alg": "ES256", "kid": "rsa-1"}).encode()) + "." + payload + "." + signature
    assert "no EC key in the issuer's JWKS suits ES256" in reason(verifier, swapped, idp.issuer)
    assert idp.requests.count("/jwks") <= 2


def test_oversized_and_garbage_tokens(idp: JwksServer) -> None:
    verifier = verifier_for(idp)
    huge = idp.mint(padding="x" * MAX_TOKEN_BYTES)
    assert "larger than 64 KiB" in reason(verifier, huge, idp.issuer)
    assert unverified_issuer(huge) is None
    assert "not a JWT" in reason(verifier, "garbage", idp.issuer)
    assert "not a JWT" in reason(verifier, "k8s-aws-v1.aGVsbG8", idp.issuer)
    assert "header is malformed" in reason(verifier, "bm90LWpzb24.e30.c2ln", idp.issuer)
    assert "signature does not verify" in reason(verifier, idp.mint()[:-4] + "AAAA", idp.issuer)
    assert unverified_issuer("garbage") is None and unverified_issuer("a.b.c") is None
    assert idp.requests == ["/.well-known/openid-configuration", "/jwks"]  # garbage never causes a fetch


def test_discovery_must_name_the_issuer_and_be_https(idp: JwksServer) -> None:
    idp.discovery_issuer = "https://evil.example.com"
    assert "discovery document's issuer is not the configured issuer" in reason(verifier_for(idp), idp.mint(),
                                                                                  idp.issuer)
    assert "must be an https URL" in reason(verifier_for(idp), idp.mint(iss="http://127.0.0.1:1"), "http://127.0.0.1:1")


def test_provider_untrusted_without_its_ca(idp: JwksServer) -> None:
    system_only = OidcVerifier(clock=lambda: datetime.now(timezone.utc))
    assert "could not be fetched" in reason(system_only, idp.mint(), idp.issuer)


def test_provider_down_cached_keys_still_verify_a_new_issuer_fails_fast(idp: JwksServer) -> None:
    verifier = verifier_for(idp)
    verifier.verify(idp.mint(), issuer=idp.issuer, audiences=("kubernetes",))
    idp.stop()
    assert verifier.verify(idp.mint(sub="bob"), issuer=idp.issuer, audiences=("kubernetes",)).claims["sub"] == "bob"
    verifier._providers[idp.issuer].expires = 0.0  # the keys' max-age has run out; a refresh fails
    verifier.refresh_interval = 0.0
    assert verifier.verify(idp.mint(sub="carol"), issuer=idp.issuer, audiences=("kubernetes",)).claims["sub"] == "carol"
    down = "https://127.0.0.1:1"
    started = time.monotonic()
    why = reason(verifier, idp.mint(iss=down), down)
    assert "keys of issuer https://127.0.0.1:1 could not be fetched" in why and "ConnectError" in why
    assert time.monotonic() - started < 2.5


def test_cache_control_sets_the_refresh() -> None:
    assert _keys_ttl(httpx.Headers({"Cache-Control": "public, max-age=120"})) == 120
    assert _keys_ttl(httpx.Headers({"Cache-Control": "no-cache"})) == 10
    assert _keys_ttl(httpx.Headers({"Cache-Control": "max-age=1"})) == 10
    assert _keys_ttl(httpx.Headers({})) == 3600
    assert _keys_ttl(httpx.Headers({"Cache-Control": "max-age=99999999"})) == 24 * 3600


def test_bad_ca_file_is_refused_at_construction(tmp_path: Path) -> None:
    (tmp_path / "bad.pem").write_text("not a certificate")
    with pytest.raises(ValueError, match="OIDC CA file"):
        OidcVerifier(ca_file=str(tmp_path / "bad.pem"), clock=lambda: NOW)


class BlockingVerifier:
    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls = 0

    def verify(self, token: str, *, issuer: str, audiences: Any) -> VerifiedIdToken:
        self.calls += 1
        self.release.wait(10)
        raise OidcError("refused by the stub")


def test_gate_is_bounded_and_remembers_refusals() -> None:
    stub = BlockingVerifier()
    gate = OidcGate(stub, limit=1)  # type: ignore[arg-type]

    async def scenario() -> None:
        first = asyncio.ensure_future(gate.verify("k1", "t", issuer=ISSUER, audiences=("a",)))
        await asyncio.sleep(0.05)
        started = time.monotonic()
        with pytest.raises(OidcError, match="busy"):
            await gate.verify("k2", "t2", issuer=ISSUER, audiences=("a",))
        assert time.monotonic() - started < 0.5  # answered at once, not queued
        stub.release.set()
        with pytest.raises(OidcError, match="refused by the stub"):
            await first
        with pytest.raises(OidcError, match="refused by the stub"):
            await gate.verify("k1", "t", issuer=ISSUER, audiences=("a",))
        assert stub.calls == 1  # remembered, not verified again

    asyncio.run(scenario())


# -- the webhook end to end: the real provider, kubegate with --oidc-ca-file, kubectl ----------------------


def _review(client: httpx.Client, url: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(url + "?timeout=30s", content=json.dumps(body), headers={"Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    return dict(response.json()["status"])


def test_id_tokens_through_the_webhooks_and_kubectl(oidc_kubegate: Server, oidc_provider: Any,
                                                    tmp_path: Path) -> None:
    from standin_apiserver import StandInApiserver
    from test_token_webhook import Apiserver, token_for

    server, provider = oidc_kubegate, oidc_provider
    eks = server.client("eks")
    eks.create_cluster(name="oidc", roleArn=ensure_role(server, "eks"), resourcesVpcConfig={"subnetIds": ["s"]},
                       accessConfig={"authenticationMode": "API"})
    apiserver = Apiserver(server, "oidc", tmp_path / "webhook")
    before = apiserver.status(provider.id_token("early", groups=["dev"]))
    assert before["authenticated"] is False and "no active OIDC identity provider config" in before["error"]
    eks.associate_identity_provider_config(clusterName="oidc", oidc={
        "identityProviderConfigName": "corp", "issuerUrl": provider.issuer, "clientId": "kubernetes",
        "groupsClaim": "groups", "groupsPrefix": "oidc:", "requiredClaims": {"team": "blue"},
    })

    def status_of(token: str) -> dict[str, Any]:
        def settled() -> dict[str, Any] | None:
            answer = apiserver.status(token)
            return answer if "no active OIDC" not in answer.get("error", "") else None
        return eventually(settled) or apiserver.status(token)

    token = provider.id_token("alice", groups=["dev", "ops"], extra_claims={"team": "blue"})
    status = status_of(token)
    assert status["authenticated"] is True, status
    assert status["user"] == {"username": f"{provider.issuer}#alice", "groups": ["oidc:dev", "oidc:ops"]}
    assert apiserver.status(token) == status  # cached: same answer
    assert "required claim 'team'" in apiserver.status(provider.id_token("bob", groups=["dev"]))["error"]
    other_aud = apiserver.status(provider.id_token("carol", aud="kubegate-other", extra_claims={"team": "blue"}))
    assert other_aud["authenticated"] is False and "aud holds none" in other_aud["error"]
    # IAM tokens still work beside them.
    assert apiserver.status(token_for(server, server.credentials(), "oidc"))["authenticated"] is True

    # The authorization webhook: no IAM extra, so no opinion (RBAC decides).
    authz = yaml.safe_load((tmp_path / "webhook" / "authz.kubeconfig").read_text())["clusters"][0]["cluster"]["server"]
    sar = json.loads((SAMPLES / "v1.36-sar-request-resource-get-named.json").read_text())
    sar["spec"] = {"user": status["user"]["username"], "groups": ["oidc:dev", "system:authenticated"],
                   "resourceAttributes": {"verb": "get", "resource": "pods", "namespace": "default", "version": "v1"}}
    answer = _review(apiserver.client, authz, sar)
    assert answer["allowed"] is False and "denied" not in answer and "RBAC decides" in answer["reason"]

    # The audit log names the config and the claims, never the token.
    audit = (server.data_dir / "audit.log").read_text()
    assert token not in audit
    lines = [json.loads(line) for line in audit.splitlines() if '"oidc_config"' in line]
    ok = [line for line in lines if line.get("authenticated")]
    assert ok and ok[-1]["oidc_config"] == "corp" and ok[-1]["claims"] == {"sub": "alice", "groups": ["dev", "ops"]}

    # kubeconfig --oidc writes the kubelogin exec user; --token-file a tokenFile user; kubectl uses the latter.
    standin = StandInApiserver(tmp_path / "webhook" / "authn.kubeconfig")
    try:
        (tmp_path / "apiserver-ca.crt").write_bytes(standin.ca_pem)
        env = server.cli_env()
        subprocess.run([str(BIN / "kubegate"), "cluster", "set-endpoint", "--data-dir", str(server.data_dir),
                        "--name", "oidc", "--server", standin.url,
                        "--certificate-authority", str(tmp_path / "apiserver-ca.crt")], check=True, capture_output=True)
        out = subprocess.run([str(BIN / "kubegate"), "kubeconfig", "--cluster", "oidc", "--oidc", "corp"], env=env,
                             capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        user = yaml.safe_load(out.stdout)["users"][0]["user"]["exec"]
        assert (user["command"], user["args"]) == ("kubectl", [
            "oidc-login", "get-token", f"--oidc-issuer-url={provider.issuer}", "--oidc-client-id=kubernetes"])
        missing = subprocess.run([str(BIN / "kubegate"), "kubeconfig", "--cluster", "oidc", "--oidc", "nope"],
                                 env=env, capture_output=True, text=True)
        assert missing.returncode != 0 and "nope" in missing.stderr
        (tmp_path / "id-token").write_text(token)
        out = subprocess.run([str(BIN / "kubegate"), "kubeconfig", "--cluster", "oidc", "--token-file",
                              str(tmp_path / "id-token")], env=env, capture_output=True, text=True, check=True)
        (tmp_path / "kubeconfig").write_text(out.stdout)
        assert yaml.safe_load(out.stdout)["users"][0]["user"] == {"tokenFile": str(tmp_path / "id-token")}
        whoami = subprocess.run(["kubectl", "auth", "whoami", "-o", "json"], capture_output=True, text=True,
                                env={**env, "KUBECONFIG": str(tmp_path / "kubeconfig")}, timeout=60)
        assert whoami.returncode == 0, whoami.stderr
        info = json.loads(whoami.stdout)["status"]["userInfo"]
        assert info["username"] == f"{provider.issuer}#alice"
        assert info["groups"] == ["oidc:dev", "oidc:ops", "system:authenticated"]
        whoami = subprocess.run(["kubectl", f"--token={token}", "--server", standin.url, "--certificate-authority",
                                 str(tmp_path / "apiserver-ca.crt"), "auth", "whoami", "-o", "json"],
                                capture_output=True, text=True, env={**env, "KUBECONFIG": "/dev/null"}, timeout=60)
        assert whoami.returncode == 0, whoami.stderr
        assert json.loads(whoami.stdout)["status"]["userInfo"]["username"] == f"{provider.issuer}#alice"
    finally:
        standin.close()


def test_a_stalled_provider_slows_neither_iam_tokens_nor_itself_beyond_its_bound(
        oidc_kubegate: Server, tmp_path: Path) -> None:
    """ID tokens naming a provider that accepts connections and never answers: bounded, answered, IAM unaffected."""
    import socket
    from concurrent.futures import ThreadPoolExecutor

    from test_token_webhook import Apiserver, token_for

    server = oidc_kubegate
    black_hole = socket.socket()
    black_hole.bind(("127.0.0.1", 0))
    black_hole.listen(64)  # never accepted: TLS handshakes stall
    issuer = f"https://127.0.0.1:{black_hole.getsockname()[1]}"
    try:
        eks = server.client("eks")
        eks.create_cluster(name="oidc-stall", roleArn=ensure_role(server, "eks"),
                           resourcesVpcConfig={"subnetIds": ["s"]}, accessConfig={"authenticationMode": "API"})
        eks.associate_identity_provider_config(clusterName="oidc-stall", oidc={
            "identityProviderConfigName": "stalled", "issuerUrl": issuer, "clientId": "kubernetes"})
        apiserver = Apiserver(server, "oidc-stall", tmp_path)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

        def forged(n: int) -> str:
            claims = {"iss": issuer, "aud": "kubernetes", "sub": f"u{n}", "exp": int(time.time()) + 600}
            return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k"})

        iam_token = token_for(server, server.credentials(), "oidc-stall")
        with ThreadPoolExecutor(max_workers=24) as pool:
            started = time.monotonic()
            flood = [pool.submit(apiserver.status, forged(n)) for n in range(1, 24)]
            time.sleep(0.5)  # the first discovery fetch is stalled in its TLS handshake now (2 s connect timeout)
            iam_started = time.monotonic()
            assert apiserver.status(iam_token)["authenticated"] is True
            assert time.monotonic() - iam_started < 1.0
            answers = [f.result() for f in flood]
        errors = [a["error"] for a in answers if a["authenticated"] is False]
        assert len(errors) == len(answers)
        assert any("busy" in e for e in errors)  # beyond the gate's 8 threads: answered at once
        stalled = [e for e in errors if "busy" not in e]
        assert stalled and all("could not be fetched" in e for e in stalled)
        assert time.monotonic() - started < 6  # one 2 s connect timeout, then the rate limit answers the rest
    finally:
        black_hole.close()


def test_rotation_and_an_outage_of_the_real_provider(tmp_path: Path) -> None:
    """Keys rotate without restarting kubegate; a token signed with a key the provider no longer
    publishes is refused; with the provider down, cached keys keep verifying, a new issuer fails
    with a reason, and IAM tokens are unaffected."""
    from oidc_provider import running_oidc_provider
    from test_token_webhook import Apiserver, token_for

    with running_oidc_provider() as provider:
        server = Server(tmp_path / "data", extra_args=("--oidc-ca-file", provider.ca_file))
        server.start()
        try:
            eks = server.client("eks")
            eks.create_cluster(name="rot", roleArn=ensure_role(server, "eks"), resourcesVpcConfig={"subnetIds": ["s"]},
                               accessConfig={"authenticationMode": "API"})
            eks.associate_identity_provider_config(clusterName="rot", oidc={
                "identityProviderConfigName": "corp", "issuerUrl": provider.issuer, "clientId": "kubernetes",
                "usernameClaim": "email"})
            apiserver = Apiserver(server, "rot", tmp_path / "webhook")

            def authenticated(token: str, timeout: float = 15.0) -> dict[str, Any]:
                return eventually(lambda: (lambda s: s if s["authenticated"] else None)(apiserver.status(token)),
                                  timeout=timeout) or apiserver.status(token)

            first = provider.id_token("dora", email="dora@example.com", email_verified=True)
            assert authenticated(first)["user"]["username"] == "dora@example.com"
            stale = provider.id_token("sam", email="sam@example.com")  # signed now, reviewed after the rotation
            provider.rotate_keys()
            rotated = provider.id_token("erin", email="erin@example.com")
            # an unknown kid refreshes the keys (at most every 10 s): no restart of kubegate
            assert authenticated(rotated, timeout=30)["user"]["username"] == "erin@example.com"
            refused = apiserver.status(stale)
            assert refused["authenticated"] is False and "kid" in refused["error"], refused

            unseen = provider.id_token("finn", email="finn@example.com")
            provider.stop()
            assert authenticated(unseen, timeout=2)["user"]["username"] == "finn@example.com"  # cached keys
            assert apiserver.status(rotated)["authenticated"] is True
            assert apiserver.status(token_for(server, server.credentials(), "rot"))["authenticated"] is True

            with socket.socket() as closed:  # a port nobody listens on: the new issuer is down
                closed.bind(("127.0.0.1", 0))
                dead = f"https://127.0.0.1:{closed.getsockname()[1]}"
            eks.associate_identity_provider_config(clusterName="rot", oidc={
                "identityProviderConfigName": "down", "issuerUrl": dead, "clientId": "kubernetes"})
            header = base64.urlsafe_b64encode(b'{"alg":"RS256","kid":"k"}').decode().rstrip("=")
            claims = base64.urlsafe_b64encode(json.dumps(
                {"iss": dead, "aud": "kubernetes", "sub": "x", "exp": int(time.time()) + 600}).encode()).decode().rstrip("=")
            started = time.monotonic()
            answer = eventually(lambda: (lambda s: s if "no active OIDC" not in s.get("error", "") else None)(
                apiserver.status(f"{header}.{claims}.c2ln")))
            assert answer["authenticated"] is False and "could not be fetched" in answer["error"], answer
            assert time.monotonic() - started < 10
        finally:
            server.stop()
