"""The stack layer's :class:`AwsCalls`, over kubegate's own EKS and IAM APIs.

A provider's call is serialized by botocore exactly as an SDK would send it and decoded by the
API's own wire, so it meets the same validation, authorization (as the stack operation's caller)
and error messages as a request from the AWS CLI; only the HTTP and the signature are skipped,
because the caller was authenticated by the CloudFormation request that started the operation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import botocore.serialize
import botocore.session

from kubegate.api.aws_endpoint import AwsApi
from kubegate.api.awsproto.errors import AwsError
from kubegate.api.wire import RawRequest
from kubegate.domain import errors as domain
from kubegate.domain.caller import Caller, RequestFacts
from kubegate.service.stacks.calls import ServiceError

_session = botocore.session.get_session()


class ApiCalls:
    """Calls EKS and IAM operations as one caller, for one stack operation."""

    def __init__(self, apis: Mapping[str, AwsApi], caller: Caller, facts: RequestFacts,
                 clock: Callable[[], datetime]) -> None:
        self.apis = apis
        self.caller = caller
        self.facts = facts  # of the request that started the operation; each call gets its own time
        self.clock = clock

    def __call__(self, service: str, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        api = self.apis[service]
        try:
            model = _session.get_service_model(service)
            operation_model = model.operation_model(operation)
            raw = _raw_request(model.metadata["protocol"], operation_model, params)
            decoded_model, decoded = api.wire.decode(raw)
            if decoded_model.name != operation:
                raise RuntimeError(f"{service} {operation} decoded as {decoded_model.name}")
            return api.run(self.caller, operation, decoded, replace(self.facts, now=self.clock()))
        except domain.DomainError as exc:
            error = api.error_from(exc)
        except AwsError as exc:
            error = exc
        raise ServiceError(service, error.code, error.status or 400, error.message)


def _raw_request(protocol: str, operation_model: Any, params: dict[str, Any]) -> RawRequest:
    serializer = botocore.serialize.create_serializer(protocol, include_validation=False)
    request = serializer.serialize_to_request(params, operation_model)
    body = request["body"]
    if isinstance(body, dict):  # the query serializer leaves its form as a dict
        body = urlencode(body, doseq=True)
    if isinstance(body, str):
        body = body.encode("utf-8")
    query = request.get("query_string") or ""
    if isinstance(query, dict):
        query = urlencode(query, doseq=True)
    headers = {k.lower(): str(v) for k, v in request["headers"].items()}
    if protocol == "query":
        headers.setdefault("content-type", "application/x-www-form-urlencoded; charset=utf-8")
    return RawRequest(method=request["method"], raw_path=request["url_path"], raw_query=query,
                      headers=headers, body=body or b"", source_ip="")
