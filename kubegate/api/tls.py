"""What the Kubernetes webhooks share: the verified TLS client certificate, and review parsing;
and the HTTP protocol that bounds how long a client may take to send a request.

uvicorn verifies a client certificate against kubegate's CA when one is presented, but
does not pass it on. This protocol hands each connection's verified subject and URI SANs
to the app as ``scope["extensions"]["tls"]`` so the webhooks can check which cluster's
kube-apiserver is calling: the certificate `kubegate webhook-config` issued names the
cluster (O=kubegate:webhook, CN=<cluster>) and carries the identity of that very cluster
and certificate generation (``Cluster.webhook_identity``), compared with the live
snapshot, so a re-created namesake or a `--rotate` leaves earlier certificates refused.

uvicorn's httptools protocol has no deadline for reading a request (only an idle timer
between requests) and no cap on header size: a client could open a connection and trickle
a request forever. Here each request (and a new connection's first one) must be read
whole within ``read_timeout`` seconds, or it is answered 408 and closed; a request whose
request line and headers exceed MAX_HEADER_BYTES is refused as malformed (400).
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any, NamedTuple

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from kubegate.api.webhook_routes import ASGIApp
from kubegate.engine.snapshot import ClusterSnapshot

REQUEST_READ_TIMEOUT = 30.0
MAX_HEADER_BYTES = 64 * 1024
_TIMED_OUT = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


class ClientCertificate(NamedTuple):
    subject: dict[str, str]
    uris: tuple[str, ...]  # URI subject alternative names


def _client_certificate(transport: asyncio.BaseTransport) -> ClientCertificate | None:
    ssl_object = transport.get_extra_info("ssl_object")
    if not isinstance(ssl_object, ssl.SSLObject):
        return None
    certificate = ssl_object.getpeercert()  # only verified certificates are returned (CERT_OPTIONAL)
    if not certificate:
        return None
    subject: dict[str, str] = {}
    for rdn in certificate.get("subject", ()):
        for attribute in rdn:
            subject[attribute[0]] = attribute[1]
    uris = tuple(str(name[1]) for name in certificate.get("subjectAltName", ()) if name[0] == "URI")
    return ClientCertificate(subject, uris)


class _WithClientCertificate:
    def __init__(self, app: ASGIApp, certificate: ClientCertificate | None) -> None:
        self.app = app
        self.tls = {"client_subject": certificate.subject if certificate else None,
                    "client_uris": certificate.uris if certificate else ()}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            scope.setdefault("extensions", {})["tls"] = self.tls
        await self.app(scope, receive, send)


class RequestTooLarge(Exception):
    """Request line and headers over MAX_HEADER_BYTES; httptools turns it into a parser error (400)."""


class ClientCertificateHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol (the fast one, with uvloop), handing on the client's certificate
    and holding each request to a read deadline and a header size cap."""

    read_timeout: float = REQUEST_READ_TIMEOUT

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.app = _WithClientCertificate(self.app, _client_certificate(transport))
        self._header_bytes = 0
        self._read_deadline: asyncio.TimerHandle | None = None
        self._arm_read_deadline()  # the first request must come in time too, not just later ones

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_read_deadline()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_bytes = 0
        self._arm_read_deadline()

    def on_url(self, url: bytes) -> None:
        self._count_header_bytes(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_header_bytes(len(name) + len(value))
        super().on_header(name, value)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._disarm_read_deadline()

    def _count_header_bytes(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > MAX_HEADER_BYTES:
            raise RequestTooLarge()

    def _arm_read_deadline(self) -> None:
        if self._read_deadline is None:
            self._read_deadline = self.loop.call_later(self.read_timeout, self._read_timed_out)

    def _disarm_read_deadline(self) -> None:
        if self._read_deadline is not None:
            self._read_deadline.cancel()
            self._read_deadline = None

    def _read_timed_out(self) -> None:
        """The request was not in whole in time: 408 if nothing was answered yet, and close either way
        (the app, if it was waiting for the body, is told the client disconnected)."""
        self._read_deadline = None
        if self.transport.is_closing():
            return
        if not self.pipeline and (self.cycle is None or not self.cycle.response_started):  # nothing in flight
            self.transport.write(_TIMED_OUT)
        self.transport.close()


def client_certificate_protocol(read_timeout: float = REQUEST_READ_TIMEOUT) -> type[ClientCertificateHttpToolsProtocol]:
    """The protocol class uvicorn should instantiate, with this read deadline."""
    return type("ClientCertificateHttpToolsProtocol", (ClientCertificateHttpToolsProtocol,),
                {"read_timeout": read_timeout})


def client_subject(scope: dict[str, Any]) -> dict[str, str] | None:
    subject: dict[str, str] | None = ((scope.get("extensions") or {}).get("tls") or {}).get("client_subject")
    return subject


WEBHOOK_ORGANIZATION = "kubegate:webhook"


def caller_is_cluster(scope: dict[str, Any], snapshot: ClusterSnapshot | None) -> bool:
    """Whether the connection presented a current certificate `kubegate webhook-config` issued for
    this very cluster: its name (subject), and the identity and generation the snapshot holds (URI SAN)."""
    if snapshot is None or not snapshot.webhook_identity:
        return False
    subject = client_subject(scope)
    if not subject or subject.get("commonName") != snapshot.name or subject.get("organizationName") != WEBHOOK_ORGANIZATION:
        return False
    return snapshot.webhook_identity in scope["extensions"]["tls"].get("client_uris", ())


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
