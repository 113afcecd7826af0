"""The ASGI application: the Kubernetes webhooks on a short path of their own; health, insight
and the AWS endpoint for the rest, on Starlette."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp as StarletteApp
from starlette.types import Receive, Scope, Send

from kubegate.api.authz_webhook import AuthorizationWebhook
from kubegate.api import metrics
from kubegate.api.aws_endpoint import AwsEndpoint
from kubegate.api.aws_auth_api import AwsAuthApi
from kubegate.api.insight import Insight
from kubegate.api.tls import caller_is_cluster, client_subject
from kubegate.api.token_webhook import TokenWebhook
from kubegate.api.webhook_routes import ASGIApp, WebhookRoutes
from kubegate.engine.registry import SnapshotRegistry



def _asgi(endpoint: Callable[[Request], Awaitable[Response]]) -> StarletteApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # a WebSocket: kubegate serves none
            await send({"type": "websocket.close", "code": 1008})
            return
        response = await endpoint(Request(scope, receive))
        await response(scope, receive, send)

    return app


def _cluster_certificate(scope: Scope, registry: SnapshotRegistry) -> bool:
    plain = dict(scope)
    subject = client_subject(plain) or {}
    return caller_is_cluster(plain, registry.snapshot(subject.get("commonName", "")))


def create_app(
    aws: AwsEndpoint,
    webhook: TokenWebhook,
    authorizer: AuthorizationWebhook,
    insight: Insight,
    aws_auth: AwsAuthApi,
    registry: SnapshotRegistry,
    *,
    metrics_need_certificate: bool = False,
    console: StarletteApp | None = None,
    lifespan: Callable[[Starlette], AbstractAsyncContextManager[Any]] | None = None,
) -> ASGIApp:
    async def healthz(request: Request) -> Response:
        """The process is alive and serving."""
        return PlainTextResponse("ok")

    async def readyz(request: Request) -> Response:
        """Whether this replica can answer: 200 while its snapshots are loaded, also when the
        database is unreachable (the webhooks keep answering from them; ``staleSince`` says
        since when); no secret, no signature needed."""
        health = registry.health()
        stale = health["staleSince"]
        return JSONResponse({"ready": True, "database": "reachable" if stale is None else "unreachable", **health})

    async def metrics_route(request: Request) -> Response:
        """Prometheus exposition; with ``metrics_need_certificate``, only for a caller presenting a current
        webhook client certificate of one of the clusters (what a kube-apiserver's scraper can hold)."""
        if metrics_need_certificate and not _cluster_certificate(request.scope, registry):
            return PlainTextResponse("a current kubegate webhook client certificate is required\n", status_code=403)
        return await metrics.metrics_endpoint(request)

    rest = Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics_route, methods=["GET"]),
            Route("/kubegate/clusters/{name}/explain", insight.explain, methods=["GET"]),
            Route("/kubegate/clusters/{name}/who-can", insight.who_can, methods=["GET"]),
            Route("/kubegate/clusters/{name}/identity-mappings", aws_auth.identity_mappings,
                  methods=["GET", "POST", "DELETE"]),
            Route("/kubegate/clusters/{name}/aws-auth/history", aws_auth.history, methods=["GET"]),
            Route("/kubegate/clusters/{name}/access-diff", aws_auth.access_diff, methods=["POST"]),
            Route("/kubegate/clusters/{name}/migration", aws_auth.migration, methods=["POST"]),
            *([Mount("/console", app=console)] if console is not None else []),
        ],
        lifespan=lifespan,
    )
    rest.router.default = _asgi(aws.endpoint)  # every other path, any bytes in it, is an AWS request
    return WebhookRoutes({"authenticate": webhook, "authorize": authorizer}, rest)
