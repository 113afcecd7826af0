"""Persistence of stacks, their resources, events and change sets.

Each method is its own transaction: a stack operation records every step (a resource created, an
event) as it happens, so a reader (DescribeStackEvents, a waiter) sees progress, and a process
that dies mid-operation leaves a record of exactly what it made. Starting an operation is a
compare-and-set on the stack's status, so two operations on one stack never both start, on any
number of replicas.
"""

from __future__ import annotations

from collections.abc import Collection
from contextlib import AbstractContextManager
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, insert, select, update
from sqlalchemy.engine import Connection, RowMapping

from kubegate.domain.stacks import ChangeSet, Stack, StackEvent, StackResource
from kubegate.store.database import Store
from kubegate.store.schema import change_sets, stack_events, stack_resources, stacks

_STACK_FIELDS = (
    "stack_id", "name", "status", "status_reason", "description", "template_body", "parameters",
    "parameter_order", "no_echo", "capabilities", "tags", "outputs", "disable_rollback", "change_set_id",
    "created_at", "updated_at", "deleted_at", "drift_status", "drift_checked_at", "drift_detection_id",
)


class StackStore:
    def __init__(self, store: Store) -> None:
        self.store = store

    def _tx(self) -> AbstractContextManager[Connection]:
        return self.store.connection()

    # --- stacks ---------------------------------------------------------------------------

    def add_stack(self, stack: Stack) -> None:
        """Conflict when an active stack already has the name (the partial unique index decides)."""
        with self._tx() as db:
            db.execute(insert(stacks).values(**{k: getattr(stack, k) for k in _STACK_FIELDS}))

    def stack(self, name_or_arn: str) -> Stack | None:
        """An ARN finds any stack, deleted ones too; a name only the active one."""
        if name_or_arn.startswith("arn:"):
            query = select(stacks).where(stacks.c.stack_id == name_or_arn)
        else:
            query = select(stacks).where(and_(stacks.c.name == name_or_arn, stacks.c.deleted_at.is_(None)))
        with self._tx() as db:
            row = db.execute(query).mappings().first()
        return _stack(row) if row else None

    def stacks(self, *, include_deleted: bool) -> list[Stack]:
        query = select(stacks).order_by(stacks.c.created_at.desc(), stacks.c.stack_id)
        if not include_deleted:
            query = query.where(stacks.c.deleted_at.is_(None))
        with self._tx() as db:
            return [_stack(r) for r in db.execute(query).mappings()]

    def save_stack(self, stack: Stack) -> None:
        with self._tx() as db:
            db.execute(update(stacks).where(stacks.c.stack_id == stack.stack_id)
                       .values(**{k: getattr(stack, k) for k in _STACK_FIELDS if k != "stack_id"}))

    def begin_operation(self, stack_id: str, allowed: Collection[str], status: str, reason: str | None,
                        now: datetime) -> bool:
        """Move the stack to ``status`` only if it is in one of ``allowed``: False if another operation won."""
        with self._tx() as db:
            result = db.execute(
                update(stacks)
                .where(and_(stacks.c.stack_id == stack_id, stacks.c.status.in_(list(allowed))))
                .values(status=status, status_reason=reason)
            )
            return result.rowcount == 1

    def delete_stack_record(self, stack_id: str) -> None:
        """Forget a stack that never existed for callers (a rejected CREATE change set's placeholder)."""
        with self._tx() as db:
            db.execute(delete(stack_events).where(stack_events.c.stack_id == stack_id))
            db.execute(delete(change_sets).where(change_sets.c.stack_id == stack_id))
            db.execute(delete(stack_resources).where(stack_resources.c.stack_id == stack_id))
            db.execute(delete(stacks).where(stacks.c.stack_id == stack_id))

    # --- resources ------------------------------------------------------------------------

    def resources(self, stack_id: str) -> list[StackResource]:
        with self._tx() as db:
            rows = db.execute(select(stack_resources).where(stack_resources.c.stack_id == stack_id)
                              .order_by(stack_resources.c.updated_at, stack_resources.c.logical_id)).mappings()
            return [_resource(r) for r in rows]

    def resources_by_physical_id(self, physical_id: str) -> list[tuple[str, StackResource]]:
        with self._tx() as db:
            rows = db.execute(select(stack_resources).where(stack_resources.c.physical_id == physical_id)).mappings()
            return [(r["stack_id"], _resource(r)) for r in rows]

    def put_resource(self, stack_id: str, resource: StackResource) -> None:
        values = asdict(resource)
        with self._tx() as db:
            done = db.execute(update(stack_resources).where(and_(
                stack_resources.c.stack_id == stack_id, stack_resources.c.logical_id == resource.logical_id,
            )).values(**values))
            if done.rowcount == 0:
                db.execute(insert(stack_resources).values(stack_id=stack_id, **values))

    def remove_resource(self, stack_id: str, logical_id: str) -> None:
        with self._tx() as db:
            db.execute(delete(stack_resources).where(and_(
                stack_resources.c.stack_id == stack_id, stack_resources.c.logical_id == logical_id)))

    # --- events ---------------------------------------------------------------------------

    def add_event(self, event: StackEvent) -> None:
        with self._tx() as db:
            db.execute(insert(stack_events).values(
                stack_id=event.stack_id, event_id=event.event_id, stack_name=event.stack_name,
                logical_id=event.logical_id, physical_id=event.physical_id, type=event.type, status=event.status,
                reason=event.reason, properties=event.properties, client_request_token=event.client_request_token,
                timestamp=event.timestamp,
            ))

    def events(self, stack_id: str) -> list[StackEvent]:
        """Newest first, as DescribeStackEvents lists them."""
        with self._tx() as db:
            rows = db.execute(select(stack_events).where(stack_events.c.stack_id == stack_id)
                              .order_by(stack_events.c.seq.desc())).mappings()
            return [StackEvent(
                stack_id=r["stack_id"], stack_name=r["stack_name"], logical_id=r["logical_id"],
                physical_id=r["physical_id"], type=r["type"], status=r["status"], timestamp=r["timestamp"],
                reason=r["reason"], properties=r["properties"], client_request_token=r["client_request_token"],
                event_id=r["event_id"],
            ) for r in rows]

    # --- change sets ----------------------------------------------------------------------

    def add_change_set(self, change_set: ChangeSet) -> None:
        """Conflict when the stack already has a change set of that name."""
        with self._tx() as db:
            db.execute(insert(change_sets).values(**asdict(change_set)))

    def change_set(self, arn: str | None = None, *, stack_id: str | None = None,
                   name: str | None = None) -> ChangeSet | None:
        query = select(change_sets)
        if arn is not None:
            query = query.where(change_sets.c.arn == arn)
        else:
            query = query.where(and_(change_sets.c.stack_id == stack_id, change_sets.c.name == name))
        with self._tx() as db:
            row = db.execute(query).mappings().first()
        return _change_set(row) if row else None

    def change_sets(self, stack_id: str) -> list[ChangeSet]:
        with self._tx() as db:
            rows = db.execute(select(change_sets).where(change_sets.c.stack_id == stack_id)
                              .order_by(change_sets.c.created_at)).mappings()
            return [_change_set(r) for r in rows]

    def set_change_set_execution(self, arn: str, execution_status: str, *, expect: str | None = None) -> bool:
        """Set the execution status; with ``expect``, only from that status (False if it was not)."""
        query = update(change_sets).where(change_sets.c.arn == arn)
        if expect is not None:
            query = query.where(change_sets.c.execution_status == expect)
        with self._tx() as db:
            return db.execute(query.values(execution_status=execution_status)).rowcount == 1

    def obsolete_other_change_sets(self, stack_id: str, keep: str | None) -> None:
        """Once a stack changes, its other pending change sets describe a state that is gone."""
        query = update(change_sets).where(and_(
            change_sets.c.stack_id == stack_id, change_sets.c.execution_status.in_(["AVAILABLE", "UNAVAILABLE"])))
        if keep is not None:
            query = query.where(change_sets.c.arn != keep)
        with self._tx() as db:
            db.execute(query.values(execution_status="OBSOLETE"))

    def delete_change_set(self, arn: str) -> None:
        with self._tx() as db:
            db.execute(delete(change_sets).where(change_sets.c.arn == arn))


def _stack(r: RowMapping) -> Stack:
    return Stack(**{k: r[k] for k in _STACK_FIELDS})


def _resource(r: RowMapping) -> StackResource:
    fields: dict[str, Any] = {k: r[k] for k in StackResource.__dataclass_fields__}
    return StackResource(**fields)


def _change_set(r: RowMapping) -> ChangeSet:
    return ChangeSet(**{k: r[k] for k in ChangeSet.__dataclass_fields__})
