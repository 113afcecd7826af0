"""Which management calls a caller may make: AWS's identity-policy evaluation over kubegate's IAM.

The account root may do everything. An IAM user is judged by its inline and attached
policies; a role session by its role's, and only while that role still has the unique
ID the session was issued for (a re-created namesake grants nothing).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum

from kubegate.domain import iam_policy
from kubegate.domain.caller import Caller
from kubegate.domain.errors import AccessDenied
from kubegate.domain.iam import OwnerKind
from kubegate.store.database import Store, Transaction


class CallerKind(str, Enum):
    ROOT = "Account"
    USER = "User"
    SESSION = "AssumedRole"


def caller_kind(caller: Caller) -> CallerKind:
    if caller.arn.endswith(":root"):
        return CallerKind.ROOT
    if ":assumed-role/" in caller.arn:
        return CallerKind.SESSION
    return CallerKind.USER


def condition_keys(caller: Caller) -> dict[str, tuple[str, ...]]:
    """The global condition keys AWS sets for every request of this caller."""
    kind = caller_kind(caller)
    keys = {
        "aws:PrincipalArn": (caller.principal_arn,),
        "aws:PrincipalAccount": (caller.account,),
        "aws:PrincipalType": (kind.value,),
        "aws:userid": (caller.user_id,),
    }
    if kind is CallerKind.USER:
        keys["aws:username"] = (caller.principal_arn.rsplit("/", 1)[1],)
    return keys


class Authorizer:
    def __init__(self, store: Store) -> None:
        self.store = store

    def identity_policies(self, tx: Transaction, caller: Caller) -> list[tuple[str, iam_policy.PolicyDocument]]:
        kind = caller_kind(caller)
        name = caller.principal_arn.rsplit("/", 1)[1]
        if kind is CallerKind.USER:
            user = tx.iam.user(name)
            if user is None or user.id != caller.user_id:
                return []
            owner = OwnerKind.USER
        elif kind is CallerKind.SESSION:
            role = tx.iam.role(name)
            if role is None or role.id != caller.user_id.split(":", 1)[0]:
                return []
            owner = OwnerKind.ROLE
        else:
            return []
        documents = list(tx.iam.inline_policies(owner, name).items())
        for arn in tx.iam.attached(owner, name):
            policy = tx.iam.policy(arn)
            if policy is not None:
                documents.append((arn, policy.document))
        return [(label, iam_policy.parse_policy(text, kind="identity")) for label, text in documents]

    def decide(
        self, caller: Caller, action: str, resource: str, extra_keys: Mapping[str, tuple[str, ...]] | None = None
    ) -> iam_policy.Decision | None:
        """None for the root (always allowed), else AWS's decision."""
        if caller_kind(caller) is CallerKind.ROOT:
            return None
        with self.store.transaction() as tx:
            policies = self.identity_policies(tx, caller)
        context = iam_policy.RequestContext(
            action=action, resource=resource, principal_arn=caller.principal_arn, account=caller.account,
            condition_keys={**condition_keys(caller), **(extra_keys or {})},
        )
        return iam_policy.evaluate(policies, context)

    def check(
        self, caller: Caller, action: str, resource: str, extra_keys: Mapping[str, tuple[str, ...]] | None = None
    ) -> None:
        decision = self.decide(caller, action, resource, extra_keys)
        if decision is not None and not decision.allowed:
            raise AccessDenied(denied_message(caller, action, resource, explicit=decision.explicit_deny))


def denied_message(caller: Caller, action: str, resource: str, *, explicit: bool) -> str:
    why = (
        "with an explicit deny in an identity-based policy"
        if explicit
        else f"because no identity-based policy allows the {action} action"
    )
    return f"User: {caller.arn} is not authorized to perform: {action} on resource: {resource} {why}"
