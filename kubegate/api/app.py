"""The ASGI application: health, then everything else to the AWS endpoint."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from kubegate.api.aws_endpoint import AwsEndpoint

ALL_METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"]


def create_app(aws: AwsEndpoint) -> Starlette:
    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    return Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/{path:path}", aws.endpoint, methods=ALL_METHODS),
        ]
    )
