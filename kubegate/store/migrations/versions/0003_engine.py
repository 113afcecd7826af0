"""Cluster revisions for the snapshot engine, aws-auth versions, the EC2 instance registry.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kubegate.store.schema import UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("clusters") as batch:
        batch.add_column(sa.Column("revision", sa.Integer, nullable=False, server_default="1"))
    op.create_table(
        "aws_auth_versions",
        sa.Column("cluster_name", sa.String(100), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("document", sa.Text, nullable=False),
        sa.Column("source", sa.String(256), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "ec2_instances",
        sa.Column("instance_id", sa.String(32), primary_key=True),
        sa.Column("private_dns_name", sa.String(255), nullable=False),
        sa.Column("registered_at", UtcDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ec2_instances")
    op.drop_table("aws_auth_versions")
    with op.batch_alter_table("clusters") as batch:
        batch.drop_column("revision")
