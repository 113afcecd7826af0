"""A cluster's API credential, for reading its live aws-auth ConfigMap.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("clusters") as batch:
        batch.add_column(sa.Column("api_token_ciphertext", sa.LargeBinary))


def downgrade() -> None:
    with op.batch_alter_table("clusters") as batch:
        batch.drop_column("api_token_ciphertext")
