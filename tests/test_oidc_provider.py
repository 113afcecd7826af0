"""The test OpenID provider itself: discovery, real signed ID tokens, ES256, key rotation, down/up."""

from __future__ import annotations

import socket
import ssl
import time
import urllib.error
from typing import Any

import jwt
import pytest
from oidc_provider import OidcProvider, OidcProviderError


def verify(provider: OidcProvider, token: str, *, aud: str = "kubernetes") -> dict[str, Any]:
    """Check `token` the way a relying party would: key by kid from the published JWKS, iss, aud."""
    kid = jwt.get_unverified_header(token)["kid"]
    keys = {k["kid"]: k for k in provider.jwks()["keys"]}
    if kid not in keys:
        raise LookupError(f"kid {kid} is not published")
    key = jwt.PyJWK(keys[kid])
    return dict(jwt.decode(
        token, key=key, algorithms=["RS256", "ES256"], audience=aud, issuer=provider.issuer,
        options={"require": ["iss", "aud", "exp", "iat", "sub"]},
    ))


def test_discovery_over_https_with_the_ca(oidc_provider: OidcProvider) -> None:
    assert oidc_provider.issuer == f"https://127.0.0.1:{oidc_provider.port}"
    document = oidc_provider.discovery()
    assert document["issuer"] == oidc_provider.issuer
    assert document["jwks_uri"].startswith(oidc_provider.issuer + "/")
    assert {"RS256", "ES256"} <= set(document["id_token_signing_alg_values_supported"])
    keys = oidc_provider.jwks()["keys"]
    assert {k["alg"] for k in keys} == {"RS256", "ES256"}
    assert all("d" not in k for k in keys)  # public parts only


def test_untrusted_without_the_ca(oidc_provider: OidcProvider) -> None:
    context = ssl.create_default_context()  # the system store does not hold the throwaway CA
    with socket.create_connection(("127.0.0.1", oidc_provider.port), timeout=5) as raw:
        with pytest.raises(ssl.SSLCertVerificationError):
            context.wrap_socket(raw, server_hostname="127.0.0.1")


def test_listens_on_loopback_only(oidc_provider: OidcProvider) -> None:
    import subprocess

    out = subprocess.run(["ss", "-ltnH", f"sport = :{oidc_provider.port}"], capture_output=True, text=True)
    if out.returncode != 0:
        pytest.skip("ss is not available")
    local = {line.split()[3] for line in out.stdout.splitlines() if line.strip()}
    assert local == {f"127.0.0.1:{oidc_provider.port}"}


def test_rs256_token_carries_the_chosen_claims(oidc_provider: OidcProvider) -> None:
    token = oidc_provider.id_token(
        "alice", email="alice@example.test", email_verified=True, groups=["system:masters", "devs"],
        extra_claims={"team": "a", "tags": ["x", "y"]},
    )
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    claims = verify(oidc_provider, token)
    assert claims["sub"] == "alice"
    assert claims["email"] == "alice@example.test"
    assert claims["email_verified"] is True
    assert claims["groups"] == ["system:masters", "devs"]
    assert claims["team"] == "a" and claims["tags"] == ["x", "y"]
    assert claims["aud"] == "kubernetes" and claims["iss"] == oidc_provider.issuer
    with pytest.raises(jwt.InvalidAudienceError):
        verify(oidc_provider, token, aud="sts.amazonaws.com")


def test_omitted_claims_are_absent_and_claims_change_per_token(oidc_provider: OidcProvider) -> None:
    first = verify(oidc_provider, oidc_provider.id_token("bob", groups=["a"]))
    second = verify(oidc_provider, oidc_provider.id_token("bob", email="bob@example.test"))
    assert first["groups"] == ["a"] and "email" not in first
    assert second["email"] == "bob@example.test" and "groups" not in second
    assert "email_verified" not in second


def test_es256_and_another_audience(oidc_provider: OidcProvider) -> None:
    token = oidc_provider.id_token("carol", aud="sts.amazonaws.com", alg="ES256")
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "ES256" and header["kid"] == oidc_provider.signing_kids["ES256"]
    assert verify(oidc_provider, token, aud="sts.amazonaws.com")["sub"] == "carol"


def test_short_ttl_expires(oidc_provider: OidcProvider) -> None:
    token = oidc_provider.id_token("dave", ttl=1)
    claims = verify(oidc_provider, token)
    assert claims["exp"] - claims["iat"] == 1
    time.sleep(max(0.0, claims["exp"] - time.time()) + 0.05)
    with pytest.raises(jwt.ExpiredSignatureError):
        verify(oidc_provider, token)


def test_refuses_reserved_claims_and_unknown_audiences(oidc_provider: OidcProvider) -> None:
    with pytest.raises(ValueError):
        oidc_provider.id_token("eve", extra_claims={"iss": "https://evil.example"})
    with pytest.raises(ValueError):
        oidc_provider.id_token("eve", aud="not-a-client")


def test_rotate_keys_drops_the_old_key(oidc_provider: OidcProvider) -> None:
    old_token = oidc_provider.id_token("frank")
    old_es = oidc_provider.id_token("frank", alg="ES256")
    issuer, port = oidc_provider.issuer, oidc_provider.port
    new_kids = oidc_provider.rotate_keys()
    assert (oidc_provider.issuer, oidc_provider.port) == (issuer, port)
    published = {k["kid"] for k in oidc_provider.jwks()["keys"]}
    assert published == set(new_kids.values())
    for token in (old_token, old_es):
        assert jwt.get_unverified_header(token)["kid"] not in published
        with pytest.raises(LookupError):
            verify(oidc_provider, token)
    new_token = oidc_provider.id_token("frank")
    assert jwt.get_unverified_header(new_token)["kid"] == new_kids["RS256"]
    assert verify(oidc_provider, new_token)["sub"] == "frank"


def test_rotate_keys_keeping_the_old_key_published(oidc_provider: OidcProvider) -> None:
    old_token = oidc_provider.id_token("grace")
    old_kid = jwt.get_unverified_header(old_token)["kid"]
    new_kids = oidc_provider.rotate_keys(keep_old=True)
    assert old_kid not in new_kids.values()
    assert verify(oidc_provider, old_token)["sub"] == "grace"
    assert jwt.get_unverified_header(oidc_provider.id_token("grace"))["kid"] == new_kids["RS256"]


def test_stop_and_start_again(oidc_provider: OidcProvider) -> None:
    issuer = oidc_provider.issuer
    oidc_provider.stop()
    try:
        assert not oidc_provider.running
        with pytest.raises(urllib.error.URLError):
            oidc_provider.discovery()
        with pytest.raises((urllib.error.URLError, OidcProviderError)):
            oidc_provider.id_token("heidi")
    finally:
        oidc_provider.start()
    assert oidc_provider.issuer == issuer
    assert verify(oidc_provider, oidc_provider.id_token("heidi"))["sub"] == "heidi"
