"""The embedded IAM and STS: users, roles, policies, attachments, sessions.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kubegate.store.schema import UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("access_keys") as batch:
        batch.add_column(sa.Column("user_name", sa.String(64)))
        batch.create_index("ix_access_keys_user_name", ["user_name"])
    op.create_table(
        "iam_users",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("id", sa.String(32), nullable=False, unique=True),
        sa.Column("path", sa.String(512), nullable=False),
        sa.Column("arn", sa.String(2048), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "iam_roles",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("id", sa.String(32), nullable=False, unique=True),
        sa.Column("path", sa.String(512), nullable=False),
        sa.Column("arn", sa.String(2048), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("trust_policy", sa.Text, nullable=False),
        sa.Column("max_session_duration", sa.Integer, nullable=False),
        sa.Column("description", sa.String(1000)),
    )
    op.create_table(
        "iam_policies",
        sa.Column("arn", sa.String(2048), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("id", sa.String(32), nullable=False, unique=True),
        sa.Column("path", sa.String(512), nullable=False),
        sa.Column("document", sa.Text, nullable=False),
        sa.Column("description", sa.String(1000)),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "iam_inline_policies",
        sa.Column("owner_kind", sa.String(8), primary_key=True),
        sa.Column("owner_name", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("document", sa.Text, nullable=False),
    )
    op.create_table(
        "iam_attachments",
        sa.Column("owner_kind", sa.String(8), primary_key=True),
        sa.Column("owner_name", sa.String(64), primary_key=True),
        sa.Column("policy_arn", sa.String(2048), primary_key=True),
    )
    op.create_table(
        "sts_sessions",
        sa.Column("access_key_id", sa.String(128), primary_key=True),
        sa.Column("secret_ciphertext", sa.LargeBinary, nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column("role_name", sa.String(64), nullable=False),
        sa.Column("role_id", sa.String(32), nullable=False),
        sa.Column("role_arn", sa.String(2048), nullable=False),
        sa.Column("session_name", sa.String(64), nullable=False),
        sa.Column("source_arn", sa.String(2048), nullable=False),
        sa.Column("expires_at", UtcDateTime, nullable=False),
    )
    op.create_index("ix_sts_sessions_expires_at", "sts_sessions", ["expires_at"])


def downgrade() -> None:
    for table in ("sts_sessions", "iam_attachments", "iam_inline_policies", "iam_policies", "iam_roles", "iam_users"):
        op.drop_table(table)
    with op.batch_alter_table("access_keys") as batch:
        batch.drop_index("ix_access_keys_user_name")
        batch.drop_column("user_name")
