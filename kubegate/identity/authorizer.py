"""Which management calls a caller may make: AWS's identity-policy evaluation over kubegate's IAM.

The account root may do everything. An IAM user is judged by its inline and attached
policies; a role session by its role's, intersected with the session policies AssumeRole
was given, and only while that role still has the unique ID the session was issued for (a
re-created namesake grants nothing). The request context carries every global key AWS
sets that kubegate can know, the action's service keys, and names the keys kubegate cannot
know so that conditions on them fail closed (see ``domain.condition_keys``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from kubegate.domain import iam_policy
from kubegate.domain.caller import Caller, RequestFacts
from kubegate.domain.condition_keys import (
    NO_KEYS,
    ActionKeys,
    Keys,
    PrincipalType,
    UnknownKeys,
    global_keys,
    principal_type,
)
from kubegate.domain.errors import AccessDenied
from kubegate.domain.iam import OwnerKind
from kubegate.store.database import Store, Transaction

_memo: ContextVar[dict[Caller, tuple[list[tuple[str, iam_policy.PolicyDocument]], Keys]] | None] = ContextVar(
    "kubegate_authorization_memo", default=None)


@contextmanager
def one_request() -> Iterator[None]:
    """Inside, a caller's policies and tags are read once, not for every check.

    For a console page, which checks each row it shows: the page is then judged as of one
    moment, as a single API request is. Never held longer than one request, so a policy
    change is seen by the next one."""
    token = _memo.set({})
    try:
        yield
    finally:
        _memo.reset(token)


class Authorizer:
    def __init__(self, store: Store) -> None:
        self.store = store

    def identity_policies(self, tx: Transaction, caller: Caller) -> list[tuple[str, iam_policy.PolicyDocument]]:
        owner = self._owner(tx, caller)
        if owner is None:
            return []
        kind, name = owner
        documents = list(tx.iam.inline_policies(kind, name).items())
        for arn in tx.iam.attached(kind, name):
            policy = tx.iam.policy(arn)
            if policy is not None:
                documents.append((arn, policy.document))
        return [(label, iam_policy.parse_policy(text, kind="identity")) for label, text in documents]

    @staticmethod
    def _owner(tx: Transaction, caller: Caller) -> tuple[OwnerKind, str] | None:
        """The live IAM user or role whose policies apply: same name *and* same unique ID."""
        kind = principal_type(caller)
        name = caller.principal_arn.rsplit("/", 1)[-1]
        if kind is PrincipalType.USER:
            user = tx.iam.user(name)
            return (OwnerKind.USER, name) if user is not None and user.id == caller.user_id else None
        if kind is PrincipalType.SESSION:
            role = tx.iam.role(name)
            return (OwnerKind.ROLE, name) if role is not None and role.id == caller.user_id.split(":", 1)[0] else None
        return None

    @classmethod
    def _principal_tags(cls, tx: Transaction, caller: Caller) -> Keys:
        """aws:PrincipalTag/*: the user's tags, or the role's overridden by the session's."""
        owner = cls._owner(tx, caller)
        tags = dict(tx.iam.tags(*owner)) if owner is not None else {}
        tags.update(caller.principal_tags)
        return {f"aws:PrincipalTag/{name}": (value,) for name, value in tags.items()}

    def _policies_and_tags(self, caller: Caller) -> tuple[list[tuple[str, iam_policy.PolicyDocument]], Keys]:
        memo = _memo.get()
        if memo is not None and caller in memo:
            return memo[caller]
        with self.store.transaction() as tx:
            found = self.identity_policies(tx, caller), self._principal_tags(tx, caller)
        if memo is not None:
            memo[caller] = found
        return found

    def caller_keys(self, caller: Caller, facts: RequestFacts) -> Keys:
        """The global keys of every request ``caller`` makes, its principal tags included."""
        with self.store.transaction() as tx:
            return {**global_keys(caller, facts), **self._principal_tags(tx, caller)}

    def decide(
        self, caller: Caller, action: str, resource: str, facts: RequestFacts, keys: ActionKeys = NO_KEYS,
    ) -> iam_policy.Decision | None:
        """None for the root (always allowed), else AWS's decision."""
        if principal_type(caller) is PrincipalType.ROOT:
            return None
        policies, tags = self._policies_and_tags(caller)
        session = None
        if caller.session_policies is not None:
            session = [(f"session policy {index}", iam_policy.parse_policy(text, kind="identity"))
                       for index, text in enumerate(caller.session_policies, 1)]
        context = iam_policy.RequestContext(
            action=action, resource=resource, principal_arn=caller.principal_arn, account=caller.account,
            condition_keys={**global_keys(caller, facts), **tags, **keys.present},
            unknown=UnknownKeys(action, keys.covered),
        )
        return iam_policy.evaluate_with_session(policies, session, context)

    def check(
        self, caller: Caller, action: str, resource: str, facts: RequestFacts, keys: ActionKeys = NO_KEYS,
    ) -> None:
        decision = self.decide(caller, action, resource, facts, keys)
        if decision is not None and not decision.allowed:
            raise AccessDenied(denied_message(caller, action, resource, explicit=decision.explicit_deny,
                                              policy_type=decision.policy_type))


def denied_message(caller: Caller, action: str, resource: str, *, explicit: bool,
                   policy_type: str = "identity-based") -> str:
    article = "an" if policy_type[0] in "aeiou" else "a"
    why = (
        f"with an explicit deny in {article} {policy_type} policy"
        if explicit
        else f"because no {policy_type} policy allows the {action} action"
    )
    return f"User: {caller.arn} is not authorized to perform: {action} on resource: {resource} {why}"
