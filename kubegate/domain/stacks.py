"""CloudFormation stacks as values: statuses, which operation each status allows, names and ARNs.

The rules here are CloudFormation's, not kubegate's: which statuses accept an update, which
ones are terminal, how a stack is named. The stack layer runs operations; this module only
says whether one may start and how its outcome is written down.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

STACK_NAME = re.compile(r"[a-zA-Z][-a-zA-Z0-9]*")
STACK_NAME_PATTERN = "[a-zA-Z][-a-zA-Z0-9]*|arn:[-a-zA-Z0-9:/._+]*"
CHANGE_SET_NAME = re.compile(r"[a-zA-Z][-a-zA-Z0-9]*")
MAX_TEMPLATE_BODY = 51_200
ON_FAILURE = ("ROLLBACK", "DELETE", "DO_NOTHING")

UPDATABLE = frozenset({"CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE"})
"""Statuses from which UpdateStack or an UPDATE change set may start."""

IN_PROGRESS = frozenset({
    "CREATE_IN_PROGRESS", "ROLLBACK_IN_PROGRESS", "DELETE_IN_PROGRESS", "UPDATE_IN_PROGRESS",
    "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", "UPDATE_ROLLBACK_IN_PROGRESS",
    "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS",
})
"""An operation is running: every other operation on the stack is refused until it ends."""

DELETABLE = frozenset({
    "CREATE_COMPLETE", "CREATE_FAILED", "ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "UPDATE_COMPLETE",
    "UPDATE_FAILED", "UPDATE_ROLLBACK_COMPLETE", "UPDATE_ROLLBACK_FAILED", "DELETE_FAILED", "REVIEW_IN_PROGRESS",
})

ALL_STATUSES = frozenset(UPDATABLE | IN_PROGRESS | DELETABLE | {"DELETE_COMPLETE"})

STACK_TYPE = "AWS::CloudFormation::Stack"
NO_CHANGES = "The submitted information didn't contain changes. Submit different information to create a change set."


class StackError(Exception):
    """A stack request CloudFormation refuses; ``code`` is its wire code (ValidationError unless stated)."""

    def __init__(self, message: str, code: str = "ValidationError", status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status


def stack_arn(partition: str, region: str, account: str, name: str) -> str:
    return f"arn:{partition}:cloudformation:{region}:{account}:stack/{name}/{uuid.uuid4()}"


def change_set_arn(partition: str, region: str, account: str, name: str) -> str:
    return f"arn:{partition}:cloudformation:{region}:{account}:changeSet/{name}/{uuid.uuid4()}"


def is_arn(name: str) -> bool:
    return name.startswith("arn:")


def check_stack_name(name: str) -> None:
    """AWS validates the name with the model's pattern and then a length of 128."""
    if is_arn(name):
        return
    if not STACK_NAME.fullmatch(name) or len(name) > 128:
        raise StackError(
            f"1 validation error detected: Value '{name}' at 'stackName' failed to satisfy constraint: "
            f"Member must satisfy regular expression pattern: {STACK_NAME_PATTERN}"
            if not STACK_NAME.fullmatch(name) else
            f"1 validation error detected: Value '{name}' at 'stackName' failed to satisfy constraint: "
            "Member must have length less than or equal to 128"
        )


def check_change_set_name(name: str) -> None:
    if is_arn(name):
        return
    if not CHANGE_SET_NAME.fullmatch(name) or len(name) > 128:
        raise StackError(
            f"1 validation error detected: Value '{name}' at 'changeSetName' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern: [a-zA-Z][-a-zA-Z0-9]*"
        )


def check_template_size(body: str) -> None:
    if len(body.encode("utf-8")) > MAX_TEMPLATE_BODY:
        raise StackError(
            f"1 validation error detected: Value '{body}' at 'templateBody' failed to satisfy constraint: "
            f"Member must have length less than or equal to {MAX_TEMPLATE_BODY}"
        )


def not_updatable(stack_id: str, status: str) -> StackError:
    return StackError(f"Stack:{stack_id} is in {status} state and can not be updated.")


def failed_resources(verb: str, logical_ids: list[str]) -> str:
    return f"The following resource(s) failed to {verb}: [{', '.join(logical_ids)}]. "


@dataclass
class StackResource:
    """One resource of a stack as provisioned: what Ref and GetAtt give, and the properties it was made with."""

    logical_id: str
    type: str
    physical_id: str
    status: str
    properties: dict[str, Any]  # resolved and validated, as the provider got them
    ref: str
    attributes: dict[str, Any]
    updated_at: datetime
    status_reason: str | None = None
    deletion_policy: str = "Delete"
    update_replace_policy: str = "Delete"
    drift_status: str = "NOT_CHECKED"
    drift_checked_at: datetime | None = None
    actual: dict[str, Any] | None = None  # the properties read at the last drift check


@dataclass
class Stack:
    stack_id: str
    name: str
    status: str
    created_at: datetime
    template_body: str
    parameters: dict[str, str]  # raw values, NoEcho ones included (never shown)
    no_echo: list[str]
    capabilities: list[str]
    tags: list[dict[str, str]]
    disable_rollback: bool
    description: str | None = None
    status_reason: str | None = None
    updated_at: datetime | None = None
    deleted_at: datetime | None = None
    change_set_id: str | None = None
    outputs: list[dict[str, Any]] = field(default_factory=list)
    parameter_order: list[str] = field(default_factory=list)
    drift_status: str = "NOT_CHECKED"
    drift_checked_at: datetime | None = None
    drift_detection_id: str | None = None

    def shown_parameters(self) -> list[dict[str, str]]:
        return [
            {"ParameterKey": k, "ParameterValue": "****" if k in self.no_echo else self.parameters[k]}
            for k in (self.parameter_order or list(self.parameters)) if k in self.parameters
        ]


@dataclass
class StackEvent:
    stack_id: str
    stack_name: str
    logical_id: str
    physical_id: str
    type: str
    status: str
    timestamp: datetime
    reason: str | None = None
    properties: str | None = None  # JSON text of the resolved properties (resource events only)
    client_request_token: str | None = None
    event_id: str = ""


@dataclass
class ChangeSet:
    arn: str
    name: str
    stack_id: str
    stack_name: str
    change_set_type: str  # CREATE | UPDATE
    status: str
    execution_status: str
    created_at: datetime
    template_body: str
    parameters: dict[str, str]
    no_echo: list[str]
    parameter_order: list[str]
    capabilities: list[str]
    tags: list[dict[str, str]]
    changes: list[dict[str, Any]]
    description: str | None = None
    status_reason: str | None = None
    on_failure: str = "ROLLBACK"
