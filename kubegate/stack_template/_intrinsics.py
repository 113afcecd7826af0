"""Recognising intrinsic functions and the names they reference, without evaluating anything.

Shared by ``checks`` (static validation of the whole template) and ``evaluation`` (dependencies
after conditions are known), so both agree on what counts as a reference.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import TemplateError

PSEUDO_PARAMETERS = frozenset(
    {"AWS::AccountId", "AWS::Region", "AWS::StackName", "AWS::StackId", "AWS::Partition", "AWS::URLSuffix",
     "AWS::NotificationARNs", "AWS::NoValue"}
)
SUPPORTED = frozenset(
    {"Ref", "Condition", "Fn::GetAtt", "Fn::Sub", "Fn::Join", "Fn::Select", "Fn::Split", "Fn::FindInMap",
     "Fn::If", "Fn::Base64", "Fn::GetAZs", "Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or"}
)
CONDITION_FUNCTIONS = frozenset({"Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or", "Condition"})

GETATT_SHAPE = (
    "Template error: every Fn::GetAtt object requires two non-empty parameters, "
    "the resource name and the resource attribute"
)
JOIN_SHAPE = (
    "Template error: every Fn::Join object requires two parameters, (1) a string delimiter and (2) a list of "
    "strings to be joined or a function that returns a list of strings (such as Fn::GetAZs) to be joined."
)
SELECT_SHAPE = "Template error: Fn::Select requires a list argument with two elements: an integer index and a list"
SPLIT_SHAPE = (
    "Template error: every Fn::Split object requires two parameters, (1) a string delimiter and (2) a string "
    "to be split or a function that returns a string to be split."
)
EQUALS_SHAPE = "Template error: every Fn::Equals object requires a list of 2 string parameters."
SUB_SHAPE = (
    "Template error: One or more Fn::Sub intrinsic functions don't specify expected arguments. Specify a string "
    "as first argument, and an optional second argument to specify a mapping of values to replace in the string"
)
FIND_IN_MAP_SHAPE = (
    "Template error: every Fn::FindInMap object requires three parameters, the map name, map key and the "
    "attribute for return value"
)
IF_SHAPE = "Template error: Fn::If requires a list argument with three elements"
REF_SHAPE = "Template format error: Every Ref object must have a single String value."

_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


def function_name(value: Any) -> str | None:
    """The intrinsic a value invokes (``{"Fn::Join": …}``), or None for plain data."""
    if isinstance(value, dict) and len(value) == 1:
        (key,) = value
        if key == "Ref" or key.startswith("Fn::") or (key == "Condition" and isinstance(value[key], str)):
            return str(key)
    return None


@dataclass(frozen=True, slots=True)
class SubPart:
    """A piece of an Fn::Sub string: literal text, or a ``${name}`` variable."""

    text: str
    variable: bool


def sub_parts(template: str) -> list[SubPart]:
    """Split an Fn::Sub string; ``${!x}`` is the literal text ``${x}``."""
    parts: list[SubPart] = []
    position = 0
    for match in _SUB_VARIABLE.finditer(template):
        if match.start() > position:
            parts.append(SubPart(template[position : match.start()], False))
        name = match.group(1)
        if name.startswith("!"):
            parts.append(SubPart("${" + name[1:] + "}", False))
        else:
            parts.append(SubPart(name.strip(), True))
        position = match.end()
    if position < len(template):
        parts.append(SubPart(template[position:], False))
    return parts


def sub_arguments(argument: Any) -> tuple[str, Mapping[str, Any]]:
    """The string and variable map of an Fn::Sub, in either form."""
    if isinstance(argument, str):
        return argument, {}
    if (
        isinstance(argument, list)
        and len(argument) == 2
        and isinstance(argument[0], str)
        and isinstance(argument[1], dict)
    ):
        return argument[0], argument[1]
    raise TemplateError(SUB_SHAPE)


def getatt_arguments(argument: Any) -> tuple[str, Any]:
    """Resource name and attribute of an Fn::GetAtt (list or ``"Res.Attr"`` string form)."""
    if isinstance(argument, str):
        head, dot, tail = argument.partition(".")
        argument = [head, tail] if dot else [argument]
    if (
        isinstance(argument, list)
        and len(argument) == 2
        and isinstance(argument[0], str)
        and argument[0]
        and ((isinstance(argument[1], str) and argument[1]) or function_name(argument[1]) is not None)
    ):
        return argument[0], argument[1]
    raise TemplateError(GETATT_SHAPE)


@dataclass(frozen=True, slots=True)
class Reference:
    """A name an expression depends on.

    ``kind`` is Ref (parameter, pseudo parameter or resource), GetAtt (resource, with ``attribute``
    when it is a literal) or Condition (a condition named by Fn::If or ``{"Condition": …}``, with
    ``function`` naming where it appeared).
    """

    kind: str
    name: str
    attribute: str | None = None
    function: str | None = None


def references(value: Any, choose: Callable[[str], bool] | None = None) -> Iterator[Reference]:
    """Every reference in an expression. With ``choose`` (condition name → value) only the taken
    branch of each Fn::If is followed, as CloudFormation does once conditions are known."""
    name = function_name(value)
    if name is None:
        if isinstance(value, dict):
            for item in value.values():
                yield from references(item, choose)
        elif isinstance(value, list):
            for item in value:
                yield from references(item, choose)
        return
    argument = value[name]
    if name == "Ref":
        if not isinstance(argument, str):
            raise TemplateError(REF_SHAPE)
        yield Reference("Ref", argument)
    elif name == "Condition":
        yield Reference("Condition", argument, function="Condition")
    elif name == "Fn::GetAtt":
        resource, attribute = getatt_arguments(argument)
        yield Reference("GetAtt", resource, attribute if isinstance(attribute, str) else None)
        if not isinstance(attribute, str):
            yield from references(attribute, choose)
    elif name == "Fn::Sub":
        text, variables = sub_arguments(argument)
        for item in variables.values():
            yield from references(item, choose)
        for part in sub_parts(text):
            if part.variable and part.text not in variables:
                head, dot, tail = part.text.partition(".")
                if dot and part.text not in PSEUDO_PARAMETERS:
                    yield Reference("GetAtt", head, tail)
                else:
                    yield Reference("Ref", part.text)
    elif name == "Fn::If":
        if not isinstance(argument, list) or len(argument) != 3 or not isinstance(argument[0], str):
            raise TemplateError(IF_SHAPE)
        yield Reference("Condition", argument[0], function="Fn::If")
        if choose is None:
            yield from references(argument[1:], choose)
        else:
            yield from references(argument[1] if choose(argument[0]) else argument[2], choose)
    else:
        if name in ("Fn::And", "Fn::Or", "Fn::Not") and isinstance(argument, list):
            for item in argument:
                condition = function_name(item)
                if condition == "Condition":
                    yield Reference("Condition", item["Condition"], function=name)
                else:
                    yield from references(item, choose)
            return
        yield from references(argument, choose)
