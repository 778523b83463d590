"""select and queue of a CMDB → Qualys run (RS-2, RS-6).

*select* reads the schedule's CIs through the Table API (its encoded query, ``sys_id`` order, only the fields needed)
and COPYs them into ``cmdb_selection``. *queue* turns the selection into the run's upload queue with two set-based
statements: one ``ip`` item per distinct address (an address several CIs share is pushed once), and one ``tag`` or
``group`` item per address when the schedule assigns one. An address that is not a valid IPv4 address becomes an
Error item at once, with the CI it came from, so nothing selected goes unaccounted for.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, delete, text

from qualys_cmdb.staging.schema import SCHEMA, cmdb_selection

if TYPE_CHECKING:
    from qualys_cmdb.config import ReverseSchedule
    from qualys_cmdb.export.checks import Assignment
    from qualys_cmdb.hooks.servicenow import ServiceNowHook

FIELDS = ["sys_id", "sys_class_name", "name", "ip_address"]
COPY_ROWS = 5_000
_OCTET = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
IPV4_PATTERN = f"^{_OCTET}(\\.{_OCTET}){{3}}$"


@dataclass(frozen=True)
class SelectResult:
    """What select read."""

    cis: int
    with_address: int
    cmdb_calls: int


@dataclass(frozen=True)
class QueueResult:
    """What queue put into the run's upload queue."""

    ip_items: int
    assignment_items: int
    invalid: int


def encoded_query(schedule: ReverseSchedule) -> str:
    """The schedule's query, restricted to CIs with an address (unless it has OR-groups of its own)."""
    if not schedule.query:
        return "ip_addressISNOTEMPTY"
    if "^NQ" in schedule.query:
        return schedule.query  # prefixing would bind to the first group only; empty addresses are dropped later
    return f"ip_addressISNOTEMPTY^{schedule.query}"


def _text(value: Any, limit: int) -> str | None:
    if isinstance(value, dict):  # a reference rendered as {"value": …, "link": …}
        value = value.get("value")
    if value is None:
        return None
    return str(value)[:limit]


def _rows(rows: Iterator[dict[str, Any]], schedule: str, run_id: str) -> Iterator[tuple[Any, ...]]:
    for row in rows:
        sys_id = _text(row.get("sys_id"), 32)
        if not sys_id:
            continue
        yield (
            schedule,
            run_id,
            sys_id,
            _text(row.get("sys_class_name"), 80),
            _text(row.get("name"), 255),
            _text(row.get("ip_address"), 255),
        )


def select_cis(
    engine: Engine, cmdb: ServiceNowHook, schedule: ReverseSchedule, run_id: str, page_size: int = 1000
) -> SelectResult:
    """Read the schedule's CIs into ``cmdb_selection`` for ``run_id`` (the schedule's older selections are dropped)."""
    calls_before = cmdb.calls
    columns = ", ".join(f'"{c.name}"' for c in cmdb_selection.columns if c.name != "selected_at")
    cis = with_address = 0
    with engine.begin() as conn:
        conn.execute(delete(cmdb_selection).where(cmdb_selection.c.schedule == schedule.name))
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        buffer: list[tuple[Any, ...]] = []
        rows = cmdb.table_query(schedule.table, encoded_query(schedule), FIELDS, page_size)
        for row in _rows(rows, schedule.name, run_id):
            cis += 1
            with_address += bool((row[5] or "").strip())
            buffer.append(row)
            if len(buffer) >= COPY_ROWS:
                _copy(cursor, columns, buffer)
        _copy(cursor, columns, buffer)
        cursor.close()
    return SelectResult(cis, with_address, cmdb.calls - calls_before)


def _copy(cursor: Any, columns: str, buffer: list[tuple[Any, ...]]) -> None:
    if not buffer:
        return
    with cursor.copy(f'COPY "{SCHEMA}"."cmdb_selection" ({columns}) FROM STDIN') as copy:
        for row in buffer:
            copy.write_row(row)
    buffer.clear()


_QUEUE_IPS = text(f"""
WITH picked AS (
    SELECT btrim(ip_address) AS address, sys_id, ci_class, name
    FROM "{SCHEMA}".cmdb_selection
    WHERE schedule = :schedule AND run_id = :run_id AND coalesce(btrim(ip_address), '') <> ''
), by_address AS (
    SELECT address, min(sys_id) AS sys_id, count(*) AS cis FROM picked GROUP BY address
)
INSERT INTO "{SCHEMA}".upload_item
    (schedule, source, kind, address, tracking_method, target, ci_sys_id, ci_class, ci_name, ci_count,
     status, message, run_id)
SELECT :schedule, :source, 'ip', b.address, :tracking, '', b.sys_id, p.ci_class, p.name, b.cis,
       CASE WHEN b.address ~ :ipv4 THEN 'Queued' ELSE 'Error' END,
       CASE
           WHEN b.address ~ :ipv4 THEN NULL
           WHEN position(':' in b.address) > 0 THEN
               'IPv6 address ' || b.address || ' of CI ' || coalesce(p.name, b.sys_id) || ' (' || b.sys_id
               || '): this sync pushes IPv4 addresses; add the host to Qualys by hand or give the CI its IPv4 address'
           ELSE
               'ip_address ' || quote_literal(b.address) || ' of CI ' || coalesce(p.name, b.sys_id) || ' ('
               || b.sys_id || ') is not an IPv4 address; correct it in the CMDB, the next run picks it up'
       END,
       :run_id
FROM by_address b JOIN picked p ON p.address = b.address AND p.sys_id = b.sys_id
ON CONFLICT (schedule, run_id, kind, address, target) DO NOTHING
""")

_QUEUE_ASSIGNMENTS = text(f"""
INSERT INTO "{SCHEMA}".upload_item
    (schedule, source, kind, address, tracking_method, target, target_id, ci_sys_id, ci_class, ci_name, ci_count,
     status, run_id)
SELECT schedule, source, :kind, address, tracking_method, :target, :target_id, ci_sys_id, ci_class, ci_name,
       ci_count, 'Queued', run_id
FROM "{SCHEMA}".upload_item
WHERE schedule = :schedule AND run_id = :run_id AND kind = 'ip' AND status <> 'Error'
ON CONFLICT (schedule, run_id, kind, address, target) DO NOTHING
""")


def queue_items(engine: Engine, schedule: ReverseSchedule, run_id: str, assignment: Assignment | None) -> QueueResult:
    """Build the run's upload queue from its selection; safe to run again (nothing is queued twice)."""
    params = {
        "schedule": schedule.name,
        "source": schedule.source,
        "tracking": schedule.tracking_method,
        "run_id": run_id,
        "ipv4": IPV4_PATTERN,
    }
    assigned = 0
    with engine.begin() as conn:
        conn.execute(_QUEUE_IPS, params)
        if assignment is not None:
            conn.execute(
                _QUEUE_ASSIGNMENTS,
                {**params, "kind": assignment.kind, "target": assignment.name, "target_id": assignment.id},
            )
        counts: dict[str, int] = dict(
            conn.execute(
                text(
                    f"SELECT kind || ':' || status, count(*) FROM \"{SCHEMA}\".upload_item "
                    "WHERE schedule = :schedule AND run_id = :run_id GROUP BY kind, status"
                ),
                params,
            ).all()
        )
    ips = sum(v for k, v in counts.items() if k.startswith("ip:"))
    assigned = sum(v for k, v in counts.items() if not k.startswith("ip:"))
    return QueueResult(ips, assigned, counts.get("ip:Error", 0))
