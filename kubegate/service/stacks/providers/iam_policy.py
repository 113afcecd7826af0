"""AWS::IAM::Policy: one inline policy, put on each of the roles and users it names.

The resource has no IAM identity of its own, so its physical id is an opaque generated name
(kept on update); IAM knows only the copies under PolicyName. kubegate's IAM has no groups, so
Groups is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from kubegate.service.stacks.calls import AwsCalls, ServiceError
from kubegate.service.stacks.providers._common import (
    POLICY_TARGETS,
    refuse_groups,
    ignoring_gone,
    policy_text,
    policy_value,
    same_policy,
    strings,
    undo_all,
)
from kubegate.service.stacks.providers.base import NewResource, Properties, Provisioned

TYPE_NAME = "AWS::IAM::Policy"
ID_MAX = 128


def _targets(properties: Properties) -> set[tuple[str, str]]:
    return {(noun, name) for prop, noun in POLICY_TARGETS.items() for name in strings(properties.get(prop))}


def _put(call: AwsCalls, noun: str, name: str, properties: Properties) -> None:
    call("iam", f"Put{noun}Policy", {f"{noun}Name": name, "PolicyName": properties["PolicyName"],
                                     "PolicyDocument": policy_text(properties["PolicyDocument"])})


def _remove(call: AwsCalls, noun: str, name: str, policy_name: str) -> None:
    ignoring_gone(lambda: call("iam", f"Delete{noun}Policy", {f"{noun}Name": name, "PolicyName": policy_name}))


class PolicyProvider:
    type_name = TYPE_NAME

    def create(self, call: AwsCalls, new: NewResource, properties: Properties) -> Provisioned:
        refuse_groups(TYPE_NAME, properties)
        policy_id = new.generated_name(ID_MAX)
        undo: list[Callable[[], Any]] = []
        try:
            for noun, name in sorted(_targets(properties)):
                _put(call, noun, name, properties)
                undo.append(partial(_remove, call, noun, name, properties["PolicyName"]))
        except ServiceError:
            undo_all(undo)
            raise
        return Provisioned(physical_id=policy_id, ref=policy_id, attributes={"Id": policy_id})

    def update(self, call: AwsCalls, current: Provisioned, old: Properties, new: Properties) -> Provisioned:
        """Puts the policy on every target again (cheap, and repairs a copy changed out of band),
        and takes it off the targets no longer named, or all of them under a former PolicyName."""
        refuse_groups(TYPE_NAME, new)
        for noun, name in sorted(_targets(new)):
            _put(call, noun, name, new)
        renamed = old["PolicyName"] != new["PolicyName"]
        for noun, name in sorted(_targets(old) - (set() if renamed else _targets(new))):
            _remove(call, noun, name, old["PolicyName"])
        return current

    def delete(self, call: AwsCalls, current: Provisioned, properties: Properties) -> None:
        for noun, name in sorted(_targets(properties)):
            _remove(call, noun, name, properties["PolicyName"])

    def read(self, call: AwsCalls, current: Provisioned, properties: Properties) -> Properties | None:
        """PolicyName, PolicyDocument (parsed; the first target's copy that differs from the
        template's, else the template's) and Roles and Users that still hold a copy (sorted).
        None once no target holds it."""
        held: dict[str, list[str]] = {prop: [] for prop in POLICY_TARGETS}
        document: Any = None
        for prop, noun in POLICY_TARGETS.items():
            for name in strings(properties.get(prop)):
                got = ignoring_gone(lambda: call("iam", f"Get{noun}Policy", {
                    f"{noun}Name": name, "PolicyName": properties["PolicyName"]}))
                if got is None:
                    continue
                held[prop].append(name)
                if document is None and not same_policy(got["PolicyDocument"], properties["PolicyDocument"]):
                    document = policy_value(got["PolicyDocument"])
        if not any(held.values()):
            return None
        return {"PolicyName": properties["PolicyName"],
                "PolicyDocument": document if document is not None else policy_value(properties["PolicyDocument"]),
                **held}
