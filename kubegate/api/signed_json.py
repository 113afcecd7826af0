"""kubegate's own management calls (``/kubegate/...``): JSON, SigV4-signed for ``eks``.

They are management calls under the EKS API's rules: signed for ``eks`` in kubegate's region,
authenticated with the same keys and sessions, and authorized by the caller's IAM policies,
as EKS actions where they show or change what an EKS action would, and as ``kubegate:``
actions where EKS has none (the aws-auth edits). Every refusal is a JSON
``{"code", "message"}`` with a 4xx status, never a trace.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from kubegate.api.aws_apis import authorize_eks
from kubegate.api.aws_endpoint import MAX_BODY, BodyTooLarge, read_request
from kubegate.api.wire import RawRequest
from kubegate.domain.caller import Caller, RequestFacts
from kubegate.domain.condition_keys import NO_KEYS
from kubegate.domain.errors import AccessDenied, DomainError, InvalidRequest, ResourceInUse, ResourceNotFound
from kubegate.identity.access_keys import AccessKeys
from kubegate.identity.authorizer import Authorizer
from kubegate.identity.sigv4 import SigV4Error, check_scope, parse_signature
from kubegate.service.access import AccessService, utcnow

log = logging.getLogger("kubegate.api")


class BadQuery(Exception):
    pass


Handler = Callable[[Caller, RequestFacts, RawRequest], dict[str, Any]]

_STATUS = ((ResourceNotFound, 404, "ResourceNotFoundException"), (ResourceInUse, 409, "ResourceInUseException"),
           (InvalidRequest, 400, "InvalidRequestException"))


def error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status)


def json_body(raw: RawRequest) -> dict[str, Any]:
    """The request's JSON object; anything else is the caller's mistake."""
    try:
        body = json.loads(raw.body or b"{}")
    except ValueError:
        raise BadQuery("the request body is not JSON") from None
    if not isinstance(body, dict):
        raise BadQuery("the request body must be a JSON object")
    return body


class SignedJson:
    def __init__(self, keys: AccessKeys, authorizer: Authorizer, service: AccessService) -> None:
        self.keys = keys
        self.authorizer = authorizer
        self.service = service

    async def respond(self, request: Request, handle: Handler) -> Response:
        try:
            raw = await read_request(request)
        except BodyTooLarge:
            return error(413, "RequestEntityTooLarge", f"The request body exceeds {MAX_BODY} bytes")
        except ClientDisconnect:
            return Response(status_code=400)
        authenticated = False
        try:
            caller, facts = await run_in_threadpool(self.authenticate, raw)
            authenticated = True
            return JSONResponse(await run_in_threadpool(handle, caller, facts, raw))
        except SigV4Error as exc:
            return error(exc.status, exc.code, exc.message)
        except AccessDenied as exc:
            return error(403, "AccessDeniedException", exc.message)
        except DomainError as exc:
            for kind, status, code in _STATUS:
                if isinstance(exc, kind):
                    return error(status, code, exc.message)
            return error(400, "InvalidParameterException", exc.message)
        except BadQuery as exc:
            return error(400, "InvalidParameterException", str(exc))
        except Exception as exc:
            if not authenticated:  # unauthenticated: one line, so anonymous callers cannot fill the log with traces
                log.error("%s failed before authentication: %s", request.scope["path"], type(exc).__name__)
            else:
                log.exception("%s failed", request.scope["path"])
            return error(500, "ServerException", "An internal error occurred")

    def authenticate(self, raw: RawRequest) -> tuple[Caller, RequestFacts]:
        """The caller of a request signed for EKS in kubegate's region, and what the request says about it."""
        now = utcnow()
        check_scope(parse_signature(raw.method, raw.raw_path, raw.raw_query, raw.headers),
                    service="eks", regions=(self.service.region,))
        caller, _, region = self.keys.authenticate(method=raw.method, raw_path=raw.raw_path, raw_query=raw.raw_query,
                                                   headers=raw.headers, body=raw.body, now=now)
        return caller, RequestFacts(now=now, source_ip=raw.source_ip, region=region,
                                    user_agent=raw.headers.get("user-agent", ""))

    def check(self, caller: Caller, operation: str, cluster: str, facts: RequestFacts,
              params: dict[str, Any] | None = None) -> None:
        """Authorize an EKS ``operation`` exactly as the EKS API would."""
        authorize_eks(self.service, self.authorizer, caller, operation, {"clusterName": cluster, **(params or {})}, facts)

    def check_kubegate(self, caller: Caller, action: str, cluster: str, facts: RequestFacts) -> None:
        """A ``kubegate:`` action on the cluster's ARN (no service condition keys)."""
        self.authorizer.check(caller, f"kubegate:{action}", self.service.cluster_arn(cluster), facts, NO_KEYS)
