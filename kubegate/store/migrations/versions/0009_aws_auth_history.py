"""Who changed aws-auth and what changed, per stored version (`kubegate awsauth history`).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("aws_auth_versions") as batch:
        batch.add_column(sa.Column("author", sa.String(2048)))
        batch.add_column(sa.Column("changes", sa.Text, nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("aws_auth_versions") as batch:
        batch.drop_column("changes")
        batch.drop_column("author")
