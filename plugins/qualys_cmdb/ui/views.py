"""What the pages show that is not an asset list: sync-queue records, upload items, the application log, sources and
schedules, and per-user preferences. Parameterised SQLAlchemy Core, one query per list."""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Engine, Select, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from qualys_cmdb.staging.schema import (
    app_log,
    asset_classification,
    schedule_state,
    sync_queue,
    ui_preference,
    upload_item,
)
from qualys_cmdb.staging.store import LEVELS as LEVELS

RAW_PREVIEW_BYTES = 512 * 1024


@dataclass(frozen=True)
class Page:
    """One page of a list."""

    rows: list[dict[str, Any]]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


def _page(query: Any, count: Any, engine: Engine, page: int, page_size: int) -> Page:
    page = max(1, page)
    with engine.connect() as conn:
        total = int(conn.execute(count).scalar_one())
        rows = [dict(r) for r in conn.execute(query.limit(page_size).offset((page - 1) * page_size)).mappings()]
    return Page(rows, total, page, page_size)


# ---------------------------------------------------------------------------------------------- sync queue
def queue_query(
    *, direction: str | None, status: str | None, schedule: str | None, run_id: str | None, newest_first: bool = True
) -> Select[Any]:
    """Sync-queue records (SY-1) matching the filters, without their payloads, newest first (or oldest first)."""
    q = sync_queue.c
    conditions: list[ColumnElement[bool]] = []
    if direction:
        conditions.append(q.direction == direction)
    if status:
        conditions.append(q.status == status)
    if schedule:
        conditions.append(q.schedule == schedule)
    if run_id:
        conditions.append(q.run_id == run_id)
    columns = [c for c in sync_queue.columns if c.name != "payload"]
    return select(*columns).where(*conditions).order_by(q.id.desc() if newest_first else q.id)


def queue_records(
    engine: Engine,
    *,
    direction: str | None,
    status: str | None,
    schedule: str | None,
    run_id: str | None,
    page: int,
    page_size: int = 50,
) -> Page:
    """One page of the sync-queue records (SY-1), newest first, without their payloads."""
    query = queue_query(direction=direction, status=status, schedule=schedule, run_id=run_id)
    return _page(query, _count(query), engine, page, page_size)


def _count(query: Select[Any]) -> Select[Any]:
    """How many rows ``query`` returns."""
    return select(func.count()).select_from(query.order_by(None).subquery())


def raw_response(engine: Engine, queue_id: int) -> tuple[dict[str, Any], bytes] | None:
    """A record and its raw response body (decompressed), or None."""
    with engine.connect() as conn:
        row = conn.execute(select(sync_queue).where(sync_queue.c.id == queue_id)).mappings().first()
    if row is None:
        return None
    payload = row["payload"]
    body = gzip.decompress(payload) if payload else b""
    return {k: v for k, v in row.items() if k != "payload"}, body


def upload_query(
    *, schedule: str | None, status: str | None, kind: str | None, run_id: str | None, newest_first: bool = True
) -> Select[Any]:
    """CMDB → Qualys upload items matching the filters, newest first (or oldest first)."""
    u = upload_item.c
    conditions: list[ColumnElement[bool]] = []
    if schedule:
        conditions.append(u.schedule == schedule)
    if status:
        conditions.append(u.status == status)
    if kind:
        conditions.append(u.kind == kind)
    if run_id:
        conditions.append((u.run_id == run_id) | (u.last_run_id == run_id))
    return select(upload_item).where(*conditions).order_by(u.id.desc() if newest_first else u.id)


def upload_items(
    engine: Engine,
    *,
    schedule: str | None,
    status: str | None,
    kind: str | None,
    run_id: str | None,
    page: int,
    page_size: int = 50,
) -> Page:
    """One page of the CMDB → Qualys upload items, newest first."""
    query = upload_query(schedule=schedule, status=status, kind=kind, run_id=run_id)
    return _page(query, _count(query), engine, page, page_size)


def schedules_of(engine: Engine, table: Any, ids: list[int]) -> set[str]:
    """The schedules the rows ``ids`` of ``table`` (the sync queue or the upload items) belong to."""
    with engine.connect() as conn:
        return set(conn.execute(select(table.c.schedule).where(table.c.id.in_(ids)).distinct()).scalars())


# ---------------------------------------------------------------------------------------------- application log
def log_query(
    *,
    level: str | None,
    schedule: str | None,
    run_id: str | None,
    since: datetime | None,
    until: datetime | None,
    search: str | None,
) -> Select[Any]:
    """Application-log entries (OB-1) matching the filters, newest first; ``level`` is the lowest level shown."""
    a = app_log.c
    conditions: list[ColumnElement[bool]] = []
    if level in LEVELS:
        conditions.append(a.level.in_(LEVELS[LEVELS.index(level) :]))
    if schedule:
        conditions.append(a.schedule == schedule)
    if run_id:
        conditions.append(a.run_id == run_id)
    if since:
        conditions.append(a.created_at >= since)
    if until:
        conditions.append(a.created_at <= until)
    if search:
        conditions.append(a.message.ilike(f"%{_like(search)}%", escape="\\"))
    return select(app_log).where(*conditions).order_by(a.id.desc())


def log_entries(
    engine: Engine,
    *,
    level: str | None,
    schedule: str | None,
    run_id: str | None,
    since: datetime | None,
    until: datetime | None,
    search: str | None,
    page: int,
    page_size: int = 100,
) -> Page:
    """One page of the application log (OB-1), newest first; ``level`` is the lowest level shown."""
    query = log_query(level=level, schedule=schedule, run_id=run_id, since=since, until=until, search=search)
    return _page(query, _count(query), engine, page, page_size)


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def log_runs(engine: Engine, schedule: str | None, limit: int = 30) -> list[str]:
    """Recent run ids (for the filter)."""
    with engine.connect() as conn:
        query = select(app_log.c.run_id, func.max(app_log.c.id).label("last")).where(app_log.c.run_id.is_not(None))
        if schedule:
            query = query.where(app_log.c.schedule == schedule)
        rows = conn.execute(query.group_by(app_log.c.run_id).order_by(func.max(app_log.c.id).desc()).limit(limit))
        return [str(r[0]) for r in rows]


# ---------------------------------------------------------------------------------------------- schedules
def schedule_states(engine: Engine) -> dict[str, dict[str, Any]]:
    """The stored state of every schedule (watermark, resume point, last run)."""
    with engine.connect() as conn:
        return {str(r["schedule"]): dict(r) for r in conn.execute(select(schedule_state)).mappings()}


def classification_counts(engine: Engine) -> dict[str, dict[str, int]]:
    """Assets by schedule and state."""
    c = asset_classification.c
    out: dict[str, dict[str, int]] = {}
    with engine.connect() as conn:
        for schedule, state, n in conn.execute(select(c.schedule, c.state, func.count()).group_by(c.schedule, c.state)):
            out.setdefault(str(schedule), {})[str(state)] = int(n)
    return out


def failure_codes(engine: Engine) -> list[str]:
    """The failure codes of the failed assets (for the Failed assets page's filter), most frequent first."""
    c = asset_classification.c
    query = (
        select(c.failure_code)
        .where(c.state == "failed", c.failure_code.is_not(None))
        .group_by(c.failure_code)
        .order_by(func.count().desc(), c.failure_code)
    )
    with engine.connect() as conn:
        return [str(code) for code in conn.execute(query).scalars()]


def runs_of(engine: Engine, schedule: str | None, state: str = "pending", limit: int = 30) -> list[str]:
    """Runs that classified assets now in ``state`` (for "decide all of a run")."""
    c = asset_classification.c
    query = select(c.classified_run, func.max(c.classified_at)).where(c.state == state, c.classified_run.is_not(None))
    if schedule:
        query = query.where(c.schedule == schedule)
    with engine.connect() as conn:
        rows = conn.execute(query.group_by(c.classified_run).order_by(func.max(c.classified_at).desc()).limit(limit))
        return [str(r[0]) for r in rows]


# ---------------------------------------------------------------------------------------------- preferences
def get_preference(engine: Engine, user: str, key: str) -> Any:
    """A user's stored preference, or None."""
    with engine.connect() as conn:
        return conn.execute(
            select(ui_preference.c.value).where(ui_preference.c.username == user, ui_preference.c.key == key)
        ).scalar_one_or_none()


def set_preference(engine: Engine, user: str, key: str, value: Any) -> None:
    """Remember a user's preference."""
    with engine.begin() as conn:
        conn.execute(
            pg_insert(ui_preference)
            .values(username=user, key=key, value=value)
            .on_conflict_do_update(
                index_elements=[ui_preference.c.username, ui_preference.c.key],
                set_={"value": value, "updated_at": func.now()},
            )
        )


def utc(moment: Any) -> str:
    """A timestamp shown with its zone (OB-3): stored in UTC, shown as UTC."""
    if moment is None:
        return ""
    if isinstance(moment, datetime):
        aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        return aware.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return str(moment)
