"""terminated runs: the steps in progress, the log of steps stopped by the lifetime or killed, cleanup indexes

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-09 10:00:00

* ``run_step``: one row per step (task, map index) of a run while it runs; a row never closed belongs to a step that
  was killed (lost worker, SIGKILL), which the next attempt or run logs as terminated.
* ``terminated_run`` (HK-4, the vendor's "Qualys Terminate Schedule Logs"): each step stopped by the max transaction
  lifetime, or killed by Airflow (execution timeout, SIGTERM, lost worker): schedule, run, step, where it stopped
  (cursor, batch), why, what resumes it, and the run that did.
* indexes on ``sync_queue`` and ``upload_item`` (status, updated_at) for the daily queue cleanup (HK-3).

Existing databases start with an empty log.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "run_step",
        sa.Column("schedule", sa.String(length=128), nullable=False),
        sa.Column("run_id", sa.String(length=250), nullable=False),
        sa.Column("step", sa.String(length=64), nullable=False),
        sa.Column("map_index", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=128)),
        sa.Column("dag_id", sa.String(length=250), nullable=False),
        sa.Column("task_id", sa.String(length=250), nullable=False),
        sa.Column("try_number", sa.Integer(), server_default="1", nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("outcome", sa.String(length=16)),
        sa.Column("position", postgresql.JSONB(astext_type=sa.Text())),
        sa.PrimaryKeyConstraint("schedule", "run_id", "step", "map_index"),
        schema="qcmdb",
    )
    op.create_index(
        "ix_run_step_open",
        "run_step",
        ["schedule"],
        schema="qcmdb",
        postgresql_where=sa.text("finished_at IS NULL"),
    )
    op.create_table(
        "terminated_run",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("schedule", sa.String(length=128), nullable=False),
        sa.Column("source", sa.String(length=128)),
        sa.Column("dag_id", sa.String(length=250)),
        sa.Column("run_id", sa.String(length=250), nullable=False),
        sa.Column("step", sa.String(length=64), nullable=False),
        sa.Column("map_index", sa.Integer(), server_default="-1", nullable=False),
        sa.Column("try_number", sa.Integer()),
        sa.Column("cause", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("position", postgresql.JSONB(astext_type=sa.Text())),
        sa.Column("resumes", sa.Text()),
        sa.Column("step_started_at", sa.DateTime(timezone=True)),
        sa.Column("stopped_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("resumed_by_run", sa.String(length=250)),
        sa.Column("resumed_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("cause IN ('lifetime', 'timeout', 'terminated', 'killed')", name="terminated_run_cause"),
        sa.PrimaryKeyConstraint("id"),
        schema="qcmdb",
    )
    op.create_index("ix_terminated_run_schedule", "terminated_run", ["schedule", "stopped_at"], schema="qcmdb")
    op.create_index(
        "ix_terminated_run_open",
        "terminated_run",
        ["schedule", "step"],
        schema="qcmdb",
        postgresql_where=sa.text("resumed_at IS NULL"),
    )
    op.create_index("ix_sync_queue_status_updated", "sync_queue", ["status", "updated_at"], schema="qcmdb")
    op.create_index("ix_upload_item_status_updated", "upload_item", ["status", "updated_at"], schema="qcmdb")


def downgrade() -> None:
    op.drop_index("ix_upload_item_status_updated", table_name="upload_item", schema="qcmdb")
    op.drop_index("ix_sync_queue_status_updated", table_name="sync_queue", schema="qcmdb")
    op.drop_index("ix_terminated_run_open", table_name="terminated_run", schema="qcmdb")
    op.drop_index("ix_terminated_run_schedule", table_name="terminated_run", schema="qcmdb")
    op.drop_table("terminated_run", schema="qcmdb")
    op.drop_index("ix_run_step_open", table_name="run_step", schema="qcmdb")
    op.drop_table("run_step", schema="qcmdb")
