"""One interface over the two AWS wire protocols, so the endpoint treats EKS, IAM and STS alike.

restJson1 (EKS) routes by method and path; the query protocol (IAM, STS) by the Action
parameter of the query string or form body, and answers XML, or JSON when asked to
(aws-iam-authenticator asks STS for JSON).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qs

from botocore.model import OperationModel

from kubegate.api.awsproto.errors import AwsError
from kubegate.api.awsproto.query import QueryProtocol
from kubegate.api.awsproto.restjson import HttpResponse, RestJsonProtocol


@dataclass(frozen=True)
class RawRequest:
    method: str
    raw_path: str
    raw_query: str
    headers: dict[str, str]
    body: bytes
    source_ip: str = ""  # the TCP peer (aws:SourceIp); X-Forwarded-For is never believed


class Wire(Protocol):
    def decode(self, raw: RawRequest) -> tuple[OperationModel, dict[str, Any]]: ...
    def encode(self, operation: OperationModel, output: dict[str, Any], request_id: str, raw: RawRequest) -> HttpResponse: ...
    def encode_error(self, error: AwsError, request_id: str, raw: RawRequest | None) -> HttpResponse: ...


class RestJsonWire:
    def __init__(self, protocol: RestJsonProtocol) -> None:
        self.protocol = protocol

    def decode(self, raw: RawRequest) -> tuple[OperationModel, dict[str, Any]]:
        route = self.protocol.route(raw.method, raw.raw_path)
        return route.operation, self.protocol.parse(route, raw.raw_query, raw.headers, raw.body)

    def encode(self, operation: OperationModel, output: dict[str, Any], request_id: str, raw: RawRequest) -> HttpResponse:
        return self.protocol.serialize(operation, output, request_id=request_id)

    def encode_error(self, error: AwsError, request_id: str, raw: RawRequest | None) -> HttpResponse:
        return self.protocol.serialize_error(error, request_id=request_id)


def form_params(raw: RawRequest) -> dict[str, list[str]]:
    """Query string and, for form posts, the body: where query-protocol clients put parameters."""
    params = parse_qs(raw.raw_query, keep_blank_values=True)
    if raw.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        try:
            body = raw.body.decode("utf-8")
        except UnicodeDecodeError:
            raise AwsError("MalformedQueryString", "The request body is not valid UTF-8", status=400) from None
        for key, values in parse_qs(body, keep_blank_values=True).items():
            params.setdefault(key, []).extend(values)
    return params


def wants_json(raw: RawRequest | None) -> bool:
    return raw is not None and "application/json" in raw.headers.get("accept", "")


class QueryWire:
    def __init__(self, protocol: QueryProtocol) -> None:
        self.protocol = protocol

    def decode(self, raw: RawRequest) -> tuple[OperationModel, dict[str, Any]]:
        params = form_params(raw)
        operation = self.protocol.operation(params)
        return operation, self.protocol.parse(operation, params)

    def encode(self, operation: OperationModel, output: dict[str, Any], request_id: str, raw: RawRequest) -> HttpResponse:
        return self.protocol.serialize(operation, output, request_id=request_id, json=wants_json(raw))

    def encode_error(self, error: AwsError, request_id: str, raw: RawRequest | None) -> HttpResponse:
        return self.protocol.serialize_error(error, request_id=request_id, json=wants_json(raw))
