"""The stack operations CloudFormation offers: stacks, change sets, templates, drift.

Every operation that changes resources runs to its end before the call returns, so the
waiters of the AWS CLI, boto3 and the JS SDK see a final status on their first poll. Every
template, parameter and capability error is found before anything is written, and a stack
that is busy refuses a second operation (a compare-and-set on its status in the database).
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from fnmatch import fnmatchcase
from typing import Any

from kubegate.domain.stacks import (
    DELETABLE,
    IN_PROGRESS,
    NO_CHANGES,
    UPDATABLE,
    ChangeSet,
    Stack,
    StackError,
    StackResource,
    change_set_arn,
    check_change_set_name,
    check_stack_name,
    check_template_size,
    failed_resources,
    is_arn,
    not_updatable,
    stack_arn,
)
from kubegate.service.stacks.calls import AwsCalls, ServiceError
from kubegate.service.stacks.deploy import Deployment, Operation, provisioned, record_stack_status
from kubegate.service.stacks.plan import differences, masked, plan_changes
from kubegate.service.stacks.providers.base import Provider
from kubegate.stack_template import (
    CapabilitiesRequired,
    Context,
    Evaluation,
    ParameterInput,
    ParameterValues,
    PropertyError,
    Template,
    TemplateError,
    bind,
    check,
    check_capabilities,
    parse,
    summary,
    validate_properties,
)
from kubegate.store.database import Conflict
from kubegate.store.stacks import StackStore

SPENT = frozenset({"UNAVAILABLE", "EXECUTE_COMPLETE", "EXECUTE_FAILED", "OBSOLETE"})
"""Change sets that can never be executed again."""

ABANDONED_AFTER = timedelta(minutes=10)
"""A stack operation silent this long died with its process (the longest provider wait is 5 minutes)."""


def milliseconds(clock: Callable[[], datetime]) -> Callable[[], datetime]:
    """CloudFormation's timestamps carry milliseconds; the SDKs parse no finer."""
    return lambda: (now := clock()).replace(microsecond=now.microsecond // 1000 * 1000)


@dataclass(frozen=True)
class Prepared:
    """A template checked and bound to its parameters, ready to plan or deploy."""

    template: Template
    values: ParameterValues
    evaluation: Evaluation
    capabilities: list[str]


@dataclass(frozen=True)
class Request:
    """What every stack change asks for, as the API decoded it."""

    template_body: str | None = None
    use_previous_template: bool = False
    parameters: Mapping[str, ParameterInput] | None = None
    capabilities: tuple[str, ...] = ()
    tags: list[dict[str, str]] | None = None
    resource_types: tuple[str, ...] | None = None  # the caller's restriction on what may be provisioned


class StackService:
    def __init__(self, store: StackStore, providers: Mapping[str, Provider], *, account: str, region: str,
                 clock: Callable[[], datetime], partition: str = "aws", rand: random.Random | None = None,
                 abandoned_after: timedelta = ABANDONED_AFTER) -> None:
        self.store = store
        self.providers = providers
        self.account = account
        self.region = region
        self.partition = partition
        self.clock = clock
        self.rand = rand or random.SystemRandom()
        self.abandoned_after = abandoned_after

    # --- reading --------------------------------------------------------------------------

    def stack(self, name_or_arn: str, *, message: str = "with_id") -> Stack:
        """The stack, or CloudFormation's not-found error in the wording this operation uses."""
        check_stack_name(name_or_arn)
        stack = self.store.stack(name_or_arn)
        if stack is None or (stack.deleted_at is not None and not is_arn(name_or_arn)):
            raise StackError(f"Stack with id {name_or_arn} does not exist" if message == "with_id"
                             else f"Stack [{name_or_arn}] does not exist")
        return stack

    def stacks(self, name: str | None) -> list[Stack]:
        if name:
            return [self.stack(name)]
        return self.store.stacks(include_deleted=False)

    def all_stacks(self) -> list[Stack]:
        return self.store.stacks(include_deleted=True)

    def events(self, name: str) -> tuple[Stack, list[Any]]:
        stack = self.stack(name, message="brackets")
        return stack, self.store.events(stack.stack_id)

    def resources(self, name: str | None, physical_id: str | None = None) -> list[tuple[Stack, StackResource]]:
        if name:
            stack = self.stack(name)
            return [(stack, r) for r in self.store.resources(stack.stack_id)]
        if physical_id:
            found = self.store.resources_by_physical_id(physical_id)
            if not found:
                raise StackError(f"Stack for {physical_id} does not exist")
            return [(self.stack(stack_id), r) for stack_id, r in found]
        raise StackError("Either StackName or PhysicalResourceId must be specified.")

    def template_body(self, name: str | None, change_set: str | None) -> str:
        if change_set:
            return self.change_set(change_set, name).template_body
        if not name:
            raise StackError("Either StackName or ChangeSetName must be specified.")
        return self.stack(name).template_body

    def template_summary(self, body: str | None, stack_name: str | None) -> dict[str, Any]:
        if stack_name and body is None:
            stack = self.stack(stack_name)
            if stack.status == "REVIEW_IN_PROGRESS":
                raise StackError("GetTemplateSummary cannot be called on REVIEW_IN_PROGRESS stacks.")
            body = stack.template_body
        template = self._template(body)
        shape = summary(template)
        out: dict[str, Any] = {"Parameters": shape.parameters, "ResourceTypes": shape.resource_types}
        if shape.description is not None:
            out["Description"] = shape.description
        if shape.version is not None:
            out["Version"] = shape.version
        if shape.capabilities:
            out["Capabilities"] = shape.capabilities
            out["CapabilitiesReason"] = shape.capabilities_reason
        out["ResourceIdentifierSummaries"] = _identifier_summaries(template)
        return out

    def validate_template(self, body: str | None) -> dict[str, Any]:
        shape = summary(self._template(body))
        out: dict[str, Any] = {"Parameters": [
            {k: v for k, v in p.items() if k in ("ParameterKey", "DefaultValue", "NoEcho", "Description")}
            for p in shape.parameters
        ]}
        if shape.description is not None:
            out["Description"] = shape.description
        if shape.capabilities:
            out["Capabilities"] = shape.capabilities
            out["CapabilitiesReason"] = shape.capabilities_reason
        return out

    # --- stacks ---------------------------------------------------------------------------

    def create_stack(self, calls: AwsCalls, name: str, request: Request, *, on_failure: str,
                     token: str | None = None) -> str:
        check_stack_name(name)
        if is_arn(name):
            raise StackError(f"1 validation error detected: Value '{name}' at 'stackName' failed to satisfy "
                             "constraint: Member must satisfy regular expression pattern: [a-zA-Z][-a-zA-Z0-9]*")
        existing = self.store.stack(name)
        if existing is not None and existing.status != "REVIEW_IN_PROGRESS":
            raise StackError(f"Stack [{name}] already exists", "AlreadyExistsException")
        stack_id = existing.stack_id if existing else stack_arn(self.partition, self.region, self.account, name)
        prepared = self._prepare(name, stack_id, request, previous=None)
        now = self.clock()
        stack = self._new_stack(stack_id, name, prepared, request, now, status="CREATE_IN_PROGRESS",
                                disable_rollback=on_failure == "DO_NOTHING")
        if existing is None:
            try:
                self.store.add_stack(stack)
            except Conflict:
                raise StackError(f"Stack [{name}] already exists", "AlreadyExistsException") from None
        else:
            stack.created_at = existing.created_at
            if not self.store.begin_operation(stack_id, ["REVIEW_IN_PROGRESS"], "CREATE_IN_PROGRESS", None, now):
                raise StackError(f"Stack [{name}] already exists", "AlreadyExistsException")
            self.store.obsolete_other_change_sets(stack_id, keep=None)
        op = Operation(self.store, stack, calls, self.providers, self.clock, self.rand, token)
        op.stack_status("CREATE_IN_PROGRESS", "User Initiated")
        self._run_create(op, prepared, on_failure)
        return stack_id

    def update_stack(self, calls: AwsCalls, name: str, request: Request, *, disable_rollback: bool,
                     token: str | None = None) -> str:
        stack = self.stack(name, message="brackets")
        if stack.status not in UPDATABLE:
            raise not_updatable(stack.stack_id, stack.status)
        prepared = self._prepare(stack.name, stack.stack_id, request, previous=stack)
        plan = plan_changes(prepared.template, prepared.evaluation, self._resources(stack), stack.outputs)
        if plan.empty and (request.tags is None or request.tags == stack.tags):
            raise StackError("No updates are to be performed.")
        if not self.store.begin_operation(stack.stack_id, UPDATABLE, "UPDATE_IN_PROGRESS", "User Initiated",
                                          self.clock()):
            raise not_updatable(stack.stack_id, self.stack(stack.stack_id).status)
        self.store.obsolete_other_change_sets(stack.stack_id, keep=None)
        op = Operation(self.store, stack, calls, self.providers, self.clock, self.rand, token)
        if request.tags is not None:
            stack.tags = request.tags
        op.stack_status("UPDATE_IN_PROGRESS", "User Initiated")
        self._run_update(op, prepared, disable_rollback)
        return stack.stack_id

    def delete_stack(self, calls: AwsCalls, name: str, retain: Collection[str] = (), token: str | None = None) -> None:
        """An unknown stack is no error: deleting is idempotent."""
        check_stack_name(name)
        stack = self.store.stack(name)
        if stack is None or stack.status == "DELETE_COMPLETE":
            return
        if retain and stack.status != "DELETE_FAILED":
            raise StackError(f"Invalid operation on stack [{stack.stack_id}]. RetainResources may only be specified "
                             "when the stack is in the DELETE_FAILED state.")
        deletable = DELETABLE
        if stack.status in IN_PROGRESS:
            if not self._abandoned(stack):
                if stack.status == "DELETE_IN_PROGRESS":
                    return  # already going; the running operation finishes it
                raise StackError(f"Stack [{stack.name}] cannot be deleted while in status {stack.status}")
            deletable = frozenset({stack.status})  # its process died mid-way: what it recorded can go
        if not self.store.begin_operation(stack.stack_id, deletable, "DELETE_IN_PROGRESS", "User Initiated",
                                          self.clock()):
            return
        op = Operation(self.store, stack, calls, self.providers, self.clock, self.rand, token)
        op.stack_status("DELETE_IN_PROGRESS", "User Initiated")
        failed: list[str] = []
        for resource in self._in_delete_order(stack):
            policy = "Retain" if resource.logical_id in retain else resource.deletion_policy
            if not op.delete(resource, policy):
                failed.append(resource.logical_id)
        if failed:
            op.stack_status("DELETE_FAILED", failed_resources("delete", failed))
            return
        self.store.obsolete_other_change_sets(stack.stack_id, keep=None)
        op.stack_status("DELETE_COMPLETE")

    # --- change sets ----------------------------------------------------------------------

    def create_change_set(self, stack_name: str, change_set_name: str, request: Request, *, change_set_type: str,
                          description: str | None, on_failure: str) -> tuple[str, str]:
        check_stack_name(stack_name)
        check_change_set_name(change_set_name)
        if is_arn(change_set_name):
            raise StackError(f"1 validation error detected: Value '{change_set_name}' at 'changeSetName' failed "
                             "to satisfy constraint: Member must satisfy regular expression pattern: "
                             "[a-zA-Z][-a-zA-Z0-9]*")
        existing = self.store.stack(stack_name)
        now = self.clock()
        if change_set_type == "CREATE":
            if existing is not None and existing.status != "REVIEW_IN_PROGRESS":
                raise StackError(f"Stack [{stack_name}] already exists and cannot be created again with the "
                                 f"changeSet [{change_set_name}].")
            stack_id = existing.stack_id if existing else stack_arn(self.partition, self.region, self.account,
                                                                     stack_name)
            prepared = self._prepare(stack_name, stack_id, request, previous=None)
            plan = plan_changes(prepared.template, prepared.evaluation, {}, [])
            if existing is None:
                stack = self._new_stack(stack_id, stack_name, prepared, request, now, status="REVIEW_IN_PROGRESS",
                                        disable_rollback=False)
                stack.template_body = ""  # nothing is deployed yet
                try:
                    self.store.add_stack(stack)
                except Conflict:
                    raise StackError(f"Stack [{stack_name}] already exists and cannot be created again with the "
                                     f"changeSet [{change_set_name}].") from None
                stack.status_reason = "User Initiated"
                record_stack_status(self.store, stack, now)
            else:
                stack = existing
        else:
            if existing is None:
                raise StackError(f"Stack [{stack_name}] does not exist")
            stack = existing
            if stack.status not in UPDATABLE:
                raise not_updatable(stack.stack_id, stack.status)
            prepared = self._prepare(stack.name, stack.stack_id, request, previous=stack)
            plan = plan_changes(prepared.template, prepared.evaluation, self._resources(stack), stack.outputs)
            if request.tags is not None and request.tags != stack.tags:
                plan.outputs_change = True  # a tag-only edit counts as a change (UNCONFIRMED on AWS)
        arn = change_set_arn(self.partition, self.region, self.account, change_set_name)
        change_set = ChangeSet(
            arn=arn, name=change_set_name, stack_id=stack.stack_id, stack_name=stack.name,
            change_set_type=change_set_type, created_at=now,
            status="FAILED" if plan.empty else "CREATE_COMPLETE",
            execution_status="UNAVAILABLE" if plan.empty else "AVAILABLE",
            status_reason=NO_CHANGES if plan.empty else None,
            template_body=prepared.template.body, parameters=dict(prepared.values.values),
            no_echo=sorted(prepared.values.no_echo), parameter_order=list(prepared.template.parameters),
            capabilities=list(request.capabilities), tags=request.tags if request.tags is not None else stack.tags,
            changes=[c.wire() for c in plan.changes], description=description, on_failure=on_failure,
        )
        spent = self.store.change_set(stack_id=stack.stack_id, name=change_set_name)
        if spent is not None and spent.execution_status in SPENT:
            # The AWS CLI names its sets after the second; kubegate answers fast enough for two deploys in
            # one second, and a set that can no longer run is only in the way (a runnable one still conflicts).
            self.store.delete_change_set(spent.arn)
        try:
            self.store.add_change_set(change_set)
        except Conflict:
            raise StackError(f"ChangeSet [{change_set_name}] already exists", "AlreadyExistsException") from None
        stack.change_set_id = arn
        if change_set_type == "UPDATE":
            stack.updated_at = now
        self.store.save_stack(stack)
        return arn, stack.stack_id

    def change_set(self, name: str, stack_name: str | None) -> ChangeSet:
        if is_arn(name):
            found = self.store.change_set(name)
        else:
            if not stack_name:
                raise StackError("StackName must be specified if ChangeSetName is not specified as an ARN.")
            stack = self.stack(stack_name, message="brackets")
            found = self.store.change_set(stack_id=stack.stack_id, name=name)
        if found is None:
            raise StackError(f"ChangeSet [{name}] does not exist", "ChangeSetNotFound", 404)
        return found

    def change_sets(self, stack_name: str) -> list[ChangeSet]:
        return self.store.change_sets(self.stack(stack_name, message="brackets").stack_id)

    def delete_change_set(self, name: str, stack_name: str | None) -> None:
        change_set = self.change_set(name, stack_name)
        if change_set.execution_status == "EXECUTE_IN_PROGRESS":
            raise StackError(f"ChangeSet [{change_set.arn}] cannot be deleted while in status EXECUTE_IN_PROGRESS",
                             "InvalidChangeSetStatus")
        self.store.delete_change_set(change_set.arn)
        stack = self.store.stack(change_set.stack_id)
        if stack is not None and stack.status == "REVIEW_IN_PROGRESS" and not self.store.change_sets(stack.stack_id):
            self.store.delete_stack_record(stack.stack_id)  # nothing was ever created: the name is free again

    def execute_change_set(self, calls: AwsCalls, name: str, stack_name: str | None, *,
                           disable_rollback: bool | None, token: str | None = None) -> None:
        change_set = self.change_set(name, stack_name)
        shown = change_set.status if change_set.status != "CREATE_COMPLETE" else change_set.execution_status
        if change_set.execution_status != "AVAILABLE":
            raise StackError(f"ChangeSet [{change_set.arn}] cannot be executed in its current status of [{shown}]",
                             "InvalidChangeSetStatus")
        stack = self.stack(change_set.stack_id)
        creating = change_set.change_set_type == "CREATE"
        request = Request(
            template_body=change_set.template_body,
            parameters={k: ParameterInput(value=v) for k, v in change_set.parameters.items()},
            capabilities=tuple(change_set.capabilities), tags=change_set.tags,
        )
        prepared = self._prepare(stack.name, stack.stack_id, request, previous=None)
        if not self.store.set_change_set_execution(change_set.arn, "EXECUTE_IN_PROGRESS", expect="AVAILABLE"):
            raise StackError(f"ChangeSet [{change_set.arn}] cannot be executed in its current status of "
                             f"[{self.change_set(change_set.arn, None).execution_status}]", "InvalidChangeSetStatus")
        allowed = ["REVIEW_IN_PROGRESS"] if creating else UPDATABLE
        status = "CREATE_IN_PROGRESS" if creating else "UPDATE_IN_PROGRESS"
        if not self.store.begin_operation(stack.stack_id, allowed, status, "User Initiated", self.clock()):
            self.store.set_change_set_execution(change_set.arn, "AVAILABLE")
            raise not_updatable(stack.stack_id, self.stack(stack.stack_id).status)
        self.store.obsolete_other_change_sets(stack.stack_id, keep=change_set.arn)
        stack.change_set_id = change_set.arn
        stack.tags = change_set.tags
        op = Operation(self.store, stack, calls, self.providers, self.clock, self.rand, token)
        if creating:
            self._adopt(stack, prepared, request)
            rollback = disable_rollback is not True
            stack.disable_rollback = not rollback
            op.stack_status(status, "User Initiated")
            ok = self._run_create(op, prepared, change_set.on_failure if rollback else "DO_NOTHING")
        else:
            op.stack_status(status, "User Initiated")
            ok = self._run_update(op, prepared, bool(disable_rollback))
        self.store.set_change_set_execution(change_set.arn, "EXECUTE_COMPLETE" if ok else "EXECUTE_FAILED")

    # --- drift ----------------------------------------------------------------------------

    def detect_drift(self, calls: AwsCalls, name: str, logical_ids: Collection[str] = ()) -> str:
        stack = self.stack(name)
        if stack.status in IN_PROGRESS or stack.status == "REVIEW_IN_PROGRESS":
            raise StackError(f"Drift detection cannot be performed on stack [{stack.stack_id}] while it is in "
                             f"[{stack.status}] status.")
        now = self.clock()
        secrets = [stack.parameters[k] for k in stack.no_echo if stack.parameters.get(k)]
        drifted = False
        for resource in self.store.resources(stack.stack_id):
            if logical_ids and resource.logical_id not in logical_ids:
                continue
            provider = self.providers[resource.type]
            try:
                actual = provider.read(calls, provisioned(resource), resource.properties)
            except ServiceError:
                continue  # unreadable now (e.g. denied): left as it was
            if actual is None:
                resource.drift_status, resource.actual = "DELETED", None
            else:
                found = differences(resource.properties, actual)
                resource.drift_status = "MODIFIED" if found else "IN_SYNC"
                resource.actual = masked({k: actual.get(k) for k in resource.properties if k in actual}, secrets)
            drifted = drifted or resource.drift_status != "IN_SYNC"
            resource.drift_checked_at = now
            self.store.put_resource(stack.stack_id, resource)
        stack.drift_status = "DRIFTED" if drifted else "IN_SYNC"
        stack.drift_checked_at = now
        stack.drift_detection_id = str(uuid.uuid4())
        self.store.save_stack(stack)
        return stack.drift_detection_id

    def drift_detection(self, detection_id: str) -> Stack:
        for stack in self.store.stacks(include_deleted=True):
            if stack.drift_detection_id == detection_id:
                return stack
        raise StackError(f"Could not find drift detection with id [{detection_id}]")

    def resource_drifts(self, name: str, statuses: Collection[str] = ()) -> list[dict[str, Any]]:
        stack = self.stack(name)
        secrets = [stack.parameters[k] for k in stack.no_echo if stack.parameters.get(k)]
        out: list[dict[str, Any]] = []
        for resource in self.store.resources(stack.stack_id):
            if resource.drift_checked_at is None or (statuses and resource.drift_status not in statuses):
                continue
            expected = masked(resource.properties, secrets)
            item: dict[str, Any] = {
                "StackId": stack.stack_id, "LogicalResourceId": resource.logical_id,
                "PhysicalResourceId": resource.physical_id, "ResourceType": resource.type,
                "ExpectedProperties": _json(expected), "StackResourceDriftStatus": resource.drift_status,
                "Timestamp": resource.drift_checked_at, "PropertyDifferences": [],
            }
            if resource.actual is not None:
                item["ActualProperties"] = _json(resource.actual)
                item["PropertyDifferences"] = differences(expected, resource.actual)
            out.append(item)
        return out

    # --- the steps every change shares --------------------------------------------------------

    def _template(self, body: str | None) -> Template:
        if body is None:
            raise StackError("Either Template URL or Template Body must be specified.")
        check_template_size(body)
        try:
            template = parse(body)
            check(template)
        except TemplateError as exc:
            raise StackError(exc.message) from None
        return template

    def _prepare(self, stack_name: str, stack_id: str, request: Request, previous: Stack | None) -> Prepared:
        body = request.template_body
        if request.use_previous_template:
            if previous is None:
                raise StackError("UsePreviousTemplate can only be used with an existing stack.")
            body = previous.template_body
        template = self._template(body)
        if request.resource_types is not None:
            _check_resource_types(template, request.resource_types)
        try:
            values = bind(template, request.parameters or {}, previous.parameters if previous else None)
            check_capabilities(template, request.capabilities)
            evaluation = Evaluation(template, values, Context(
                account=self.account, region=self.region, stack_name=stack_name, stack_id=stack_id,
                partition=self.partition,
            ))
            for logical_id in evaluation.resources():  # what can be known now is refused now, not half-way
                validate_properties(logical_id, template.resources[logical_id].type,
                                    evaluation.properties(logical_id, lambda _: None))
        except (TemplateError, PropertyError) as exc:
            raise StackError(exc.message) from None
        except CapabilitiesRequired as exc:
            raise StackError(exc.message, "InsufficientCapabilitiesException") from None
        return Prepared(template, values, evaluation, list(request.capabilities))

    def _new_stack(self, stack_id: str, name: str, prepared: Prepared, request: Request, now: datetime, *,
                   status: str, disable_rollback: bool) -> Stack:
        stack = Stack(
            stack_id=stack_id, name=name, status=status, created_at=now, template_body="", parameters={},
            no_echo=[], capabilities=[], tags=request.tags or [], disable_rollback=disable_rollback,
        )
        self._adopt(stack, prepared, request)
        return stack

    @staticmethod
    def _adopt(stack: Stack, prepared: Prepared, request: Request) -> None:
        """The stack now stands for this template and these parameters."""
        stack.template_body = prepared.template.body
        stack.description = prepared.template.description
        stack.parameters = dict(prepared.values.values)
        stack.no_echo = sorted(prepared.values.no_echo)
        stack.parameter_order = list(prepared.template.parameters)
        stack.capabilities = list(request.capabilities)

    def _abandoned(self, stack: Stack) -> bool:
        """An operation that has recorded nothing for ``abandoned_after`` is not running any more:
        every step records an event, and no single provider call waits that long."""
        events = self.store.events(stack.stack_id)
        return not events or self.clock() - events[0].timestamp > self.abandoned_after

    def _resources(self, stack: Stack) -> dict[str, StackResource]:
        return {r.logical_id: r for r in self.store.resources(stack.stack_id)}

    def _order(self, stack: Stack) -> list[str]:
        """The stack's resources in creation order, from the template it was last deployed with."""
        try:
            template = parse(stack.template_body)
            values = bind(template, {k: ParameterInput(value=v) for k, v in stack.parameters.items()}, None)
            return Evaluation(template, values, Context(
                account=self.account, region=self.region, stack_name=stack.name, stack_id=stack.stack_id,
                partition=self.partition,
            )).resources()
        except TemplateError:
            return []

    def _in_delete_order(self, stack: Stack) -> list[StackResource]:
        rank = {lid: i for i, lid in enumerate(self._order(stack))}
        return sorted(self.store.resources(stack.stack_id), key=lambda r: rank.get(r.logical_id, len(rank)),
                      reverse=True)

    def _run_create(self, op: Operation, prepared: Prepared, on_failure: str) -> bool:
        deployment = Deployment(op, prepared.template, prepared.evaluation, {})
        if deployment.run():
            op.stack.outputs = deployment.outputs()
            op.stack_status("CREATE_COMPLETE")
            return True
        reason = deployment.failure_reason()
        if on_failure == "DO_NOTHING":
            op.stack_status("CREATE_FAILED", reason)
        elif on_failure == "DELETE":
            op.stack_status("DELETE_IN_PROGRESS", reason + "Delete requested by user.")
            ok = deployment.undo_new()
            op.stack_status("DELETE_COMPLETE" if ok else "DELETE_FAILED")
        else:
            op.stack_status("ROLLBACK_IN_PROGRESS", reason + "Rollback requested by user.")
            ok = deployment.undo_new()
            op.stack_status("ROLLBACK_COMPLETE" if ok else "ROLLBACK_FAILED")
        return False

    def _run_update(self, op: Operation, prepared: Prepared, disable_rollback: bool) -> bool:
        stack = op.stack
        old_order = self._order(stack)
        deployment = Deployment(op, prepared.template, prepared.evaluation, self._resources(stack))
        if deployment.run():
            self._adopt(stack, prepared, Request(capabilities=tuple(prepared.capabilities)))
            stack.outputs = deployment.outputs()
            stack.updated_at = self.clock()
            op.stack_status("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS")
            deployment.clean_up(old_order)
            op.stack_status("UPDATE_COMPLETE")
            return True
        reason = deployment.failure_reason()
        if disable_rollback:
            op.stack_status("UPDATE_FAILED", reason)
            return False
        op.stack_status("UPDATE_ROLLBACK_IN_PROGRESS", reason)
        ok = deployment.undo_in_place()
        op.stack_status("UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS")
        ok = deployment.undo_new() and ok
        op.stack_status("UPDATE_ROLLBACK_COMPLETE" if ok else "UPDATE_ROLLBACK_FAILED")
        return False


def _check_resource_types(template: Template, allowed: tuple[str, ...]) -> None:
    """ResourceTypes limits what the caller lets this operation provision (wildcards as in IAM)."""
    for spec in template.resources.values():
        if not any(fnmatchcase(spec.type, pattern) for pattern in allowed):
            raise StackError(f"Resource type {spec.type} is not allowed by the ResourceTypes parameter "
                             f"[{', '.join(allowed)}]")


def _identifier_summaries(template: Template) -> list[dict[str, Any]]:
    by_type: dict[str, list[str]] = {}
    for spec in template.resources.values():
        by_type.setdefault(spec.type, []).append(spec.logical_id)
    return [{"ResourceType": t, "LogicalResourceIds": ids} for t, ids in by_type.items()]


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)
