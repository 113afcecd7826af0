"""The one HTTPS endpoint that speaks the AWS protocols: EKS, IAM and STS.

Every request is read (bounded), SigV4-verified, routed by its credential scope's
service, decoded by that service's botocore model, authorized, handled and encoded. Any
failure becomes an AWS error in that service's wire format, never a stack trace.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from kubegate.api.awsproto.errors import AwsError
from kubegate.api.awsproto.restjson import HttpResponse
from kubegate.api.wire import RawRequest, Wire
from kubegate.domain import errors as domain
from kubegate.domain.caller import Caller
from kubegate.identity.access_keys import AccessKeys
from kubegate.identity.sigv4 import SigV4Error

MAX_BODY = 1024 * 1024
log = logging.getLogger("kubegate.api")
_SCOPE_SERVICE = re.compile(r"Credential=[^/,\s]+/\d{8}/[^/]+/([^/]+)/")

Run = Callable[[Caller, str, dict[str, Any], datetime], dict[str, Any]]


@dataclass(frozen=True)
class AwsApi:
    """One AWS service as kubegate serves it."""

    signing_name: str
    wire: Wire
    run: Run  # authorizes and performs one operation: (caller, operation, params, now) -> output
    error_codes: Mapping[type[domain.DomainError], tuple[str, int | None]]
    query_protocol: bool = False
    internal_error: str = "ServerException"

    def error_from(self, exc: domain.DomainError) -> AwsError:
        code, status = self.error_codes.get(type(exc), (self.internal_error, 500))
        fields = {"clusterName": exc.cluster_name} if exc.cluster_name and not self.query_protocol else None
        return AwsError(code, exc.message, status=status, fields=fields)


class BodyTooLarge(Exception):
    pass


async def read_request(request: Request) -> RawRequest:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise BodyTooLarge()
        chunks.append(chunk)
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    return RawRequest(
        method=request.method,
        raw_path=raw_path.decode("latin-1"),
        raw_query=request.scope.get("query_string", b"").decode("latin-1"),
        headers={k.decode("latin-1").lower(): v.decode("latin-1") for k, v in request.scope["headers"]},
        body=b"".join(chunks),
    )


class AwsEndpoint:
    def __init__(self, apis: list[AwsApi], keys: AccessKeys, clock: Callable[[], datetime]) -> None:
        self.apis = {api.signing_name: api for api in apis}
        self.keys = keys
        self.clock = clock

    async def endpoint(self, request: Request) -> Response:
        started = time.perf_counter()
        request_id = str(uuid.uuid4())
        operation, caller = "-", "-"
        try:
            raw = await read_request(request)
        except BodyTooLarge:
            error = AwsError("BadRequestException", f"The request body exceeds {MAX_BODY} bytes", status=400)
            reply = self.apis["eks"].wire.encode_error(error, request_id, None)
        else:
            reply, operation, caller = await run_in_threadpool(self.handle, raw, request_id)
        log.info(
            "%s %s %s caller=%s status=%d %.1fms",
            request.method, request.url.path, operation, caller, reply.status, (time.perf_counter() - started) * 1000,
        )
        return Response(reply.body, status_code=reply.status, headers=dict(reply.headers))

    def _api_for(self, raw: RawRequest) -> AwsApi:
        """Which service's wire format an answer takes, before the signature is trusted."""
        scope = _SCOPE_SERVICE.search(raw.headers.get("authorization", ""))
        service = scope.group(1) if scope else None
        if service is None:  # a presigned URL names its scope in the query string
            credential = parse_qs(raw.raw_query).get("X-Amz-Credential")
            service = credential[0].split("/")[3] if credential and credential[0].count("/") >= 4 else None
        if service in self.apis:
            return self.apis[service]
        return self.apis["sts"] if "Action=" in raw.raw_query or b"Action=" in raw.body[:4096] else self.apis["eks"]

    def handle(self, raw: RawRequest, request_id: str) -> tuple[HttpResponse, str, str]:
        api = self._api_for(raw)
        operation, who = "-", "-"
        try:
            now = self.clock()
            caller, service_name = self._authenticate(raw, now, api)
            who = caller.arn
            if service_name not in self.apis:
                raise AwsError("UnrecognizedClientException", f"kubegate does not serve the AWS service '{service_name}'",
                               status=400)
            api = self.apis[service_name]
            model, params = api.wire.decode(raw)
            operation = model.name
            output = api.run(caller, operation, params, now)
            return api.wire.encode(model, output, request_id, raw), operation, who
        except domain.DomainError as exc:
            error = api.error_from(exc)
        except AwsError as exc:
            error = exc
        except Exception:
            log.exception("request %s failed", request_id)
            error = AwsError(api.internal_error, f"An internal error occurred (request {request_id})", status=500,
                             sender_fault=False)
        return api.wire.encode_error(error, request_id, raw), operation, who

    def _authenticate(self, raw: RawRequest, now: datetime, api: AwsApi) -> tuple[Caller, str]:
        try:
            return self.keys.authenticate(
                method=raw.method, raw_path=raw.raw_path, raw_query=raw.raw_query,
                headers=raw.headers, body=raw.body, now=now,
            )
        except SigV4Error as exc:
            shown = exc.for_query_protocol() if api.query_protocol else exc
            raise AwsError(shown.code, shown.message, status=shown.status) from None
