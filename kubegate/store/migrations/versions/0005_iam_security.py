"""IAM tags, trust policies bound to unique IDs, and what a session carries (policies, tags, source identity).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kubegate.store.schema import UtcDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "iam_tags",
        sa.Column("owner_kind", sa.String(8), primary_key=True),
        sa.Column("owner_name", sa.String(2048), primary_key=True),
        sa.Column("key", sa.String(128), primary_key=True),
        sa.Column("value", sa.String(256), nullable=False),
    )
    with op.batch_alter_table("iam_roles") as batch:
        batch.add_column(sa.Column("trust_bindings", sa.Text, nullable=False, server_default="{}"))
    with op.batch_alter_table("sts_sessions") as batch:
        batch.add_column(sa.Column("issued_at", UtcDateTime))
        batch.add_column(sa.Column("policies", sa.Text))
        batch.add_column(sa.Column("tags", sa.Text, nullable=False, server_default="[]"))
        batch.add_column(sa.Column("transitive_tag_keys", sa.Text, nullable=False, server_default="[]"))
        batch.add_column(sa.Column("source_identity", sa.String(64)))


def downgrade() -> None:
    with op.batch_alter_table("sts_sessions") as batch:
        for column in ("source_identity", "transitive_tag_keys", "tags", "policies", "issued_at"):
            batch.drop_column(column)
    with op.batch_alter_table("iam_roles") as batch:
        batch.drop_column("trust_bindings")
    op.drop_table("iam_tags")
