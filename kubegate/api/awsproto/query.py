"""The AWS query protocol (IAM, STS), server side, driven entirely by a botocore service model.

Requests are flat ``Action=…&Version=…&A.member.1.B=…`` forms and responses are XML (or,
for callers that ask, the same nesting in JSON). The model that boto3 uses to *write* the
form is the only source of truth here: member names, list/map layouts, types and
constraints all come from it, so a new operation needs no protocol code.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from datetime import datetime, timezone
from json import dumps as json_dumps
from typing import Any

from botocore.model import OperationModel, ServiceModel, Shape

from kubegate.api.awsproto.constraints import INT_BOUNDS, constrain, violation
from kubegate.api.awsproto.errors import AwsError
from kubegate.api.awsproto.restjson import HttpResponse

__all__ = ["HttpResponse", "QueryProtocol"]

_MISSING: Any = object()  # member not sent
_INVALID: Any = object()  # member sent but unusable; its error is already recorded
_INDEX = re.compile(r"[1-9][0-9]*")
_INT_TEXT = re.compile(r"[+-]?[0-9]+")
_FLOAT_TEXT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?|NaN|[+-]?Infinity")
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_MAX_DEPTH = 32  # dotted components indexed per key: deeper than any model, and keeps indexing linear
_OUT_TYPES: dict[str, type | tuple[type, ...]] = {
    "string": str, "character": str, "boolean": bool, "byte": int, "short": int, "integer": int, "long": int,
    "float": (int, float), "double": (int, float), "timestamp": (datetime, int, float), "blob": (bytes, str),
    "list": (list, tuple), "map": Mapping, "structure": Mapping,
}


# --- request side -----------------------------------------------------------------------

class _Form:
    """The flat form, indexed by dotted prefix so list items and nested members are found directly."""

    def __init__(self, params: Mapping[str, list[str]]) -> None:
        self.values = {key: values[0] for key, values in params.items() if values}
        self.children: dict[str, set[str]] = {}
        for key in self.values:
            parts = key.split(".", _MAX_DEPTH)
            for end in range(1, len(parts)):
                self.children.setdefault(".".join(parts[:end]), set()).add(parts[end])

    def indices(self, prefix: str) -> list[str]:
        """Item numbers under a prefix, in numeric order (clients number from 1, AWS sorts)."""
        return sorted((c for c in self.children.get(prefix, ()) if _INDEX.fullmatch(c)), key=int)


def _camel(name: str) -> str:
    """AWS validation messages name members in lowerCamelCase (RoleSessionName -> roleSessionName)."""
    return name[:1].lower() + name[1:]


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _scalar(shape: Shape, text: str) -> Any:
    """Form text to the Python type a boto3 caller passes; ValueError when it is not one."""
    kind = shape.type_name
    if kind in ("string", "character"):
        return text
    if kind in INT_BOUNDS:
        if not _INT_TEXT.fullmatch(text) or not -INT_BOUNDS[kind] <= int(text) < INT_BOUNDS[kind]:
            raise ValueError(text)
        return int(text)
    if kind == "boolean":
        return {"true": True, "false": False}[text.lower()]
    if kind in ("float", "double"):
        if not _FLOAT_TEXT.fullmatch(text):
            raise ValueError(text)
        return float(text)
    if kind == "timestamp":
        if _FLOAT_TEXT.fullmatch(text):
            return datetime.fromtimestamp(float(text), tz=timezone.utc)
        parsed = datetime.fromisoformat(text)
        return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)
    if kind == "blob":
        return base64.b64decode(text, validate=True)
    raise ValueError(f"unsupported shape type {kind}")


class _Reader:
    """One request's parse: walks the input shape, reading the keys botocore's serializer writes."""

    def __init__(self, form: _Form) -> None:
        self.form = form
        self.errors: list[str] = []

    def value(self, shape: Shape, key: str, path: str) -> Any:
        kind = shape.type_name
        if kind == "structure":
            return self.structure(shape, key, path) if key in self.form.children else _MISSING
        if kind == "list":
            return self.list(shape, key, path)
        if kind == "map":
            return self.map(shape, key, path)
        raw = self.form.values.get(key)
        if raw is None:
            return _MISSING
        try:
            out = _scalar(shape, raw)
        except (ValueError, KeyError, OverflowError, OSError, binascii.Error):
            self.errors.append(violation(raw, path, f"Member must be of type {kind}"))
            return _INVALID
        constrain(shape, out, path, self.errors)
        return out

    def structure(self, shape: Shape, prefix: str, path: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, member in shape.members.items():
            at = _join(path, _camel(name))
            value = self.value(member, _join(prefix, member.serialization.get("name", name)), at)
            if value is _MISSING and name in shape.required_members:
                self.errors.append(violation(None, at, "Member must not be null"))
            elif value is not _MISSING and value is not _INVALID:
                out[name] = value
        return out

    def item(self, shape: Shape, key: str, path: str) -> Any:
        """A list item, map key or map value: absent there is an error, not an omitted member."""
        value = self.value(shape, key, path)
        if value is _MISSING:
            self.errors.append(violation(None, path, "Member must not be null"))
        return value

    def list(self, shape: Shape, key: str, path: str) -> Any:
        member_name = shape.member.serialization.get("name")
        if not shape.serialization.get("flattened"):
            base = f"{key}.{member_name or 'member'}"
        elif member_name:  # botocore swaps the list's own name for the member's
            base = _join(key.rpartition(".")[0], member_name)
        else:
            base = key
        numbers = self.form.indices(base)
        if not numbers and self.form.values.get(key) != "":
            return _MISSING
        items = [self.item(shape.member, f"{base}.{n}", f"{path}.{n}.member") for n in numbers]
        if any(item is _MISSING or item is _INVALID for item in items):
            return _INVALID
        constrain(shape, items, path, self.errors)
        return items

    def map(self, shape: Shape, key: str, path: str) -> Any:
        base = key if shape.serialization.get("flattened") else f"{key}.entry"
        key_name = shape.key.serialization.get("name", "key")
        value_name = shape.value.serialization.get("name", "value")
        numbers = self.form.indices(base)
        if not numbers:
            return _MISSING
        out: dict[Any, Any] = {}
        for n in numbers:
            k = self.item(shape.key, f"{base}.{n}.{key_name}", f"{path}.{n}.key")
            v = self.item(shape.value, f"{base}.{n}.{value_name}", f"{path}.{n}.value")
            if all(x is not _MISSING and x is not _INVALID for x in (k, v)):
                out[k] = v
        constrain(shape, out, path, self.errors)
        return out


# --- response side ----------------------------------------------------------------------

def _timestamp(value: datetime | int | float) -> datetime:
    if not isinstance(value, datetime):
        return datetime.fromtimestamp(value, tz=timezone.utc)
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _require(kind: str, value: Any, path: str) -> None:
    """Handler output is checked against the model, so a wrong type fails here and not in a client."""
    if not isinstance(value, _OUT_TYPES.get(kind, object)) or (isinstance(value, bool) and kind != "boolean"):
        raise TypeError(f"{path}: expected {kind}, got {type(value).__name__}")


def _out_scalar(shape: Shape, value: Any, path: str, as_json: bool) -> Any:
    """One handler value as XML text or as a JSON value, refusing values the model does not allow."""
    kind = shape.type_name
    _require(kind, value, path)
    if kind == "timestamp":
        utc = _timestamp(value)
        if as_json:  # Coral's JSON rendering of query responses uses epoch seconds
            seconds = calendar.timegm(utc.timetuple())
            return seconds if not utc.microsecond else (seconds * 1_000_000 + utc.microsecond) / 1_000_000
        fraction = f".{utc.microsecond:06d}" if utc.microsecond else ""
        return utc.strftime("%Y-%m-%dT%H:%M:%S") + fraction + "Z"
    if kind == "blob":
        return base64.b64encode(value.encode() if isinstance(value, str) else value).decode("ascii")
    if kind in ("float", "double") and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if as_json:
        return value
    if kind == "boolean":
        return "true" if value else "false"
    # XML 1.0 cannot carry most control characters, not even as references.
    return _NOT_XML.sub("\ufffd", str(value))


def _present(shape: Shape, value: Mapping[str, Any], path: str) -> list[tuple[str, Shape, Any, str]]:
    """(wire name, shape, value, path) of the set members; an off-model key is a handler bug."""
    unknown = [key for key in value if key not in shape.members]
    if unknown:
        raise ValueError(f"{', '.join(_join(path, k) for k in unknown)} not a member of {shape.name}")
    return [
        (member.serialization.get("name", name), member, value[name], _join(path, name))
        for name, member in shape.members.items()
        if value.get(name) is not None
    ]


def _xml(parent: ET.Element, tag: str, shape: Shape, value: Any, path: str) -> None:
    kind = shape.type_name
    if kind in ("structure", "list", "map"):
        _require(kind, value, path)
    if kind == "structure":
        _xml_members(ET.SubElement(parent, tag), shape, value, path)
    elif kind == "list":
        item_tag = shape.member.serialization.get("name")
        holder = parent if shape.serialization.get("flattened") else ET.SubElement(parent, tag)
        item_tag = item_tag or (tag if holder is parent else "member")
        for n, item in enumerate(value, 1):
            _xml(holder, item_tag, shape.member, item, f"{path}.{n}")
    elif kind == "map":
        flattened = shape.serialization.get("flattened")
        holder = parent if flattened else ET.SubElement(parent, tag)
        for k, v in value.items():
            if v is None:
                continue
            entry = ET.SubElement(holder, tag if flattened else "entry")
            _xml(entry, shape.key.serialization.get("name", "key"), shape.key, k, f"{path}.key")
            _xml(entry, shape.value.serialization.get("name", "value"), shape.value, v, f"{path}.{k}")
    else:
        ET.SubElement(parent, tag).text = _out_scalar(shape, value, path, as_json=False)


def _xml_members(element: ET.Element, shape: Shape, value: Mapping[str, Any], path: str) -> None:
    for wire, member, item, at in _present(shape, value, path):
        _xml(element, wire, member, item, at)


def _json(shape: Shape, value: Any, path: str) -> Any:
    kind = shape.type_name
    if kind in ("structure", "list", "map"):
        _require(kind, value, path)
    if kind == "structure":
        return {wire: _json(member, item, at) for wire, member, item, at in _present(shape, value, path)}
    if kind == "list":
        return [_json(shape.member, item, f"{path}.{n}") for n, item in enumerate(value, 1)]
    if kind == "map":
        return {str(_json(shape.key, k, f"{path}.key")): _json(shape.value, v, f"{path}.{k}")
                for k, v in value.items() if v is not None}
    return _out_scalar(shape, value, path, as_json=True)


def _response(status: int, request_id: str, body: Any, as_json: bool) -> HttpResponse:
    """XML is written unindented, so any CR in it is a value's: escape it, or parsers turn CRLF into LF."""
    if as_json:
        data, content_type = json_dumps(body, ensure_ascii=False).encode("utf-8"), "application/json"
    else:
        data, content_type = ET.tostring(body, encoding="unicode").replace("\r", "&#13;").encode("utf-8"), "text/xml"
    return HttpResponse(status, [("Content-Type", content_type), ("x-amzn-RequestId", request_id)], data)


class QueryProtocol:
    """Route, parse and serialize the query protocol for any botocore query service model."""

    def __init__(self, service_model: ServiceModel, *, validation_error_code: str = "ValidationError") -> None:
        self.service_model = service_model
        self.validation_error_code = validation_error_code
        meta = service_model.metadata
        self.api_version: str | None = meta.get("apiVersion")
        self.namespace: str = meta.get("xmlNamespace") or (
            f"https://{meta.get('endpointPrefix', service_model.service_name)}.amazonaws.com/doc/{self.api_version}/"
        )
        self._operations = frozenset(service_model.operation_names)
        self._error_status: dict[str, int] = {}
        self._wire_code: dict[str, str] = {}  # error shape name -> code on the wire
        self._sender_fault: dict[str, bool] = {}
        for shape in service_model.error_shapes:
            error = shape.metadata.get("error")
            if not error:
                continue
            code = error.get("code", shape.name)
            self._wire_code[shape.name] = code
            for name in (shape.name, code):
                if "httpStatusCode" in error:
                    self._error_status.setdefault(name, int(error["httpStatusCode"]))
                self._sender_fault.setdefault(name, bool(error.get("senderFault", False)))

    def operation(self, params: Mapping[str, list[str]]) -> OperationModel:
        """AWS looks operations up by (Action, Version): a wrong Version is an unknown operation."""
        action = (params.get("Action") or [""])[0]
        if not action:
            raise AwsError("MissingAction", "The request is missing an action or a required parameter.", status=400)
        version = (params.get("Version") or [""])[0]
        if action not in self._operations or (self.api_version is not None and version != self.api_version):
            shown = version or "NO_VERSION_SPECIFIED"
            raise AwsError("InvalidAction", f"Could not find operation {action} for version {shown}", status=400)
        return self.service_model.operation_model(action)

    def parse(self, operation: OperationModel, params: Mapping[str, list[str]]) -> dict[str, Any]:
        """Unknown keys (Version, X-Amz-* of presigned URLs, …) are ignored, as AWS does."""
        shape = operation.input_shape
        if shape is None:
            return {}
        reader = _Reader(_Form(params))
        out = reader.structure(shape, "", "")
        if reader.errors:
            count = len(reader.errors)
            head = f"{count} validation error{'s' if count > 1 else ''} detected: "
            raise AwsError(self.validation_error_code, head + "; ".join(reader.errors), status=400)
        return out

    def serialize(
        self, operation: OperationModel, output: Mapping[str, Any], *, request_id: str, json: bool = False,
    ) -> HttpResponse:
        shape = operation.output_shape
        if shape is None and output:
            raise ValueError(f"{', '.join(output)} not a member of {operation.name}'s output (it has none)")
        wrapper = shape.serialization.get("resultWrapper", f"{operation.name}Result") if shape else ""
        if json:
            document = {wrapper: _json(shape, output, "")} if shape is not None else {}
            document["ResponseMetadata"] = {"RequestId": request_id}
            return _response(200, request_id, {f"{operation.name}Response": document}, as_json=True)
        root = ET.Element(f"{operation.name}Response", {"xmlns": self.namespace})
        if shape is not None:
            _xml_members(ET.SubElement(root, wrapper), shape, output, "")
        ET.SubElement(ET.SubElement(root, "ResponseMetadata"), "RequestId").text = request_id
        return _response(200, request_id, root, as_json=False)

    def serialize_error(self, error: AwsError, *, request_id: str, json: bool = False) -> HttpResponse:
        """A modeled error raised by shape name goes out under its wire code, so boto3 maps it."""
        code = self._wire_code.get(error.code, error.code)
        status = error.status or self._error_status.get(error.code, 400)
        sender = error.sender_fault and self._sender_fault.get(error.code, True)
        fields = {"Type": "Sender" if sender else "Receiver", "Code": code, "Message": error.message}
        fields.update((k, v) for k, v in error.fields.items() if k not in fields)
        if json:
            return _response(status, request_id, {"Error": fields, "RequestId": request_id}, as_json=True)
        root = ET.Element("ErrorResponse", {"xmlns": self.namespace})
        details = ET.SubElement(root, "Error")
        for name, text in fields.items():
            ET.SubElement(details, name).text = _NOT_XML.sub("\ufffd", str(text))
        ET.SubElement(root, "RequestId").text = request_id
        return _response(status, request_id, root, as_json=False)
