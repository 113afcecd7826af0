"""The embedded IAM: users, roles, policies and access keys, with IAM's rules and messages.

Secret access keys are returned once, by CreateAccessKey, and stored only encrypted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from cryptography.fernet import Fernet

from kubegate.domain import iam_policy
from kubegate.domain import tags as tagrules
from kubegate.domain.errors import (
    DeleteConflict,
    EntityAlreadyExists,
    InvalidInput,
    LimitExceeded,
    MalformedPolicyDocument,
    NoSuchEntity,
)
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
from kubegate.domain.oidc_providers import (
    MAX_PROVIDERS,
    OidcProvider,
    check_client_ids,
    check_thumbprints,
    provider_arn,
    provider_url,
)
from kubegate.domain.pagination import MARKER, page
from kubegate.identity import credentials as generate
from kubegate.store.database import Store, Transaction
from kubegate.store.iam_rows import StoredAccessKey

_INLINE_LIMIT = {OwnerKind.USER: USER_INLINE_POLICY_LIMIT, OwnerKind.ROLE: ROLE_INLINE_POLICY_LIMIT}
Tags = dict[str, str]


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
        if kind is OwnerKind.POLICY:
            self._policy(tx, name)
        elif kind is OwnerKind.OIDC_PROVIDER:
            self._oidc_provider(tx, name)
        else:
            self._user(tx, name) if kind is OwnerKind.USER else self._role(tx, name)

    def arn_of(self, kind: OwnerKind, name: str) -> str:
        """The ARN IAM authorizes an action on: the entity's own, with its path. For an entity
        that does not exist (its path unknown) the path-less ARN, as AWS uses then."""
        with self.store.transaction() as tx:
            found = tx.iam.user(name) if kind is OwnerKind.USER else tx.iam.role(name)
        return found.arn if found is not None else iam_arn(self.partition, self.account, kind.value, "/", name)

    def tags_of(self, kind: OwnerKind, name: str) -> Tags:
        """The tags IAM conditions see as iam:ResourceTag/* and aws:ResourceTag/* (none if it does not exist)."""
        with self.store.transaction() as tx:
            return tx.iam.tags(kind, name)

    # users

    def create_user(self, name: str, path: str | None, tags: Tags | None = None) -> IamUser:
        path = check_path(path or "/")
        check_tags(tags)
        user = IamUser(
            name=name, path=path, id=generate.unique_id("AIDA"),
            arn=iam_arn(self.partition, self.account, "user", path, name), created_at=self.clock(),
        )
        with self.store.transaction() as tx:
            if tx.iam.user(name) is not None:
                raise EntityAlreadyExists(f"User with name {name} already exists.")
            tx.iam.add_user(user)
            tx.iam.set_tags(OwnerKind.USER, name, dict(tags or {}))
        return user

    def get_user(self, name: str) -> IamUser:
        with self.store.transaction() as tx:
            return self._user(tx, name)

    def list_users(self, path_prefix: str | None, marker: str | None, max_items: int | None) -> tuple[list[IamUser], str | None]:
        with self.store.transaction() as tx:
            users = {u.name: u for u in tx.iam.users() if u.path.startswith(path_prefix or "/")}
        names, token = page(sorted(users), max_items, marker, parameter=MARKER)
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
            tx.iam.set_tags(OwnerKind.USER, name, {})

    # access keys

    def create_access_key(self, user_name: str | None) -> NewAccessKey:
        """``user_name`` None: the account root's own key, as IAM lets the root make."""
        now = self.clock()
        secret = generate.secret_access_key()
        with self.store.transaction() as tx:
            principal_arn, principal_id = self._key_owner(tx, user_name)
            if len(tx.iam.access_keys(user_name)) >= MAX_ACCESS_KEYS_PER_USER:
                raise LimitExceeded(f"Cannot exceed quota for AccessKeysPerUser: {MAX_ACCESS_KEYS_PER_USER}")
            key = StoredAccessKey(
                access_key_id=generate.access_key_id("AKIA"),
                secret_ciphertext=self.cipher.encrypt(secret.encode()),
                principal_arn=principal_arn,
                principal_id=principal_id,
                status="Active",
                created_at=now,
                user_name=user_name,
            )
            tx.iam.add_access_key(key)
        return NewAccessKey(user_name, key.access_key_id, secret, key.status, now)

    def _key_owner(self, tx: Transaction, user_name: str | None) -> tuple[str, str]:
        if user_name is None:
            return f"arn:{self.partition}:iam::{self.account}:root", self.account
        user = self._user(tx, user_name)
        return user.arn, user.id

    def root_created_at(self) -> datetime:
        """When the root's first access key was made: kubegate's stand-in for the account's creation."""
        with self.store.transaction() as tx:
            keys = tx.iam.access_keys(None)
        return min((k.created_at for k in keys), default=self.clock())

    def list_access_keys(self, user_name: str | None) -> list[StoredAccessKey]:
        with self.store.transaction() as tx:
            self._key_owner(tx, user_name)
            return tx.iam.access_keys(user_name)

    def _key(self, tx: Transaction, user_name: str | None, access_key_id: str) -> StoredAccessKey:
        self._key_owner(tx, user_name)
        key = tx.iam.access_key(access_key_id)
        if key is None or key.user_name != user_name:
            raise NoSuchEntity(f"The Access Key with id {access_key_id} cannot be found.")
        return key

    def update_access_key(self, user_name: str | None, access_key_id: str, status: str) -> None:
        with self.store.transaction() as tx:
            self._key(tx, user_name, access_key_id)
            tx.iam.set_access_key_status(access_key_id, status)

    def delete_access_key(self, user_name: str | None, access_key_id: str) -> None:
        with self.store.transaction() as tx:
            self._key(tx, user_name, access_key_id)
            tx.iam.delete_access_key(access_key_id)

    # roles

    def create_role(
        self, name: str, path: str | None, trust_policy: str, description: str | None, max_session_duration: int | None,
        tags: Tags | None = None,
    ) -> IamRole:
        document = iam_policy.parse_policy(trust_policy, kind="trust", max_length=TRUST_POLICY_LIMIT)
        path = check_path(path or "/")
        check_tags(tags)
        role = IamRole(
            name=name, path=path, id=generate.unique_id("AROA"),
            arn=iam_arn(self.partition, self.account, "role", path, name), created_at=self.clock(),
            trust_policy=trust_policy, max_session_duration=check_max_session_duration(max_session_duration),
            description=description,
        )
        with self.store.transaction() as tx:
            if tx.iam.role(name) is not None:
                raise EntityAlreadyExists(f"Role with name {name} already exists.")
            role = replace(role, trust_bindings=self._bind_principals(tx, document, role))
            tx.iam.add_role(role)
            tx.iam.set_tags(OwnerKind.ROLE, name, dict(tags or {}))
        return role

    @staticmethod
    def _shown(tx: Transaction, role: IamRole) -> IamRole:
        """The role as IAM shows it: a trusted principal deleted since shows as its unique ID."""
        text = role.trust_policy
        for arn, unique_id in role.trust_bindings:
            kind, _, rest = arn.split(":", 5)[5].partition("/")
            name = rest.rsplit("/", 1)[-1]
            found = tx.iam.user(name) if kind == "user" else tx.iam.role(name)
            if found is None or found.id != unique_id:
                text = text.replace(f'"{arn}"', f'"{unique_id}"')
        return replace(role, trust_policy=text)

    def _bind_principals(self, tx: Transaction, document: iam_policy.PolicyDocument,
                         role: IamRole) -> tuple[tuple[str, str], ...]:
        """Bind each user or role of this account that the trust policy names to its unique ID,
        as IAM does when it saves the policy; a name that does not exist is refused, as IAM does."""
        bindings: dict[str, str] = {}
        for arn in _named_principals(document):
            kind, _, name = arn.partition(f"arn:{self.partition}:iam::{self.account}:")[2].partition("/")
            if kind not in ("user", "role") or not name:
                continue
            name = name.rsplit("/", 1)[-1]
            found = role if kind == "role" and name == role.name else (
                tx.iam.user(name) if kind == "user" else tx.iam.role(name))
            if found is None or found.arn != arn:
                raise MalformedPolicyDocument(f'Invalid principal in policy: "AWS":"{arn}"')
            bindings[arn] = found.id
        return tuple(sorted(bindings.items()))

    def get_role(self, name: str) -> IamRole:
        with self.store.transaction() as tx:
            return self._shown(tx, self._role(tx, name))

    def list_roles(self, path_prefix: str | None, marker: str | None, max_items: int | None) -> tuple[list[IamRole], str | None]:
        with self.store.transaction() as tx:
            roles = {r.name: self._shown(tx, r) for r in tx.iam.roles() if r.path.startswith(path_prefix or "/")}
        names, token = page(sorted(roles), max_items, marker, parameter=MARKER)
        return [roles[n] for n in names], token

    def update_assume_role_policy(self, name: str, trust_policy: str) -> None:
        document = iam_policy.parse_policy(trust_policy, kind="trust", max_length=TRUST_POLICY_LIMIT)
        with self.store.transaction() as tx:
            role = self._role(tx, name)
            tx.iam.save_role(replace(role, trust_policy=trust_policy,
                                     trust_bindings=self._bind_principals(tx, document, role)))

    def delete_role(self, name: str) -> None:
        with self.store.transaction() as tx:
            self._role(tx, name)
            if tx.iam.inline_policies(OwnerKind.ROLE, name):
                raise DeleteConflict("Cannot delete entity, must delete policies first.")
            if tx.iam.attached(OwnerKind.ROLE, name):
                raise DeleteConflict("Cannot delete entity, must detach all policies first.")
            tx.iam.delete_role(name)
            tx.iam.set_tags(OwnerKind.ROLE, name, {})

    # inline policies

    def put_inline_policy(self, kind: OwnerKind, owner: str, name: str, document: str) -> None:
        """IAM's quota is on all of a principal's inline policies together (2,048 characters for a
        user, 10,240 for a role), so that many small policies cannot add up past it."""
        limit = _INLINE_LIMIT[kind]
        iam_policy.parse_policy(document, kind="identity", max_length=limit)
        with self.store.transaction() as tx:
            self._owner(tx, kind, owner)
            others = {k: v for k, v in tx.iam.inline_policies(kind, owner).items() if k != name}
            if sum(map(iam_policy.policy_size, (*others.values(), document))) > limit:
                raise LimitExceeded(f"Maximum policy size of {limit} bytes exceeded for {kind.value} {owner}")
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
        return page(names, max_items, marker, parameter=MARKER)

    # managed policies

    def create_policy(self, name: str, path: str | None, document: str, description: str | None,
                      tags: Tags | None = None) -> ManagedPolicy:
        iam_policy.parse_policy(document, kind="identity", max_length=MANAGED_POLICY_LIMIT)
        path = check_path(path or "/")
        check_tags(tags)
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
            tx.iam.set_tags(OwnerKind.POLICY, policy.arn, dict(tags or {}))
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
            tx.iam.set_tags(OwnerKind.POLICY, arn, {})

    def list_policies(self, path_prefix: str | None, marker: str | None, max_items: int | None) -> tuple[list[tuple[ManagedPolicy, int]], str | None]:
        with self.store.transaction() as tx:
            policies = {p.name: (p, tx.iam.attachment_count(p.arn)) for p in tx.iam.policies()
                        if p.path.startswith(path_prefix or "/")}
        names, token = page(sorted(policies), max_items, marker, parameter=MARKER)
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
        arns, token = page(sorted(policies), max_items, marker, parameter=MARKER)
        return [policies[a] for a in arns], token

    # OpenID Connect providers (by ARN)

    def _oidc_provider(self, tx: Transaction, arn: str) -> OidcProvider:
        prefix = f"arn:{self.partition}:iam::{self.account}:oidc-provider/"
        provider = tx.iam.oidc_provider(arn.removeprefix(prefix)) if arn.startswith(prefix) else None
        if provider is None or provider.arn != arn:
            raise NoSuchEntity(f"OpenIDConnect Provider not found for arn {arn}")
        return provider

    def create_oidc_provider(self, url: str, client_ids: list[str], thumbprints: list[str],
                             tags: Tags | None = None) -> OidcProvider:
        name = provider_url(url)
        check_tags(tags)
        provider = OidcProvider(
            url=name, arn=provider_arn(self.partition, self.account, name),
            client_ids=check_client_ids(tuple(client_ids)), thumbprints=check_thumbprints(tuple(thumbprints)),
            created_at=self.clock(),
        )
        with self.store.transaction() as tx:
            if tx.iam.oidc_provider(name) is not None:
                raise EntityAlreadyExists(f"Provider with url {url} already exists.")
            if len(tx.iam.oidc_providers()) >= MAX_PROVIDERS:
                raise LimitExceeded(f"Cannot exceed quota for OpenIdConnectProvidersPerAccount: {MAX_PROVIDERS}")
            tx.iam.add_oidc_provider(provider)
            tx.iam.set_tags(OwnerKind.OIDC_PROVIDER, provider.arn, dict(tags or {}))
        return provider

    def get_oidc_provider(self, arn: str) -> tuple[OidcProvider, Tags]:
        with self.store.transaction() as tx:
            provider = self._oidc_provider(tx, arn)
            return provider, tx.iam.tags(OwnerKind.OIDC_PROVIDER, provider.arn)

    def oidc_provider_for_issuer(self, issuer: str) -> OidcProvider | None:
        """The provider whose ``https://<url>`` is ``issuer`` exactly, if one is registered."""
        if not issuer.startswith("https://"):
            return None
        with self.store.transaction() as tx:
            provider = tx.iam.oidc_provider(issuer.removeprefix("https://"))
        return provider if provider is not None and provider.issuer == issuer else None

    def list_oidc_providers(self) -> list[OidcProvider]:
        with self.store.transaction() as tx:
            return tx.iam.oidc_providers()

    def delete_oidc_provider(self, arn: str) -> None:
        with self.store.transaction() as tx:
            provider = self._oidc_provider(tx, arn)
            tx.iam.delete_oidc_provider(provider.url)
            tx.iam.set_tags(OwnerKind.OIDC_PROVIDER, provider.arn, {})

    def add_oidc_client_id(self, arn: str, client_id: str) -> None:
        with self.store.transaction() as tx:
            provider = self._oidc_provider(tx, arn)
            ids = check_client_ids((*provider.client_ids, client_id))
            tx.iam.save_oidc_provider(replace(provider, client_ids=ids))

    def remove_oidc_client_id(self, arn: str, client_id: str) -> None:
        """Removing a client ID the provider does not have succeeds, as on AWS."""
        with self.store.transaction() as tx:
            provider = self._oidc_provider(tx, arn)
            ids = tuple(i for i in provider.client_ids if i != client_id)
            tx.iam.save_oidc_provider(replace(provider, client_ids=ids))

    def update_oidc_thumbprints(self, arn: str, thumbprints: list[str]) -> None:
        checked = check_thumbprints(tuple(thumbprints))
        with self.store.transaction() as tx:
            provider = self._oidc_provider(tx, arn)
            tx.iam.save_oidc_provider(replace(provider, thumbprints=checked))

    # tags (users and roles by name, managed policies and OIDC providers by ARN)

    def tag(self, kind: OwnerKind, owner: str, tags: Tags) -> None:
        check_tags(tags)
        with self.store.transaction() as tx:
            self._owner(tx, kind, owner)
            merged = {k: v for k, v in tx.iam.tags(kind, owner).items() if k.lower() not in {t.lower() for t in tags}}
            merged.update(tags)
            if len(merged) > tagrules.MAX_TAGS:
                raise LimitExceeded(f"Cannot exceed quota for TagsPer{kind.value.capitalize()}: {tagrules.MAX_TAGS}")
            tx.iam.set_tags(kind, owner, merged)

    def untag(self, kind: OwnerKind, owner: str, keys: list[str]) -> None:
        with self.store.transaction() as tx:
            self._owner(tx, kind, owner)
            tx.iam.set_tags(kind, owner, tagrules.without(tx.iam.tags(kind, owner), keys))

    def list_tags(self, kind: OwnerKind, owner: str, marker: str | None, max_items: int | None) -> tuple[Tags, str | None]:
        with self.store.transaction() as tx:
            self._owner(tx, kind, owner)
            tags = tx.iam.tags(kind, owner)
        keys, token = page(sorted(tags), max_items, marker, parameter=MARKER)
        return {k: tags[k] for k in keys}, token


def check_tags(tags: Tags | None) -> None:
    """IAM's tag rules beyond the model's lengths: aws: is reserved, and keys differing only in
    case are the same key."""
    if not tags:
        return
    tagrules.check_tags(tags, InvalidInput)
    if len({key.lower() for key in tags}) != len(tags):
        raise InvalidInput("Duplicate tag keys found. Please note that Tag keys are case insensitive.")


def _named_principals(document: iam_policy.PolicyDocument) -> list[str]:
    return [arn for statement in document.statements for principals in (statement.principals, statement.not_principals)
            if principals is not None for arn in principals.aws]
