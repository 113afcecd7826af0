"""The embedded IAM: users, roles, policies and access keys, with IAM's rules and messages.

Secret access keys are returned once, by CreateAccessKey, and stored only encrypted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from cryptography.fernet import Fernet

from kubegate.domain import iam_policy
from kubegate.domain.errors import DeleteConflict, EntityAlreadyExists, LimitExceeded, NoSuchEntity
from kubegate.domain.iam import (
    MANAGED_POLICY_LIMIT,
    MAX_ACCESS_KEYS_PER_USER,
    ROLE_INLINE_POLICY_LIMIT,
    TRUST_POLICY_LIMIT,
    USER_INLINE_POLICY_LIMIT,
    IamRole,
    IamUser,
    ManagedPolicy,
    OwnerKind,
    check_max_session_duration,
    check_path,
    iam_arn,
)
from kubegate.domain.pagination import page
from kubegate.identity import credentials as generate
from kubegate.store.database import Store, Transaction
from kubegate.store.iam_rows import StoredAccessKey

_INLINE_LIMIT = {OwnerKind.USER: USER_INLINE_POLICY_LIMIT, OwnerKind.ROLE: ROLE_INLINE_POLICY_LIMIT}


@dataclass(frozen=True)
class NewAccessKey:
    """CreateAccessKey's answer: the only time the secret leaves kubegate."""

    user_name: str | None
    access_key_id: str
    secret_access_key: str
    status: str
    created_at: datetime


class IamService:
    def __init__(
        self, store: Store, cipher: Fernet, *, account: str, partition: str = "aws",
        clock: Callable[[], datetime],
    ) -> None:
        self.store = store
        self.cipher = cipher
        self.account = account
        self.partition = partition
        self.clock = clock

    # lookups that raise IAM's NoSuchEntity

    @staticmethod
    def _user(tx: Transaction, name: str) -> IamUser:
        user = tx.iam.user(name)
        if user is None:
            raise NoSuchEntity(f"The user with name {name} cannot be found.")
        return user

    @staticmethod
    def _role(tx: Transaction, name: str) -> IamRole:
        role = tx.iam.role(name)
        if role is None:
            raise NoSuchEntity(f"The role with name {name} cannot be found.")
        return role

    def _owner(self, tx: Transaction, kind: OwnerKind, name: str) -> None:
        self._user(tx, name) if kind is OwnerKind.USER else self._role(tx, name)

    # users

    def create_user(self, name: str, path: str | None) -> IamUser:
        path = check_path(path or "/")
        user = IamUser(
            name=name, path=path, id=generate.unique_id("AIDA"),
            arn=iam_arn(self.partition, self.account, "user", path, name), created_at=self.clock(),
        )
        with self.store.transaction() as tx:
            if tx.iam.user(name) is not None:
                raise EntityAlreadyExists(f"User with name {name} already exists.")
            tx.iam.add_user(user)
        return user

    def get_user(self, name: str) -> IamUser:
        with self.store.transaction() as tx:
            return self._user(tx, name)

    def list_users(self, path_prefix: str | None, marker: str | None, max_items: int | None) -> tuple[list[IamUser], str | None]:
        with self.store.transaction() as tx:
            users = {u.name: u for u in tx.iam.users() if u.path.startswith(path_prefix or "/")}
        names, token = page(sorted(users), max_items, marker)
        return [users[n] for n in names], token

    def delete_user(self, name: str) -> None:
        with self.store.transaction() as tx:
            self._user(tx, name)
            if tx.iam.access_keys(name):
                raise DeleteConflict("Cannot delete entity, must delete access keys first.")
            if tx.iam.inline_policies(OwnerKind.USER, name):
                raise DeleteConflict("Cannot delete entity, must delete policies first.")
            if tx.iam.attached(OwnerKind.USER, name):
                raise DeleteConflict("Cannot delete entity, must detach all policies first.")
            tx.iam.delete_user(name)

    # access keys

    def create_access_key(self, user_name: str) -> NewAccessKey:
        now = self.clock()
        secret = generate.secret_access_key()
        with self.store.transaction() as tx:
            user = self._user(tx, user_name)
            if len(tx.iam.access_keys(user_name)) >= MAX_ACCESS_KEYS_PER_USER:
                raise LimitExceeded(f"Cannot exceed quota for AccessKeysPerUser: {MAX_ACCESS_KEYS_PER_USER}")
            key = StoredAccessKey(
                access_key_id=generate.access_key_id("AKIA"),
                secret_ciphertext=self.cipher.encrypt(secret.encode()),
                principal_arn=user.arn,
                principal_id=user.id,
                status="Active",
                created_at=now,
                user_name=user_name,
            )
            tx.iam.add_access_key(key)
        return NewAccessKey(user_name, key.access_key_id, secret, key.status, now)

    def list_access_keys(self, user_name: str) -> list[StoredAccessKey]:
        with self.store.transaction() as tx:
            self._user(tx, user_name)
            return tx.iam.access_keys(user_name)

    def _key(self, tx: Transaction, user_name: str, access_key_id: str) -> StoredAccessKey:
        self._user(tx, user_name)
        key = tx.iam.access_key(access_key_id)
        if key is None or key.user_name != user_name:
            raise NoSuchEntity(f"The Access Key with id {access_key_id} cannot be found.")
        return key

    def update_access_key(self, user_name: str, access_key_id: str, status: str) -> None:
        with self.store.transaction() as tx:
            self._key(tx, user_name, access_key_id)
            tx.iam.set_access_key_status(access_key_id, status)

    def delete_access_key(self, user_name: str, access_key_id: str) -> None:
        with self.store.transaction() as tx:
            self._key(tx, user_name, access_key_id)
            tx.iam.delete_access_key(access_key_id)

    # roles

    def create_role(
        self, name: str, path: str | None, trust_policy: str, description: str | None, max_session_duration: int | None
    ) -> IamRole:
        iam_policy.parse_policy(trust_policy, kind="trust", max_length=TRUST_POLICY_LIMIT)
        path = check_path(path or "/")
        role = IamRole(
            name=name, path=path, id=generate.unique_id("AROA"),
            arn=iam_arn(self.partition, self.account, "role", path, name), created_at=self.clock(),
            trust_policy=trust_policy, max_session_duration=check_max_session_duration(max_session_duration),
            description=description,
        )
        with self.store.transaction() as tx:
            if tx.iam.role(name) is not None:
                raise EntityAlreadyExists(f"Role with name {name} already exists.")
            tx.iam.add_role(role)
        return role

    def get_role(self, name: str) -> IamRole:
        with self.store.transaction() as tx:
            return self._role(tx, name)

    def list_roles(self, path_prefix: str | None, marker: str | None, max_items: int | None) -> tuple[list[IamRole], str | None]:
        with self.store.transaction() as tx:
            roles = {r.name: r for r in tx.iam.roles() if r.path.startswith(path_prefix or "/")}
        names, token = page(sorted(roles), max_items, marker)
        return [roles[n] for n in names], token

    def update_assume_role_policy(self, name: str, trust_policy: str) -> None:
        iam_policy.parse_policy(trust_policy, kind="trust", max_length=TRUST_POLICY_LIMIT)
        with self.store.transaction() as tx:
            tx.iam.save_role(replace(self._role(tx, name), trust_policy=trust_policy))

    def delete_role(self, name: str) -> None:
        with self.store.transaction() as tx:
            self._role(tx, name)
            if tx.iam.inline_policies(OwnerKind.ROLE, name):
                raise DeleteConflict("Cannot delete entity, must delete policies first.")
            if tx.iam.attached(OwnerKind.ROLE, name):
                raise DeleteConflict("Cannot delete entity, must detach all policies first.")
            tx.iam.delete_role(name)

    # inline policies

    def put_inline_policy(self, kind: OwnerKind, owner: str, name: str, document: str) -> None:
        iam_policy.parse_policy(document, kind="identity", max_length=_INLINE_LIMIT[kind])
        with self.store.transaction() as tx:
            self._owner(tx, kind, owner)
            tx.iam.put_inline_policy(kind, owner, name, document)

    def get_inline_policy(self, kind: OwnerKind, owner: str, name: str) -> str:
        with self.store.transaction() as tx:
            self._owner(tx, kind, owner)
            document = tx.iam.inline_policies(kind, owner).get(name)
        if document is None:
            raise NoSuchEntity(f"The {kind.value} policy with name {name} cannot be found.")
        return document

    def delete_inline_policy(self, kind: OwnerKind, owner: str, name: str) -> None:
        with self.store.transaction() as tx:
            self._owner(tx, kind, owner)
            if name not in tx.iam.inline_policies(kind, owner):
                raise NoSuchEntity(f"The {kind.value} policy with name {name} cannot be found.")
            tx.iam.delete_inline_policy(kind, owner, name)

    def list_inline_policies(self, kind: OwnerKind, owner: str, marker: str | None, max_items: int | None) -> tuple[list[str], str | None]:
        with self.store.transaction() as tx:
            self._owner(tx, kind, owner)
            names = sorted(tx.iam.inline_policies(kind, owner))
        return page(names, max_items, marker)

    # managed policies

    def create_policy(self, name: str, path: str | None, document: str, description: str | None) -> ManagedPolicy:
        iam_policy.parse_policy(document, kind="identity", max_length=MANAGED_POLICY_LIMIT)
        path = check_path(path or "/")
        now = self.clock()
        policy = ManagedPolicy(
            name=name, path=path, id=generate.unique_id("ANPA"),
            arn=iam_arn(self.partition, self.account, "policy", path, name), document=document,
            description=description, created_at=now, updated_at=now,
        )
        with self.store.transaction() as tx:
            if any(p.name == name for p in tx.iam.policies()):
                raise EntityAlreadyExists(f"A policy called {name} already exists. Duplicate names are not allowed.")
            tx.iam.add_policy(policy)
        return policy

    def _policy(self, tx: Transaction, arn: str) -> ManagedPolicy:
        policy = tx.iam.policy(arn)
        if policy is None:
            raise NoSuchEntity(f"Policy {arn} does not exist or is not attachable.")
        return policy

    def get_policy(self, arn: str) -> tuple[ManagedPolicy, int]:
        with self.store.transaction() as tx:
            return self._policy(tx, arn), tx.iam.attachment_count(arn)

    def delete_policy(self, arn: str) -> None:
        with self.store.transaction() as tx:
            self._policy(tx, arn)
            if tx.iam.attachment_count(arn):
                raise DeleteConflict("Cannot delete a policy attached to entities.")
            tx.iam.delete_policy(arn)

    def list_policies(self, path_prefix: str | None, marker: str | None, max_items: int | None) -> tuple[list[tuple[ManagedPolicy, int]], str | None]:
        with self.store.transaction() as tx:
            policies = {p.name: (p, tx.iam.attachment_count(p.arn)) for p in tx.iam.policies()
                        if p.path.startswith(path_prefix or "/")}
        names, token = page(sorted(policies), max_items, marker)
        return [policies[n] for n in names], token

    def attach(self, kind: OwnerKind, owner: str, policy_arn: str) -> None:
        with self.store.transaction() as tx:
            self._owner(tx, kind, owner)
            self._policy(tx, policy_arn)
            tx.iam.attach(kind, owner, policy_arn)

    def detach(self, kind: OwnerKind, owner: str, policy_arn: str) -> None:
        with self.store.transaction() as tx:
            self._owner(tx, kind, owner)
            if policy_arn not in tx.iam.attached(kind, owner):
                raise NoSuchEntity(f"Policy {policy_arn} was not found.")
            tx.iam.detach(kind, owner, policy_arn)

    def list_attached(self, kind: OwnerKind, owner: str, marker: str | None, max_items: int | None) -> tuple[list[ManagedPolicy], str | None]:
        with self.store.transaction() as tx:
            self._owner(tx, kind, owner)
            policies = {p.arn: p for p in (tx.iam.policy(a) for a in tx.iam.attached(kind, owner)) if p}
        arns, token = page(sorted(policies), max_items, marker)
        return [policies[a] for a in arns], token
