"""What a replica answers before it could load anything: it started while the database was down.

It knows no cluster, entry or key, so it decides nothing: TokenReviews are unauthenticated and
SubjectAccessReviews get no opinion, each with the reason; management calls get a 503 that SDKs
retry; ``/readyz`` says not ready; ``/healthz`` says the process lives. Meanwhile it keeps
trying to build the real app, and once that works it runs the real app's start-up (its sync
loop and listener) and hands every later request to it.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from typing import Any
from xml.sax.saxutils import escape

import orjson
from starlette.concurrency import run_in_threadpool

from kubegate.api.authz_webhook import SAR_VERSIONS, answer
from kubegate.api.token_webhook import TOKEN_REVIEW_VERSIONS, unauthenticated
from kubegate.api.webhook_routes import ASGIApp, Receive, Reply, Scope, Send, WebhookRoutes

log = logging.getLogger("kubegate")
RETRY_SECONDS = 1.0


class _Undecided:
    """A webhook that can only refuse: kubegate has nothing to decide with yet."""

    def __init__(self, refuse: Callable[[str], dict[str, Any]], reason: Callable[[], str]) -> None:
        self._refuse = refuse
        self._reason = reason

    async def handle(self, cluster: str, body: bytes, scope: Scope) -> Reply:
        return 200, self._refuse(f"kubegate is not ready: {self._reason()}")

    def failure(self, reason: str) -> dict[str, Any]:
        return self._refuse(reason)


class PendingApp:
    def __init__(self, build: Callable[[], ASGIApp], first_error: str) -> None:
        self._build = build
        self.reason = first_error
        self.inner: ASGIApp | None = None
        self._inner_lifespan: asyncio.Task[None] | None = None
        self._inner_shutdown = asyncio.Event()
        undecided = WebhookRoutes({
            "authenticate": _Undecided(lambda why: unauthenticated(TOKEN_REVIEW_VERSIONS[0], why)[1],
                                       lambda: self.reason),
            "authorize": _Undecided(lambda why: answer(SAR_VERSIONS[0], False, why)[1], lambda: self.reason),
        }, self._not_ready)
        self._waiting: ASGIApp = undecided

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif self.inner is not None:
            await self.inner(scope, receive, send)
        else:
            await self._waiting(scope, receive, send)

    async def _not_ready(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if path == "/healthz":
            status, body, kind = 200, b"ok", b"text/plain"
        elif path == "/readyz":
            status, kind = 503, b"application/json"
            body = orjson.dumps({"ready": False, "reason": self.reason})
        elif path == "/":  # IAM and STS speak the query protocol: an XML error, retryable
            status, kind = 503, b"text/xml"
            body = ("<ErrorResponse><Error><Type>Receiver</Type><Code>ServiceUnavailable</Code><Message>"
                    f"{escape(f'kubegate is not ready: {self.reason}')}</Message></Error>"
                    f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>").encode()
        else:  # EKS (restJson): AWS's retryable "try again"
            status, kind = 503, b"application/json"
            body = orjson.dumps({"__type": "ServiceUnavailableException",
                                 "message": f"kubegate is not ready: {self.reason}"})
        headers = [(b"content-type", kind), (b"x-amzn-errortype", b"ServiceUnavailableException")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        retrying = None
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                retrying = asyncio.create_task(self._keep_trying())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if retrying is not None:
                    retrying.cancel()
                if self._inner_lifespan is not None:
                    self._inner_shutdown.set()
                    await self._inner_lifespan
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _keep_trying(self) -> None:
        while self.inner is None:
            await asyncio.sleep(RETRY_SECONDS)
            try:
                inner = await run_in_threadpool(self._build)
            except Exception as exc:
                self.reason = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
                continue
            started = asyncio.Event()
            self._inner_lifespan = asyncio.create_task(self._run_lifespan(inner, started))
            await started.wait()
            self.inner = inner
            log.info("the database is reachable: kubegate is ready")

    async def _run_lifespan(self, inner: ASGIApp, started: asyncio.Event) -> None:
        """Drive the real app's ASGI lifespan: start-up now, shutdown when we are told."""
        messages: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        await messages.put({"type": "lifespan.startup"})

        async def receive() -> dict[str, Any]:
            return await messages.get()

        async def send(message: dict[str, Any]) -> None:
            if message["type"] in ("lifespan.startup.complete", "lifespan.startup.failed"):
                started.set()

        async def shutdown_when_told() -> None:
            await self._inner_shutdown.wait()
            await messages.put({"type": "lifespan.shutdown"})

        telling = asyncio.create_task(shutdown_when_told())
        try:
            await inner({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)
        finally:
            telling.cancel()
