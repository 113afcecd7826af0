"""AWS::IAM::Role: a role with its inline and attached policies.

kubegate's IAM has no UpdateRole and no permissions boundaries, so a changed Description or
MaxSessionDuration, or any PermissionsBoundary, is refused with the property named rather
than silently left as it was.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubegate.service.stacks.calls import AwsCalls, ServiceError
from kubegate.service.stacks.providers._common import (
    declared_tags,
    ignoring_gone,
    iam_pages,
    is_gone,
    policy_text,
    policy_value,
    same_policy,
    tag_map,
    unsupported,
)
from kubegate.service.stacks.providers._iam_owner import Owner
from kubegate.service.stacks.providers.base import NewResource, Properties, Provisioned

TYPE_NAME = "AWS::IAM::Role"
NAME_MAX = 64
_NO_UPDATE_ROLE = "kubegate's IAM has no UpdateRole"


class RoleProvider:
    type_name = TYPE_NAME

    def create(self, call: AwsCalls, new: NewResource, properties: Properties) -> Provisioned:
        name = properties.get("RoleName") or new.generated_name(NAME_MAX)
        params: dict[str, Any] = {
            "RoleName": name,
            "AssumeRolePolicyDocument": policy_text(properties["AssumeRolePolicyDocument"]),
        }
        for prop in ("Path", "Description", "MaxSessionDuration", "PermissionsBoundary"):
            if properties.get(prop) is not None:
                params[prop] = properties[prop]  # IAM itself refuses a PermissionsBoundary, with its reason
        role = Owner("Role", name).create(call, params, properties, new.tags)
        return _provisioned(role)

    def update(self, call: AwsCalls, current: Provisioned, old: Properties, new: Properties) -> Provisioned:
        for prop in ("Description", "MaxSessionDuration"):
            if old.get(prop) != new.get(prop):
                raise unsupported("iam", TYPE_NAME, prop, f"an in-place update: {_NO_UPDATE_ROLE}")
        if old.get("PermissionsBoundary") != new.get("PermissionsBoundary"):
            raise unsupported("iam", TYPE_NAME, "PermissionsBoundary", "kubegate's IAM has no permissions boundaries")
        owner = Owner("Role", current.physical_id)
        if not same_policy(old["AssumeRolePolicyDocument"], new["AssumeRolePolicyDocument"]):
            call("iam", "UpdateAssumeRolePolicy", {
                **owner.key, "PolicyDocument": policy_text(new["AssumeRolePolicyDocument"])})
        owner.update_policies(call, old, new)
        owner.update_tags(call, old, new)
        return _provisioned(call("iam", "GetRole", owner.key)["Role"])

    def delete(self, call: AwsCalls, current: Provisioned, properties: Properties) -> None:
        owner = Owner("Role", current.physical_id)
        try:
            owner.remove_policies(call)
            call("iam", "DeleteRole", owner.key)
        except ServiceError as error:
            if not is_gone(error):
                raise

    def read(self, call: AwsCalls, current: Provisioned, properties: Properties) -> Properties | None:
        """RoleName, Path, AssumeRolePolicyDocument (parsed), Description, MaxSessionDuration,
        Policies (by name), ManagedPolicyArns (sorted) and the declared Tags."""
        owner = Owner("Role", current.physical_id)
        got = ignoring_gone(lambda: call("iam", "GetRole", owner.key))
        if got is None:
            return None
        role = got["Role"]
        out: dict[str, Any] = {
            "RoleName": role["RoleName"],
            "Path": role.get("Path"),
            "AssumeRolePolicyDocument": policy_value(role.get("AssumeRolePolicyDocument")),
            "Description": role.get("Description"),
            "MaxSessionDuration": role.get("MaxSessionDuration"),
            **owner.read_policies(call),
        }
        if properties.get("Tags"):
            tags = tag_map(iam_pages(call, "ListRoleTags", owner.key, "Tags"))
            out["Tags"] = declared_tags(tags, properties)
        return out


def _provisioned(role: Mapping[str, Any]) -> Provisioned:
    return Provisioned(physical_id=role["RoleName"], ref=role["RoleName"],
                       attributes={"Arn": role["Arn"], "RoleId": role["RoleId"]})
