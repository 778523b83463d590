"""landing: a software product's catalog columns land once per record, installs carry only its key

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 06:00:00

``landing_software`` loses the 28 catalog columns (they were repeated on every install of a product); they land in
``landing_software_product``, one row per product per record. Landing rows are scratch: records parsed but not yet
staged are queued again, so their stored responses are parsed into the new shape by the next run.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

CATALOG: list[tuple[str, sa.types.TypeEngine[Any]]] = [
    ("name", sa.Text()),
    ("version", sa.Text()),
    ("publisher", sa.Text()),
    ("product", sa.Text()),
    ("full_name", sa.Text()),
    ("category", sa.Text()),
    ("category_1", sa.Text()),
    ("category_2", sa.Text()),
    ("software_type", sa.Text()),
    ("component", sa.Text()),
    ("edition", sa.Text()),
    ("market_version", sa.Text()),
    ("update", sa.Text()),
    ("architecture", sa.Text()),
    ("language", sa.Text()),
    ("lifecycle_ga", sa.Date()),
    ("lifecycle_eol_date", sa.Date()),
    ("lifecycle_eos_date", sa.Date()),
    ("lifecycle_stage", sa.Text()),
    ("lifecycle_confidence", sa.Text()),
    ("lifecycle_eol_support_stage", sa.Text()),
    ("lifecycle_eos_support_stage", sa.Text()),
    ("license_category", sa.Text()),
    ("license_subcategory", sa.Text()),
    ("is_ignored", sa.Boolean()),
    ("ignored_reason", sa.Text()),
    ("cpe", sa.Text()),
]

REQUEUE = """
UPDATE qcmdb.sync_queue
SET status = 'Queued', parsed_at = NULL, updated_at = now(),
    notes = concat_ws(' | ', notes, 'queued again by the upgrade to staging schema 0005 (landing tables changed shape)')
WHERE direction = 'download' AND status = 'Processing' AND parsed_at IS NOT NULL
"""


def _clear_landing() -> None:
    op.execute(REQUEUE)
    op.execute("TRUNCATE qcmdb.landing_software")


def upgrade() -> None:
    _clear_landing()
    for name, _ in CATALOG:
        op.drop_column("landing_software", name, schema="qcmdb")
    op.create_table(
        "landing_software_product",
        sa.Column("queue_id", sa.BigInteger(), nullable=False),
        sa.Column("software_key", sa.String(length=32), nullable=False),
        *(sa.Column(name, type_, nullable=True) for name, type_ in CATALOG),
        schema="qcmdb",
        prefixes=["UNLOGGED"],
    )
    op.create_index(
        op.f("ix_qcmdb_landing_software_product_queue_id"),
        "landing_software_product",
        ["queue_id"],
        unique=False,
        schema="qcmdb",
    )


def downgrade() -> None:
    _clear_landing()
    op.drop_index(op.f("ix_qcmdb_landing_software_product_queue_id"), "landing_software_product", schema="qcmdb")
    op.drop_table("landing_software_product", schema="qcmdb")
    for name, type_ in CATALOG:  # after the install's columns: the writer names the columns of every COPY
        op.add_column("landing_software", sa.Column(name, type_, nullable=True), schema="qcmdb")
