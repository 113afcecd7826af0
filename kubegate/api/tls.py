"""What the Kubernetes webhooks share: the verified TLS client certificate, and review parsing.

uvicorn verifies a client certificate against kubegate's CA when one is presented, but
does not pass it on. This protocol hands each connection's verified subject to the app
as ``scope["extensions"]["tls"]["client_subject"]`` so the webhooks can check which
cluster's kube-apiserver is calling.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from kubegate.api.webhook_routes import ASGIApp


def _subject(transport: asyncio.BaseTransport) -> dict[str, str] | None:
    ssl_object = transport.get_extra_info("ssl_object")
    if not isinstance(ssl_object, ssl.SSLObject):
        return None
    certificate = ssl_object.getpeercert()  # only verified certificates are returned (CERT_OPTIONAL)
    if not certificate:
        return None
    subject: dict[str, str] = {}
    for rdn in certificate.get("subject", ()):
        for key, value in rdn:
            subject[key] = value
    return subject


class _WithClientSubject:
    def __init__(self, app: ASGIApp, subject: dict[str, str] | None) -> None:
        self.app = app
        self.subject = subject

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            scope.setdefault("extensions", {})["tls"] = {"client_subject": self.subject}
        await self.app(scope, receive, send)


class ClientCertificateHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol (the fast one, with uvloop), handing on the client's certificate."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.app = _WithClientSubject(self.app, _subject(transport))


def client_subject(scope: dict[str, Any]) -> dict[str, str] | None:
    return (scope.get("extensions") or {}).get("tls", {}).get("client_subject")


WEBHOOK_ORGANIZATION = "kubegate:webhook"


def caller_is_cluster(scope: dict[str, Any], cluster: str) -> bool:
    """Whether the connection presented the certificate `kubegate webhook-config` issued for ``cluster``."""
    subject = client_subject(scope)
    return bool(subject) and subject.get("commonName") == cluster and subject.get("organizationName") == WEBHOOK_ORGANIZATION


def load_review(body: bytes, kind: str, versions: tuple[str, ...]) -> tuple[str, dict[str, Any]]:
    """The apiVersion and spec of a Kubernetes review object, or ValueError saying what is wrong.

    Both webhooks read their bodies this way, so a malformed review gets the same clear
    400 whichever one it was sent to.
    """
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ValueError(f"expected a request body to be a {kind} (invalid JSON)") from None
    if not isinstance(document, dict) or document.get("kind") != kind:
        raise ValueError(f"expected a request body to be a {kind}")
    api_version = document.get("apiVersion")
    if api_version not in versions:
        raise ValueError(f"unsupported {kind} apiVersion {api_version!r}; use {' or '.join(versions)}")
    spec = document.get("spec")
    if not isinstance(spec, dict):
        raise ValueError(f"{kind} spec must be an object")
    return api_version, spec
