"""failure detail: a short reason for a failed asset, the CMDB's whole answer kept beside it

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08 10:00:00

* ``asset_classification.failure_detail``: the CMDB's (or the check's) whole answer for a failed asset: every
  error of every item, payload excerpts included. ``reason`` holds one readable line (at most 200 characters:
  error code, class and message) for lists and reports.

Existing rows: a failed asset's reason longer than one line moves to ``failure_detail``; its reason becomes the
first error of it, on one line, cut to 200 characters.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("asset_classification", sa.Column("failure_detail", sa.Text()), schema="qcmdb")
    op.execute(
        r"""
        UPDATE qcmdb.asset_classification
        SET failure_detail = reason,
            reason = CASE
                WHEN length(first_line) <= 200 THEN first_line
                ELSE left(first_line, 199) || '…'
            END
        FROM (
            SELECT schedule AS s, source AS so, asset_id AS a,
                   btrim(regexp_replace(split_part(reason, '; ', 1), '\s+', ' ', 'g')) AS first_line
            FROM qcmdb.asset_classification
            WHERE state = 'failed' AND (length(reason) > 200 OR reason ~ '[\n\r]' OR reason LIKE '%; %')
        ) f
        WHERE schedule = f.s AND source = f.so AND asset_id = f.a
        """
    )


def downgrade() -> None:
    op.execute(
        """
        UPDATE qcmdb.asset_classification SET reason = failure_detail
        WHERE failure_detail IS NOT NULL AND state = 'failed'
        """
    )
    op.drop_column("asset_classification", "failure_detail", schema="qcmdb")
