"""IAM OpenID Connect providers (CreateOpenIDConnectProvider), for AssumeRoleWithWebIdentity.

Their tags live in iam_tags with owner_kind "oidc" and the provider's ARN as owner_name.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kubegate.store.schema import UtcDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "iam_oidc_providers",
        sa.Column("url", sa.String(255), primary_key=True),
        sa.Column("arn", sa.String(2048), nullable=False, unique=True),
        sa.Column("client_ids", sa.Text, nullable=False),
        sa.Column("thumbprints", sa.Text, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("iam_oidc_providers")
