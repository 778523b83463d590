"""The staging queries behind the operator UI's actions on many things at once (decide all of a run, retry everything
a filter matches, refetch pages) and the record view's raw response. Parameterised SQLAlchemy Core."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, func, select

from qualys_cmdb.staging.schema import asset_classification, sync_queue
from qualys_cmdb.ui.listing import AssetFilters, asset_keys


@dataclass(frozen=True)
class PendingRun:
    """A run with assets waiting for a decision."""

    schedule: str
    run_id: str
    pending: int
    waiting: bool = False  # its approval step waits for people now (see :mod:`qualys_cmdb.ui.airflow_state`)

    @property
    def key(self) -> str:
        """The form value naming the run: ``schedule|run id`` (a run id is unique within its schedule only)."""
        return f"{self.schedule}|{self.run_id}"


def run_key(value: str | None) -> tuple[str, str] | None:
    """``(schedule, run id)`` of a :attr:`PendingRun.key`, or None."""
    schedule, sep, run_id = (value or "").partition("|")
    return (schedule, run_id) if sep and schedule and run_id else None


def pending_runs(engine: Engine, schedule: str | None = None, limit: int = 50) -> list[PendingRun]:
    """Runs whose classified assets wait for a decision, newest first, with how many (of ``schedule`` if given)."""
    c = asset_classification.c
    query = select(c.schedule, c.classified_run, func.count()).where(
        c.state == "pending", c.classified_run.is_not(None)
    )
    if schedule:
        query = query.where(c.schedule == schedule)
    query = query.group_by(c.schedule, c.classified_run).order_by(func.max(c.classified_at).desc()).limit(limit)
    with engine.connect() as conn:
        return [PendingRun(str(s), str(r), int(n)) for s, r, n in conn.execute(query)]


def failed_keys(engine: Engine, filters: AssetFilters) -> dict[str, dict[str, list[int]]]:
    """The failed assets ``filters`` match (the Failed assets page's rows, every page), by schedule and source."""
    out: dict[str, dict[str, list[int]]] = {}
    with engine.connect() as conn:
        for schedule, source, asset_id in asset_keys(conn, filters.replace(state="failed")):
            out.setdefault(str(schedule), {}).setdefault(str(source), []).append(int(asset_id))
    return out


def raw_record(engine: Engine, queue_id: int) -> tuple[dict[str, Any], bytes | None] | None:
    """A sync-queue record and its stored (gzip-compressed) response, not decompressed; None if there is none."""
    with engine.connect() as conn:
        row = conn.execute(select(sync_queue).where(sync_queue.c.id == queue_id)).mappings().first()
    if row is None:
        return None
    return {k: v for k, v in row.items() if k != "payload"}, row["payload"]


def queue_rows(engine: Engine, ids: list[int]) -> dict[int, tuple[str, str]]:
    """``(direction, status)`` of each existing record of ``ids``."""
    q = sync_queue.c
    with engine.connect() as conn:
        rows = conn.execute(select(q.id, q.direction, q.status).where(q.id.in_(ids)))
        return {int(i): (str(d), str(s)) for i, d, s in rows}
