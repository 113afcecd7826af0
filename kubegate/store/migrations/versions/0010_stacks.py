"""CloudFormation stacks, their resources, events and change sets.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kubegate.store.schema import UtcDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stacks",
        sa.Column("stack_id", sa.String(2048), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("status", sa.String(64), nullable=False),
        sa.Column("status_reason", sa.Text),
        sa.Column("description", sa.Text),
        sa.Column("template_body", sa.Text, nullable=False),
        sa.Column("parameters", sa.JSON, nullable=False),
        sa.Column("parameter_order", sa.JSON, nullable=False),
        sa.Column("no_echo", sa.JSON, nullable=False),
        sa.Column("capabilities", sa.JSON, nullable=False),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("outputs", sa.JSON, nullable=False),
        sa.Column("disable_rollback", sa.Boolean, nullable=False),
        sa.Column("change_set_id", sa.String(2048)),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime),
        sa.Column("deleted_at", UtcDateTime),
        sa.Column("drift_status", sa.String(32), nullable=False, server_default="NOT_CHECKED"),
        sa.Column("drift_checked_at", UtcDateTime),
        sa.Column("drift_detection_id", sa.String(64)),
    )
    op.create_index("uq_stacks_active_name", "stacks", ["name"], unique=True,
                    sqlite_where=sa.text("deleted_at IS NULL"), postgresql_where=sa.text("deleted_at IS NULL"))
    op.create_table(
        "stack_resources",
        sa.Column("stack_id", sa.String(2048), sa.ForeignKey("stacks.stack_id"), primary_key=True),
        sa.Column("logical_id", sa.String(255), primary_key=True),
        sa.Column("type", sa.String(255), nullable=False),
        sa.Column("physical_id", sa.String(2048), nullable=False),
        sa.Column("status", sa.String(64), nullable=False),
        sa.Column("status_reason", sa.Text),
        sa.Column("properties", sa.JSON, nullable=False),
        sa.Column("ref", sa.Text, nullable=False),
        sa.Column("attributes", sa.JSON, nullable=False),
        sa.Column("deletion_policy", sa.String(16), nullable=False),
        sa.Column("update_replace_policy", sa.String(16), nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.Column("drift_status", sa.String(32), nullable=False, server_default="NOT_CHECKED"),
        sa.Column("drift_checked_at", UtcDateTime),
        sa.Column("actual", sa.JSON),
    )
    op.create_table(
        "stack_events",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("stack_id", sa.String(2048), nullable=False, index=True),
        sa.Column("event_id", sa.String(2048), nullable=False),
        sa.Column("stack_name", sa.String(128), nullable=False),
        sa.Column("logical_id", sa.String(255), nullable=False),
        sa.Column("physical_id", sa.String(2048), nullable=False),
        sa.Column("type", sa.String(255), nullable=False),
        sa.Column("status", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("properties", sa.Text),
        sa.Column("client_request_token", sa.String(128)),
        sa.Column("timestamp", UtcDateTime, nullable=False),
    )
    op.create_table(
        "change_sets",
        sa.Column("arn", sa.String(2048), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("stack_id", sa.String(2048), sa.ForeignKey("stacks.stack_id"), nullable=False, index=True),
        sa.Column("stack_name", sa.String(128), nullable=False),
        sa.Column("change_set_type", sa.String(16), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("execution_status", sa.String(32), nullable=False),
        sa.Column("status_reason", sa.Text),
        sa.Column("description", sa.Text),
        sa.Column("template_body", sa.Text, nullable=False),
        sa.Column("parameters", sa.JSON, nullable=False),
        sa.Column("parameter_order", sa.JSON, nullable=False),
        sa.Column("no_echo", sa.JSON, nullable=False),
        sa.Column("capabilities", sa.JSON, nullable=False),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("changes", sa.JSON, nullable=False),
        sa.Column("on_failure", sa.String(16), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.UniqueConstraint("stack_id", "name", name="uq_change_sets_stack_name"),
    )


def downgrade() -> None:
    op.drop_table("change_sets")
    op.drop_table("stack_events")
    op.drop_table("stack_resources")
    op.drop_index("uq_stacks_active_name", "stacks")
    op.drop_table("stacks")
