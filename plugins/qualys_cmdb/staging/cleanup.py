"""HK-3, the vendor's "Qualys Sync Queue Cleanup Job": processed records leave the staging database after a while.

What goes, each after its retention (``properties``; the guide's defaults for the queue):

* sync-queue records in **Success** older than ``queue_retention_success_days`` (30), in **Error** older than
  ``queue_retention_error_days`` (60), with their stored responses and any landing rows they still own;
* application-log entries older than ``app_log_retention_days`` (90), and so the terminated-runs log and the
  finished step records beside it;
* CMDB → Qualys upload items older than ``upload_item_retention_days`` (180), once processed: an Error item, or a
  Success / Skipped item for whose address, target and CI a newer processed item exists (the newest one stays: it
  is the evidence that ties a scanned host back to its CI, BY-11, HK-6).

What never goes: Queued and Processing records and items (a sync still needs them), anything of a run that is still
running, and rows another transaction holds. The work is done in batches of :data:`BATCH` rows, one short
transaction each, whose rows are picked with ``FOR UPDATE SKIP LOCKED``: a running sync never waits for the cleanup,
and the cleanup never waits for it (it leaves the rows the sync holds for the next cleanup). Age is the time of the
last change (``updated_at``: when the record became Success or Error).
"""

# ruff: noqa: S608 - table names and statuses in these statements come from this module; values are bound parameters
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import OperationalError

from qualys_cmdb.lifetime import Lifetime
from qualys_cmdb.staging.schema import (
    LANDING_CHILDREN,
    SCHEMA,
    landing_asset,
    landing_software,
    landing_software_product,
)

log = logging.getLogger(__name__)

#: Rows per transaction: short enough that no lock is held for long, large enough to go fast.
BATCH = 1000
#: How long a statement of the cleanup waits for a lock before it gives up (it comes back the next day).
LOCK_TIMEOUT = "5s"
_LANDING = (landing_asset, landing_software, landing_software_product, *LANDING_CHILDREN.values())
#: Statuses of a run whose records the cleanup leaves alone (its steps may still read them).
_RUNNING = "('running', 'fetched', 'stopped')"


class _RetentionProperties(Protocol):
    @property
    def queue_retention_success_days(self) -> int: ...
    @property
    def queue_retention_error_days(self) -> int: ...
    @property
    def app_log_retention_days(self) -> int: ...
    @property
    def upload_item_retention_days(self) -> int: ...


@dataclass(frozen=True)
class Retention:
    """How many days each kind of record is kept."""

    success_days: int = 30
    error_days: int = 60
    app_log_days: int = 90
    upload_item_days: int = 180

    @classmethod
    def of(cls, properties: _RetentionProperties) -> Retention:
        return cls(
            properties.queue_retention_success_days,
            properties.queue_retention_error_days,
            properties.app_log_retention_days,
            properties.upload_item_retention_days,
        )

    @classmethod
    def none(cls) -> Retention:
        """Keep nothing processed (the benchmark's cleanup of its own records)."""
        return cls(0, 0, 0, 0)


@dataclass
class CleanupResult:
    """What a cleanup removed (or, for a dry run, would remove)."""

    dry_run: bool = False
    queue_success: int = 0
    queue_error: int = 0
    payload_bytes: int = 0  # uncompressed size of the stored responses removed
    stored_bytes: int = 0  # what they took in the database (compressed)
    landing_rows: int = 0
    upload_items: int = 0
    app_log: int = 0
    terminated_log: int = 0
    step_records: int = 0
    transactions: int = 0
    kept_in_use: int = 0  # queue records past their retention left in place: held by a sync, or of a running run
    stopped_reason: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def counts(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "details"}

    def render(self) -> str:
        verb = "would remove" if self.dry_run else "removed"
        lines = [
            f"sync queue: {verb} {self.queue_success:,} Success and {self.queue_error:,} Error record(s) "
            f"({self.stored_bytes / 1e6:,.1f} MB of stored responses, {self.payload_bytes / 1e6:,.1f} MB "
            f"uncompressed), {self.landing_rows:,} landing row(s)",
            f"upload items: {verb} {self.upload_items:,}",
            f"application log: {verb} {self.app_log:,} entr(ies), {self.terminated_log:,} terminated-run entr(ies), "
            f"{self.step_records:,} step record(s)",
        ]
        if self.kept_in_use:
            lines.append(
                f"kept: {self.kept_in_use:,} record(s) past their retention that a running sync holds or still needs"
            )
        if self.stopped_reason:
            lines.append(f"stopped: {self.stopped_reason}")
        return "\n".join(lines)


def _cutoffs(retention: Retention, now: datetime) -> dict[str, datetime]:
    return {
        "success": now - timedelta(days=retention.success_days),
        "error": now - timedelta(days=retention.error_days),
        "app_log": now - timedelta(days=retention.app_log_days),
        "upload": now - timedelta(days=retention.upload_item_days),
    }


def _queue_sql(status: str, cutoff: str, what: str) -> str:
    return f"""
        SELECT {what} FROM "{SCHEMA}".sync_queue q
        WHERE q.status = '{status}' AND q.updated_at < :{cutoff}
          AND NOT EXISTS (SELECT 1 FROM "{SCHEMA}".sync_run r
                          WHERE r.schedule = q.schedule AND r.run_id = q.run_id
                            AND r.finished_at IS NULL AND r.status IN {_RUNNING})
    """


def _upload_sql(status: str, what: str) -> str:
    # An Error item goes once old; a processed item only when a newer processed one says the same (its evidence).
    newer = (
        ""
        if status == "Error"
        else f"""
          AND EXISTS (SELECT 1 FROM "{SCHEMA}".upload_item n
                      WHERE n.source = u.source AND n.address = u.address AND n.kind = u.kind
                        AND n.target = u.target AND n.ci_sys_id IS NOT DISTINCT FROM u.ci_sys_id
                        AND n.id > u.id AND n.status IN ('Success', 'Skipped')
                        AND (u.qualys_host_id IS NULL OR n.qualys_host_id IS NOT NULL))"""
    )
    return f"""
        SELECT {what} FROM "{SCHEMA}".upload_item u
        WHERE u.status = '{status}' AND u.updated_at < :upload {newer}
          AND NOT EXISTS (SELECT 1 FROM "{SCHEMA}".sync_run r
                          WHERE r.schedule = u.schedule AND r.run_id IN (u.run_id, u.last_run_id)
                            AND r.finished_at IS NULL AND r.status IN {_RUNNING})
    """


_LOGS = {
    "app_log": (f'"{SCHEMA}".app_log', "created_at < :app_log"),
    "terminated_log": (f'"{SCHEMA}".terminated_run', "stopped_at < :app_log"),
    "step_records": (f'"{SCHEMA}".run_step', "finished_at < :app_log"),
}


def clean_queue(
    engine: Engine,
    retention: Retention,
    *,
    dry_run: bool = False,
    now: datetime | None = None,
    lifetime: Lifetime | None = None,
    batch: int = BATCH,
) -> CleanupResult:
    """Remove what is past its retention (see the module docstring); with ``dry_run``, only count it.

    Stops between two batches once ``lifetime`` is over (the next cleanup carries on), and when a statement waits
    longer than :data:`LOCK_TIMEOUT` for a lock (something holds a whole table: a migration, a TRUNCATE).
    """
    cutoffs = _cutoffs(retention, now or datetime.now(UTC))
    result = CleanupResult(dry_run=dry_run)
    if dry_run:
        return _count(engine, cutoffs, result)
    passes: list[tuple[str, Any]] = [
        ("queue_success", lambda conn: _queue_batch(conn, "Success", "success", cutoffs, batch, result)),
        ("queue_error", lambda conn: _queue_batch(conn, "Error", "error", cutoffs, batch, result)),
        *(
            (f"upload_{s}", lambda conn, s=s: _upload_batch(conn, s, cutoffs, batch, result))
            for s in ("Success", "Skipped", "Error")
        ),
        *((name, lambda conn, name=name: _log_batch(conn, name, cutoffs, batch, result)) for name in _LOGS),
    ]
    try:
        for name, one_batch in passes:
            while True:
                if result.transactions and lifetime is not None and lifetime.exceeded():
                    result.stopped_reason = lifetime.reason(f"{result.transactions} batch(es), during {name}")
                    return _kept(engine, cutoffs, result)
                with engine.begin() as conn:
                    conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
                    removed = one_batch(conn)
                result.transactions += 1
                if removed < batch:
                    break
    except OperationalError as exc:
        if "lock timeout" not in str(exc).lower():
            raise
        result.stopped_reason = f"waited longer than {LOCK_TIMEOUT} for a lock; the next cleanup carries on"
        log.warning("queue cleanup: %s", result.stopped_reason)
    return _kept(engine, cutoffs, result)


def _queue_batch(
    conn: Connection, status: str, cutoff: str, cutoffs: dict[str, datetime], batch: int, result: CleanupResult
) -> int:
    rows = conn.execute(
        text(
            _queue_sql(status, cutoff, "q.id, coalesce(q.payload_bytes, 0), coalesce(octet_length(q.payload), 0)")
            + " ORDER BY q.updated_at LIMIT :batch FOR UPDATE OF q SKIP LOCKED"
        ),
        {**cutoffs, "batch": batch},
    ).all()
    ids = [int(r[0]) for r in rows]
    if not ids:
        return 0
    for table in _LANDING:
        result.landing_rows += conn.execute(table.delete().where(table.c.queue_id.in_(ids))).rowcount or 0
    conn.execute(text(f'DELETE FROM "{SCHEMA}".sync_queue WHERE id = ANY(:ids)'), {"ids": ids})
    result.payload_bytes += sum(int(r[1]) for r in rows)
    result.stored_bytes += sum(int(r[2]) for r in rows)
    if status == "Success":
        result.queue_success += len(ids)
    else:
        result.queue_error += len(ids)
    return len(ids)


def _upload_batch(
    conn: Connection, status: str, cutoffs: dict[str, datetime], batch: int, result: CleanupResult
) -> int:
    doomed = _upload_sql(status, "u.id") + " ORDER BY u.updated_at LIMIT :batch FOR UPDATE OF u SKIP LOCKED"
    removed = conn.execute(
        text(f'DELETE FROM "{SCHEMA}".upload_item WHERE id IN ({doomed})'), {**cutoffs, "batch": batch}
    ).rowcount
    result.upload_items += removed or 0
    return int(removed or 0)


def _log_batch(conn: Connection, name: str, cutoffs: dict[str, datetime], batch: int, result: CleanupResult) -> int:
    table, condition = _LOGS[name]
    key = "schedule, run_id, step, map_index" if name == "step_records" else "id"
    removed = conn.execute(
        text(
            f"DELETE FROM {table} WHERE ({key}) IN "
            f"(SELECT {key} FROM {table} WHERE {condition} LIMIT :batch FOR UPDATE SKIP LOCKED)"
        ),
        {**cutoffs, "batch": batch},
    ).rowcount
    setattr(result, name, getattr(result, name) + (removed or 0))
    return int(removed or 0)


def _count(engine: Engine, cutoffs: dict[str, datetime], result: CleanupResult) -> CleanupResult:
    """A dry run: how much the cleanup would remove now."""
    with engine.connect() as conn:

        def scalar(sql: str) -> int:
            return int(conn.execute(text(sql), cutoffs).scalar_one() or 0)

        result.queue_success = scalar(_queue_sql("Success", "success", "count(*)"))
        result.queue_error = scalar(_queue_sql("Error", "error", "count(*)"))
        doomed = f"{_queue_sql('Success', 'success', 'q.id')} UNION ALL {_queue_sql('Error', 'error', 'q.id')}"
        result.payload_bytes = scalar(
            f'SELECT coalesce(sum(payload_bytes), 0) FROM "{SCHEMA}".sync_queue WHERE id IN ({doomed})'
        )
        result.stored_bytes = scalar(
            f'SELECT coalesce(sum(octet_length(payload)), 0) FROM "{SCHEMA}".sync_queue WHERE id IN ({doomed})'
        )
        result.landing_rows = sum(
            scalar(f'SELECT count(*) FROM "{SCHEMA}"."{t.name}" WHERE queue_id IN ({doomed})') for t in _LANDING
        )
        result.upload_items = sum(scalar(_upload_sql(s, "count(*)")) for s in ("Success", "Skipped", "Error"))
        for name, (table, condition) in _LOGS.items():
            setattr(result, name, scalar(f"SELECT count(*) FROM {table} WHERE {condition}"))
    return result


def _kept(engine: Engine, cutoffs: dict[str, datetime], result: CleanupResult) -> CleanupResult:
    """Count the queue records past their retention that are still there (held, or of a running run)."""
    sql = f"""
        SELECT count(*) FROM "{SCHEMA}".sync_queue
        WHERE (status = 'Success' AND updated_at < :success) OR (status = 'Error' AND updated_at < :error)
    """
    with engine.connect() as conn:
        result.kept_in_use = int(conn.execute(text(sql), cutoffs).scalar_one())
    return result


def database_size(engine: Engine) -> int:
    """The staging database's size on disk, in bytes."""
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one())


def vacuum(engine: Engine) -> None:
    """VACUUM the tables the cleanup empties, so that the space of what it removed is free (and, for the pages at a
    table's end, returned to the system) without waiting for autovacuum. Never locks out readers or writers."""
    tables = ["sync_queue", "upload_item", "app_log", "terminated_run", "run_step", *(t.name for t in _LANDING)]
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in tables:
            conn.execute(text(f'VACUUM (ANALYZE) "{SCHEMA}"."{table}"'))
