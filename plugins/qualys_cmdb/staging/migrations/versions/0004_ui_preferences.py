"""operator UI preferences per user

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 00:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ui_preference",
        sa.Column("username", sa.String(length=250), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("username", "key"),
        schema="qcmdb",
    )


def downgrade() -> None:
    op.drop_table("ui_preference", schema="qcmdb")
