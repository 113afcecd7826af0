"""What a template would change in a stack, and how actual resources differ from it. No I/O.

A change set, an update and a drift check all compare evaluated values, never template text:
a reformatted template with the same values is no change, and a property fed by a resource that
is being replaced is a change whose value is known only at deploy time (``UNKNOWN``).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from kubegate.domain.stacks import StackResource
from kubegate.stack_template import (
    UNKNOWN,
    Evaluation,
    PropertyError,
    ResourceValues,
    Template,
    TemplateError,
    update_kind,
    validate_properties,
)


@dataclass(frozen=True)
class ResourceChange:
    action: str  # Add | Modify | Remove
    logical_id: str
    type: str
    physical_id: str | None = None
    replacement: str | None = None  # Modify only: True | False | Conditional
    details: tuple[tuple[str, str], ...] = ()  # (property name, RequiresRecreation)

    def wire(self) -> dict[str, Any]:
        """The change set's Change member, as DescribeChangeSet returns it."""
        change: dict[str, Any] = {"Action": self.action, "LogicalResourceId": self.logical_id,
                                  "ResourceType": self.type}
        if self.physical_id is not None:
            change["PhysicalResourceId"] = self.physical_id
        if self.action == "Modify":
            change["Replacement"] = self.replacement
            change["Scope"] = ["Properties"]
            change["Details"] = [
                {"Target": {"Attribute": "Properties", "Name": name, "RequiresRecreation": recreation},
                 "Evaluation": "Static", "ChangeSource": "DirectModification"}
                for name, recreation in self.details
            ]
        else:
            change["Scope"] = []
            change["Details"] = []
        return {"Type": "Resource", "ResourceChange": change}


@dataclass
class Plan:
    changes: list[ResourceChange] = field(default_factory=list)
    outputs_change: bool = False

    @property
    def empty(self) -> bool:
        return not self.changes and not self.outputs_change


def resource_values(resource: StackResource) -> ResourceValues:
    return ResourceValues(ref=resource.ref, attributes=resource.attributes)


def plan_changes(template: Template, evaluation: Evaluation, old: Mapping[str, StackResource],
                 old_outputs: list[dict[str, Any]]) -> Plan:
    """The changes deploying ``evaluation`` onto resources ``old`` would make, in deploy order.

    Raises TemplateError when the template cannot be evaluated against the stack."""
    plan = Plan()
    known: dict[str, ResourceValues | None] = {}
    active = evaluation.resources()
    for logical_id in active:
        spec = template.resources[logical_id]
        properties = evaluation.properties(logical_id, known.get)
        try:
            properties = validate_properties(logical_id, spec.type, properties)
        except PropertyError:
            pass  # the deploy reports it against the resource; the change is still a change
        current = old.get(logical_id)
        if current is None:
            plan.changes.append(ResourceChange("Add", logical_id, spec.type))
            known[logical_id] = None
            continue
        if current.type != spec.type:
            raise TemplateError(f"Update of resource type is not permitted. The new template modifies resource "
                                f"type of resource {logical_id}.")
        kind = update_kind(spec.type, current.properties, properties)
        if not kind.details:
            known[logical_id] = resource_values(current)
            continue
        plan.changes.append(ResourceChange(
            "Modify", logical_id, spec.type, current.physical_id, kind.replacement,
            tuple((d.name, d.requires_recreation) for d in kind.details),
        ))
        known[logical_id] = resource_values(current) if kind.replacement == "False" else None
    for logical_id, current in old.items():
        if logical_id not in active:
            plan.changes.append(ResourceChange("Remove", logical_id, current.type, current.physical_id))
    try:
        new_outputs = outputs_wire(evaluation, known.get)
    except TemplateError:
        new_outputs = None
    plan.outputs_change = new_outputs != old_outputs
    return plan


def outputs_wire(evaluation: Evaluation, lookup: Any) -> list[dict[str, Any]]:
    """The stack's Outputs member; an output whose value is not known yet compares unequal to any."""
    out: list[dict[str, Any]] = []
    for output in evaluation.outputs(lookup):
        value = output.value
        if value is UNKNOWN:
            value = "{{unknown}}"
        elif isinstance(value, list):
            value = ",".join(str(v) for v in value)
        item: dict[str, Any] = {"OutputKey": output.key, "OutputValue": str(value)}
        if output.description is not None:
            item["Description"] = output.description
        if output.export_name is not None:
            item["ExportName"] = output.export_name
        out.append(item)
    return out


def masked(value: Any, secrets: Collection[str]) -> Any:
    """``value`` with every NoEcho parameter value replaced by ``****``, wherever it appears."""
    if not secrets:
        return value
    if isinstance(value, str):
        for secret in sorted(secrets, key=len, reverse=True):
            value = value.replace(secret, "****")
        return value
    if isinstance(value, Mapping):
        return {k: masked(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v, secrets) for v in value]
    return value


def canonical(value: Any) -> Any:
    """Order-free form for drift: lists of these types are sets in EKS and IAM."""
    if isinstance(value, Mapping):
        return {k: canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return sorted((canonical(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True, default=str))
    if isinstance(value, str) and value[:1] in "{[":
        try:  # a policy document given as a JSON string compares by its value
            return canonical(json.loads(value))
        except ValueError:
            return value
    return value


def differences(expected: Mapping[str, Any], actual: Mapping[str, Any]) -> list[dict[str, str]]:
    """PropertyDifferences of a drifted resource, for the properties the template set."""
    out: list[dict[str, str]] = []
    for name, want in expected.items():
        if name == "Tags" or name not in actual and want in (None, [], {}):
            continue
        have = actual.get(name)
        if canonical(want) == canonical(have):
            continue
        kind = "REMOVE" if have in (None, [], {}) else "NOT_EQUAL"
        out.append({"PropertyPath": f"/{name}", "ExpectedValue": _text(want), "ActualValue": _text(have),
                    "DifferenceType": kind})
    return out


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
