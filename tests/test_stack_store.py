"""Stack persistence on SQLite and PostgreSQL: the database, not Python, settles races between replicas."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from kubegate.domain.stacks import UPDATABLE, ChangeSet, Stack, StackEvent, stack_arn
from kubegate.store.database import Conflict, Store
from kubegate.store.stacks import StackStore

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)


@pytest.fixture(params=["sqlite", "postgresql"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[StackStore, StackStore]]:
    """Two stores on one database, as two replicas have."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'kubegate.db'}"
    else:
        url = request.getfixturevalue("postgres").fresh_database()
    first, second = Store(url), Store(url)
    yield StackStore(first), StackStore(second)
    first.close()
    second.close()


def stack(name: str, status: str = "CREATE_COMPLETE") -> Stack:
    return Stack(stack_id=stack_arn("aws", "us-east-1", "111122223333", name), name=name, status=status,
                 created_at=NOW, template_body="Resources: {}", parameters={"P": "v"}, no_echo=[],
                 capabilities=[], tags=[{"Key": "team", "Value": "a"}], disable_rollback=False)


def test_one_active_stack_per_name(stores: tuple[StackStore, StackStore]) -> None:
    a, b = stores
    first = stack("web")
    a.add_stack(first)
    with pytest.raises(Conflict):
        b.add_stack(stack("web"))
    first.deleted_at, first.status = NOW, "DELETE_COMPLETE"
    a.save_stack(first)
    again = stack("web")
    b.add_stack(again)  # a deleted stack's name is free; its ARN still finds it
    assert a.stack("web") == again
    found = a.stack(first.stack_id)
    assert found is not None and found.status == "DELETE_COMPLETE"
    assert [s.stack_id for s in a.stacks(include_deleted=False)] == [again.stack_id]


def test_only_one_operation_starts(stores: tuple[StackStore, StackStore]) -> None:
    a, b = stores
    target = stack("busy")
    a.add_stack(target)
    results: list[bool] = []
    barrier = threading.Barrier(8)

    def start(store: StackStore) -> None:
        barrier.wait()
        results.append(store.begin_operation(target.stack_id, UPDATABLE, "UPDATE_IN_PROGRESS", "User Initiated", NOW))

    threads = [threading.Thread(target=start, args=(a if n % 2 else b,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 7 + [True]
    assert b.stack("busy").status == "UPDATE_IN_PROGRESS"  # type: ignore[union-attr]


def test_events_newest_first_and_change_set_names_unique(stores: tuple[StackStore, StackStore]) -> None:
    a, b = stores
    target = stack("events")
    a.add_stack(target)
    for n, status in enumerate(["CREATE_IN_PROGRESS", "CREATE_COMPLETE", "UPDATE_IN_PROGRESS"]):
        (a if n % 2 else b).add_event(StackEvent(
            stack_id=target.stack_id, stack_name="events", logical_id="events", physical_id=target.stack_id,
            type="AWS::CloudFormation::Stack", status=status, timestamp=NOW + timedelta(seconds=n), event_id=str(n)))
    assert [e.status for e in a.events(target.stack_id)] == ["UPDATE_IN_PROGRESS", "CREATE_COMPLETE",
                                                             "CREATE_IN_PROGRESS"]

    def change_set(arn: str) -> ChangeSet:
        return ChangeSet(arn=arn, name="cs", stack_id=target.stack_id, stack_name="events", change_set_type="UPDATE",
                         status="CREATE_COMPLETE", execution_status="AVAILABLE", created_at=NOW, template_body="{}",
                         parameters={}, no_echo=[], parameter_order=[], capabilities=[], tags=[], changes=[])

    a.add_change_set(change_set("arn:1"))
    with pytest.raises(Conflict):
        b.add_change_set(change_set("arn:2"))
    assert b.set_change_set_execution("arn:1", "EXECUTE_IN_PROGRESS", expect="AVAILABLE")
    assert not a.set_change_set_execution("arn:1", "EXECUTE_IN_PROGRESS", expect="AVAILABLE")


def test_a_stack_abandoned_mid_operation_can_be_deleted(tmp_path: Path) -> None:
    """A replica killed during an update leaves the stack UPDATE_IN_PROGRESS; once it has been
    silent longer than any provider call waits, DeleteStack removes what it recorded."""
    from stack_harness import api_world

    from kubegate.service.stacks.operations import Request, StackService
    from kubegate.service.stacks.providers import PROVIDERS

    now = [NOW]
    with api_world(tmp_path) as (calls, access):
        stacks = StackService(StackStore(access.store), PROVIDERS, account="111122223333", region="us-west-2",
                              clock=lambda: now[0], abandoned_after=timedelta(minutes=10))
        body = "Resources:\n  P:\n    Type: AWS::IAM::OIDCProvider\n    Properties: {Url: https://idp.example}\n"
        stack_id = stacks.create_stack(calls, "orphan", Request(template_body=body), on_failure="ROLLBACK")
        assert calls("iam", "ListOpenIDConnectProviders", {})["OpenIDConnectProviderList"]
        # the process that ran this update died after its first event
        assert stacks.store.begin_operation(stack_id, UPDATABLE, "UPDATE_IN_PROGRESS", "User Initiated", NOW)
        stacks.store.add_event(StackEvent(stack_id=stack_id, stack_name="orphan", logical_id="orphan",
                                          physical_id=stack_id, type="AWS::CloudFormation::Stack",
                                          status="UPDATE_IN_PROGRESS", timestamp=NOW, event_id="e"))
        now[0] = NOW + timedelta(minutes=1)
        with pytest.raises(Exception, match="cannot be deleted while in status UPDATE_IN_PROGRESS"):
            stacks.delete_stack(calls, "orphan")
        now[0] = NOW + timedelta(minutes=11)
        stacks.delete_stack(calls, "orphan")
        assert stacks.store.stack(stack_id).status == "DELETE_COMPLETE"  # type: ignore[union-attr]
        assert calls("iam", "ListOpenIDConnectProviders", {})["OpenIDConnectProviderList"] == []
