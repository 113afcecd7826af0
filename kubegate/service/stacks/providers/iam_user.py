"""AWS::IAM::User: a user with its inline and attached policies.

kubegate's IAM has no groups, login profiles, UpdateUser or permissions boundaries, so Groups,
LoginProfile and a changed Path are refused with the property named (IAM itself refuses a
PermissionsBoundary at create), never silently dropped.
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
    tag_map,
    unsupported,
)
from kubegate.service.stacks.providers._iam_owner import Owner
from kubegate.service.stacks.providers.base import NewResource, Properties, Provisioned

TYPE_NAME = "AWS::IAM::User"
NAME_MAX = 64
# Properties whose operations kubegate's IAM does not serve, and why.
_REFUSED = {
    "Groups": "kubegate's IAM has no groups (AddUserToGroup)",
    "LoginProfile": "kubegate's IAM has no console passwords (CreateLoginProfile)",
}


def _refuse(properties: Properties) -> None:
    for prop, why in _REFUSED.items():
        if properties.get(prop):
            raise unsupported("iam", TYPE_NAME, prop, why)


class UserProvider:
    type_name = TYPE_NAME

    def create(self, call: AwsCalls, new: NewResource, properties: Properties) -> Provisioned:
        _refuse(properties)
        name = properties.get("UserName") or new.generated_name(NAME_MAX)
        params: dict[str, Any] = {"UserName": name}
        for prop in ("Path", "PermissionsBoundary"):
            if properties.get(prop) is not None:
                params[prop] = properties[prop]
        user = Owner("User", name).create(call, params, properties, new.tags)
        return _provisioned(user)

    def update(self, call: AwsCalls, current: Provisioned, old: Properties, new: Properties) -> Provisioned:
        _refuse(new)
        if (old.get("Path") or "/") != (new.get("Path") or "/"):
            raise unsupported("iam", TYPE_NAME, "Path", "an in-place update: kubegate's IAM has no UpdateUser")
        if old.get("PermissionsBoundary") != new.get("PermissionsBoundary"):
            raise unsupported("iam", TYPE_NAME, "PermissionsBoundary", "kubegate's IAM has no permissions boundaries")
        owner = Owner("User", current.physical_id)
        owner.update_policies(call, old, new)
        owner.update_tags(call, old, new)
        return _provisioned(call("iam", "GetUser", owner.key)["User"])

    def delete(self, call: AwsCalls, current: Provisioned, properties: Properties) -> None:
        owner = Owner("User", current.physical_id)
        try:
            owner.remove_policies(call)
            call("iam", "DeleteUser", owner.key)
        except ServiceError as error:
            if not is_gone(error):
                raise

    def read(self, call: AwsCalls, current: Provisioned, properties: Properties) -> Properties | None:
        """UserName, Path, Policies (by name), ManagedPolicyArns (sorted) and the declared Tags."""
        owner = Owner("User", current.physical_id)
        got = ignoring_gone(lambda: call("iam", "GetUser", owner.key))
        if got is None:
            return None
        user = got["User"]
        out: dict[str, Any] = {"UserName": user["UserName"], "Path": user.get("Path"), **owner.read_policies(call)}
        if properties.get("Tags"):
            out["Tags"] = declared_tags(tag_map(iam_pages(call, "ListUserTags", owner.key, "Tags")), properties)
        return out


def _provisioned(user: Mapping[str, Any]) -> Provisioned:
    return Provisioned(physical_id=user["UserName"], ref=user["UserName"], attributes={"Arn": user["Arn"]})
