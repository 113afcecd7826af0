"""restJson1, server side, driven entirely by a botocore service model.

The model that boto3 uses to *build* a request is the only source of truth here: routes,
member locations, types and constraints all come from it, so a new operation needs no
protocol code and a request that botocore can produce is, by construction, one we accept.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import csv
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import formatdate, parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, unquote

from botocore.model import OperationModel, ServiceModel, Shape

from kubegate.api.awsproto.constraints import constrain, violation
from kubegate.api.awsproto.errors import AwsError

_MISSING: Any = object()  # member not sent
_INVALID: Any = object()  # member sent but unusable; its error is already recorded
_BODY: Any = object()  # member lives in the JSON body, not in the URI/query/headers
_INT_TEXT = re.compile(r"[+-]?[0-9]+")
_FLOAT_TEXT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
_SPECIAL_FLOATS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")  # cheap test before the exact one
_JSON_TYPES: dict[str, type | tuple[type, ...]] = {
    "string": str, "integer": int, "long": int, "boolean": bool, "double": (int, float),
    "float": (int, float), "timestamp": (int, float, str), "blob": str,
    "list": list, "map": dict, "structure": dict,
}


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


@dataclass(frozen=True)
class Route:
    operation: OperationModel
    labels: dict[str, str]


@dataclass(frozen=True)
class _Pattern:
    """One operation's requestUri, split into ('lit'|'label'|'greedy', text) segments."""

    operation: OperationModel
    method: str
    segments: tuple[tuple[str, str], ...]

    @property
    def rank(self) -> tuple[int, bool]:
        """More literal segments wins; at equal count a greedy label loses to plain ones."""
        kinds = [kind for kind, _ in self.segments]
        return kinds.count("lit"), "greedy" not in kinds


def _compile_uri(operation: OperationModel) -> _Pattern:
    path = operation.http["requestUri"].split("?", 1)[0]
    segments = []
    for part in path.split("/")[1:]:
        label = re.fullmatch(r"\{([^}]+?)(\+?)\}", part)
        if label is None:
            segments.append(("lit", part))
        else:
            segments.append(("greedy" if label.group(2) else "label", label.group(1)))
    return _Pattern(operation, operation.http.get("method", "POST").upper(), tuple(segments))


def _match(segments: tuple[tuple[str, str], ...], parts: list[str]) -> dict[str, str] | None:
    """Match still-encoded segments, so an encoded '/' (%2F) never splits a label."""
    if not segments:
        return {} if not parts else None
    (kind, text), rest = segments[0], segments[1:]
    if kind == "greedy":
        for end in range(len(parts), 0, -1):
            tail = _match(rest, parts[end:])
            if tail is not None and any(parts[:end]):
                return {text: "/".join(parts[:end]), **tail}
        return None
    if not parts or (kind == "lit" and unquote(parts[0]) != text) or (kind == "label" and not parts[0]):
        return None
    tail = _match(rest, parts[1:])
    return None if tail is None else ({text: parts[0], **tail} if kind == "label" else tail)


def _decode(raw: str) -> str:
    try:
        return unquote(raw, errors="strict")
    except UnicodeDecodeError:
        raise AwsError("SerializationException", "Request path is not valid percent-encoded UTF-8", status=400)


def _has_lone_surrogate(document: Any) -> bool:
    """JSON may escape half a surrogate pair (\\ud800); Python keeps it, and no store or log can encode it."""
    try:
        json.dumps(document, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _has_type(value: Any, kind: str) -> bool:
    """Is this JSON value of the model's type? (bool is an int to Python, never to AWS.)"""
    return isinstance(value, _JSON_TYPES.get(kind, object)) and (kind == "boolean" or not isinstance(value, bool))


def _timestamp_from_text(text: str) -> datetime:
    """Accept all three wire formats (epoch, ISO 8601, RFC 822) whatever the trait says."""
    try:
        return datetime.fromtimestamp(float(text), tz=timezone.utc)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        try:
            parsed = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            raise ValueError(text) from None
    return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)


def _scalar(shape: Shape, value: Any) -> Any:
    """Convert one JSON or text value to the Python type boto3 callers use; ValueError if wrong."""
    kind, is_text = shape.type_name, isinstance(value, str)
    if kind == "string":
        if shape.serialization.get("jsonvalue") and shape.serialization.get("location") == "header":
            return json.loads(base64.b64decode(value))
        return value
    if kind in ("integer", "long"):
        bound = 2**31 if kind == "integer" else 2**63  # what the service's Java ints would hold
        if (is_text and not _INT_TEXT.fullmatch(value)) or not -bound <= int(value) < bound:
            raise ValueError(value)
        return int(value)
    if kind == "boolean":
        return value if not is_text else {"true": True, "false": False}[value]
    if kind in ("double", "float"):
        if is_text and value in _SPECIAL_FLOATS:
            return _SPECIAL_FLOATS[value]
        if is_text and not _FLOAT_TEXT.fullmatch(value):
            raise ValueError(value)
        return float(value)
    if kind == "timestamp":
        return _timestamp_from_text(value) if is_text else datetime.fromtimestamp(value, tz=timezone.utc)
    if kind == "blob":
        return base64.b64decode(value, validate=True)
    raise ValueError(f"unsupported shape type {kind}")


def _convert(shape: Shape, value: Any, path: str, errors: list[str], *, text: bool = False) -> Any:
    """Convert and validate one value: JSON, or (``text``) strings from the URI, query or headers.

    Returns _INVALID after recording the error, so callers can skip the member without
    also reporting it as missing.
    """
    kind = shape.type_name
    if kind == "structure" and shape.is_document_type:
        return value
    if not _has_type(value, "string" if text and kind not in ("list", "map") else kind):
        errors.append(violation(value, path, f"Member must be of type {kind}"))
        return _INVALID
    if kind == "structure":
        def read(name: str, member: Shape, at: str) -> Any:
            raw = value.get(member.serialization.get("name", name))
            return _MISSING if raw is None else _convert(member, raw, at, errors)
        return _structure(shape, read, path, errors)
    if kind == "list":
        out: Any = [_item(shape.member, item, f"{path}.member", errors, text) for item in value]
    elif kind == "map":
        out = {
            _item(shape.key, k, f"{path}.key", errors, True): _item(shape.value, v, f"{path}.value", errors, text)
            for k, v in value.items()
        }
    else:
        try:
            out = _scalar(shape, value)
        except (ValueError, KeyError, TypeError, OverflowError, OSError, RecursionError, binascii.Error):
            errors.append(violation(value, path, f"Member must be of type {kind}"))
            return _INVALID
    constrain(shape, out, path, errors)
    return out


def _item(shape: Shape, value: Any, path: str, errors: list[str], text: bool) -> Any:
    """A list item or map entry: null is an error there, not an absent member."""
    if value is None:
        errors.append(violation(None, path, "Member must not be null"))
        return None
    return _convert(shape, value, path, errors, text=text)


def _structure(
    shape: Shape, read: Callable[[str, Shape, str], Any], path: str, errors: list[str],
) -> dict[str, Any]:
    """Collect members via ``read`` (which converts, or says _MISSING), then check required/union."""
    out: dict[str, Any] = {}
    prefix = f"{path}." if path else ""
    for name, member in shape.members.items():
        value = read(name, member, prefix + name)
        if value is _MISSING and name in shape.required_members:
            errors.append(violation(None, prefix + name, "Member must not be null"))
        elif value is not _MISSING and value is not _INVALID:
            out[name] = value
    if shape.is_tagged_union and len(out) != 1:
        errors.append(violation(None, path or shape.name, "Member must have exactly one member set"))
    return out


def _split_header_list(value: str) -> list[str]:
    """Header lists are comma-joined; botocore quotes items containing ',' or '"'."""
    reader = csv.reader([value], escapechar="\\", doublequote=False, skipinitialspace=True)
    return [item.strip() for item in next(reader)]


def _timestamp_out(value: Any, fmt: str) -> Any:
    """Serialize a datetime (naive means UTC) or epoch number in the member's timestampFormat."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = datetime.fromtimestamp(value, tz=timezone.utc)
    if not isinstance(value, datetime):
        raise TypeError(f"timestamp must be a datetime, got {type(value).__name__}")
    utc = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    seconds = calendar.timegm(utc.timetuple())
    if fmt == "iso8601":
        fraction = f".{utc.microsecond:06d}" if utc.microsecond else ""
        return utc.strftime("%Y-%m-%dT%H:%M:%S") + fraction + "Z"
    if fmt == "rfc822":
        return formatdate(seconds, usegmt=True)
    return seconds if not utc.microsecond else (seconds * 1_000_000 + utc.microsecond) / 1_000_000


def _to_json(shape: Shape, value: Any, path: str) -> Any:
    """Render handler output strictly by the model, so an off-model field fails loudly."""
    kind = shape.type_name
    if kind == "structure":
        return value if shape.is_document_type else _struct_to_json(shape, value, path)
    if kind == "list":
        return [_to_json(shape.member, item, f"{path}.member") for item in value]
    if kind == "map":
        return {k: _to_json(shape.value, v, f"{path}.{k}") for k, v in value.items() if v is not None}
    if kind == "timestamp":
        return _timestamp_out(value, shape.serialization.get("timestampFormat", "unixtimestamp").lower())
    if kind == "blob":
        return base64.b64encode(value).decode("ascii")
    if not _has_type(value, kind):
        raise TypeError(f"{path}: expected {kind}, got {type(value).__name__}")
    if kind in ("double", "float") and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


def _struct_to_json(shape: Shape, value: Mapping[str, Any], path: str) -> dict[str, Any]:
    unknown = [key for key in value if key not in shape.members]
    if unknown:
        raise ValueError(f"{', '.join(f'{path}.{k}' if path else k for k in unknown)} not a member of {shape.name}")
    return {
        member.serialization.get("name", name): _to_json(member, value[name], f"{path}.{name}" if path else name)
        for name, member in shape.members.items()
        if value.get(name) is not None
    }


def _header_out(shape: Shape, value: Any) -> str:
    kind = shape.type_name
    if kind == "timestamp":
        return str(_timestamp_out(value, shape.serialization.get("timestampFormat", "rfc822").lower()))
    if kind == "boolean":
        return "true" if value else "false"
    if kind == "list":
        items = [_header_out(shape.member, item) for item in value]
        return ",".join('"' + i.replace('"', '\\"') + '"' if ("," in i or '"' in i) else i for i in items)
    if kind == "blob":
        return base64.b64encode(value).decode("ascii")
    if shape.serialization.get("jsonvalue"):
        return base64.b64encode(json.dumps(value, separators=(",", ":")).encode()).decode("ascii")
    return str(value)


class RestJsonProtocol:
    """Route, parse, and serialize restJson1 for any botocore rest-json service model."""

    def __init__(
        self, service_model: ServiceModel, *, validation_error_code: str = "InvalidParameterException",
    ) -> None:
        self.service_model = service_model
        self.validation_error_code = validation_error_code
        patterns = [_compile_uri(service_model.operation_model(name)) for name in service_model.operation_names]
        self._patterns = sorted(patterns, key=lambda p: p.rank, reverse=True)
        # Each segment takes one part of the path, a greedy label one or more: a pattern can only
        # match a path of exactly (at least, if greedy) its segment count, so the others are skipped.
        self._sized = [(p, len(p.segments), any(kind == "greedy" for kind, _ in p.segments)) for p in self._patterns]
        self._error_status: dict[str, int] = {}
        for shape in service_model.error_shapes:
            error = shape.metadata.get("error", {})
            for code in (shape.name, error.get("code")):
                if code and "httpStatusCode" in error:
                    self._error_status.setdefault(code, int(error["httpStatusCode"]))

    def route(self, method: str, raw_path: str) -> Route:
        parts = raw_path.split("/")[1:]
        path_matched = False
        count = len(parts)
        for pattern, size, greedy in self._sized if raw_path.startswith("/") else []:
            if size != count and not (greedy and count > size):
                continue
            labels = _match(pattern.segments, parts)
            if labels is None:
                continue
            if pattern.method == method.upper():
                return Route(pattern.operation, {name: _decode(raw) for name, raw in labels.items()})
            path_matched = True
        detail = " (method not allowed on this path)" if path_matched else ""
        raise AwsError("UnknownOperationException", f"Unknown operation {method} {raw_path}{detail}", status=404)

    def parse(self, route: Route, query_string: str, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
        shape = route.operation.input_shape
        if shape is None:
            return {}
        errors: list[str] = []
        query: dict[str, list[str]] = {}
        for key, value in parse_qsl(query_string, keep_blank_values=True):
            query.setdefault(key, []).append(value)
        lowered = {name.lower(): value for name, value in headers.items()}
        document = self._load_body(shape, body)
        payload = shape.serialization.get("payload")

        def read(name: str, member: Shape, path: str) -> Any:
            if name == payload and member.type_name in ("blob", "string"):
                if not body:
                    return _MISSING
                return body if member.type_name == "blob" else body.decode("utf-8", "replace")
            raw = self._raw_member(shape, name, member, route.labels, query, lowered)
            if raw is not _BODY:
                return _MISSING if raw is None else _convert(member, raw, path, errors, text=True)
            if name == payload:
                return _convert(member, document, path, errors) if body.strip() else _MISSING
            raw = document.get(member.serialization.get("name", name))
            return _MISSING if raw is None else _convert(member, raw, path, errors)

        params = _structure(shape, read, "", errors)
        if errors:
            count = f"{len(errors)} validation error{'s' if len(errors) > 1 else ''} detected: "
            raise AwsError(self.validation_error_code, count + "; ".join(errors))
        return params

    @staticmethod
    def _raw_member(
        shape: Shape, name: str, member: Shape, labels: Mapping[str, str],
        query: Mapping[str, list[str]], headers: Mapping[str, str],
    ) -> Any:
        """The still-textual value of a URI/query/header member (None if absent); _BODY otherwise."""
        location, wire = member.serialization.get("location"), member.serialization.get("name", name)
        raw: Any = None
        if location == "uri":
            raw = labels.get(wire)
        elif location == "querystring" and member.type_name == "map":
            named = {m.serialization.get("name", n) for n, m in shape.members.items()
                     if m.serialization.get("location") == "querystring" and m.type_name != "map"}
            as_list = member.value.type_name == "list"
            raw = {k: v if as_list else v[0] for k, v in query.items() if k not in named} or None
        elif location == "querystring":
            raw = query.get(wire)
            raw = raw if raw is None or member.type_name == "list" else raw[0]
        elif location == "header":
            raw = headers.get(wire.lower())
            raw = raw if raw is None or member.type_name != "list" else _split_header_list(raw)
        elif location == "headers":
            prefix = wire.lower()
            raw = {k[len(prefix):]: v for k, v in headers.items() if k.startswith(prefix)} or None
        else:
            return _BODY
        return raw

    @staticmethod
    def _load_body(shape: Shape, body: bytes) -> dict[str, Any]:
        """Decode the JSON body only when some member lives there; empty means {}."""
        payload = shape.serialization.get("payload")
        if payload is not None and shape.members[payload].type_name in ("blob", "string"):
            return {}
        if payload is None and all("location" in m.serialization for m in shape.members.values()):
            return {}
        if not body.strip():
            return {}
        try:
            document = json.loads(body)
            lone_surrogate = _SURROGATE_ESCAPE.search(body) is not None and _has_lone_surrogate(document)
        except (ValueError, UnicodeDecodeError) as exc:
            raise AwsError("SerializationException", f"Request body is not valid JSON: {exc}", status=400) from None
        except RecursionError:  # [[[[… deeper than the decoder's recursion: no model nests that far
            raise AwsError("SerializationException", "Request body is nested too deeply", status=400) from None
        if lone_surrogate:
            raise AwsError("SerializationException", "Request body has a \\u escape of a lone surrogate, "
                           "which is not a Unicode character", status=400)
        if not isinstance(document, dict):
            raise AwsError("SerializationException", "Request body must be a JSON object", status=400)
        return document

    def serialize(self, operation: OperationModel, output: Mapping[str, Any], *, request_id: str) -> HttpResponse:
        status = int(operation.http.get("responseCode", 200))
        headers = [("Content-Type", "application/json"), ("x-amzn-RequestId", request_id)]
        shape = operation.output_shape
        unknown = [key for key in output if shape is None or key not in shape.members]
        if unknown:
            raise ValueError(f"{', '.join(unknown)} not a member of {operation.name}'s output")
        if shape is None:
            return HttpResponse(status, headers, b"{}")
        payload = shape.serialization.get("payload")
        body_values: dict[str, Any] = {}
        body: bytes | None = None
        for name, value in output.items():
            member = shape.members[name]
            location, wire = member.serialization.get("location"), member.serialization.get("name", name)
            if value is None:
                continue
            if location == "statusCode":
                status = int(value)
            elif location == "header":
                headers.append((wire, _header_out(member, value)))
            elif location == "headers":
                headers.extend((wire + key, str(item)) for key, item in value.items())
            elif name == payload and member.type_name in ("blob", "string"):
                body = value if isinstance(value, bytes) else str(value).encode("utf-8")
                headers[0] = ("Content-Type", "application/octet-stream")
            elif name == payload:
                body = json.dumps(_to_json(member, value, name)).encode("utf-8")
            else:
                body_values[name] = value
        if body is None:
            body = json.dumps(_struct_to_json(shape, body_values, "")).encode("utf-8")
        return HttpResponse(status, headers, body)

    def serialize_error(self, error: AwsError, *, request_id: str) -> HttpResponse:
        status = error.status or self._error_status.get(error.code, 400)
        headers = [
            ("Content-Type", "application/json"), ("x-amzn-RequestId", request_id), ("x-amzn-ErrorType", error.code),
        ]
        body = json.dumps({"message": error.message, **error.fields}).encode("utf-8")
        return HttpResponse(status, headers, body)
