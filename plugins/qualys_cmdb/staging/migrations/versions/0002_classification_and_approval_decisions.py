"""classification and approval decisions

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 22:40:54.894280
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "approval_decision",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("asset_id", sa.BigInteger(), nullable=False),
        sa.Column("schedule", sa.String(length=128), nullable=False),
        sa.Column("decision", sa.String(length=12), nullable=False),
        sa.Column("decided_by", sa.String(length=250), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("payload_hash", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        schema="qcmdb",
    )
    op.create_index(
        "ix_approval_decision_asset", "approval_decision", ["source", "asset_id"], unique=False, schema="qcmdb"
    )
    op.create_table(
        "asset_classification",
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("asset_id", sa.BigInteger(), nullable=False),
        sa.Column("schedule", sa.String(length=128), nullable=False),
        sa.Column("target_class", sa.String(length=80), nullable=True),
        sa.Column("matched_by", sa.Text(), nullable=True),
        sa.Column("class_override", sa.String(length=80), nullable=True),
        sa.Column("mapping_version", sa.String(length=32), nullable=False),
        sa.Column("content_hash", sa.String(length=32), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("payload_hash", sa.String(length=32), nullable=True),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("classified_run", sa.String(length=250), nullable=True),
        sa.Column("classified_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("decided_by", sa.String(length=250), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.Column("preview_operation", sa.String(length=32), nullable=True),
        sa.Column("preview_sys_id", sa.String(length=32), nullable=True),
        sa.Column("preview_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("loaded_hash", sa.String(length=32), nullable=True),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cmdb_sys_id", sa.String(length=32), nullable=True),
        sa.Column("cmdb_class", sa.String(length=80), nullable=True),
        sa.Column("last_operation", sa.String(length=32), nullable=True),
        sa.CheckConstraint(
            "state IN ('pending', 'approved', 'rejected', 'failed', 'loaded')", name="asset_classification_state"
        ),
        sa.PrimaryKeyConstraint("source", "asset_id"),
        schema="qcmdb",
    )
    op.create_index(
        "ix_asset_classification_schedule_state",
        "asset_classification",
        ["schedule", "state"],
        unique=False,
        schema="qcmdb",
    )


def downgrade() -> None:

    op.drop_index("ix_asset_classification_schedule_state", table_name="asset_classification", schema="qcmdb")
    op.drop_table("asset_classification", schema="qcmdb")
    op.drop_index("ix_approval_decision_asset", table_name="approval_decision", schema="qcmdb")
    op.drop_table("approval_decision", schema="qcmdb")
