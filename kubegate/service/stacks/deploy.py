"""Carrying out one stack operation: resources in dependency order, events as they happen, rollback.

CloudFormation's promise is that a failed operation leaves the stack as it was: everything the
operation created is deleted again, everything it changed in place is changed back, and a
replaced resource's old copy is only deleted once the whole update succeeded. Each step is
recorded (resource row and event) the moment it happens, so a reader sees progress and a crash
leaves an exact account of what exists.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kubegate.domain.stacks import STACK_TYPE, Stack, StackEvent, StackResource, failed_resources
from kubegate.service.stacks.calls import AwsCalls, ServiceError
from kubegate.service.stacks.plan import masked, outputs_wire, resource_values
from kubegate.service.stacks.providers.base import NewResource, Provider, Provisioned
from kubegate.stack_template import (
    Evaluation,
    PropertyError,
    ResourceValues,
    Template,
    TemplateError,
    generated_name,
    update_kind,
    validate_properties,
)
from kubegate.store.stacks import StackStore

REPLACING = "Requested update requires the creation of a new physical resource; hence creating one."
INITIATED = "Resource creation Initiated"


class ResourceFailed(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class Step:
    """What the operation did to one resource, for rollback."""

    kind: str  # created | updated | replaced
    new: StackResource
    old: StackResource | None = None


def record_stack_status(store: StackStore, stack: Stack, now: datetime, token: str | None = None) -> None:
    """Save the stack and log its status as a stack event (the stack's own name and ARN as the resource)."""
    store.save_stack(stack)
    store.add_event(StackEvent(
        stack_id=stack.stack_id, stack_name=stack.name, logical_id=stack.name, physical_id=stack.stack_id,
        type=STACK_TYPE, status=stack.status, timestamp=now, reason=stack.status_reason,
        client_request_token=token, event_id=str(uuid.uuid4()),
    ))


class Operation:
    """One running stack operation: its caller, its events, the stack row it moves along."""

    def __init__(self, store: StackStore, stack: Stack, calls: AwsCalls, providers: Mapping[str, Provider],
                 clock: Callable[[], datetime], rand: random.Random, token: str | None = None) -> None:
        self.store = store
        self.stack = stack
        self.calls = calls
        self.providers = providers
        self.clock = clock
        self.rand = rand
        self.token = token

    @property
    def secrets(self) -> list[str]:
        return [self.stack.parameters[k] for k in self.stack.no_echo if self.stack.parameters.get(k)]

    def stack_status(self, status: str, reason: str | None = None) -> None:
        now = self.clock()
        self.stack.status, self.stack.status_reason = status, reason
        if status == "DELETE_COMPLETE":
            self.stack.deleted_at = now
        record_stack_status(self.store, self.stack, now, self.token)

    def resource_event(self, logical_id: str, physical_id: str, type_: str, status: str,
                       reason: str | None = None, properties: Mapping[str, Any] | None = None) -> None:
        now = self.clock()
        shown = json.dumps(masked(dict(properties), self.secrets), default=str) if properties is not None else None
        self.store.add_event(StackEvent(
            stack_id=self.stack.stack_id, stack_name=self.stack.name, logical_id=logical_id,
            physical_id=physical_id, type=type_, status=status, timestamp=now, reason=reason, properties=shown,
            client_request_token=self.token,
            event_id=f"{logical_id}-{status}-{now.strftime('%Y-%m-%dT%H:%M:%S.%f')[:-3]}Z",
        ))

    def provider(self, type_: str) -> Provider:
        return self.providers[type_]

    def delete(self, resource: StackResource, policy: str, *, forget: bool = True) -> bool:
        """Delete one resource (or keep it, for Retain); False if the delete failed.

        With ``forget`` the resource's row goes with it (or records the failure); without, the row
        belongs to another copy (the old one of a replacement) and is left alone."""
        stack_id = self.stack.stack_id
        if policy == "Retain":
            self.resource_event(resource.logical_id, resource.physical_id, resource.type, "DELETE_SKIPPED")
            if forget:
                self.store.remove_resource(stack_id, resource.logical_id)
            return True
        self.resource_event(resource.logical_id, resource.physical_id, resource.type, "DELETE_IN_PROGRESS")
        try:
            self.provider(resource.type).delete(self.calls, provisioned(resource), resource.properties)
        except ServiceError as exc:
            if forget:
                resource.status, resource.status_reason = "DELETE_FAILED", exc.reason()
                self.store.put_resource(stack_id, resource)
            self.resource_event(resource.logical_id, resource.physical_id, resource.type, "DELETE_FAILED",
                                exc.reason())
            return False
        if forget:
            self.store.remove_resource(stack_id, resource.logical_id)
        self.resource_event(resource.logical_id, resource.physical_id, resource.type, "DELETE_COMPLETE")
        return True


class Deployment:
    """Brings a stack's resources from ``old`` to what ``evaluation`` describes."""

    def __init__(self, op: Operation, template: Template, evaluation: Evaluation,
                 old: Mapping[str, StackResource]) -> None:
        self.op = op
        self.template = template
        self.evaluation = evaluation
        self.old = dict(old)
        self.current: dict[str, StackResource] = {}  # the resources the new template has so far
        self.steps: list[Step] = []
        self.failed: list[str] = []
        self.failed_verb = "create"

    def lookup(self, logical_id: str) -> ResourceValues | None:
        resource = self.current.get(logical_id)
        return resource_values(resource) if resource is not None else None

    def run(self) -> bool:
        """Create or change every resource of the new template; False at the first failure."""
        for logical_id in self.evaluation.resources():
            old = self.old.get(logical_id)
            spec_type = self.template.resources[logical_id].type
            try:
                properties = validate_properties(logical_id, spec_type,
                                                 self.evaluation.properties(logical_id, self.lookup))
            except (PropertyError, TemplateError) as exc:
                self._fail(logical_id, old.physical_id if old else "", spec_type, exc.message,
                           "CREATE_FAILED" if old is None else "UPDATE_FAILED")
                return False
            try:
                if old is None:
                    self.current[logical_id] = self._create(logical_id, spec_type, properties, None)
                    self.steps.append(Step("created", self.current[logical_id]))
                    continue
                kind = update_kind(spec_type, old.properties, properties)
                if not kind.details:
                    self.current[logical_id] = old
                elif kind.replacement != "False":
                    self._check_replaceable(logical_id, spec_type, old, properties)
                    self.current[logical_id] = self._create(logical_id, spec_type, properties, old)
                    self.steps.append(Step("replaced", self.current[logical_id], old))
                else:
                    self.current[logical_id] = self._update(old, properties)
                    self.steps.append(Step("updated", self.current[logical_id], old))
            except ResourceFailed:
                return False
        return True

    def outputs(self) -> list[dict[str, Any]]:
        shown: list[dict[str, Any]] = masked(outputs_wire(self.evaluation, self.lookup), self.op.secrets)
        return shown

    def removed(self, old_order: list[str]) -> list[StackResource]:
        """Old resources the new template no longer has, in reverse dependency order."""
        gone = [lid for lid in self.old if lid not in self.current]
        rank = {lid: i for i, lid in enumerate(old_order)}
        return [self.old[lid] for lid in sorted(gone, key=lambda lid: rank.get(lid, -1), reverse=True)]

    # --- steps ----------------------------------------------------------------------------

    def _create(self, logical_id: str, type_: str, properties: dict[str, Any],
                replacing: StackResource | None) -> StackResource:
        op = self.op
        verb = "CREATE" if replacing is None else "UPDATE"
        if replacing is None:
            op.resource_event(logical_id, "", type_, "CREATE_IN_PROGRESS", None, properties)
        else:
            op.resource_event(logical_id, replacing.physical_id, type_, "UPDATE_IN_PROGRESS", REPLACING, properties)
        new = NewResource(
            logical_id=logical_id, stack_name=op.stack.name,
            tags={t["Key"]: t["Value"] for t in op.stack.tags},
            generated_name=lambda length: generated_name(op.stack.name, logical_id, length, op.rand),
        )
        try:
            made = op.provider(type_).create(op.calls, new, properties)
        except ServiceError as exc:
            self._fail(logical_id, replacing.physical_id if replacing else "", type_, exc.reason(), f"{verb}_FAILED")
            raise ResourceFailed(exc.reason()) from exc
        op.resource_event(logical_id, made.physical_id, type_, f"{verb}_IN_PROGRESS", INITIATED, properties)
        resource = StackResource(
            logical_id=logical_id, type=type_, physical_id=made.physical_id, status=f"{verb}_COMPLETE",
            properties=properties, ref=made.ref, attributes=dict(made.attributes), updated_at=op.clock(),
            deletion_policy=self.evaluation.deletion_policy(logical_id),
            update_replace_policy=self.evaluation.update_replace_policy(logical_id),
        )
        if replacing is None:
            op.store.put_resource(op.stack.stack_id, resource)
        op.resource_event(logical_id, made.physical_id, type_, f"{verb}_COMPLETE", None, properties)
        return resource

    def _update(self, old: StackResource, properties: dict[str, Any]) -> StackResource:
        op = self.op
        op.resource_event(old.logical_id, old.physical_id, old.type, "UPDATE_IN_PROGRESS", None, properties)
        try:
            made = op.provider(old.type).update(op.calls, provisioned(old), old.properties, properties)
        except ServiceError as exc:
            self._fail(old.logical_id, old.physical_id, old.type, exc.reason(), "UPDATE_FAILED")
            raise ResourceFailed(exc.reason()) from exc
        resource = StackResource(
            logical_id=old.logical_id, type=old.type, physical_id=made.physical_id, status="UPDATE_COMPLETE",
            properties=properties, ref=made.ref, attributes=dict(made.attributes), updated_at=op.clock(),
            deletion_policy=self.evaluation.deletion_policy(old.logical_id),
            update_replace_policy=self.evaluation.update_replace_policy(old.logical_id),
        )
        op.store.put_resource(op.stack.stack_id, resource)
        op.resource_event(old.logical_id, made.physical_id, old.type, "UPDATE_COMPLETE", None, properties)
        return resource

    def _check_replaceable(self, logical_id: str, type_: str, old: StackResource, properties: dict[str, Any]) -> None:
        """A custom name that stays the same would make the replacement collide with the original."""
        name_property = _NAME_PROPERTIES.get(type_)
        if name_property and properties.get(name_property) is not None \
                and properties.get(name_property) == old.properties.get(name_property):
            reason = (f"CloudFormation cannot update a stack when a custom-named resource requires replacing. "
                      f"Rename {old.physical_id} and update the stack again.")
            self._fail(logical_id, old.physical_id, type_, reason, "UPDATE_FAILED")
            raise ResourceFailed(reason)

    def _fail(self, logical_id: str, physical_id: str, type_: str, reason: str, status: str) -> None:
        self.failed.append(logical_id)
        self.failed_verb = "create" if status == "CREATE_FAILED" else "update"
        self.op.resource_event(logical_id, physical_id, type_, status, reason)

    # --- rollback -------------------------------------------------------------------------

    def undo_in_place(self) -> bool:
        """Change back what was updated in place, newest first; True if all of it went back."""
        ok = True
        op = self.op
        for step in reversed(self.steps):
            if step.kind != "updated" or step.old is None:
                continue
            old, new = step.old, step.new
            op.resource_event(old.logical_id, new.physical_id, old.type, "UPDATE_IN_PROGRESS", None, old.properties)
            try:
                op.provider(old.type).update(op.calls, provisioned(new), new.properties, old.properties)
            except ServiceError as exc:
                op.resource_event(old.logical_id, new.physical_id, old.type, "UPDATE_FAILED", exc.reason())
                ok = False
                continue
            op.store.put_resource(op.stack.stack_id, old)
            op.resource_event(old.logical_id, old.physical_id, old.type, "UPDATE_COMPLETE", None, old.properties)
        return ok

    def undo_new(self) -> bool:
        """Delete what the operation created (new resources, new copies of replaced ones), newest
        first; a new resource marked Retain is kept, as CloudFormation keeps it."""
        ok = True
        for step in reversed(self.steps):
            if step.kind == "created":
                ok = self.op.delete(step.new, step.new.deletion_policy) and ok
            elif step.kind == "replaced":
                ok = self.op.delete(step.new, "Delete", forget=False) and ok
        return ok

    def clean_up(self, old_order: list[str]) -> list[str]:
        """After a successful update: old copies of replaced resources and removed resources go.

        Their failures are reported as events but do not fail the update, as on CloudFormation."""
        failed: list[str] = []
        for step in reversed(self.steps):
            if step.kind == "replaced" and step.old is not None:
                self.op.store.put_resource(self.op.stack.stack_id, step.new)
                if not self.op.delete(step.old, step.old.update_replace_policy, forget=False):
                    failed.append(step.old.logical_id)
        for resource in self.removed(old_order):
            if not self.op.delete(resource, resource.deletion_policy):
                failed.append(resource.logical_id)
        return failed

    def failure_reason(self) -> str:
        return failed_resources(self.failed_verb, self.failed)


def provisioned(resource: StackResource) -> Provisioned:
    return Provisioned(physical_id=resource.physical_id, ref=resource.ref, attributes=resource.attributes)


_NAME_PROPERTIES = {  # the property that names the physical resource: a replacement keeping it collides
    "AWS::EKS::Cluster": "Name", "AWS::EKS::IdentityProviderConfig": "IdentityProviderConfigName",
    "AWS::IAM::Role": "RoleName", "AWS::IAM::User": "UserName", "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
    "AWS::IAM::OIDCProvider": "Url",
}
