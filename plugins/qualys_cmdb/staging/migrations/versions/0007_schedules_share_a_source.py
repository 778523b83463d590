"""schedules that share a source: each keeps its own view of its assets

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 19:00:00

* ``schedule_asset``: which staged assets each schedule selected, with the content hash of its own view (a
  schedule's detail flags decide which details it fetches). Staged data stays one copy per (source, asset).
* ``asset_classification`` is keyed by (schedule, source, asset id): classification, approval, failures and load
  state belong to the schedule, so a second schedule on a source no longer takes the first one's assets.
* ``asset_classification.cmdb_retired_at``: when the CI of a stale asset was retired (BY-7).
* ``asset_classification.sent_hash``: a digest of what the last confirmed load sent, so that an asset another
  schedule of the source already wrote the same way is not written twice.

Existing rows: every staged asset belongs to the schedule whose record staged it, and to the schedule its
classification row names.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "schedule_asset",
        sa.Column("schedule", sa.String(length=128), nullable=False),
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("asset_id", sa.BigInteger(), nullable=False),
        sa.Column("content_hash", sa.String(length=32), nullable=False),
        sa.Column("first_seen_run", sa.String(length=250)),
        sa.Column("last_seen_run", sa.String(length=250)),
        sa.Column("changed_run", sa.String(length=250)),
        sa.Column("staged_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("schedule", "source", "asset_id"),
        schema="qcmdb",
    )
    op.create_index("ix_schedule_asset_asset", "schedule_asset", ["source", "asset_id"], schema="qcmdb")
    op.execute(
        """
        INSERT INTO qcmdb.schedule_asset (schedule, source, asset_id, content_hash, first_seen_run, last_seen_run,
                                          changed_run, staged_at, changed_at)
        SELECT DISTINCT ON (m.schedule, a.source, a.asset_id) m.schedule, a.source, a.asset_id, a.content_hash,
               a.first_seen_run, a.last_seen_run, a.changed_run, a.staged_at, a.changed_at
        FROM qcmdb.staged_asset a
        JOIN (
            SELECT q.schedule, s.source, s.asset_id FROM qcmdb.staged_asset s JOIN qcmdb.sync_queue q ON q.id = s.queue_id
            UNION
            SELECT c.schedule, c.source, c.asset_id FROM qcmdb.asset_classification c
        ) m ON m.source = a.source AND m.asset_id = a.asset_id
        ORDER BY m.schedule, a.source, a.asset_id
        """
    )
    op.drop_constraint("asset_classification_pkey", "asset_classification", schema="qcmdb", type_="primary")
    op.create_primary_key(
        "asset_classification_pkey", "asset_classification", ["schedule", "source", "asset_id"], schema="qcmdb"
    )
    op.create_index("ix_asset_classification_asset", "asset_classification", ["source", "asset_id"], schema="qcmdb")
    op.create_index("ix_asset_classification_sys_id", "asset_classification", ["cmdb_sys_id"], schema="qcmdb")
    op.add_column("asset_classification", sa.Column("cmdb_retired_at", sa.DateTime(timezone=True)), schema="qcmdb")
    op.add_column("asset_classification", sa.Column("sent_hash", sa.String(length=32)), schema="qcmdb")


def downgrade() -> None:
    op.drop_column("asset_classification", "sent_hash", schema="qcmdb")
    op.drop_column("asset_classification", "cmdb_retired_at", schema="qcmdb")
    op.drop_index("ix_asset_classification_sys_id", "asset_classification", schema="qcmdb")
    op.drop_index("ix_asset_classification_asset", "asset_classification", schema="qcmdb")
    # one row per asset again: the schedule that classified it last keeps it
    op.execute(
        """
        DELETE FROM qcmdb.asset_classification c USING qcmdb.asset_classification d
        WHERE c.source = d.source AND c.asset_id = d.asset_id AND c.classified_at < d.classified_at
        """
    )
    op.drop_constraint("asset_classification_pkey", "asset_classification", schema="qcmdb", type_="primary")
    op.create_primary_key("asset_classification_pkey", "asset_classification", ["source", "asset_id"], schema="qcmdb")
    op.drop_index("ix_schedule_asset_asset", "schedule_asset", schema="qcmdb")
    op.drop_table("schedule_asset", schema="qcmdb")
