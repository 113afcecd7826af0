"""The Kubernetes webhooks as plain ASGI, in front of the Starlette app that serves the rest.

A kube-apiserver calls the webhooks on (nearly) every request it serves, so their path is
kept short: no router, Request or Response objects, one JSON encode per answer. Measured
in-process, Starlette's routing and request/response layers cost more than the whole
access-policy decision. Everything else (the AWS APIs, insight, health, lifespan) goes to
the Starlette app untouched.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

import orjson

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

Reply = tuple[int, dict[str, Any]]
"""An HTTP status and the review object to answer with."""


class Webhook(Protocol):
    async def handle(self, cluster: str, body: bytes, scope: Scope) -> Reply:
        """The reply to one review; bodies over MAX_REVIEW never get here."""

    def failure(self, reason: str) -> dict[str, Any]:
        """The fail-closed review (unauthenticated, no opinion) for a request kubegate could not handle."""


MAX_REVIEW = 64 * 1024
PREFIX = "/k8s/clusters/"
_JSON = [(b"content-type", b"application/json")]
log = logging.getLogger("kubegate.webhooks")


class TooLarge(Exception):
    """A body over MAX_REVIEW: refused while reading, before it is all in memory."""


class WebhookRoutes:
    """``POST /k8s/clusters/{name}/{action}`` to the webhook for action; anything else to ``fallback``.

    A webhook that raises fails closed: a 500 carrying its failure review, the trace in
    kubegate's log only.
    """

    def __init__(self, webhooks: Mapping[str, Webhook], fallback: ASGIApp) -> None:
        self.webhooks = dict(webhooks)
        self.fallback = fallback

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self._route(scope)
        if route is None:
            await self.fallback(scope, receive, send)
            return
        cluster, webhook = route
        try:
            body = await _read_body(receive)
        except TooLarge:
            await _reply(send, 400, webhook.failure(f"request body over {MAX_REVIEW} bytes"))
            return
        if body is None:  # the client went away
            return
        try:
            status, review = await webhook.handle(cluster, body, scope)
        except Exception:
            log.exception("webhook %s for cluster %s failed", scope["path"], cluster)
            status, review = 500, webhook.failure("internal error in kubegate; see its log")
        await _reply(send, status, review)

    def _route(self, scope: Scope) -> tuple[str, Webhook] | None:
        if scope["type"] != "http" or scope["method"] != "POST":
            return None
        path: str = scope["path"]
        if not path.startswith(PREFIX):
            return None
        cluster, _, action = path[len(PREFIX):].partition("/")
        webhook = self.webhooks.get(action)
        if not cluster or webhook is None:
            return None
        return cluster, webhook


async def _read_body(receive: Receive) -> bytes | None:
    """The whole body, or None if the client disconnected first."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_REVIEW:
            raise TooLarge()
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _reply(send: Send, status: int, review: dict[str, Any]) -> None:
    body = orjson.dumps(review)
    headers = [*_JSON, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
