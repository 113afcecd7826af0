"""OIDC identity provider configs of clusters (AssociateIdentityProviderConfig).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kubegate.store.schema import UtcDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "identity_provider_configs",
        sa.Column("cluster_name", sa.String(100), sa.ForeignKey("clusters.name"), primary_key=True),
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("arn", sa.String(2048), nullable=False, unique=True),
        sa.Column("issuer_url", sa.String(2048), nullable=False),
        sa.Column("client_id", sa.String(2048), nullable=False),
        sa.Column("username_claim", sa.String(2048)),
        sa.Column("username_prefix", sa.String(2048)),
        sa.Column("groups_claim", sa.String(2048)),
        sa.Column("groups_prefix", sa.String(2048)),
        sa.Column("required_claims", sa.JSON, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("settles_at", UtcDateTime, nullable=False),
        sa.Column("deleting_until", UtcDateTime),
        sa.Column("client_request_token", sa.String(128)),
    )


def downgrade() -> None:
    op.drop_table("identity_provider_configs")
