"""The one HTTPS endpoint that speaks the AWS protocols (EKS now; IAM and STS next).

Every request is read (bounded), SigV4-verified, routed by the credential scope's
service, parsed by that service's botocore model, handled, and serialized. Any failure
becomes an AWS error in the caller's wire format, never a stack trace.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import botocore.session
from botocore.model import StructureShape
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from kubegate.api.awsproto.errors import AwsError
from kubegate.api.awsproto.restjson import HttpResponse, RestJsonProtocol
from kubegate.api.eks import EksPresenter, Handler, handlers
from kubegate.domain import errors as domain
from kubegate.domain.caller import Caller
from kubegate.identity.access_keys import AccessKeys
from kubegate.identity.sigv4 import SigV4Error
from kubegate.service.access import AccessService

MAX_BODY = 1024 * 1024
log = logging.getLogger("kubegate.api")

_DOMAIN_CODES: dict[type[domain.DomainError], str] = {
    domain.InvalidParameter: "InvalidParameterException",
    domain.InvalidRequest: "InvalidRequestException",
    domain.ResourceNotFound: "ResourceNotFoundException",
    domain.ResourceInUse: "ResourceInUseException",
    domain.ResourceLimitExceeded: "ResourceLimitExceededException",
    domain.BadRequest: "BadRequestException",
    domain.NotFound: "NotFoundException",
}


def aws_error_from(exc: domain.DomainError) -> AwsError:
    fields = {"clusterName": exc.cluster_name} if exc.cluster_name else None
    return AwsError(_DOMAIN_CODES[type(exc)], exc.message, fields=fields)


@dataclass(frozen=True)
class RawRequest:
    method: str
    raw_path: str
    raw_query: str
    headers: dict[str, str]
    body: bytes


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
    def __init__(self, service: AccessService, keys: AccessKeys, clock: Callable[[], datetime]) -> None:
        self.service = service
        self.keys = keys
        self.clock = clock
        model = botocore.session.get_session().get_service_model("eks")
        self.eks = RestJsonProtocol(model)
        cluster_shape = model.shape_for("Cluster")
        assert isinstance(cluster_shape, StructureShape)
        self.eks_handlers: dict[str, Handler] = handlers(EksPresenter(cluster_shape))

    async def endpoint(self, request: Request) -> Response:
        started = time.perf_counter()
        request_id = str(uuid.uuid4())
        operation, caller = "-", "-"
        try:
            raw = await read_request(request)
        except BodyTooLarge:
            reply = self.eks.serialize_error(
                AwsError("BadRequestException", f"The request body exceeds {MAX_BODY} bytes", status=400),
                request_id=request_id,
            )
        else:
            reply, operation, caller = await run_in_threadpool(self.handle, raw, request_id)
        log.info(
            "%s %s %s caller=%s status=%d %.1fms",
            request.method, request.url.path, operation, caller, reply.status, (time.perf_counter() - started) * 1000,
        )
        return Response(reply.body, status_code=reply.status, headers=dict(reply.headers))

    def handle(self, raw: RawRequest, request_id: str) -> tuple[HttpResponse, str, str]:
        operation, who = "-", "-"
        try:
            now = self.clock()
            caller, service_name = self._authenticate(raw, now)
            who = caller.arn
            if service_name != "eks":
                raise AwsError(
                    "UnrecognizedClientException",
                    f"kubegate does not serve the AWS service '{service_name}' yet", status=400,
                )
            route = self.eks.route(raw.method, raw.raw_path)
            operation = route.operation.name
            handler = self.eks_handlers.get(operation)
            if handler is None:
                raise AwsError("InvalidRequestException", f"kubegate does not implement the EKS operation {operation}")
            params = self.eks.parse(route, raw.raw_query, raw.headers, raw.body)
            output = handler(self.service, caller, params, now)
            return self.eks.serialize(route.operation, output, request_id=request_id), operation, who
        except domain.DomainError as exc:
            error = aws_error_from(exc)
        except AwsError as exc:
            error = exc
        except Exception:
            log.exception("request %s failed", request_id)
            error = AwsError("ServerException", f"An internal error occurred (request {request_id})", status=500)
        return self.eks.serialize_error(error, request_id=request_id), operation, who

    def _authenticate(self, raw: RawRequest, now: datetime) -> tuple[Caller, str]:
        try:
            return self.keys.authenticate(
                method=raw.method, raw_path=raw.raw_path, raw_query=raw.raw_query,
                headers=raw.headers, body=raw.body, now=now,
            )
        except SigV4Error as exc:
            raise AwsError(exc.code, exc.message, status=exc.status) from None
