"""The ASGI application: the Kubernetes webhooks on a short path of their own; health, insight
and the AWS endpoint for the rest, on Starlette."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from kubegate.api.authz_webhook import AuthorizationWebhook
from kubegate.api.aws_endpoint import AwsEndpoint
from kubegate.api.insight import Insight
from kubegate.api.token_webhook import TokenWebhook
from kubegate.api.webhook_routes import ASGIApp, WebhookRoutes

ALL_METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"]


def create_app(
    aws: AwsEndpoint,
    webhook: TokenWebhook,
    authorizer: AuthorizationWebhook,
    insight: Insight,
    *,
    lifespan: Callable[[Starlette], AbstractAsyncContextManager[Any]] | None = None,
) -> ASGIApp:
    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    rest = Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/kubegate/clusters/{name}/explain", insight.explain, methods=["GET"]),
            Route("/kubegate/clusters/{name}/who-can", insight.who_can, methods=["GET"]),
            Route("/{path:path}", aws.endpoint, methods=ALL_METHODS),
        ],
        lifespan=lifespan,
    )
    return WebhookRoutes({"authenticate": webhook, "authorize": authorizer}, rest)
