"""What a role and a user share: inline policies, attached managed policies and tags.

IAM names the operations after the owner (PutRolePolicy, AttachUserPolicy, TagRole …) and
keys them by RoleName or UserName, so one :class:`Owner` drives both providers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from kubegate.service.stacks.calls import AwsCalls, ServiceError
from kubegate.service.stacks.providers._common import (
    create_tags,
    ignoring_gone,
    iam_pages,
    named_policies,
    policy_text,
    policy_value,
    same_policy,
    strings,
    tag_changes,
    tag_list,
    undo_all,
)
from kubegate.service.stacks.providers.base import Properties


@dataclass(frozen=True)
class Owner:
    noun: str  # "Role" | "User"
    name: str  # the role's or user's name

    @property
    def key(self) -> dict[str, str]:
        return {f"{self.noun}Name": self.name}

    def create(self, call: AwsCalls, params: dict[str, Any], properties: Properties,
               stack_tags: Mapping[str, str]) -> dict[str, Any]:
        """CreateRole or CreateUser, then its policies; on a refusal what was made is undone first."""
        tags = create_tags(stack_tags, properties)
        if tags:
            params["Tags"] = tag_list(tags)
        made: dict[str, Any] = call("iam", f"Create{self.noun}", params)[self.noun]
        undo: list[Callable[[], Any]] = [lambda: call("iam", f"Delete{self.noun}", self.key)]
        try:
            self.attach_all(call, properties, undo)
        except ServiceError:
            undo_all(undo)
            raise
        return made

    def attach_all(self, call: AwsCalls, properties: Properties, undo: list[Callable[[], Any]]) -> None:
        """A create's inline and managed policies, each undo step recorded as it is made."""
        for policy_name, document in named_policies(properties.get("Policies")).items():
            self.put_policy(call, policy_name, document)
            undo.append(partial(self.delete_policy, call, policy_name))
        for arn in strings(properties.get("ManagedPolicyArns")):
            call("iam", f"Attach{self.noun}Policy", {**self.key, "PolicyArn": arn})
            undo.append(partial(self.detach, call, arn))

    def update_policies(self, call: AwsCalls, old: Properties, new: Properties) -> None:
        before, after = named_policies(old.get("Policies")), named_policies(new.get("Policies"))
        for policy_name, document in after.items():
            if policy_name not in before or not same_policy(before[policy_name], document):
                self.put_policy(call, policy_name, document)
        for policy_name in before.keys() - after.keys():
            self.delete_policy(call, policy_name)
        old_arns, new_arns = set(strings(old.get("ManagedPolicyArns"))), set(strings(new.get("ManagedPolicyArns")))
        for arn in sorted(new_arns - old_arns):
            call("iam", f"Attach{self.noun}Policy", {**self.key, "PolicyArn": arn})
        for arn in sorted(old_arns - new_arns):
            self.detach(call, arn)

    def update_tags(self, call: AwsCalls, old: Properties, new: Properties) -> None:
        to_set, to_remove = tag_changes(old, new)
        if to_remove:
            call("iam", f"Untag{self.noun}", {**self.key, "TagKeys": to_remove})
        if to_set:
            call("iam", f"Tag{self.noun}", {**self.key, "Tags": tag_list(to_set)})

    def remove_policies(self, call: AwsCalls) -> None:
        """Everything attached to the owner, so that its delete is not refused (DeleteConflict)."""
        attached = iam_pages(call, f"ListAttached{self.noun}Policies", self.key, "AttachedPolicies")
        for item in attached:
            self.detach(call, item["PolicyArn"])
        for policy_name in iam_pages(call, f"List{self.noun}Policies", self.key, "PolicyNames"):
            self.delete_policy(call, policy_name)

    def read_policies(self, call: AwsCalls) -> dict[str, Any]:
        """``Policies`` (by name, documents parsed) and ``ManagedPolicyArns`` (sorted)."""
        names = iam_pages(call, f"List{self.noun}Policies", self.key, "PolicyNames")
        policies = [{"PolicyName": n, "PolicyDocument": policy_value(
            call("iam", f"Get{self.noun}Policy", {**self.key, "PolicyName": n})["PolicyDocument"])}
            for n in sorted(names)]
        attached = iam_pages(call, f"ListAttached{self.noun}Policies", self.key, "AttachedPolicies")
        return {"Policies": policies, "ManagedPolicyArns": strings(a["PolicyArn"] for a in attached)}

    def put_policy(self, call: AwsCalls, policy_name: str, document: Any) -> None:
        call("iam", f"Put{self.noun}Policy", {**self.key, "PolicyName": policy_name,
                                              "PolicyDocument": policy_text(document)})

    def delete_policy(self, call: AwsCalls, policy_name: str) -> None:
        ignoring_gone(lambda: call("iam", f"Delete{self.noun}Policy", {**self.key, "PolicyName": policy_name}))

    def detach(self, call: AwsCalls, arn: str) -> None:
        ignoring_gone(lambda: call("iam", f"Detach{self.noun}Policy", {**self.key, "PolicyArn": arn}))
