"""The parsed template: immutable values built once by ``parsing.parse`` and only read afterwards."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ParameterSpec:
    """One declared parameter; values are strings because CloudFormation passes them as strings."""

    name: str
    type: str
    default: str | None = None
    allowed_values: tuple[str, ...] = ()
    allowed_pattern: str | None = None
    min_length: int | None = None
    max_length: int | None = None
    min_value: float | None = None
    max_value: float | None = None
    no_echo: bool = False
    description: str | None = None
    constraint_description: str | None = None


@dataclass(frozen=True, slots=True)
class ResourceSpec:
    """One declared resource; properties stay raw because intrinsics resolve only at deploy time."""

    logical_id: str
    type: str
    properties: Mapping[str, Any]
    depends_on: tuple[str, ...] = ()
    condition: str | None = None
    deletion_policy: str = "Delete"
    update_replace_policy: str = "Delete"


@dataclass(frozen=True, slots=True)
class OutputSpec:
    """One declared output; value and export name stay raw until the stack is evaluated."""

    key: str
    value: Any
    description: Any = None
    export_name: Any = None
    condition: str | None = None


@dataclass(frozen=True, slots=True)
class Template:
    """A structurally valid template; ``body`` is kept verbatim for GetTemplate."""

    body: str
    document: Mapping[str, Any]
    version: str | None
    description: str | None
    parameters: Mapping[str, ParameterSpec]
    mappings: Mapping[str, Any]
    conditions: Mapping[str, Any]
    resources: Mapping[str, ResourceSpec]
    outputs: Mapping[str, OutputSpec]
