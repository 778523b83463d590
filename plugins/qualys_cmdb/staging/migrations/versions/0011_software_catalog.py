"""software catalog: each source's catalog of products, with what was written to the CMDB, and its last sync

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 22:00:00

* ``software_catalog`` (SRC-5, HK-5): one row per (source, product) pulled by the ``qualys_software_catalog`` DAG,
  with lifecycle, license and category columns, the installs counted, a hash of the catalog columns and the CMDB row
  and hash last written (delta skip).
* ``software_catalog_sync``: the vendor app's last sync timestamp, key and notes per source, with the last counts.
* ``adopted_ci`` (``qcmdb adopt``): CIs the vendor's ServiceNow app created, linked to the staged assets they are.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
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


def _ts(name: str, **kw: Any) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), **kw)


def _count(name: str) -> sa.Column[Any]:
    return sa.Column(name, sa.Integer(), server_default="0", nullable=False)


def upgrade() -> None:
    op.create_table(
        "software_catalog",
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("software_key", sa.String(length=32), nullable=False),
        *(sa.Column(name, type_, nullable=True) for name, type_ in CATALOG),
        _count("installs"),
        sa.Column("row_hash", sa.String(length=32), nullable=False),
        sa.Column("sync_id", sa.String(length=250), nullable=False),
        _ts("first_seen", server_default=sa.text("now()"), nullable=False),
        _ts("last_seen", server_default=sa.text("now()"), nullable=False),
        sa.Column("cmdb_sys_id", sa.String(length=32)),
        sa.Column("cmdb_hash", sa.String(length=32)),
        _ts("cmdb_written_at"),
        sa.Column("cmdb_error", sa.Text()),
        sa.PrimaryKeyConstraint("source", "software_key"),
        schema="qcmdb",
    )
    op.create_table(
        "software_catalog_sync",
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("sync_id", sa.String(length=250)),
        sa.Column("status", sa.String(length=16), nullable=False),
        _ts("last_sync_at"),
        sa.Column("last_sync_key", sa.String(length=64)),
        sa.Column("notes", sa.Text()),
        sa.Column("run_id", sa.String(length=250)),
        _count("pages"),
        _count("products"),
        _count("cmdb_inserted"),
        _count("cmdb_updated"),
        _count("cmdb_unchanged"),
        _count("cmdb_failed"),
        sa.PrimaryKeyConstraint("source"),
        schema="qcmdb",
    )

    op.create_table(
        "adopted_ci",
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("asset_id", sa.BigInteger(), nullable=False),
        sa.Column("ci_sys_id", sa.String(length=32), nullable=False),
        sa.Column("ci_class", sa.String(length=80)),
        sa.Column("evidence", sa.String(length=16), nullable=False),
        sa.Column("schedule", sa.String(length=128)),
        sa.Column("adopted_by", sa.String(length=250)),
        _ts("adopted_at", server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("source", "asset_id"),
        sa.UniqueConstraint("ci_sys_id"),
        schema="qcmdb",
    )


def downgrade() -> None:
    op.drop_table("adopted_ci", schema="qcmdb")
    op.drop_table("software_catalog_sync", schema="qcmdb")
    op.drop_table("software_catalog", schema="qcmdb")
