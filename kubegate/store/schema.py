"""Tables of the kubegate store (SQLAlchemy Core); Alembic migrations create them.

Portable SQL only: the same tables run on SQLite (the default) and PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect


class UtcDateTime(TypeDecorator[datetime]):
    """Stores UTC without a zone (SQLite keeps none) and hands back aware datetimes."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc)


metadata = MetaData()

clusters = Table(
    "clusters",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("arn", String(512), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("settles_at", UtcDateTime, nullable=False),
    Column("spec", JSON, nullable=False),
    Column("authentication_mode", String(32), nullable=False),
    Column("bootstrap_admin", Boolean, nullable=False),
    Column("creator_arn", String(2048), nullable=False),
    Column("creator_id", String(128), nullable=False),
    Column("endpoint", String(2048)),
    Column("certificate_authority", Text),
    Column("revision", Integer, nullable=False, default=1),  # bumped by every change the engine must see
    Column("api_token_ciphertext", LargeBinary),  # a bearer token for reading aws-auth, encrypted
)

cluster_updates = Table(
    "cluster_updates",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("cluster_name", String(100), ForeignKey("clusters.name"), nullable=False, index=True),
    Column("type", String(64), nullable=False),
    Column("params", JSON, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("settles_at", UtcDateTime, nullable=False),
)

access_entries = Table(
    "access_entries",
    metadata,
    Column("cluster_name", String(100), ForeignKey("clusters.name"), primary_key=True),
    Column("principal_arn", String(2048), primary_key=True),
    Column("principal_id", String(128)),
    Column("type", String(32), nullable=False),
    Column("username", String(2048), nullable=False),
    Column("kubernetes_groups", JSON, nullable=False),
    Column("arn", String(2048), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("modified_at", UtcDateTime, nullable=False),
    Column("client_request_token", String(128)),
)

policy_associations = Table(
    "policy_associations",
    metadata,
    Column("cluster_name", String(100), primary_key=True),
    Column("principal_arn", String(2048), primary_key=True),
    Column("policy_arn", String(512), primary_key=True),
    Column("scope_type", String(16), nullable=False),
    Column("namespaces", JSON, nullable=False),
    Column("associated_at", UtcDateTime, nullable=False),
    Column("modified_at", UtcDateTime, nullable=False),
)

tags = Table(
    "tags",
    metadata,
    Column("resource_arn", String(2048), primary_key=True),
    Column("key", String(128), primary_key=True),
    Column("value", String(256), nullable=False),
)

access_keys = Table(
    "access_keys",
    metadata,
    Column("access_key_id", String(128), primary_key=True),
    Column("secret_ciphertext", LargeBinary, nullable=False),
    Column("principal_arn", String(2048), nullable=False),
    Column("principal_id", String(128), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("user_name", String(64), index=True),  # None: the account root's key
)

iam_users = Table(
    "iam_users",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("id", String(32), nullable=False, unique=True),
    Column("path", String(512), nullable=False),
    Column("arn", String(2048), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

iam_roles = Table(
    "iam_roles",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("id", String(32), nullable=False, unique=True),
    Column("path", String(512), nullable=False),
    Column("arn", String(2048), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("trust_policy", Text, nullable=False),
    Column("max_session_duration", Integer, nullable=False),
    Column("description", String(1000)),
    Column("trust_bindings", Text, nullable=False, server_default="{}"),  # JSON: principal ARN -> unique ID
)

iam_tags = Table(
    "iam_tags",
    metadata,
    Column("owner_kind", String(8), primary_key=True),  # user, role, policy or oidc
    Column("owner_name", String(2048), primary_key=True),  # a user's or role's name, a policy's ARN
    Column("key", String(128), primary_key=True),
    Column("value", String(256), nullable=False),
)

iam_oidc_providers = Table(
    "iam_oidc_providers",
    metadata,
    Column("url", String(255), primary_key=True),  # host[:port][/path]: the ARN's resource part
    Column("arn", String(2048), nullable=False, unique=True),
    Column("client_ids", Text, nullable=False),  # JSON list, in the order added
    Column("thumbprints", Text, nullable=False),  # JSON list
    Column("created_at", UtcDateTime, nullable=False),
)

iam_policies = Table(
    "iam_policies",
    metadata,
    Column("arn", String(2048), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("id", String(32), nullable=False, unique=True),
    Column("path", String(512), nullable=False),
    Column("document", Text, nullable=False),
    Column("description", String(1000)),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

iam_inline_policies = Table(
    "iam_inline_policies",
    metadata,
    Column("owner_kind", String(8), primary_key=True),
    Column("owner_name", String(64), primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("document", Text, nullable=False),
)

iam_attachments = Table(
    "iam_attachments",
    metadata,
    Column("owner_kind", String(8), primary_key=True),
    Column("owner_name", String(64), primary_key=True),
    Column("policy_arn", String(2048), primary_key=True),
)

sts_sessions = Table(
    "sts_sessions",
    metadata,
    Column("access_key_id", String(128), primary_key=True),
    Column("secret_ciphertext", LargeBinary, nullable=False),
    Column("token_sha256", String(64), nullable=False),
    Column("role_name", String(64), nullable=False),
    Column("role_id", String(32), nullable=False),
    Column("role_arn", String(2048), nullable=False),
    Column("session_name", String(64), nullable=False),
    Column("source_arn", String(2048), nullable=False),
    Column("expires_at", UtcDateTime, nullable=False, index=True),
    Column("issued_at", UtcDateTime),
    Column("policies", Text),  # JSON list of session policy documents; NULL: none were given
    Column("tags", Text, nullable=False, server_default="[]"),  # JSON [[key, value], ...]
    Column("transitive_tag_keys", Text, nullable=False, server_default="[]"),
    Column("source_identity", String(64)),
)

aws_auth_versions = Table(
    "aws_auth_versions",
    metadata,
    Column("cluster_name", String(100), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("document", Text, nullable=False),  # the ConfigMap (or its data) as given
    Column("source", String(256), nullable=False),  # "file:<name>" or "cluster:kube-system/aws-auth@<rv>"
    Column("created_at", UtcDateTime, nullable=False),
    Column("author", String(2048)),  # the caller's ARN; NULL: the data dir's CLI or the cluster itself
    Column("changes", Text, nullable=False, server_default="[]"),  # JSON list of lines (identity_mappings.describe_changes)
)

ec2_instances = Table(
    "ec2_instances",
    metadata,
    Column("instance_id", String(32), primary_key=True),
    Column("private_dns_name", String(255), nullable=False),
    Column("registered_at", UtcDateTime, nullable=False),
)

iam_generation = Table(
    "iam_generation",
    metadata,
    Column("id", Integer, primary_key=True),  # one row, id 1
    Column("generation", Integer, nullable=False),  # bumped by every IAM change that can take an identity away
)

identity_provider_configs = Table(
    "identity_provider_configs",
    metadata,
    Column("cluster_name", String(100), ForeignKey("clusters.name"), primary_key=True),
    Column("name", String(100), primary_key=True),
    Column("arn", String(2048), nullable=False, unique=True),
    Column("issuer_url", String(2048), nullable=False),
    Column("client_id", String(2048), nullable=False),
    Column("username_claim", String(2048)),
    Column("username_prefix", String(2048)),
    Column("groups_claim", String(2048)),
    Column("groups_prefix", String(2048)),
    Column("required_claims", JSON, nullable=False),  # [[key, value], ...] in the order given
    Column("created_at", UtcDateTime, nullable=False),
    Column("settles_at", UtcDateTime, nullable=False),
    Column("deleting_until", UtcDateTime),  # set by Disassociate: DELETING until then, gone after
    Column("client_request_token", String(128)),
)

# --- CloudFormation stacks -------------------------------------------------------------------

stacks = Table(
    "stacks",
    metadata,
    Column("stack_id", String(2048), primary_key=True),  # the stack ARN
    Column("name", String(128), nullable=False),
    Column("status", String(64), nullable=False),
    Column("status_reason", Text),
    Column("description", Text),
    Column("template_body", Text, nullable=False),
    Column("parameters", JSON, nullable=False),  # {key: raw value}
    Column("parameter_order", JSON, nullable=False),
    Column("no_echo", JSON, nullable=False),
    Column("capabilities", JSON, nullable=False),
    Column("tags", JSON, nullable=False),  # [{Key, Value}]
    Column("outputs", JSON, nullable=False),
    Column("disable_rollback", Boolean, nullable=False),
    Column("change_set_id", String(2048)),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime),
    Column("deleted_at", UtcDateTime),
    Column("drift_status", String(32), nullable=False, server_default="NOT_CHECKED"),
    Column("drift_checked_at", UtcDateTime),
    Column("drift_detection_id", String(64)),
)
# One stack of a name at a time; deleted ones keep theirs (found by ARN only).
Index("uq_stacks_active_name", stacks.c.name, unique=True,
      sqlite_where=text("deleted_at IS NULL"), postgresql_where=text("deleted_at IS NULL"))

stack_resources = Table(
    "stack_resources",
    metadata,
    Column("stack_id", String(2048), ForeignKey("stacks.stack_id"), primary_key=True),
    Column("logical_id", String(255), primary_key=True),
    Column("type", String(255), nullable=False),
    Column("physical_id", String(2048), nullable=False),
    Column("status", String(64), nullable=False),
    Column("status_reason", Text),
    Column("properties", JSON, nullable=False),
    Column("ref", Text, nullable=False),
    Column("attributes", JSON, nullable=False),
    Column("deletion_policy", String(16), nullable=False),
    Column("update_replace_policy", String(16), nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("drift_status", String(32), nullable=False, server_default="NOT_CHECKED"),
    Column("drift_checked_at", UtcDateTime),
    Column("actual", JSON),
)

stack_events = Table(
    "stack_events",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),  # newest first = highest seq first
    Column("stack_id", String(2048), nullable=False, index=True),
    Column("event_id", String(2048), nullable=False),
    Column("stack_name", String(128), nullable=False),
    Column("logical_id", String(255), nullable=False),
    Column("physical_id", String(2048), nullable=False),
    Column("type", String(255), nullable=False),
    Column("status", String(64), nullable=False),
    Column("reason", Text),
    Column("properties", Text),
    Column("client_request_token", String(128)),
    Column("timestamp", UtcDateTime, nullable=False),
)

change_sets = Table(
    "change_sets",
    metadata,
    Column("arn", String(2048), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("stack_id", String(2048), ForeignKey("stacks.stack_id"), nullable=False, index=True),
    Column("stack_name", String(128), nullable=False),
    Column("change_set_type", String(16), nullable=False),
    Column("status", String(32), nullable=False),
    Column("execution_status", String(32), nullable=False),
    Column("status_reason", Text),
    Column("description", Text),
    Column("template_body", Text, nullable=False),
    Column("parameters", JSON, nullable=False),
    Column("parameter_order", JSON, nullable=False),
    Column("no_echo", JSON, nullable=False),
    Column("capabilities", JSON, nullable=False),
    Column("tags", JSON, nullable=False),
    Column("changes", JSON, nullable=False),
    Column("on_failure", String(16), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("stack_id", "name", name="uq_change_sets_stack_name"),
)

# --- web console -----------------------------------------------------------------------------

console_sessions = Table(
    "console_sessions",
    metadata,
    Column("id_sha256", String(64), primary_key=True),  # the cookie's value is never stored
    Column("caller", JSON, nullable=False),  # the verified Caller
    Column("access_key_id", String(128)),  # re-checked on every request; NULL: a one-time-link sign-in (root)
    Column("session_token", LargeBinary),  # temporary credentials' token, Fernet-encrypted
    Column("csrf", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_seen", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),  # absolute end (credentials' end at the latest)
)

console_login_links = Table(
    "console_login_links",
    metadata,
    Column("id_sha256", String(64), primary_key=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("used_at", UtcDateTime),
)

console_signin_failures = Table(
    "console_signin_failures",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("source", String(255), nullable=False, index=True),  # the client address
    Column("at", UtcDateTime, nullable=False, index=True),
)
