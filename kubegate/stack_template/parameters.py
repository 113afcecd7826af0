"""Binding the caller's parameter values to a template's declarations."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from .errors import TemplateError
from .model import ParameterSpec, Template
from .parsing import LIST_PARAMETER_TYPES

_NUMBER = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$")


@dataclass(frozen=True, slots=True)
class ParameterInput:
    """One ``Parameters.member.N`` of a request: a value, or UsePreviousValue on an update."""

    value: str | None = None
    use_previous: bool = False


@dataclass(frozen=True, slots=True)
class ParameterValues:
    """The bound values (strings, as stored and echoed), with what Ref needs to know about each."""

    values: Mapping[str, str]
    no_echo: frozenset[str]
    types: Mapping[str, str]

    def ref(self, name: str) -> str | list[str]:
        """The value ``Ref`` yields: list-typed parameters split at commas, items trimmed."""
        value = self.values[name]
        if self.types.get(name) in LIST_PARAMETER_TYPES:
            return [item.strip() for item in value.split(",")]
        return value

    def shown(self) -> list[tuple[str, str]]:
        """(key, value) pairs for DescribeStacks, NoEcho values masked as CloudFormation does."""
        return [(k, "****" if k in self.no_echo else v) for k, v in self.values.items()]


def bind(
    template: Template, given: Mapping[str, ParameterInput], previous: Mapping[str, str] | None = None
) -> ParameterValues:
    """Resolve every declared parameter (given value, previous value, or Default) and check it."""
    unknown = [name for name in given if name not in template.parameters]
    if unknown:
        raise TemplateError(f"Parameters: [{', '.join(unknown)}] do not exist in the template")
    values: dict[str, str] = {}
    missing: list[str] = []
    for name, spec in template.parameters.items():
        value = _choose(spec, given.get(name), previous or {})
        if value is None:
            missing.append(name)
        else:
            values[name] = value
    if missing:
        raise TemplateError(f"Parameters: [{', '.join(missing)}] must have values")
    for name, spec in template.parameters.items():
        _check(spec, values[name])
    return ParameterValues(
        values=values,
        no_echo=frozenset(n for n, s in template.parameters.items() if s.no_echo),
        types={n: s.type for n, s in template.parameters.items()},
    )


def _choose(spec: ParameterSpec, given: ParameterInput | None, previous: Mapping[str, str]) -> str | None:
    if given is not None and given.use_previous:
        return previous.get(spec.name)
    if given is not None and given.value is not None:
        return given.value
    return spec.default


def _check(spec: ParameterSpec, value: str) -> None:
    name = spec.name
    is_list = spec.type in LIST_PARAMETER_TYPES
    items = [item.strip() for item in value.split(",")] if is_list else [value]
    if spec.type in ("Number", "List<Number>") and not all(_NUMBER.match(item) for item in items):
        raise TemplateError(f"Parameter '{name}' must be a number.")

    def fail(default_message: str) -> TemplateError:
        if spec.constraint_description:
            return TemplateError(f"Parameter '{name}' failed to satisfy constraint: {spec.constraint_description}")
        return TemplateError(default_message)

    for item in items:
        if spec.allowed_values and item not in spec.allowed_values:
            raise fail(f"Parameter '{name}' must be one of AllowedValues")
        if spec.allowed_pattern is not None and not _full_match(spec.allowed_pattern, item):
            raise fail(f"Parameter '{name}' must match pattern {spec.allowed_pattern}")
    if spec.type == "String" or not is_list and spec.type != "Number":
        if spec.min_length is not None and len(value) < spec.min_length:
            raise fail(f"Parameter '{name}' must contain at least {spec.min_length} characters")
        if spec.max_length is not None and len(value) > spec.max_length:
            raise fail(f"Parameter '{name}' must contain at most {spec.max_length} characters")
    if spec.type in ("Number", "List<Number>"):
        for item in items:
            number = float(item)
            if spec.min_value is not None and number < spec.min_value:
                raise fail(f"Parameter '{name}' must be a number not less than {_number_text(spec.min_value)}")
            if spec.max_value is not None and number > spec.max_value:
                raise fail(f"Parameter '{name}' must be a number not greater than {_number_text(spec.max_value)}")


def _full_match(pattern: str, value: str) -> bool:
    """AllowedPattern must match the whole value (Java ``String.matches`` semantics)."""
    try:
        return re.fullmatch(pattern, value) is not None
    except re.error:
        raise TemplateError(f"Template format error: Invalid AllowedPattern {pattern}") from None


def _number_text(number: float) -> str:
    return str(int(number)) if number.is_integer() else str(number)
