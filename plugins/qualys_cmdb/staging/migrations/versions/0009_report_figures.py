"""report figures: the Overview's counts, computed when a run finishes instead of on every view

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-08 12:00:00

* ``report_figure``: one row per Overview report and scope (a Qualys source, or '' for every source): its total,
  its largest groups (with the query of the list each links to), every group of a source (to add up the figures of
  all sources), the data it was counted from, and when and by whom it was computed. Written at the end of each
  run's summary step, after decisions in the UI, and by the Overview's Refresh button.

Existing databases start without figures: the Overview counts a report the first time it shows it, and stores it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "report_figure",
        sa.Column("report_id", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("group_count", sa.Integer(), nullable=False),
        sa.Column("other", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("bars", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("whole", sa.Text()),
        sa.Column("groups", postgresql.JSONB(astext_type=sa.Text())),
        sa.Column("basis", sa.String(length=250)),
        sa.Column("computed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("computed_by", sa.String(length=250)),
        sa.Column("seconds", sa.Numeric(precision=10, scale=3)),
        sa.PrimaryKeyConstraint("report_id", "source"),
        schema="qcmdb",
    )


def downgrade() -> None:
    op.drop_table("report_figure", schema="qcmdb")
