"""A real OpenID provider for the tests: panva's `oidc-provider` run by `tests/oidc/launcher.mjs`.

`OidcProvider` owns one Node process listening on HTTPS at 127.0.0.1 (a throwaway CA from
`kubegate.pki` signs its serving certificate) and everything it reads, in one temp folder:

    tmp/ca.crt  tls.crt  tls.key  jwks.json (private)  accounts.json  provider.log

ID tokens are minted by the provider itself, with no browser: the CIBA poll grant (POST
/backchannel with `login_hint=<sub>`, the launcher approves at once, then POST /token).
The token's claims come from `accounts.json`, which `id_token()` rewrites just before.
Signing keys are rotated by restarting on the same port with a new JWKS (the issuer stays).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from kubegate import pki

OIDC_DIR = Path(__file__).resolve().parent / "oidc"
LAUNCHER = OIDC_DIR / "launcher.mjs"
NODE = shutil.which("node") or "/usr/bin/node"

DEFAULT_CLIENTS = ("kubernetes", "sts.amazonaws.com", "kubegate-other")
CLIENT_SECRET = "test-secret"
CIBA_GRANT = "urn:openid:params:grant-type:ciba"
# Claims the provider computes itself: a value given for them would be overwritten or mangled.
RESERVED_CLAIMS = frozenset({"iss", "aud", "exp", "sub", "at_hash", "c_hash", "s_hash"})


def _client(client_id: str) -> dict[str, Any]:
    return {
        "client_id": client_id, "client_secret": CLIENT_SECRET,
        "grant_types": [CIBA_GRANT], "response_types": [], "redirect_uris": [],
        "backchannel_token_delivery_mode": "poll", "token_endpoint_auth_method": "client_secret_post",
        "id_token_signed_response_alg": "RS256",
    }


def _new_keys() -> list[dict[str, Any]]:
    """One private RS256 (RSA 2048) and one ES256 (P-256) JWK, with fresh random kids."""
    tag = secrets.token_hex(4)
    rsa_jwk = json.loads(RSAAlgorithm.to_jwk(rsa.generate_private_key(public_exponent=65537, key_size=2048)))
    ec_jwk = json.loads(ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP256R1())))
    for jwk in (rsa_jwk, ec_jwk):
        jwk.pop("key_ops", None)  # PyJWT marks private RSA JWKs ["sign"]; the launcher reads "verify" only
    rsa_jwk.update(kid=f"rs256-{tag}", alg="RS256", use="sig")
    ec_jwk.update(kid=f"es256-{tag}", alg="ES256", use="sig")
    return [rsa_jwk, ec_jwk]


class OidcProviderError(RuntimeError):
    """The provider did not start, or refused a request (the message holds its reply or log)."""


class OidcProvider:
    """One real OpenID provider on https://127.0.0.1:<port>; call `start()` (or use `running()`)."""

    def __init__(
        self, *, clients: Sequence[str] = DEFAULT_CLIENTS, id_token_ttl: int = 3600, port: int = 0,
    ) -> None:
        self._tmp = Path(tempfile.mkdtemp(prefix="kubegate-oidc-"))
        self._clients = tuple(clients)
        self._id_token_ttl = id_token_ttl
        self._port = port  # 0 until the first start; then fixed, so the issuer never changes
        self._issuer: str | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._accounts: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._keys: list[dict[str, Any]] = _new_keys()
        authority = pki.new_authority("kubegate test OIDC CA")
        certificate, key = authority.issue("127.0.0.1", ip_addresses=("127.0.0.1",))
        (self._tmp / "ca.crt").write_bytes(pki.certificate_pem(authority.certificate))
        (self._tmp / "tls.crt").write_bytes(pki.certificate_pem(certificate))
        (self._tmp / "tls.key").write_bytes(pki.key_pem(key))
        self._write_json("accounts.json", {})
        # Loopback only: no proxies from the environment, and only this CA is trusted.
        self._http = urllib.request.build_opener(
            urllib.request.ProxyHandler({}),
            urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=self.ca_file)),
        )

    # -- what tests read ------------------------------------------------------------------

    @property
    def issuer(self) -> str:
        """`https://127.0.0.1:<port>`, no trailing slash: the `iss` of every token and of discovery."""
        if self._issuer is None:
            raise OidcProviderError("the provider has never been started")
        return self._issuer

    @property
    def port(self) -> int:
        return self._port

    @property
    def ca_file(self) -> str:
        """PEM path of the CA that signed the provider's serving certificate."""
        return str(self._tmp / "ca.crt")

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def signing_kids(self) -> dict[str, str]:
        """{alg: kid} of the keys that sign new tokens now."""
        return {k["alg"]: k["kid"] for k in self._keys if k.get("key_ops") != ["verify"]}

    # -- lifecycle --------------------------------------------------------------------------

    def start(self, timeout: float = 20.0) -> None:
        """Start the launcher (again) on the same port with the current keys; return once listening."""
        if self.running:
            return
        self._write_json("jwks.json", {"keys": self._keys})
        env = {
            **os.environ,
            "OIDC_PORT": str(self._port),
            "OIDC_TLS_CERT": str(self._tmp / "tls.crt"), "OIDC_TLS_KEY": str(self._tmp / "tls.key"),
            "OIDC_JWKS": str(self._tmp / "jwks.json"),
            "OIDC_CLIENTS": json.dumps([_client(c) for c in self._clients]),
            "OIDC_ACCOUNTS": str(self._tmp / "accounts.json"),
            "OIDC_ID_TOKEN_TTL": str(self._id_token_ttl),
            "OIDC_EXIT_ON_STDIN_EOF": "1",  # no orphan if this process dies without stop()
        }
        deadline = time.monotonic() + timeout
        while True:  # the old process's port may take a moment to free after a restart
            log = open(self._tmp / "provider.log", "ab")
            try:
                self._process = subprocess.Popen(
                    [NODE, str(LAUNCHER)], cwd=self._tmp, env=env, stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE, stderr=log, start_new_session=True,
                )
            finally:
                log.close()
            assert self._process.stdout is not None
            line = self._process.stdout.readline()  # EOF if it dies before listening
            if line:
                break
            self._process.wait()
            self._close_pipes(self._process)
            self._process = None
            if "EADDRINUSE" not in self.log() or time.monotonic() > deadline:
                raise OidcProviderError(f"oidc launcher exited before listening:\n{self.log()}")
            time.sleep(0.1)
        ready = json.loads(line)
        self._port, self._issuer = int(ready["port"]), str(ready["issuer"])

    def stop(self) -> None:
        """SIGTERM the provider and wait for it (connections to it are refused afterwards)."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._close_pipes(process)

    @staticmethod
    def _close_pipes(process: subprocess.Popen[bytes]) -> None:
        for pipe in (process.stdin, process.stdout):
            if pipe is not None:
                pipe.close()

    def close(self) -> None:
        """Stop, and remove the temp folder."""
        self.stop()
        shutil.rmtree(self._tmp, ignore_errors=True)

    def rotate_keys(self, *, keep_old: bool = False) -> dict[str, str]:
        """Restart on the same port with new RS256/ES256 keys; return the new {alg: kid}.

        By default the old keys are dropped from the JWKS, so tokens they signed no longer
        verify. With keep_old=True they stay published (key_ops ["verify"]) but never sign.
        """
        old = [{**{k: v for k, v in key.items() if k != "use"}, "key_ops": ["verify"]}
               for key in self._keys] if keep_old else []
        self.stop()
        self._keys = _new_keys() + old
        self.start()
        return self.signing_kids

    # -- what the provider serves -------------------------------------------------------------

    def discovery(self) -> dict[str, Any]:
        """`/.well-known/openid-configuration`, fetched over HTTPS with `ca_file`."""
        return self._get_json(f"{self.issuer}/.well-known/openid-configuration")

    def jwks(self) -> dict[str, Any]:
        """The JWKS published now (public keys only), fetched over HTTPS from discovery's `jwks_uri`."""
        return self._get_json(self.discovery()["jwks_uri"])

    def id_token(
        self, sub: str, *, email: str | None = None, email_verified: bool | None = None,
        groups: Sequence[str] | None = None, aud: str = "kubernetes",
        extra_claims: Mapping[str, Any] | None = None, alg: str = "RS256", ttl: int | None = None,
    ) -> str:
        """A real ID token for `sub`, minted and signed by the provider (CIBA poll grant).

        Claims left as None are absent from the token. `aud` must be one of the registered
        client_ids. `extra_claims` may not name iss/aud/exp/sub/*_hash (the provider sets
        those); `iat` may be given to back-date it. `ttl` (seconds, >= 1) sets exp - iat.
        """
        if aud not in self._clients:
            raise ValueError(f"aud {aud!r} is not a registered client: {self._clients}")
        if alg not in ("RS256", "ES256"):
            raise ValueError(f"alg must be RS256 or ES256, not {alg!r}")
        reserved = RESERVED_CLAIMS.intersection(extra_claims or {})
        if reserved:
            raise ValueError(f"the provider sets these claims itself: {sorted(reserved)}")
        if ttl is not None and ttl < 1:
            raise ValueError("ttl must be at least 1 second")
        entry: dict[str, Any] = {"__alg": alg}
        if email is not None:
            entry["email"] = email
        if email_verified is not None:
            entry["email_verified"] = email_verified
        if groups is not None:
            entry["groups"] = list(groups)
        if extra_claims:
            entry["__extra"] = dict(extra_claims)
        if ttl is not None:
            entry["__ttl"] = ttl
        client = {"client_id": aud, "client_secret": CLIENT_SECRET}
        with self._lock:
            self._accounts[sub] = entry
            self._write_json("accounts.json", self._accounts)
            started = self._post_form(
                f"{self.issuer}/backchannel", {**client, "scope": "openid email groups", "login_hint": sub},
            )
            tokens = self._post_form(
                f"{self.issuer}/token", {**client, "grant_type": CIBA_GRANT, "auth_req_id": started["auth_req_id"]},
            )
        return str(tokens["id_token"])

    def log(self) -> str:
        path = self._tmp / "provider.log"
        return path.read_text(errors="replace") if path.exists() else ""

    # -- helpers ------------------------------------------------------------------------------

    def _write_json(self, name: str, value: Any) -> None:
        part = self._tmp / f".{name}.part"
        part.write_text(json.dumps(value))
        os.replace(part, self._tmp / name)

    def _get_json(self, url: str) -> dict[str, Any]:
        with self._http.open(url, timeout=10) as reply:
            return dict(json.load(reply))

    def _post_form(self, url: str, form: Mapping[str, str]) -> dict[str, Any]:
        request = urllib.request.Request(url, data=urllib.parse.urlencode(form).encode(), method="POST")
        try:
            with self._http.open(request, timeout=10) as reply:
                return dict(json.load(reply))
        except urllib.error.HTTPError as error:
            raise OidcProviderError(f"{url}: {error.code} {error.read().decode(errors='replace')}") from error


@contextmanager
def running_oidc_provider(**options: Any) -> Iterator[OidcProvider]:
    """A started `OidcProvider`, stopped and its temp folder removed on exit (even on failure)."""
    provider = OidcProvider(**options)
    try:
        provider.start()
        yield provider
    finally:
        provider.close()
