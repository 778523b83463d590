"""fault bookkeeping: parsed asset counts, automatic refetches, failure codes, unconfirmed transform-map sends

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 18:00:00

* ``sync_queue.parsed_assets``: how many assets *parse* landed for a record. *stage* stages a record only when its
  landing rows are all there (the landing tables are UNLOGGED: a PostgreSQL crash empties them); otherwise the
  record is parsed again from its stored response.
* ``sync_queue.refetches``: how often the page was downloaded again automatically after it failed to parse.
* ``asset_classification.failure_code``: a short code for why an asset failed (``SHARED_CI``, an IRE error code …).
* ``asset_classification.load_attempt_at`` / ``load_attempt_hash``: a transform-map row sent whose answer has not
  been recorded yet; before it is sent again, the instance's import set rows are checked.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("sync_queue", sa.Column("parsed_assets", sa.Integer(), nullable=True), schema="qcmdb")
    op.add_column(
        "sync_queue", sa.Column("refetches", sa.Integer(), server_default="0", nullable=False), schema="qcmdb"
    )
    op.add_column("asset_classification", sa.Column("failure_code", sa.String(length=40)), schema="qcmdb")
    op.add_column("asset_classification", sa.Column("load_attempt_at", sa.DateTime(timezone=True)), schema="qcmdb")
    op.add_column("asset_classification", sa.Column("load_attempt_hash", sa.String(length=32)), schema="qcmdb")


def downgrade() -> None:
    for column in ("load_attempt_hash", "load_attempt_at", "failure_code"):
        op.drop_column("asset_classification", column, schema="qcmdb")
    for column in ("refetches", "parsed_assets"):
        op.drop_column("sync_queue", column, schema="qcmdb")
