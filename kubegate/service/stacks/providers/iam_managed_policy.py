"""AWS::IAM::ManagedPolicy: a customer managed policy and the roles and users it is attached to.

kubegate's IAM keeps one version per policy (no CreatePolicyVersion) and has no groups, so a
new PolicyDocument or any Groups is refused with the property named, before anything changes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from functools import partial
from typing import Any

from kubegate.service.stacks.calls import AwsCalls, ServiceError
from kubegate.service.stacks.providers._common import (
    POLICY_TARGETS,
    refuse_groups,
    ignoring_gone,
    iam_pages,
    policy_text,
    policy_value,
    same_policy,
    strings,
    undo_all,
    unsupported,
)
from kubegate.service.stacks.providers.base import NewResource, Properties, Provisioned

TYPE_NAME = "AWS::IAM::ManagedPolicy"
NAME_MAX = 128


class ManagedPolicyProvider:
    type_name = TYPE_NAME

    def create(self, call: AwsCalls, new: NewResource, properties: Properties) -> Provisioned:
        refuse_groups(TYPE_NAME, properties)
        params: dict[str, Any] = {
            "PolicyName": properties.get("ManagedPolicyName") or new.generated_name(NAME_MAX),
            "PolicyDocument": policy_text(properties["PolicyDocument"]),
        }
        for prop in ("Path", "Description"):
            if properties.get(prop) is not None:
                params[prop] = properties[prop]
        arn = call("iam", "CreatePolicy", params)["Policy"]["Arn"]
        undo: list[Callable[[], Any]] = [lambda: call("iam", "DeletePolicy", {"PolicyArn": arn})]
        try:
            for prop, noun in POLICY_TARGETS.items():
                for name in strings(properties.get(prop)):
                    _attach(call, noun, name, arn)
                    undo.append(partial(_detach, call, noun, name, arn))
            return _provisioned(call, arn)
        except ServiceError:
            undo_all(undo)
            raise

    def update(self, call: AwsCalls, current: Provisioned, old: Properties, new: Properties) -> Provisioned:
        refuse_groups(TYPE_NAME, new)
        if not same_policy(old["PolicyDocument"], new["PolicyDocument"]):
            raise unsupported("iam", TYPE_NAME, "PolicyDocument",
                              "an in-place update: kubegate's IAM has no CreatePolicyVersion")
        arn = current.physical_id
        for prop, noun in POLICY_TARGETS.items():
            before, after = set(strings(old.get(prop))), set(strings(new.get(prop)))
            for name in sorted(after - before):
                _attach(call, noun, name, arn)
            for name in sorted(before - after):
                _detach(call, noun, name, arn)
        return _provisioned(call, arn)

    def delete(self, call: AwsCalls, current: Provisioned, properties: Properties) -> None:
        """Detaches from the roles and users the template names (kubegate's IAM has no
        ListEntitiesForPolicy to find others), then deletes; kubegate keeps no other versions."""
        arn = current.physical_id
        for prop, noun in POLICY_TARGETS.items():
            for name in strings(properties.get(prop)):
                _detach(call, noun, name, arn)
        ignoring_gone(lambda: call("iam", "DeletePolicy", {"PolicyArn": arn}))

    def read(self, call: AwsCalls, current: Provisioned, properties: Properties) -> Properties | None:
        """ManagedPolicyName, Path, Description, PolicyDocument (parsed), and Roles and Users:
        those the template names that still have the policy attached (sorted)."""
        arn = current.physical_id
        got = ignoring_gone(lambda: call("iam", "GetPolicy", {"PolicyArn": arn}))
        if got is None:
            return None
        policy = got["Policy"]
        version = call("iam", "GetPolicyVersion", {"PolicyArn": arn, "VersionId": policy["DefaultVersionId"]})
        out: dict[str, Any] = {
            "ManagedPolicyName": policy["PolicyName"],
            "Path": policy.get("Path"),
            "Description": policy.get("Description"),
            "PolicyDocument": policy_value(version["PolicyVersion"]["Document"]),
        }
        for prop, noun in POLICY_TARGETS.items():
            out[prop] = [name for name in strings(properties.get(prop)) if _attached(call, noun, name, arn)]
        return out


def _attach(call: AwsCalls, noun: str, name: str, arn: str) -> None:
    call("iam", f"Attach{noun}Policy", {f"{noun}Name": name, "PolicyArn": arn})


def _detach(call: AwsCalls, noun: str, name: str, arn: str) -> None:
    ignoring_gone(lambda: call("iam", f"Detach{noun}Policy", {f"{noun}Name": name, "PolicyArn": arn}))


def _attached(call: AwsCalls, noun: str, name: str, arn: str) -> bool:
    found = ignoring_gone(lambda: iam_pages(call, f"ListAttached{noun}Policies", {f"{noun}Name": name},
                                            "AttachedPolicies"))
    return any(item["PolicyArn"] == arn for item in found or ())


def _text(value: Any) -> str:
    """A date as ISO 8601 text (UTC as Z), the way the registry hands dates to Fn::GetAtt."""
    return value.isoformat().replace("+00:00", "Z") if isinstance(value, datetime) else str(value)


def _provisioned(call: AwsCalls, arn: str) -> Provisioned:
    policy = call("iam", "GetPolicy", {"PolicyArn": arn})["Policy"]
    return Provisioned(physical_id=arn, ref=arn, attributes=_attributes(policy))


def _attributes(policy: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "PolicyArn": policy["Arn"],
        "PolicyId": policy["PolicyId"],
        "DefaultVersionId": policy["DefaultVersionId"],
        "AttachmentCount": policy["AttachmentCount"],
        "IsAttachable": policy["IsAttachable"],
        "PermissionsBoundaryUsageCount": policy["PermissionsBoundaryUsageCount"],
        "CreateDate": _text(policy["CreateDate"]),
        "UpdateDate": _text(policy["UpdateDate"]),
    }
