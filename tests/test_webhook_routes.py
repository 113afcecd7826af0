"""The webhooks' ASGI front: what it routes, and that a webhook that raises fails closed.

A real webhook never raises on any input the other tests can send, so the failure path is
shown with a webhook written here to raise; everything else goes through the real server.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from kubegate.api.webhook_routes import WebhookRoutes


class Raising:
    async def handle(self, cluster: str, body: bytes, scope: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        raise RuntimeError("boom")

    def failure(self, reason: str) -> dict[str, Any]:
        return {"kind": "SubjectAccessReview", "status": {"allowed": False, "reason": reason}}


def call(app: WebhookRoutes, method: str, path: str, body: bytes = b"{}") -> tuple[int, bytes]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "headers": []}
    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


async def fallback(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 299, "headers": []})
    await send({"type": "http.response.body", "body": scope["path"].encode()})


def test_a_raising_webhook_fails_closed_without_a_trace() -> None:
    app = WebhookRoutes({"authorize": Raising()}, fallback)
    status, body = call(app, "POST", "/k8s/clusters/dev/authorize")
    review = json.loads(body)
    assert status == 500 and review["status"]["allowed"] is False
    assert "internal error" in review["status"]["reason"] and "boom" not in body.decode()


def test_only_webhook_posts_are_taken() -> None:
    app = WebhookRoutes({"authorize": Raising()}, fallback)
    for method, path in [("GET", "/k8s/clusters/dev/authorize"), ("POST", "/k8s/clusters/dev/other"),
                         ("POST", "/k8s/clusters//authorize"), ("POST", "/healthz")]:
        assert call(app, method, path) == (299, path.encode())
