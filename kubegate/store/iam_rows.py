"""Rows of the embedded IAM and STS, turned into domain objects (used through ``Transaction.iam``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from kubegate.domain.iam import IamRole, IamUser, ManagedPolicy, OwnerKind, Session
from kubegate.domain.oidc_providers import OidcProvider
from kubegate.store import schema as t


@dataclass(frozen=True)
class StoredAccessKey:
    access_key_id: str
    secret_ciphertext: bytes
    principal_arn: str
    principal_id: str
    status: str
    created_at: datetime
    user_name: str | None = None


@dataclass(frozen=True)
class StoredSession:
    session: Session
    secret_ciphertext: bytes
    token_sha256: str


class IamRows:
    """Reads and writes of the embedded IAM and STS inside one transaction.

    Writes that can take an identity away (deleting a user or role, deactivating or deleting
    a key) call `on_revoke`, so the same commit bumps the IAM generation and the token
    webhook stops trusting identities it verified before; additions revoke nothing.
    """

    def __init__(self, connection: Connection, on_revoke: Callable[[], None] = lambda: None) -> None:
        self.db = connection
        self.on_revoke = on_revoke

    # users

    def user(self, name: str) -> IamUser | None:
        row = self.db.execute(select(t.iam_users).where(t.iam_users.c.name == name)).mappings().first()
        return None if row is None else IamUser(**row)

    def users(self) -> list[IamUser]:
        rows = self.db.execute(select(t.iam_users).order_by(t.iam_users.c.name)).mappings()
        return [IamUser(**row) for row in rows]

    def add_user(self, user: IamUser) -> None:
        self.db.execute(insert(t.iam_users).values(**asdict(user)))

    def delete_user(self, name: str) -> None:
        self.on_revoke()
        self.db.execute(delete(t.iam_users).where(t.iam_users.c.name == name))

    # roles

    def role(self, name: str) -> IamRole | None:
        row = self.db.execute(select(t.iam_roles).where(t.iam_roles.c.name == name)).mappings().first()
        return None if row is None else _role(row)

    def roles(self) -> list[IamRole]:
        rows = self.db.execute(select(t.iam_roles).order_by(t.iam_roles.c.name)).mappings()
        return [_role(row) for row in rows]

    def add_role(self, role: IamRole) -> None:
        self.db.execute(insert(t.iam_roles).values(**_role_values(role)))

    def save_role(self, role: IamRole) -> None:
        self.db.execute(update(t.iam_roles).where(t.iam_roles.c.name == role.name).values(**_role_values(role)))

    def delete_role(self, name: str) -> None:
        self.on_revoke()
        self.db.execute(delete(t.iam_roles).where(t.iam_roles.c.name == name))

    # tags of users, roles (by name) and managed policies (by ARN)

    def tags(self, kind: OwnerKind, owner: str) -> dict[str, str]:
        c = t.iam_tags.c
        rows = self.db.execute(select(c.key, c.value).where(c.owner_kind == kind.value, c.owner_name == owner))
        return {key: value for key, value in rows}

    def set_tags(self, kind: OwnerKind, owner: str, tags: dict[str, str]) -> None:
        """Replace the owner's whole tag set (an empty one deletes them all)."""
        c = t.iam_tags.c
        self.db.execute(delete(t.iam_tags).where(c.owner_kind == kind.value, c.owner_name == owner))
        if tags:
            self.db.execute(insert(t.iam_tags), [
                {"owner_kind": kind.value, "owner_name": owner, "key": key, "value": value}
                for key, value in tags.items()
            ])

    # OpenID Connect providers (by URL: host[:port][/path])

    def oidc_provider(self, url: str) -> OidcProvider | None:
        row = self.db.execute(
            select(t.iam_oidc_providers).where(t.iam_oidc_providers.c.url == url)
        ).mappings().first()
        return None if row is None else _oidc_provider(row)

    def oidc_providers(self) -> list[OidcProvider]:
        rows = self.db.execute(select(t.iam_oidc_providers).order_by(t.iam_oidc_providers.c.arn)).mappings()
        return [_oidc_provider(row) for row in rows]

    def add_oidc_provider(self, provider: OidcProvider) -> None:
        self.db.execute(insert(t.iam_oidc_providers).values(**_oidc_provider_values(provider)))

    def save_oidc_provider(self, provider: OidcProvider) -> None:
        c = t.iam_oidc_providers.c
        self.db.execute(update(t.iam_oidc_providers).where(c.url == provider.url)
                        .values(**_oidc_provider_values(provider)))

    def delete_oidc_provider(self, url: str) -> None:
        """Sessions already issued for its tokens stay valid until they expire, as on AWS."""
        self.db.execute(delete(t.iam_oidc_providers).where(t.iam_oidc_providers.c.url == url))

    # managed policies

    def policy(self, arn: str) -> ManagedPolicy | None:
        row = self.db.execute(select(t.iam_policies).where(t.iam_policies.c.arn == arn)).mappings().first()
        return None if row is None else ManagedPolicy(**row)

    def policies(self) -> list[ManagedPolicy]:
        rows = self.db.execute(select(t.iam_policies).order_by(t.iam_policies.c.name)).mappings()
        return [ManagedPolicy(**row) for row in rows]

    def add_policy(self, policy: ManagedPolicy) -> None:
        self.db.execute(insert(t.iam_policies).values(**asdict(policy)))

    def delete_policy(self, arn: str) -> None:
        self.db.execute(delete(t.iam_policies).where(t.iam_policies.c.arn == arn))

    def attachment_count(self, policy_arn: str) -> int:
        c = t.iam_attachments.c
        return int(self.db.execute(select(func.count()).where(c.policy_arn == policy_arn)).scalar_one())

    # inline policies and attachments, for users and roles alike

    def inline_policies(self, kind: OwnerKind, owner: str) -> dict[str, str]:
        c = t.iam_inline_policies.c
        rows = self.db.execute(
            select(c.name, c.document).where(c.owner_kind == kind.value, c.owner_name == owner).order_by(c.name)
        )
        return {name: document for name, document in rows}

    def put_inline_policy(self, kind: OwnerKind, owner: str, name: str, document: str) -> None:
        self.delete_inline_policy(kind, owner, name)
        self.db.execute(
            insert(t.iam_inline_policies).values(owner_kind=kind.value, owner_name=owner, name=name, document=document)
        )

    def delete_inline_policy(self, kind: OwnerKind, owner: str, name: str) -> None:
        c = t.iam_inline_policies.c
        self.db.execute(
            delete(t.iam_inline_policies).where(c.owner_kind == kind.value, c.owner_name == owner, c.name == name)
        )

    def attached(self, kind: OwnerKind, owner: str) -> list[str]:
        c = t.iam_attachments.c
        rows = self.db.execute(
            select(c.policy_arn).where(c.owner_kind == kind.value, c.owner_name == owner).order_by(c.policy_arn)
        )
        return list(rows.scalars())

    def attach(self, kind: OwnerKind, owner: str, policy_arn: str) -> None:
        if policy_arn not in self.attached(kind, owner):
            self.db.execute(insert(t.iam_attachments).values(owner_kind=kind.value, owner_name=owner, policy_arn=policy_arn))

    def detach(self, kind: OwnerKind, owner: str, policy_arn: str) -> None:
        c = t.iam_attachments.c
        self.db.execute(
            delete(t.iam_attachments).where(
                c.owner_kind == kind.value, c.owner_name == owner, c.policy_arn == policy_arn
            )
        )

    # access keys

    def access_key(self, access_key_id: str) -> StoredAccessKey | None:
        row = self.db.execute(
            select(t.access_keys).where(t.access_keys.c.access_key_id == access_key_id)
        ).mappings().first()
        return None if row is None else StoredAccessKey(**row)

    def access_keys(self, user_name: str | None) -> list[StoredAccessKey]:
        c = t.access_keys.c
        condition = c.user_name.is_(None) if user_name is None else c.user_name == user_name
        rows = self.db.execute(select(t.access_keys).where(condition).order_by(c.created_at)).mappings()
        return [StoredAccessKey(**row) for row in rows]

    def add_access_key(self, key: StoredAccessKey) -> None:
        self.db.execute(insert(t.access_keys).values(**asdict(key)))

    def set_access_key_status(self, access_key_id: str, status: str) -> None:
        self.on_revoke()
        c = t.access_keys.c
        self.db.execute(update(t.access_keys).where(c.access_key_id == access_key_id).values(status=status))

    def delete_access_key(self, access_key_id: str) -> None:
        self.on_revoke()
        self.db.execute(delete(t.access_keys).where(t.access_keys.c.access_key_id == access_key_id))

    # sessions

    def session(self, access_key_id: str) -> StoredSession | None:
        row = self.db.execute(
            select(t.sts_sessions).where(t.sts_sessions.c.access_key_id == access_key_id)
        ).mappings().first()
        if row is None:
            return None
        values = dict(row)
        secret, token = values.pop("secret_ciphertext"), values.pop("token_sha256")
        policies = values.pop("policies")
        session = Session(
            **values | {
                "policies": None if policies is None else tuple(json.loads(policies)),
                "tags": tuple((k, v) for k, v in json.loads(values["tags"])),
                "transitive_tag_keys": tuple(json.loads(values["transitive_tag_keys"])),
            }
        )
        return StoredSession(session, secret, token)

    def add_session(self, stored: StoredSession) -> None:
        session = stored.session
        values = asdict(session) | {
            "policies": None if session.policies is None else json.dumps(list(session.policies)),
            "tags": json.dumps([list(tag) for tag in session.tags]),
            "transitive_tag_keys": json.dumps(list(session.transitive_tag_keys)),
        }
        self.db.execute(
            insert(t.sts_sessions).values(
                **values, secret_ciphertext=stored.secret_ciphertext, token_sha256=stored.token_sha256
            )
        )

    def delete_expired_sessions(self, now: datetime) -> None:
        self.db.execute(delete(t.sts_sessions).where(t.sts_sessions.c.expires_at < now))


def _role(row: Any) -> IamRole:
    values = dict(row)
    bindings = json.loads(values.pop("trust_bindings") or "{}")
    return IamRole(**values, trust_bindings=tuple(sorted(bindings.items())))


def _role_values(role: IamRole) -> dict[str, Any]:
    return asdict(role) | {"trust_bindings": json.dumps(dict(role.trust_bindings), sort_keys=True)}


def _oidc_provider(row: Any) -> OidcProvider:
    values = dict(row)
    return OidcProvider(**values | {"client_ids": tuple(json.loads(values["client_ids"])),
                                    "thumbprints": tuple(json.loads(values["thumbprints"]))})


def _oidc_provider_values(provider: OidcProvider) -> dict[str, Any]:
    return asdict(provider) | {"client_ids": json.dumps(list(provider.client_ids)),
                               "thumbprints": json.dumps(list(provider.thumbprints))}
