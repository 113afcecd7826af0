"""kubegate's CloudFormation template engine: pure functions from a template body to a deploy plan.

    parse(body) -> Template                      format and structure (parsing)
    check(template), check_capabilities(...)     static validation (checks)
    bind(template, given, previous)              parameters (parameters)
    Evaluation(template, parameters, context)    conditions, order, properties, outputs (evaluation)
    validate_properties, update_kind             resource schemas (resource_types)
    generated_name                               physical names (names)

No I/O: storage, clock and randomness are supplied by the caller.
"""

from __future__ import annotations

from ._unknown import UNKNOWN
from .checks import TemplateSummary, check, check_capabilities, required_capabilities, summary
from .errors import CapabilitiesRequired, PropertyError, TemplateError
from .evaluation import Context, Evaluation, OutputValue, ResourceValues
from .model import OutputSpec, ParameterSpec, ResourceSpec, Template
from .names import generated_name
from .parameters import ParameterInput, ParameterValues, bind
from .parsing import parse
from .resource_types import (
    RESOURCE_TYPES,
    PropertyChange,
    PropertySpec,
    Replacement,
    ResourceType,
    update_kind,
    validate_properties,
)

__all__ = [
    "RESOURCE_TYPES",
    "UNKNOWN",
    "CapabilitiesRequired",
    "Context",
    "Evaluation",
    "OutputSpec",
    "OutputValue",
    "ParameterInput",
    "ParameterSpec",
    "ParameterValues",
    "PropertyChange",
    "PropertyError",
    "PropertySpec",
    "Replacement",
    "ResourceSpec",
    "ResourceType",
    "ResourceValues",
    "Template",
    "TemplateError",
    "TemplateSummary",
    "bind",
    "check",
    "check_capabilities",
    "generated_name",
    "parse",
    "required_capabilities",
    "summary",
    "update_kind",
    "validate_properties",
]
