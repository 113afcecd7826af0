"""What every kubegate client of a cluster's own Kubernetes API shares: how to connect, how to read errors.

AwsAuthWatcher reads ``kube-system/aws-auth`` and ConfigMapClient writes it. Both must trust the
cluster's certificate authority the same way, send a fresh bearer token on every request and turn
an error answer into a sentence a user can act on, so that logic lives here once.
"""

from __future__ import annotations

import base64
import ssl
from collections.abc import Callable, Generator, Mapping
from typing import Any

import httpx

CONFIGMAPS = "/api/v1/namespaces/kube-system/configmaps"
NAME = "aws-auth"


def new_client(*, server: str, certificate_authority: str | None, token: str | Callable[[], str],
               timeout: float) -> httpx.Client:
    """``certificate_authority`` is base64 of a PEM bundle, as kubeconfig's certificate-authority-data
    and EKS's certificateAuthority.data carry it; None trusts the system store. A bad bundle raises
    ValueError or ssl.SSLError here, at construction, rather than on the first request."""
    verify: ssl.SSLContext | bool = True
    if certificate_authority is not None:
        pem = base64.b64decode(certificate_authority, validate=True).decode("ascii")
        verify = ssl.create_default_context(cadata=pem)
    return httpx.Client(base_url=server.rstrip("/"), verify=verify, timeout=timeout, auth=BearerAuth(token),
                        headers={"Accept": "application/json"})


class BearerAuth(httpx.Auth):
    """EKS tokens live 15 minutes and projected service-account tokens about an hour, so a
    client that runs for days needs a fresh one per request: ``token`` may be a provider."""

    def __init__(self, token: str | Callable[[], str]) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self._token() if callable(self._token) else self._token
        request.headers["Authorization"] = f"Bearer {token}"
        yield request


def status_text(status: Mapping[str, Any]) -> str:
    """The human part of a ``Status`` object: its message, else its reason."""
    return str(status.get("message") or status.get("reason") or status)


def response_detail(response: httpx.Response) -> str:
    """The Status message of an error answer, or the start of its body when it is no Status
    (a load balancer's HTML page, say), so the user sees what actually came back."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        return status_text(body)
    return response.text.strip()[:200] or response.reason_phrase


def transport_text(exc: Exception, server: str) -> str:
    """For errors below HTTP (refused, reset, TLS, timeout): where we tried, and what failed."""
    return f"cannot talk to the API server at {server}: {type(exc).__name__}: {exc}"
