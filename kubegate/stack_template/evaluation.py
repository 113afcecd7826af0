"""Evaluating a bound template: conditions, creation order, resolved properties and outputs.

``Evaluation`` is built once per deploy (or change set) from a parsed template, bound parameters and
the stack's context. Values of resources come from a caller-supplied ``lookup`` so this module never
touches storage; a resource not deployed yet is ``UNKNOWN``, which propagates through every
intrinsic so change sets can tell "changes at deploy" from "unchanged".
"""

from __future__ import annotations

import base64
import heapq
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from ._intrinsics import (
    EQUALS_SHAPE,
    FIND_IN_MAP_SHAPE,
    IF_SHAPE,
    JOIN_SHAPE,
    PSEUDO_PARAMETERS,
    REF_SHAPE,
    SELECT_SHAPE,
    SPLIT_SHAPE,
    function_name,
    getatt_arguments,
    references,
    sub_arguments,
    sub_parts,
)
from ._unknown import UNKNOWN
from ._values import is_scalar, scalar_text
from .errors import TemplateError
from .model import Template
from .parameters import ParameterValues

__all__ = ["UNKNOWN", "Context", "Evaluation", "Lookup", "OutputValue", "ResourceValues"]


@dataclass(frozen=True, slots=True)
class Context:
    """Where the stack lives: the values of the pseudo parameters."""

    account: str
    region: str
    stack_name: str
    stack_id: str
    partition: str = "aws"
    url_suffix: str = "amazonaws.com"
    notification_arns: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ResourceValues:
    """What a deployed resource offers to intrinsics: its Ref value and its GetAtt attributes."""

    ref: str
    attributes: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class OutputValue:
    """An evaluated output as DescribeStacks shows it."""

    key: str
    value: Any
    description: str | None
    export_name: str | None


Lookup = Callable[[str], "ResourceValues | None"]


class _NoValue:
    """``AWS::NoValue``: removes the enclosing property or list item."""

    def __repr__(self) -> str:
        return "AWS::NoValue"


_NO_VALUE = _NoValue()


def _no_lookup(_: str) -> ResourceValues | None:
    return None


def _unresolved(names: list[str], block: str) -> TemplateError:
    listed = ", ".join(sorted(set(names)))
    return TemplateError(
        f"Template format error: Unresolved resource dependencies [{listed}] in the {block} block of the template"
    )


class Evaluation:
    """A template evaluated against parameters and context; conditions and order are fixed at construction."""

    def __init__(self, template: Template, parameters: ParameterValues, context: Context) -> None:
        self.template = template
        self.parameters = parameters
        self.context = context
        self._condition_values: dict[str, bool] = {}
        self._evaluating: list[str] = []
        for name in template.conditions:
            self._condition(name, "Conditions")
        self.conditions: Mapping[str, bool] = MappingProxyType(dict(self._condition_values))
        self.active: frozenset[str] = frozenset(
            logical_id
            for logical_id, spec in template.resources.items()
            if spec.condition is None or self._condition(spec.condition, logical_id)
        )
        self._dependencies = {
            logical_id: self._collect(logical_id) for logical_id in template.resources if logical_id in self.active
        }
        self._check_outputs()
        self._order = self._sort()

    # --- public ---------------------------------------------------------------------------------

    def resources(self) -> list[str]:
        """Active logical ids, dependencies first, ties in template order."""
        return list(self._order)

    def dependencies(self, logical_id: str) -> frozenset[str]:
        """The active resources ``logical_id`` refers to or DependsOn."""
        return self._dependencies[logical_id]

    def properties(self, logical_id: str, lookup: Lookup) -> dict[str, Any]:
        """The resource's properties with every intrinsic resolved (unvalidated against the schema)."""
        spec = self.template.resources[logical_id]
        resolved = _Resolver(self, lookup, "Resources").resolve(dict(spec.properties))
        if not isinstance(resolved, dict):
            raise TemplateError(f"Template format error: [/Resources/{logical_id}/Properties] must be an object")
        return resolved

    def outputs(self, lookup: Lookup) -> list[OutputValue]:
        """Outputs whose Condition holds, in template order; list values joined with commas."""
        result = []
        resolver = _Resolver(self, lookup, "Outputs")
        for key, spec in self.template.outputs.items():
            if spec.condition is not None and not self._condition(spec.condition, key):
                continue
            value = resolver.resolve(spec.value)
            if value is _NO_VALUE:
                continue
            if isinstance(value, list):
                value = UNKNOWN if UNKNOWN in value else ",".join(scalar_text(v) for v in value)
            elif is_scalar(value):
                value = scalar_text(value)
            description = None if spec.description is None else resolver.resolve(spec.description)
            export = None if spec.export_name is None else resolver.resolve(spec.export_name)
            result.append(
                OutputValue(
                    key=key,
                    value=value,
                    description=None if description is None else _text(description),
                    export_name=None if export is None else _text(export),
                )
            )
        return result

    def deletion_policy(self, logical_id: str) -> str:
        return self.template.resources[logical_id].deletion_policy

    def update_replace_policy(self, logical_id: str) -> str:
        return self.template.resources[logical_id].update_replace_policy

    def pseudo(self, name: str) -> Any:
        """The value of a pseudo parameter in this context."""
        c = self.context
        values: dict[str, Any] = {
            "AWS::AccountId": c.account,
            "AWS::Region": c.region,
            "AWS::StackName": c.stack_name,
            "AWS::StackId": c.stack_id,
            "AWS::Partition": c.partition,
            "AWS::URLSuffix": c.url_suffix,
            "AWS::NotificationARNs": list(c.notification_arns),
            "AWS::NoValue": _NO_VALUE,
        }
        return values[name]

    # --- construction ---------------------------------------------------------------------------

    def _condition(self, name: str, where: str) -> bool:
        if name not in self.template.conditions:
            raise TemplateError(f"Template error: unresolved condition dependency {name} in {where}")
        if name in self._condition_values:
            return self._condition_values[name]
        if name in self._evaluating:
            cycle = sorted(set(self._evaluating[self._evaluating.index(name) :]))
            raise TemplateError(f"Template error: Circular dependency between conditions: [{', '.join(cycle)}]")
        self._evaluating.append(name)
        value = _Resolver(self, _no_lookup, "Conditions").resolve(self.template.conditions[name])
        self._evaluating.pop()
        if not isinstance(value, bool):
            raise TemplateError(
                f"Template format error: Condition {name} must be a boolean operation on parameters and other conditions"
            )
        self._condition_values[name] = value
        return value

    def _choose(self, name: str) -> bool:
        return self._condition(name, "Fn::If")

    def _collect(self, logical_id: str) -> frozenset[str]:
        spec = self.template.resources[logical_id]
        found: list[str] = list(spec.depends_on)
        for reference in references(dict(spec.properties), self._choose):
            if reference.kind == "Condition":
                self._condition(reference.name, reference.function or "Fn::If")
            elif reference.kind == "GetAtt":
                if reference.name not in self.template.resources:
                    raise TemplateError(
                        f"Template error: instance of Fn::GetAtt references undefined resource {reference.name}"
                    )
                found.append(reference.name)
            elif reference.name not in PSEUDO_PARAMETERS and reference.name not in self.template.parameters:
                found.append(reference.name)
        missing = [name for name in found if name not in self.active]
        if missing:
            raise _unresolved(missing, "Resources")
        return frozenset(found)

    def _check_outputs(self) -> None:
        missing: list[str] = []
        for key, spec in self.template.outputs.items():
            if spec.condition is not None and not self._condition(spec.condition, key):
                continue
            for reference in references([spec.value, spec.export_name, spec.description], self._choose):
                if reference.kind == "Condition":
                    self._condition(reference.name, reference.function or "Fn::If")
                elif reference.kind == "GetAtt" or (
                    reference.name not in PSEUDO_PARAMETERS and reference.name not in self.template.parameters
                ):
                    if reference.name not in self.active:
                        missing.append(reference.name)
        if missing:
            raise _unresolved(missing, "Outputs")

    def _sort(self) -> list[str]:
        index = {logical_id: i for i, logical_id in enumerate(self.template.resources)}
        waiting = {logical_id: set(deps) for logical_id, deps in self._dependencies.items()}
        dependents: dict[str, list[str]] = {logical_id: [] for logical_id in waiting}
        for logical_id, deps in waiting.items():
            for dep in deps:
                dependents[dep].append(logical_id)
        ready = [(index[n], n) for n, deps in waiting.items() if not deps]
        heapq.heapify(ready)
        order: list[str] = []
        while ready:
            _, logical_id = heapq.heappop(ready)
            order.append(logical_id)
            for dependent in dependents[logical_id]:
                waiting[dependent].discard(logical_id)
                if not waiting[dependent]:
                    heapq.heappush(ready, (index[dependent], dependent))
        if len(order) < len(waiting):
            stuck = sorted(n for n in waiting if n not in order)
            raise TemplateError(f"Circular dependency between resources: [{', '.join(stuck)}]")
        return order


def _text(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(scalar_text(v) for v in value)
    return scalar_text(value)


class _Resolver:
    """Evaluates intrinsics within one block (Conditions, Resources or Outputs) of a template."""

    def __init__(self, evaluation: Evaluation, lookup: Lookup, block: str) -> None:
        self.evaluation = evaluation
        self.lookup = lookup
        self.block = block
        self.handlers: dict[str, Callable[[Any], Any]] = {
            "Ref": self._ref,
            "Condition": self._named_condition,
            "Fn::GetAtt": self._getatt,
            "Fn::Sub": self._sub,
            "Fn::Join": self._join,
            "Fn::Select": self._select,
            "Fn::Split": self._split,
            "Fn::FindInMap": self._find_in_map,
            "Fn::If": self._if,
            "Fn::Base64": self._base64,
            "Fn::GetAZs": self._get_azs,
            "Fn::Equals": self._equals,
            "Fn::Not": self._not,
            "Fn::And": lambda a: self._and_or("Fn::And", a),
            "Fn::Or": lambda a: self._and_or("Fn::Or", a),
        }

    def resolve(self, value: Any) -> Any:
        name = function_name(value)
        if name is None:
            if isinstance(value, dict):
                resolved = {k: self.resolve(v) for k, v in value.items()}
                return {k: v for k, v in resolved.items() if v is not _NO_VALUE}
            if isinstance(value, list):
                return [r for r in (self.resolve(v) for v in value) if r is not _NO_VALUE]
            return value
        handler = self.handlers.get(name)
        if handler is None:
            raise TemplateError(f"Template format error: Unsupported function {name}")
        return handler(value[name])

    # --- references -----------------------------------------------------------------------------

    def _resource(self, name: str) -> ResourceValues | None:
        if self.block == "Conditions":
            raise TemplateError(
                f"Template format error: Unresolved dependencies [{name}]. "
                "Cannot reference resources in the Conditions block of the template"
            )
        if name not in self.evaluation.active:
            raise _unresolved([name], self.block)
        return self.lookup(name)

    def _ref(self, argument: Any) -> Any:
        if not isinstance(argument, str):
            raise TemplateError(REF_SHAPE)
        if argument in PSEUDO_PARAMETERS:
            return self.evaluation.pseudo(argument)
        if argument in self.evaluation.parameters.values:
            return self.evaluation.parameters.ref(argument)
        values = self._resource(argument)
        return UNKNOWN if values is None else values.ref

    def _getatt(self, argument: Any) -> Any:
        resource, attribute = getatt_arguments(argument)
        if not isinstance(attribute, str):
            attribute = self.resolve(attribute)
            if attribute is UNKNOWN:
                return UNKNOWN
            if not isinstance(attribute, str):
                raise TemplateError(
                    "Template error: every Fn::GetAtt object requires two non-empty parameters, "
                    "the resource name and the resource attribute"
                )
        return self._attribute(resource, attribute)

    def _attribute(self, resource: str, attribute: str) -> Any:
        if resource not in self.evaluation.template.resources:
            raise TemplateError(f"Template error: instance of Fn::GetAtt references undefined resource {resource}")
        values = self._resource(resource)
        if values is None:
            return UNKNOWN
        if attribute not in values.attributes:
            raise TemplateError(
                f"Template error: resource {resource} does not support attribute type {attribute} in Fn::GetAtt"
            )
        return values.attributes[attribute]

    def _sub(self, argument: Any) -> Any:
        text, variables = sub_arguments(argument)
        bound = {k: self.resolve(v) for k, v in variables.items()}
        pieces: list[Any] = []
        for part in sub_parts(text):
            if not part.variable:
                pieces.append(part.text)
            elif part.text in bound:
                pieces.append(bound[part.text])
            elif part.text in PSEUDO_PARAMETERS or part.text in self.evaluation.parameters.values:
                pieces.append(self._ref(part.text))
            else:
                head, dot, tail = part.text.partition(".")
                pieces.append(self._attribute(head, tail) if dot else self._ref(part.text))
        if any(p is UNKNOWN or (isinstance(p, list) and UNKNOWN in p) for p in pieces):
            return UNKNOWN
        return "".join(_text(p) for p in pieces)

    # --- lists and strings ----------------------------------------------------------------------

    def _join(self, argument: Any) -> Any:
        if not isinstance(argument, list) or len(argument) != 2 or not isinstance(argument[0], str):
            raise TemplateError(JOIN_SHAPE)
        items = self.resolve(argument[1])
        if items is UNKNOWN:
            return UNKNOWN
        if not isinstance(items, list):
            raise TemplateError(JOIN_SHAPE)
        if UNKNOWN in items:
            return UNKNOWN
        if not all(is_scalar(item) for item in items):
            raise TemplateError(JOIN_SHAPE)
        return argument[0].join(scalar_text(item) for item in items)

    def _select(self, argument: Any) -> Any:
        if not isinstance(argument, list) or len(argument) != 2:
            raise TemplateError(SELECT_SHAPE)
        index = self.resolve(argument[0])
        items = self.resolve(argument[1])
        if index is UNKNOWN or items is UNKNOWN:
            return UNKNOWN
        position = _index(index)
        if position is None or not isinstance(items, list) or not 0 <= position < len(items):
            raise TemplateError(SELECT_SHAPE)
        return items[position]

    def _split(self, argument: Any) -> Any:
        if not isinstance(argument, list) or len(argument) != 2 or not isinstance(argument[0], str) or not argument[0]:
            raise TemplateError(SPLIT_SHAPE)
        source = self.resolve(argument[1])
        if source is UNKNOWN:
            return UNKNOWN
        if not isinstance(source, str):
            raise TemplateError(SPLIT_SHAPE)
        return source.split(argument[0])

    def _find_in_map(self, argument: Any) -> Any:
        if not isinstance(argument, list) or len(argument) != 3:
            raise TemplateError(FIND_IN_MAP_SHAPE)
        keys = [self.resolve(item) for item in argument]
        if UNKNOWN in keys:
            return UNKNOWN
        if not all(is_scalar(k) for k in keys):
            raise TemplateError(FIND_IN_MAP_SHAPE)
        names = [scalar_text(k) for k in keys]
        found: Any = self.evaluation.template.mappings
        for name in names:
            found = _entry(found, name)
            if found is None:
                raise TemplateError(f"Template error: Unable to get mapping for {'::'.join(names)}")
        return found

    def _base64(self, argument: Any) -> Any:
        value = self.resolve(argument)
        if value is UNKNOWN:
            return UNKNOWN
        if not is_scalar(value):
            raise TemplateError("Template error: Fn::Base64 requires a string argument")
        return base64.b64encode(scalar_text(value).encode()).decode()

    def _get_azs(self, argument: Any) -> Any:
        region = self.resolve(argument)
        if region is UNKNOWN:
            return UNKNOWN
        name = scalar_text(region) if is_scalar(region) and region != "" else self.evaluation.context.region
        return [f"{name}a", f"{name}b", f"{name}c"]

    # --- conditions -----------------------------------------------------------------------------

    def _if(self, argument: Any) -> Any:
        if not isinstance(argument, list) or len(argument) != 3 or not isinstance(argument[0], str):
            raise TemplateError(IF_SHAPE)
        chosen = self.evaluation._condition(argument[0], "Fn::If")
        return self.resolve(argument[1] if chosen else argument[2])

    def _named_condition(self, argument: Any) -> bool:
        return self.evaluation._condition(str(argument), "Condition")

    def _equals(self, argument: Any) -> bool:
        if not isinstance(argument, list) or len(argument) != 2:
            raise TemplateError(EQUALS_SHAPE)
        left, right = (_comparable(self.resolve(a)) for a in argument)
        return bool(left == right)

    def _not(self, argument: Any) -> bool:
        if not isinstance(argument, list) or len(argument) != 1:
            raise TemplateError("Template error: every Fn::Not object requires a list of 1 boolean parameter.")
        return not self._boolean("Fn::Not", argument[0])

    def _and_or(self, name: str, argument: Any) -> bool:
        if not isinstance(argument, list) or not 2 <= len(argument) <= 10:
            raise TemplateError(
                f"Template error: every {name} object requires a list of at least 2 and at most 10 boolean parameters."
            )
        values = [self._boolean(name, item) for item in argument]
        return all(values) if name == "Fn::And" else any(values)

    def _boolean(self, name: str, item: Any) -> bool:
        if function_name(item) == "Condition":
            return self.evaluation._condition(str(item["Condition"]), name)
        value = self.resolve(item)
        if not isinstance(value, bool):
            raise TemplateError(f"Template error: every {name} object requires boolean parameters")
        return value


def _index(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _entry(mapping: Any, key: str) -> Any:
    if not isinstance(mapping, dict):
        return None
    for candidate, value in mapping.items():
        if scalar_text(candidate) == key:
            return value
    return None


def _comparable(value: Any) -> Any:
    if isinstance(value, list):
        return [_comparable(v) for v in value]
    return scalar_text(value) if is_scalar(value) else value
