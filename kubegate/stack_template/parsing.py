"""Turning a template body into a ``Template``: format and structure checks only.

Cross-references (Ref targets, conditions, cycles) are ``checks.check``'s job, so that
``parse`` stays usable for GetTemplateSummary, which reports templates AWS would still accept.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import yaml  # type: ignore[import-untyped]

from . import _yaml
from ._values import is_scalar, scalar_text
from .errors import TemplateError
from .model import OutputSpec, ParameterSpec, ResourceSpec, Template

FORMAT = "Template format error: "

TOP_LEVEL_KEYS = frozenset(
    {"AWSTemplateFormatVersion", "Description", "Metadata", "Parameters", "Mappings", "Conditions", "Resources", "Outputs"}
)
RESOURCE_KEYS = frozenset(
    {"Type", "Properties", "DependsOn", "Condition", "DeletionPolicy", "UpdateReplacePolicy", "Metadata",
     "CreationPolicy", "UpdatePolicy"}
)
OUTPUT_KEYS = frozenset({"Value", "Description", "Export", "Condition"})
POLICIES = ("Delete", "Retain")

SIMPLE_PARAMETER_TYPES = frozenset({"String", "Number", "List<Number>", "CommaDelimitedList", "List<String>"})
AWS_PARAMETER_TYPES = frozenset(
    {
        "AWS::EC2::AvailabilityZone::Name", "AWS::EC2::Image::Id", "AWS::EC2::Instance::Id",
        "AWS::EC2::KeyPair::KeyName", "AWS::EC2::SecurityGroup::GroupName", "AWS::EC2::SecurityGroup::Id",
        "AWS::EC2::Subnet::Id", "AWS::EC2::Volume::Id", "AWS::EC2::VPC::Id", "AWS::Route53::HostedZone::Id",
    }
)
PARAMETER_TYPES = (
    SIMPLE_PARAMETER_TYPES | AWS_PARAMETER_TYPES | frozenset(f"List<{t}>" for t in AWS_PARAMETER_TYPES)
)
LIST_PARAMETER_TYPES = frozenset(t for t in PARAMETER_TYPES if t.startswith("List<")) | {"CommaDelimitedList"}

MAX_PARAMETERS = 200
MAX_OUTPUTS = 200
MAX_MAPPINGS = 200
MAX_RESOURCES = 500

_ALNUM = re.compile(r"^[A-Za-z0-9]+$")


def parse(body: str) -> Template:
    """Parse and structurally validate a template body (JSON if it starts with ``{``, else YAML)."""
    document = _load(body)
    _check_no_nulls(document, "")
    unknown = sorted(str(k) for k in document if k not in TOP_LEVEL_KEYS)
    if unknown:
        raise TemplateError(f"{FORMAT}Invalid template property or properties [{', '.join(unknown)}]")
    version = document.get("AWSTemplateFormatVersion")
    if version is not None and scalar_text(version) != "2010-09-09":
        raise TemplateError(f"{FORMAT}Unsupported template version {scalar_text(version)}")
    description = document.get("Description")
    if description is not None and not isinstance(description, str):
        if not is_scalar(description):
            raise TemplateError(f"{FORMAT}Every Description member must be a string.")
        description = scalar_text(description)
    resources_raw = document.get("Resources")
    if not isinstance(resources_raw, dict) or not resources_raw:
        raise TemplateError(f"{FORMAT}At least one Resources member must be defined.")
    parameters = _section(document, "Parameters")
    mappings = _section(document, "Mappings")
    conditions = _section(document, "Conditions")
    outputs = _section(document, "Outputs")
    _limit("parameters", len(parameters), MAX_PARAMETERS)
    _limit("resources", len(resources_raw), MAX_RESOURCES)
    _limit("outputs", len(outputs), MAX_OUTPUTS)
    _limit("mappings", len(mappings), MAX_MAPPINGS)
    return Template(
        body=body,
        document=document,
        version=None if version is None else scalar_text(version),
        description=description,
        parameters={str(k): _parameter(str(k), v) for k, v in parameters.items()},
        mappings=mappings,
        conditions=conditions,
        resources={str(k): _resource(str(k), v) for k, v in resources_raw.items()},
        outputs={str(k): _output(str(k), v) for k, v in outputs.items()},
    )


MAX_DEPTH = 64
"""Nesting deeper than this is refused before any recursive pass sees the document (a 51,200-byte
body can nest ~25,000 levels; CloudFormation's own templates rarely pass 15)."""


def _load(body: str) -> dict[str, Any]:
    if body.lstrip().startswith("{"):
        try:
            document = json.loads(body)
        except json.JSONDecodeError as exc:
            raise TemplateError(
                f"{FORMAT}JSON not well-formed. (line {exc.lineno}, column {exc.colno})"
            ) from None
        except RecursionError:
            raise TemplateError(f"{FORMAT}The template is nested more than {MAX_DEPTH} levels deep.") from None
        if not isinstance(document, dict):
            raise TemplateError(f"{FORMAT}JSON not well-formed. (line 1, column 1)")
        _check_depth(document)
        return document
    try:
        loaded = _yaml.load(body)
    except RecursionError:
        raise TemplateError(f"{FORMAT}The template is nested more than {MAX_DEPTH} levels deep.") from None
    except (yaml.YAMLError, ValueError, TypeError):
        raise TemplateError(f"{FORMAT}YAML not well-formed.") from None
    if not isinstance(loaded, dict):
        raise TemplateError(f"{FORMAT}YAML not well-formed.")
    _check_depth(loaded)
    return loaded


def _check_depth(document: Any) -> None:
    """Without recursion, so that the check itself cannot be what overflows."""
    pending: list[tuple[Any, int]] = [(document, 1)]
    while pending:
        value, depth = pending.pop()
        if depth > MAX_DEPTH:
            raise TemplateError(f"{FORMAT}The template is nested more than {MAX_DEPTH} levels deep.")
        if isinstance(value, dict):
            pending.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            pending.extend((item, depth + 1) for item in value)


def _check_no_nulls(value: Any, path: str) -> None:
    """CloudFormation rejects an explicit null anywhere, naming its JSON-pointer path."""
    if value is None:
        raise TemplateError(f"{FORMAT}[{path}] 'null' values are not allowed in templates")
    if isinstance(value, dict):
        for key, item in value.items():
            _check_no_nulls(item, f"{path}/{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_no_nulls(item, f"{path}/{index}")


def _section(document: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = document.get(name, {})
    if not isinstance(value, dict):
        raise TemplateError(f"{FORMAT}The {name} section must be an object.")
    return value


def _limit(what: str, count: int, maximum: int) -> None:
    if count > maximum:
        raise TemplateError(f"{FORMAT}Number of {what}, {count}, is greater than maximum allowed, {maximum}")


def _check_name(kind: str, name: str) -> None:
    if not _ALNUM.match(name):
        raise TemplateError(f"{FORMAT}{kind} name {name} is non alphanumeric.")


def _parameter(name: str, raw: Any) -> ParameterSpec:
    _check_name("Parameter", name)
    if not isinstance(raw, dict):
        raise TemplateError(f"{FORMAT}Parameter {name} must be an object.")
    type_ = raw.get("Type")
    if type_ is None:
        raise TemplateError(f"{FORMAT}Every Parameters object must contain a Type member.")
    if not isinstance(type_, str) or type_ not in PARAMETER_TYPES:
        raise TemplateError(f"{FORMAT}Unrecognized parameter type: {type_}")
    default = raw.get("Default")
    if isinstance(default, list):
        default = ",".join(scalar_text(item) for item in default)
    elif default is not None:
        default = _scalar(name, "Default", default)
    allowed = raw.get("AllowedValues", [])
    if not isinstance(allowed, list):
        raise TemplateError(f"{FORMAT}AllowedValues of parameter {name} must be a list.")
    return ParameterSpec(
        name=name,
        type=type_,
        default=default,
        allowed_values=tuple(_scalar(name, "AllowedValues", item) for item in allowed),
        allowed_pattern=_optional_text(name, raw, "AllowedPattern"),
        min_length=_optional_number(name, raw, "MinLength", int),
        max_length=_optional_number(name, raw, "MaxLength", int),
        min_value=_optional_number(name, raw, "MinValue", float),
        max_value=_optional_number(name, raw, "MaxValue", float),
        no_echo=scalar_text(raw.get("NoEcho", False)).lower() == "true",
        description=_optional_text(name, raw, "Description"),
        constraint_description=_optional_text(name, raw, "ConstraintDescription"),
    )


def _scalar(name: str, attribute: str, value: Any) -> str:
    if not is_scalar(value):
        raise TemplateError(f"{FORMAT}Parameter {name} has an invalid {attribute}.")
    return scalar_text(value)


def _optional_text(name: str, raw: Mapping[str, Any], attribute: str) -> str | None:
    value = raw.get(attribute)
    return None if value is None else _scalar(name, attribute, value)


def _optional_number(name: str, raw: Mapping[str, Any], attribute: str, kind: type) -> Any:
    value = raw.get(attribute)
    if value is None:
        return None
    try:
        return kind(float(scalar_text(value))) if kind is int else kind(scalar_text(value))
    except ValueError:
        raise TemplateError(f"{FORMAT}Parameter {name} has an invalid {attribute}.") from None


def _resource(logical_id: str, raw: Any) -> ResourceSpec:
    _check_name("Resource", logical_id)
    if not isinstance(raw, dict) or "Type" not in raw:
        raise TemplateError(f"{FORMAT}[/Resources/{logical_id}] Every Resources object must contain a Type member.")
    for key in raw:
        if key not in RESOURCE_KEYS:
            raise TemplateError(f"Invalid template resource property '{key}'")
    type_ = raw["Type"]
    if not isinstance(type_, str):
        raise TemplateError(f"{FORMAT}[/Resources/{logical_id}/Type] Every Type member must be a string.")
    properties = raw.get("Properties", {})
    if not isinstance(properties, dict):
        raise TemplateError(f"{FORMAT}[/Resources/{logical_id}/Properties] Properties must be an object.")
    depends_on = raw.get("DependsOn", [])
    if isinstance(depends_on, str):
        depends_on = [depends_on]
    if not isinstance(depends_on, list) or not all(isinstance(d, str) for d in depends_on):
        raise TemplateError(f"{FORMAT}DependsOn must be a string or list of strings.")
    condition = raw.get("Condition")
    if condition is not None and not isinstance(condition, str):
        raise TemplateError(f"{FORMAT}Condition of resource {logical_id} must be a string.")
    return ResourceSpec(
        logical_id=logical_id,
        type=type_,
        properties=properties,
        depends_on=tuple(dict.fromkeys(depends_on)),
        condition=condition,
        deletion_policy=_policy(logical_id, raw, "DeletionPolicy"),
        update_replace_policy=_policy(logical_id, raw, "UpdateReplacePolicy"),
    )


def _policy(logical_id: str, raw: Mapping[str, Any], attribute: str) -> str:
    value = raw.get(attribute, "Delete")
    if value not in POLICIES:
        raise TemplateError(f"{FORMAT}Unrecognized {attribute} {scalar_text(value)} for resource {logical_id}")
    return str(value)


def _output(key: str, raw: Any) -> OutputSpec:
    _check_name("Output", key)
    if not isinstance(raw, dict) or "Value" not in raw:
        raise TemplateError(f"{FORMAT}Every Outputs member must contain a Value object")
    for attribute in raw:
        if attribute not in OUTPUT_KEYS:
            raise TemplateError(f"{FORMAT}Invalid outputs property : [{attribute}]")
    export = raw.get("Export")
    export_name = None
    if export is not None:
        if not isinstance(export, dict) or "Name" not in export:
            raise TemplateError(f"{FORMAT}Output {key} is malformed. The Name field of every Export member must be specified and consist only of alphanumeric characters, colons, or hyphens.")
        export_name = export["Name"]
    condition = raw.get("Condition")
    if condition is not None and not isinstance(condition, str):
        raise TemplateError(f"{FORMAT}Condition of output {key} must be a string.")
    return OutputSpec(
        key=key, value=raw["Value"], description=raw.get("Description"), export_name=export_name, condition=condition
    )
