"""The staging store: the one API for the sync queue, schedule state, sync runs and the application log.

All SQL is parameterised (SQLAlchemy Core). Pipeline steps call these functions; the set-based staging SQL itself
lives in :mod:`qualys_cmdb.intake.stage`.
"""

from __future__ import annotations

import gzip
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any

from sqlalchemy import Connection, Engine, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from qualys_cmdb.staging.schema import app_log, schedule_state, sync_queue, sync_run

LEVELS = ("debug", "info", "warning", "error")


def now() -> datetime:
    return datetime.now(UTC)


def processor_id(component: str) -> str:
    """Who is processing: component, host and process id (SY-1 processor id)."""
    return f"{component}@{socket.gethostname()}:{os.getpid()}"


# ---------------------------------------------------------------------------------------------- application log
@dataclass(frozen=True)
class AppLog:
    """Writes application-log entries (OB-1) for one schedule run; debug entries only when debug logging is on."""

    engine: Engine
    source: str | None = None
    schedule: str | None = None
    run_id: str | None = None
    debug_enabled: bool = False

    def write(self, level: str, component: str, message: str, **details: Any) -> None:
        if level == "debug" and not self.debug_enabled:
            return
        with self.engine.begin() as conn:
            conn.execute(
                insert(app_log).values(
                    level=level,
                    source=self.source,
                    schedule=self.schedule,
                    run_id=self.run_id,
                    component=component,
                    message=message,
                    details=details or None,
                )
            )

    def info(self, component: str, message: str, **details: Any) -> None:
        self.write("info", component, message, **details)

    def warning(self, component: str, message: str, **details: Any) -> None:
        self.write("warning", component, message, **details)

    def error(self, component: str, message: str, **details: Any) -> None:
        self.write("error", component, message, **details)

    def debug(self, component: str, message: str, **details: Any) -> None:
        self.write("debug", component, message, **details)


# ---------------------------------------------------------------------------------------------- sync queue
def enqueue_download(
    conn: Connection,
    *,
    source: str,
    schedule: str,
    run_id: str,
    api: str,
    fmt: str,
    page_no: int,
    request: dict[str, Any],
    cursor: str,
    next_cursor: str | None,
    has_more: bool | None,
    record_count: int,
    payload: IO[bytes],
    payload_bytes: int,
    status: str = "Queued",
    notes: str | None = None,
) -> int:
    """Store one downloaded page (gzip bytes as received) in the sync queue; returns its id."""
    payload.seek(0)
    return int(
        conn.execute(
            insert(sync_queue)
            .values(
                direction="download",
                source=source,
                schedule=schedule,
                run_id=run_id,
                status=status,
                api=api,
                format=fmt,
                page_no=page_no,
                request=request,
                cursor=cursor,
                next_cursor=next_cursor,
                has_more=has_more,
                record_count=record_count,
                payload=payload.read(),
                payload_bytes=payload_bytes,
                notes=notes,
            )
            .returning(sync_queue.c.id)
        ).scalar_one()
    )


def pending_downloads(engine: Engine, schedule: str) -> list[int]:
    """Download records of ``schedule`` waiting to be parsed: Queued, or left mid-parse by a crash."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(sync_queue.c.id)
            .where(
                sync_queue.c.direction == "download",
                sync_queue.c.schedule == schedule,
                (sync_queue.c.status == "Queued")
                | ((sync_queue.c.status == "Processing") & sync_queue.c.parsed_at.is_(None)),
            )
            .order_by(sync_queue.c.id)
        )
        return [int(r[0]) for r in rows]


def open_payload(conn: Connection, queue_id: int) -> tuple[dict[str, Any], IO[bytes]]:
    """A queue record's columns and its raw response as a decompressing stream."""
    import io

    row = conn.execute(select(sync_queue).where(sync_queue.c.id == queue_id)).mappings().one()
    data = dict(row)
    payload = data.pop("payload") or b""
    return data, gzip.GzipFile(fileobj=io.BytesIO(payload), mode="rb")  # type: ignore[return-value]


def mark(conn: Connection, queue_ids: list[int], status: str, notes: str | None = None, **values: Any) -> None:
    """Set the status of queue records; ``notes`` is appended to their processing notes (their history)."""
    if not queue_ids:
        return
    values.update(status=status, updated_at=func.now())
    if notes is not None:
        values["notes"] = func.concat_ws(" | ", sync_queue.c.notes, notes)
    conn.execute(update(sync_queue).where(sync_queue.c.id.in_(queue_ids)).values(**values))


def requeue(engine: Engine, queue_ids: list[int], who: str = "user") -> list[int]:
    """Put records back to Queued (SY-1); processing them again never duplicates staged rows."""
    stamp = now().strftime("%Y-%m-%d %H:%M:%S UTC")
    with engine.begin() as conn:
        rows = conn.execute(
            update(sync_queue)
            .where(sync_queue.c.id.in_(queue_ids), sync_queue.c.direction == "download")
            .values(
                status="Queued",
                parsed_at=None,
                processor_id=None,
                updated_at=func.now(),
                notes=func.concat(func.coalesce(sync_queue.c.notes + " | ", ""), f"re-queued by {who} at {stamp}"),
            )
            .returning(sync_queue.c.id)
        )
        return sorted(int(r[0]) for r in rows)


# ---------------------------------------------------------------------------------------------- schedule state
def get_state(engine: Engine, schedule: str) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = conn.execute(select(schedule_state).where(schedule_state.c.schedule == schedule)).mappings().first()
        return dict(row) if row else None


def save_state(conn: Connection, schedule: str, source: str, **values: Any) -> None:
    """Upsert the schedule's state (watermark, resume cursor, last run …)."""
    values["updated_at"] = func.now()
    stmt = pg_insert(schedule_state).values(schedule=schedule, source=source, **values)
    conn.execute(stmt.on_conflict_do_update(index_elements=[schedule_state.c.schedule], set_=values))


# ---------------------------------------------------------------------------------------------- sync runs
def get_run(engine: Engine, schedule: str, run_id: str) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = (
            conn.execute(select(sync_run).where(sync_run.c.schedule == schedule, sync_run.c.run_id == run_id))
            .mappings()
            .first()
        )
        return dict(row) if row else None


def start_run(engine: Engine, schedule: str, source: str, run_id: str) -> None:
    """Record the run (idempotent: a retried task keeps the counts gathered so far)."""
    with engine.begin() as conn:
        conn.execute(
            pg_insert(sync_run)
            .values(schedule=schedule, source=source, run_id=run_id, status="running")
            .on_conflict_do_update(
                index_elements=[sync_run.c.schedule, sync_run.c.run_id],
                set_={"status": "running", "finished_at": None},
            )
        )


def update_run(conn: Connection, schedule: str, run_id: str, **values: Any) -> None:
    """Set run columns; ``add_<column>=n`` adds to a counter instead."""
    sets: dict[str, Any] = {}
    for key, value in values.items():
        if key.startswith("add_"):
            col = key[4:]
            sets[col] = sync_run.c[col] + value
        else:
            sets[key] = value
    conn.execute(update(sync_run).where(sync_run.c.schedule == schedule, sync_run.c.run_id == run_id).values(**sets))
