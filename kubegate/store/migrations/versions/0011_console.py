"""Web console sessions, one-time sign-in links and failed sign-ins.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kubegate.store.schema import UtcDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "console_sessions",
        sa.Column("id_sha256", sa.String(64), primary_key=True),
        sa.Column("caller", sa.JSON, nullable=False),
        sa.Column("access_key_id", sa.String(128)),
        sa.Column("session_token", sa.LargeBinary),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("last_seen", UtcDateTime, nullable=False),
        sa.Column("expires_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "console_login_links",
        sa.Column("id_sha256", sa.String(64), primary_key=True),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("expires_at", UtcDateTime, nullable=False),
        sa.Column("used_at", UtcDateTime),
    )
    op.create_table(
        "console_signin_failures",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(255), nullable=False, index=True),
        sa.Column("at", UtcDateTime, nullable=False, index=True),
    )


def downgrade() -> None:
    op.drop_table("console_signin_failures")
    op.drop_table("console_login_links")
    op.drop_table("console_sessions")
