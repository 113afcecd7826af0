"""The one HTTPS endpoint that speaks the AWS protocols: EKS, IAM and STS.

Every request is read (bounded), routed by its path (`/` is the query protocol's, IAM or
STS as the credential scope claims; every other path is EKS's restJson), SigV4-verified with a
scope that must name that service and its region, decoded by that service's botocore model,
authorized, handled and encoded. The one exception is `UNSIGNED_OPERATIONS`: STS's
AssumeRoleWithWebIdentity, which AWS serves unsigned (its ID token is the credential). Any
failure becomes an AWS error in that service's wire format, never a stack trace; the scope
never moves a request to another service's handler.
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
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from kubegate.api import metrics
from kubegate.api.awsproto.errors import AwsError
from kubegate.api.awsproto.restjson import HttpResponse
from kubegate.api.wire import RawRequest, Wire, form_params
from kubegate.domain import errors as domain
from kubegate.domain.caller import Caller, RequestFacts
from kubegate.store.database import Unavailable
from kubegate.identity.access_keys import AccessKeys
from kubegate.identity.sigv4 import SigV4Error, check_scope, parse_signature

MAX_BODY = 1024 * 1024
IAM_REGION = "us-east-1"
"""IAM is global: AWS's endpoint takes calls signed for us-east-1 only (the aws partition). kubegate
also takes its own region there, because an SDK sent to a custom endpoint (AWS_ENDPOINT_URL, as
`kubegate env` sets) signs IAM with the client's region."""
QUERY_SERVICES = ("sts", "iam", "cloudformation")  # the first answers a query-protocol request whose scope names none
log = logging.getLogger("kubegate.api")
_SCOPE_SERVICE = re.compile(r"Credential=[^/,\s]+/\d{8}/[^/]+/([^/]+)/")

Run = Callable[[Caller, str, dict[str, Any], RequestFacts], dict[str, Any]]

# The only operations a request without any signature reaches: (API, operation) pairs, as AWS
# serves them unsigned (botocore's models mark them "authtype": "none"). Such a request is
# handled as ANONYMOUS; any other unsigned request is authenticated, and refused, as before.
UNSIGNED_OPERATIONS = frozenset({("sts", "AssumeRoleWithWebIdentity")})
ANONYMOUS = Caller(arn="anonymous", user_id="anonymous", account="", principal_arn="anonymous")
"""The caller of an unsigned request: no account, no policies; never a principal of anything."""
_SIGNATURE_QUERY = ("x-amz-algorithm", "x-amz-credential", "x-amz-signature", "x-amz-security-token")


@dataclass(frozen=True)
class AwsApi:
    """One AWS service as kubegate serves it."""

    signing_name: str
    wire: Wire
    run: Run  # authorizes and performs one operation: (caller, operation, params, facts) -> output
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
        source_ip=request.client.host if request.client else "",
    )


class AwsEndpoint:
    def __init__(self, apis: list[AwsApi], keys: AccessKeys, clock: Callable[[], datetime], *, region: str) -> None:
        self.apis = {api.signing_name: api for api in apis}
        self.keys = keys
        self.clock = clock
        self.regions = {name: frozenset({region, IAM_REGION} if name == "iam" else {region}) for name in self.apis}
        self.region = region

    async def endpoint(self, request: Request) -> Response:
        started = time.perf_counter()
        request_id = str(uuid.uuid4())
        operation, caller = "-", "-"
        try:
            raw = await read_request(request)
        except BodyTooLarge:
            message = f"The request body exceeds {MAX_BODY} bytes"
            if request.scope.get("raw_path") == b"/":
                error = AwsError("RequestEntityTooLarge", message, status=413)
                service = QUERY_SERVICES[0]
            else:
                error = AwsError("BadRequestException", message, status=400)
                service = "eks"
            reply = self.apis[service].wire.encode_error(error, request_id, None)
            metrics.management_call(service, metrics.UNKNOWN, error.code)
        except ClientDisconnect:  # gone (or cut off by the read deadline) before the body was in
            log.info("%s %s: the client went away before its request was read", request.method, request.scope["path"])
            return Response(status_code=400)
        else:
            reply, operation, caller, (service, code) = await run_in_threadpool(self._handle, raw, request_id)
            # only ever a model operation of that service (or "-"), so labels stay bounded
            metrics.management_call(service, metrics.UNKNOWN if operation == "-" else operation, code)
        log.info(  # the scope's path: request.url would parse the client's Host header
            "%s %s %s caller=%s status=%d %.1fms",
            request.method, request.scope["path"], operation, caller, reply.status,
            (time.perf_counter() - started) * 1000,
        )
        return Response(reply.body, status_code=reply.status, headers=dict(reply.headers))

    def _api_for(self, raw: RawRequest) -> AwsApi:
        """The API a request's path belongs to, before the signature is trusted (and its wire format).

        EKS has no operation at `/`, where IAM and STS take theirs; of those two, the credential
        scope picks, and `_authenticate` then insists that the scope names the API chosen.
        """
        if raw.raw_path != "/":
            return self.apis["eks"]
        scope = _SCOPE_SERVICE.search(raw.headers.get("authorization", ""))
        service = scope.group(1) if scope else None
        if service is None:  # a presigned URL names its scope in the query string
            credential = parse_qs(raw.raw_query).get("X-Amz-Credential")
            service = credential[0].split("/")[3] if credential and credential[0].count("/") >= 4 else None
        return self.apis[service if service in QUERY_SERVICES else QUERY_SERVICES[0]]

    def handle(self, raw: RawRequest, request_id: str) -> tuple[HttpResponse, str, str]:
        """The reply, the operation ("-" if never decoded) and the caller's ARN ("-" if unauthenticated)."""
        reply, operation, who, _ = self._handle(raw, request_id)
        return reply, operation, who

    def _handle(self, raw: RawRequest, request_id: str) -> tuple[HttpResponse, str, str, tuple[str, str]]:
        """As `handle`, and the service and code ("OK" or the AWS error code) the metrics count."""
        api = self._api_for(raw)
        operation, who = "-", "-"
        try:
            now = self.clock()
            if self._unsigned_operation(raw, api):
                caller, region = ANONYMOUS, self.region
                model, params = api.wire.decode(raw)
                if (api.signing_name, model.name) not in UNSIGNED_OPERATIONS:  # cannot be: decode reads that Action
                    raise RuntimeError(f"an unsigned request decoded as {model.name}")
            else:
                caller, region = self._authenticate(raw, now, api)
                model, params = api.wire.decode(raw)
            who = caller.arn
            operation = model.name
            facts = RequestFacts(now=now, source_ip=raw.source_ip, region=region,
                                 user_agent=raw.headers.get("user-agent", ""))
            output = api.run(caller, operation, params, facts)
            return api.wire.encode(model, output, request_id, raw), operation, who, (api.signing_name, "OK")
        except domain.DomainError as exc:
            error = api.error_from(exc)
        except AwsError as exc:
            error = exc
        except Unavailable as exc:  # the database is unreachable: fail fast with a 503 that SDKs retry
            metrics.database_error("management")
            log.error("request %s: %s", request_id, exc)
            error = AwsError("ServiceUnavailable" if api.query_protocol else "ServiceUnavailableException",
                             f"kubegate cannot reach its database; try again (request {request_id})", status=503,
                             sender_fault=False)
        except Exception as exc:
            if who == "-":  # unauthenticated: one line, so anonymous callers cannot fill the log with traces
                log.error("request %s failed before authentication: %s", request_id, type(exc).__name__)
            else:
                log.exception("request %s failed", request_id)
            error = AwsError(api.internal_error, f"An internal error occurred (request {request_id})", status=500,
                             sender_fault=False)
        return api.wire.encode_error(error, request_id, raw), operation, who, (api.signing_name, error.code)

    @staticmethod
    def _unsigned_operation(raw: RawRequest, api: AwsApi) -> bool:
        """True only for a request that carries no signature at all (no Authorization header, no
        presigned X-Amz-* query parameter, no security token) and whose single Action is one of
        `UNSIGNED_OPERATIONS` of the API its path chose; every other request is authenticated."""
        if raw.headers.get("authorization") is not None or "x-amz-security-token" in raw.headers:
            return False
        if any(name.lower() in _SIGNATURE_QUERY for name in parse_qs(raw.raw_query, keep_blank_values=True)):
            return False
        try:
            actions = form_params(raw).get("Action") if api.query_protocol else None
        except AwsError:
            return False
        return actions is not None and len(actions) == 1 and (api.signing_name, actions[0]) in UNSIGNED_OPERATIONS

    def _authenticate(self, raw: RawRequest, now: datetime, api: AwsApi) -> tuple[Caller, str]:
        """The caller and the scope's region, once the scope names `api` in its region and the signature holds."""
        try:
            claims = parse_signature(raw.method, raw.raw_path, raw.raw_query, raw.headers)
            check_scope(claims, service=api.signing_name, regions=self.regions[api.signing_name])
            caller, _, region = self.keys.authenticate(
                method=raw.method, raw_path=raw.raw_path, raw_query=raw.raw_query,
                headers=raw.headers, body=raw.body, now=now,
            )
            return caller, region
        except SigV4Error as exc:
            shown = exc.for_query_protocol() if api.query_protocol else exc
            raise AwsError(shown.code, shown.message, status=shown.status) from None
