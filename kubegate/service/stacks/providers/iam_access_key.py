"""AWS::IAM::AccessKey: an access key of a user, its secret known only from the create.

IAM shows a secret access key once, so an update keeps the attributes the create returned.
A new Serial is a replacement (decided by the stack layer), which is how keys are rotated.
"""

from __future__ import annotations

from typing import Any

from kubegate.service.stacks.calls import AwsCalls, ServiceError
from kubegate.service.stacks.providers._common import ignoring_gone, undo_all
from kubegate.service.stacks.providers.base import NewResource, Properties, Provisioned

TYPE_NAME = "AWS::IAM::AccessKey"


class AccessKeyProvider:
    type_name = TYPE_NAME

    def create(self, call: AwsCalls, new: NewResource, properties: Properties) -> Provisioned:
        user = properties["UserName"]
        key = call("iam", "CreateAccessKey", {"UserName": user})["AccessKey"]
        key_id = key["AccessKeyId"]
        if properties.get("Status", "Active") != key.get("Status", "Active"):
            try:
                call("iam", "UpdateAccessKey",
                     {"UserName": user, "AccessKeyId": key_id, "Status": properties["Status"]})
            except ServiceError:
                undo_all([lambda: call("iam", "DeleteAccessKey", {"UserName": user, "AccessKeyId": key_id})])
                raise
        return Provisioned(physical_id=key_id, ref=key_id, attributes={"SecretAccessKey": key["SecretAccessKey"]})

    def update(self, call: AwsCalls, current: Provisioned, old: Properties, new: Properties) -> Provisioned:
        if old.get("Status", "Active") != new.get("Status", "Active"):
            call("iam", "UpdateAccessKey", {"UserName": new["UserName"], "AccessKeyId": current.physical_id,
                                            "Status": new.get("Status", "Active")})
        return current

    def delete(self, call: AwsCalls, current: Provisioned, properties: Properties) -> None:
        ignoring_gone(lambda: call("iam", "DeleteAccessKey", {
            "UserName": properties["UserName"], "AccessKeyId": current.physical_id}))

    def read(self, call: AwsCalls, current: Provisioned, properties: Properties) -> Properties | None:
        """UserName and Status (Serial is the template's own counter: not readable)."""
        listed = ignoring_gone(lambda: call("iam", "ListAccessKeys", {"UserName": properties["UserName"]}))
        found: Any = next((k for k in (listed or {}).get("AccessKeyMetadata") or ()
                           if k["AccessKeyId"] == current.physical_id), None)
        if found is None:
            return None
        return {"UserName": found["UserName"], "Status": found["Status"]}
