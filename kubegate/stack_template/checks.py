"""Static checks CloudFormation performs before deploying: types, references, shapes, cycles, capabilities.

These need no parameter values, so ValidateTemplate, CreateStack and CreateChangeSet all run them
and reject a broken template synchronously, before any stack or change set exists.
"""

from __future__ import annotations

import heapq
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from ._intrinsics import (
    EQUALS_SHAPE,
    FIND_IN_MAP_SHAPE,
    JOIN_SHAPE,
    PSEUDO_PARAMETERS,
    SELECT_SHAPE,
    SPLIT_SHAPE,
    SUPPORTED,
    function_name,
    references,
)
from .errors import CapabilitiesRequired, TemplateError
from .model import Template
from .resource_types import RESOURCE_TYPES, ResourceType

CAPABILITY_IAM = "CAPABILITY_IAM"
CAPABILITY_NAMED_IAM = "CAPABILITY_NAMED_IAM"


@dataclass(frozen=True, slots=True)
class TemplateSummary:
    """What GetTemplateSummary and ValidateTemplate report about a template."""

    parameters: list[dict[str, Any]] = field(default_factory=list)
    description: str | None = None
    capabilities: list[str] = field(default_factory=list)
    capabilities_reason: str | None = None
    resource_types: list[str] = field(default_factory=list)
    version: str | None = None


def check(template: Template, types: Mapping[str, ResourceType] = RESOURCE_TYPES) -> None:
    """Raise ``TemplateError`` for anything CloudFormation rejects before evaluating the template."""
    unknown = sorted({spec.type for spec in template.resources.values() if spec.type not in types})
    if unknown:
        raise TemplateError(f"Template format error: Unrecognized resource types: [{', '.join(unknown)}]")
    for definition in template.conditions.values():
        _check_shapes(definition)
        _check_condition_block(template, definition)
    missing: list[str] = []
    for logical_id, spec in template.resources.items():
        if spec.condition is not None and spec.condition not in template.conditions:
            raise TemplateError(f"Template error: unresolved condition dependency {spec.condition} in {logical_id}")
        _check_shapes(spec.properties)
        missing += [d for d in spec.depends_on if d not in template.resources]
        missing += _unresolved(template, types, spec.properties)
    if missing:
        raise _unresolved_error(missing, "Resources")
    for key, output in template.outputs.items():
        if output.condition is not None and output.condition not in template.conditions:
            raise TemplateError(f"Template error: unresolved condition dependency {output.condition} in {key}")
        expression = [output.value, output.description, output.export_name]
        _check_shapes(expression)
        missing += _unresolved(template, types, expression)
    if missing:
        raise _unresolved_error(missing, "Outputs")
    _check_cycles(template)


def _unresolved_error(names: list[str], block: str) -> TemplateError:
    listed = ", ".join(sorted(set(names)))
    return TemplateError(
        f"Template format error: Unresolved resource dependencies [{listed}] in the {block} block of the template"
    )


def _unresolved(template: Template, types: Mapping[str, ResourceType], expression: Any) -> list[str]:
    """Names that resolve to nothing; GetAtt and condition errors are raised directly."""
    missing: list[str] = []
    for reference in references(expression):
        if reference.kind == "Condition":
            if reference.name not in template.conditions:
                raise TemplateError(
                    f"Template error: unresolved condition dependency {reference.name} in {reference.function}"
                )
        elif reference.kind == "GetAtt":
            target = template.resources.get(reference.name)
            if target is None:
                raise TemplateError(
                    f"Template error: instance of Fn::GetAtt references undefined resource {reference.name}"
                )
            resource_type = types.get(target.type)
            if (
                reference.attribute is not None
                and resource_type is not None
                and reference.attribute not in resource_type.attributes
            ):
                raise TemplateError(
                    f"Template error: resource {reference.name} does not support attribute type "
                    f"{reference.attribute} in Fn::GetAtt"
                )
        elif not _defined(template, reference.name):
            missing.append(reference.name)
    return missing


def _defined(template: Template, name: str) -> bool:
    return name in PSEUDO_PARAMETERS or name in template.parameters or name in template.resources


def _check_condition_block(template: Template, definition: Any) -> None:
    for reference in references(definition):
        if reference.kind == "Condition":
            if reference.name not in template.conditions:
                raise TemplateError(
                    f"Template error: unresolved condition dependency {reference.name} in {reference.function}"
                )
        elif reference.name not in PSEUDO_PARAMETERS and reference.name not in template.parameters:
            raise TemplateError(
                f"Template format error: Unresolved dependencies [{reference.name}]. "
                "Cannot reference resources in the Conditions block of the template"
            )


def _check_shapes(value: Any) -> None:
    """Reject malformed literal arguments of every intrinsic, wherever it appears."""
    name = function_name(value)
    if name is None:
        items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
        for item in items:
            _check_shapes(item)
        return
    if name not in SUPPORTED:
        raise TemplateError(f"Template format error: Unsupported function {name}")
    argument = value[name]
    is_list = isinstance(argument, list)
    if name == "Fn::Join":
        if not (is_list and len(argument) == 2 and isinstance(argument[0], str)) or not (
            isinstance(argument[1], list) or function_name(argument[1])
        ):
            raise TemplateError(JOIN_SHAPE)
    elif name == "Fn::Select":
        if not (is_list and len(argument) == 2):
            raise TemplateError(SELECT_SHAPE)
        _check_select(argument[0], argument[1])
    elif name == "Fn::Split":
        if not (is_list and len(argument) == 2 and isinstance(argument[0], str) and argument[0]) or not (
            isinstance(argument[1], str) or function_name(argument[1])
        ):
            raise TemplateError(SPLIT_SHAPE)
    elif name == "Fn::Equals" and not (is_list and len(argument) == 2):
        raise TemplateError(EQUALS_SHAPE)
    elif name == "Fn::FindInMap" and not (is_list and len(argument) == 3):
        raise TemplateError(FIND_IN_MAP_SHAPE)
    elif name == "Fn::Not" and not (is_list and len(argument) == 1):
        raise TemplateError("Template error: every Fn::Not object requires a list of 1 boolean parameter.")
    elif name in ("Fn::And", "Fn::Or") and not (is_list and 2 <= len(argument) <= 10):
        raise TemplateError(
            f"Template error: every {name} object requires a list of at least 2 and at most 10 boolean parameters."
        )
    list(references(value))  # shape errors of Ref, GetAtt, Sub and If
    _check_shapes(argument)


def _check_select(index: Any, items: Any) -> None:
    if function_name(index) is None:
        literal = index if isinstance(index, int) and not isinstance(index, bool) else None
        if isinstance(index, str) and index.strip().isdigit():
            literal = int(index)
        if literal is None or literal < 0:
            raise TemplateError(SELECT_SHAPE)
        if isinstance(items, list) and literal >= len(items):
            raise TemplateError(SELECT_SHAPE)
    if not isinstance(items, list) and function_name(items) is None:
        raise TemplateError(SELECT_SHAPE)


def _check_cycles(template: Template) -> None:
    """Cycles over every resource, whatever its Condition (CloudFormation checks the whole graph)."""
    waiting: dict[str, set[str]] = {}
    for logical_id, spec in template.resources.items():
        deps = set(spec.depends_on)
        deps |= {r.name for r in references(spec.properties) if r.kind in ("Ref", "GetAtt")}
        waiting[logical_id] = {d for d in deps if d in template.resources}
    dependents: dict[str, list[str]] = {n: [] for n in waiting}
    for logical_id, deps in waiting.items():
        for dep in deps:
            dependents[dep].append(logical_id)
    ready = [n for n, deps in waiting.items() if not deps]
    heapq.heapify(ready)
    done: set[str] = set()
    while ready:
        node = heapq.heappop(ready)
        done.add(node)
        for dependent in dependents[node]:
            waiting[dependent].discard(node)
            if not waiting[dependent]:
                heapq.heappush(ready, dependent)
    stuck = sorted(n for n in waiting if n not in done)
    if stuck:
        raise TemplateError(f"Circular dependency between resources: [{', '.join(stuck)}]")


# --- capabilities and summary ---------------------------------------------------------------------


def required_capabilities(
    template: Template, types: Mapping[str, ResourceType] = RESOURCE_TYPES
) -> tuple[str | None, tuple[str, ...]]:
    """The strongest IAM capability the template needs and the resource types that need it.

    Any custom IAM name (literal or computed) needs CAPABILITY_NAMED_IAM, because it can collide
    with names outside the stack; unnamed IAM resources need only CAPABILITY_IAM.
    """
    needing: set[str] = set()
    named = False
    for spec in template.resources.values():
        resource_type = types.get(spec.type)
        if resource_type is None or not resource_type.needs_iam_capability:
            continue
        needing.add(spec.type)
        if resource_type.name_property is not None and resource_type.name_property in spec.properties:
            named = True
    if not needing:
        return None, ()
    return (CAPABILITY_NAMED_IAM if named else CAPABILITY_IAM), tuple(sorted(needing))


def check_capabilities(
    template: Template, granted: Collection[str], types: Mapping[str, ResourceType] = RESOURCE_TYPES
) -> None:
    """Raise ``CapabilitiesRequired`` unless ``granted`` acknowledges what the template needs."""
    capability, _ = required_capabilities(template, types)
    if capability is None or CAPABILITY_NAMED_IAM in granted:
        return
    if capability == CAPABILITY_IAM and CAPABILITY_IAM in granted:
        return
    raise CapabilitiesRequired(capability)


def summary(template: Template, types: Mapping[str, ResourceType] = RESOURCE_TYPES) -> TemplateSummary:
    """GetTemplateSummary / ValidateTemplate data, with parameters in botocore's ParameterDeclaration shape."""
    parameters: list[dict[str, Any]] = []
    for spec in template.parameters.values():
        declaration: dict[str, Any] = {"ParameterKey": spec.name}
        if spec.default is not None:
            declaration["DefaultValue"] = spec.default
        declaration["ParameterType"] = spec.type
        declaration["NoEcho"] = spec.no_echo
        if spec.description is not None:
            declaration["Description"] = spec.description
        if spec.allowed_values:
            declaration["ParameterConstraints"] = {"AllowedValues": list(spec.allowed_values)}
        parameters.append(declaration)
    capability, needing = required_capabilities(template, types)
    return TemplateSummary(
        parameters=parameters,
        description=template.description,
        capabilities=[] if capability is None else [capability],
        capabilities_reason=(
            None if capability is None else f"The following resource(s) require capabilities: [{', '.join(needing)}]"
        ),
        resource_types=list(dict.fromkeys(spec.type for spec in template.resources.values())),
        version=template.version,
    )
