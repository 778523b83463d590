"""CMDB to Qualys upload items and Qualys reference data

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 00:24:18.875851
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cmdb_selection",
        sa.Column("schedule", sa.String(length=128), nullable=False),
        sa.Column("run_id", sa.String(length=250), nullable=False),
        sa.Column("sys_id", sa.String(length=32), nullable=False),
        sa.Column("ci_class", sa.String(length=80), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("ip_address", sa.String(length=255), nullable=True),
        sa.Column("selected_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("schedule", "run_id", "sys_id"),
        schema="qcmdb",
    )
    op.create_table(
        "qualys_asset_group",
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("group_id", sa.BigInteger(), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("ip_set", sa.Text(), nullable=True),
        sa.Column("network_id", sa.String(length=32), nullable=True),
        sa.Column("business_impact", sa.String(length=32), nullable=True),
        sa.Column("owner", sa.String(length=255), nullable=True),
        sa.Column("last_update", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fetched_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("source", "group_id"),
        schema="qcmdb",
    )
    op.create_table(
        "qualys_tag",
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("tag_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("rule_type", sa.String(length=40), nullable=True),
        sa.Column("rule_text", sa.Text(), nullable=True),
        sa.Column("parent_tag_id", sa.BigInteger(), nullable=True),
        sa.Column("color", sa.String(length=16), nullable=True),
        sa.Column("criticality", sa.Integer(), nullable=True),
        sa.Column("provider", sa.String(length=16), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=True),
        sa.Column("modified", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fetched_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("source", "tag_id"),
        schema="qcmdb",
    )
    op.create_index("ix_qualys_tag_name", "qualys_tag", ["source", "name"], unique=False, schema="qcmdb")
    op.create_table(
        "reference_fetch",
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("api_calls", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("source", "kind"),
        schema="qcmdb",
    )
    op.create_table(
        "upload_item",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("schedule", sa.String(length=128), nullable=False),
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("address", sa.String(length=255), nullable=False),
        sa.Column("tracking_method", sa.String(length=8), nullable=False),
        sa.Column("target", sa.String(length=255), server_default="", nullable=False),
        sa.Column("target_id", sa.BigInteger(), nullable=True),
        sa.Column("ci_sys_id", sa.String(length=32), nullable=True),
        sa.Column("ci_class", sa.String(length=80), nullable=True),
        sa.Column("ci_name", sa.String(length=255), nullable=True),
        sa.Column("ci_count", sa.Integer(), server_default="1", nullable=False),
        sa.Column("status", sa.String(length=12), server_default="Queued", nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("qualys_code", sa.String(length=16), nullable=True),
        sa.Column("queue_id", sa.BigInteger(), nullable=True),
        sa.Column("run_id", sa.String(length=250), nullable=False),
        sa.Column("last_run_id", sa.String(length=250), nullable=True),
        sa.Column("processor_id", sa.String(length=250), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("qualys_host_id", sa.BigInteger(), nullable=True),
        sa.Column("qualys_asset_id", sa.BigInteger(), nullable=True),
        sa.Column("host_found_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("kind IN ('ip', 'tag', 'group')", name="upload_item_kind"),
        sa.CheckConstraint(
            "status IN ('Queued', 'Processing', 'Success', 'Skipped', 'Error')", name="upload_item_status"
        ),
        sa.PrimaryKeyConstraint("id"),
        schema="qcmdb",
    )
    op.create_index(
        "ix_upload_item_schedule_status", "upload_item", ["schedule", "status"], unique=False, schema="qcmdb"
    )
    op.create_index(
        "ux_upload_item_run_address",
        "upload_item",
        ["schedule", "run_id", "kind", "address", "target"],
        unique=True,
        schema="qcmdb",
    )
    op.create_index("ix_upload_item_source_address", "upload_item", ["source", "address"], unique=False, schema="qcmdb")


def downgrade() -> None:
    op.drop_index("ix_upload_item_source_address", table_name="upload_item", schema="qcmdb")
    op.drop_index("ux_upload_item_run_address", table_name="upload_item", schema="qcmdb")
    op.drop_index("ix_upload_item_schedule_status", table_name="upload_item", schema="qcmdb")
    op.drop_table("upload_item", schema="qcmdb")
    op.drop_table("reference_fetch", schema="qcmdb")
    op.drop_index("ix_qualys_tag_name", table_name="qualys_tag", schema="qcmdb")
    op.drop_table("qualys_tag", schema="qcmdb")
    op.drop_table("qualys_asset_group", schema="qcmdb")
    op.drop_table("cmdb_selection", schema="qcmdb")
