"""What every resource provider is: a small create/update/delete/read over the public APIs.

A provider receives properties already resolved (intrinsics evaluated, ``AWS::NoValue`` removed)
and validated against the type's schema (``kubegate.stack_template.resource_types``), so it only
translates them into EKS or IAM calls and reports CloudFormation's Ref and GetAtt values.
Replacement is decided by the stack layer from the schema; ``update`` is only ever asked to
change a resource in place.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from kubegate.service.stacks.calls import AwsCalls

Properties = Mapping[str, Any]


@dataclass(frozen=True)
class Provisioned:
    """A resource as the stack knows it once a create or update finished."""

    physical_id: str
    ref: str  # what Ref returns
    attributes: Mapping[str, Any] = field(default_factory=dict)  # what Fn::GetAtt returns, by attribute name


@dataclass(frozen=True)
class NewResource:
    """What a create knows besides the properties."""

    logical_id: str
    stack_name: str
    tags: Mapping[str, str]  # the stack's tags, for taggable types (resource Tags win on a clash)
    generated_name: Callable[[int], str]  # a physical name of at most this many characters, for an omitted name


class Provider(Protocol):
    type_name: str  # e.g. "AWS::EKS::AccessEntry"

    def create(self, call: AwsCalls, new: NewResource, properties: Properties) -> Provisioned:
        """Create and wait until usable (a cluster ACTIVE). Partial work is undone before raising."""

    def update(self, call: AwsCalls, current: Provisioned, old: Properties, new: Properties) -> Provisioned:
        """Change in place from ``old`` to ``new`` by diff; only properties that update without replacement differ."""

    def delete(self, call: AwsCalls, current: Provisioned, properties: Properties) -> None:
        """Remove, and whatever the create attached; a resource already gone is not an error."""

    def read(self, call: AwsCalls, current: Provisioned, properties: Properties) -> Properties | None:
        """The resource's actual values of the properties it manages, for drift; None if it is gone."""
