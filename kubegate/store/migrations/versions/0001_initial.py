"""Clusters, updates, access entries, policy associations, tags and access keys.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kubegate.store.schema import UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "clusters",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("arn", sa.String(512), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("settles_at", UtcDateTime, nullable=False),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("authentication_mode", sa.String(32), nullable=False),
        sa.Column("bootstrap_admin", sa.Boolean, nullable=False),
        sa.Column("creator_arn", sa.String(2048), nullable=False),
        sa.Column("creator_id", sa.String(128), nullable=False),
        sa.Column("endpoint", sa.String(2048)),
        sa.Column("certificate_authority", sa.Text),
    )
    op.create_table(
        "cluster_updates",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("cluster_name", sa.String(100), sa.ForeignKey("clusters.name"), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("settles_at", UtcDateTime, nullable=False),
    )
    op.create_index("ix_cluster_updates_cluster_name", "cluster_updates", ["cluster_name"])
    op.create_table(
        "access_entries",
        sa.Column("cluster_name", sa.String(100), sa.ForeignKey("clusters.name"), primary_key=True),
        sa.Column("principal_arn", sa.String(2048), primary_key=True),
        sa.Column("principal_id", sa.String(128)),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("username", sa.String(2048), nullable=False),
        sa.Column("kubernetes_groups", sa.JSON, nullable=False),
        sa.Column("arn", sa.String(2048), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("modified_at", UtcDateTime, nullable=False),
        sa.Column("client_request_token", sa.String(128)),
    )
    op.create_table(
        "policy_associations",
        sa.Column("cluster_name", sa.String(100), primary_key=True),
        sa.Column("principal_arn", sa.String(2048), primary_key=True),
        sa.Column("policy_arn", sa.String(512), primary_key=True),
        sa.Column("scope_type", sa.String(16), nullable=False),
        sa.Column("namespaces", sa.JSON, nullable=False),
        sa.Column("associated_at", UtcDateTime, nullable=False),
        sa.Column("modified_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "tags",
        sa.Column("resource_arn", sa.String(2048), primary_key=True),
        sa.Column("key", sa.String(128), primary_key=True),
        sa.Column("value", sa.String(256), nullable=False),
    )
    op.create_table(
        "access_keys",
        sa.Column("access_key_id", sa.String(128), primary_key=True),
        sa.Column("secret_ciphertext", sa.LargeBinary, nullable=False),
        sa.Column("principal_arn", sa.String(2048), nullable=False),
        sa.Column("principal_id", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
    )


def downgrade() -> None:
    for table in ("access_keys", "tags", "policy_associations", "access_entries", "cluster_updates", "clusters"):
        op.drop_table(table)
