"""What a CMDB → Qualys run did: the figures the summary task, ``qcmdb summary`` and the demo print."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, func, select, text

from qualys_cmdb.export.host_ids import not_scanned_counts
from qualys_cmdb.staging.schema import SCHEMA, sync_run, upload_item

KINDS = {"ip": "addresses", "tag": "tag assignments", "group": "asset-group assignments"}


def export_summary(engine: Engine, schedule: str, source: str, run_id: str | None = None) -> dict[str, Any]:
    """Counts of a run (the latest when ``run_id`` is None) and of the schedule overall."""
    with engine.connect() as conn:
        query = select(sync_run).where(sync_run.c.schedule == schedule)
        if run_id is not None:
            query = query.where(sync_run.c.run_id == run_id)
        run = conn.execute(query.order_by(sync_run.c.started_at.desc()).limit(1)).mappings().first()
        rid = run["run_id"] if run else run_id
        by_kind: dict[str, dict[str, int]] = {}
        for kind, status, n in conn.execute(
            select(upload_item.c.kind, upload_item.c.status, func.count(func.distinct(upload_item.c.address)))
            .where(
                upload_item.c.schedule == schedule,
                (upload_item.c.run_id == rid) | (upload_item.c.last_run_id == rid),
            )
            .group_by(upload_item.c.kind, upload_item.c.status)
        ).all():
            by_kind.setdefault(str(kind), {})[str(status)] = int(n)
        errors = conn.execute(
            text(f"""
            SELECT kind, address, ci_name, ci_sys_id, message, qualys_code FROM "{SCHEMA}".upload_item
            WHERE schedule = :s AND status = 'Error' AND (run_id = :r OR last_run_id = :r)
            ORDER BY kind, address LIMIT 20
            """),
            {"s": schedule, "r": rid},
        ).mappings()
        error_list = [dict(e) for e in errors]
        added_ever = conn.execute(
            select(func.count(func.distinct(upload_item.c.address))).where(
                upload_item.c.schedule == schedule, upload_item.c.kind == "ip", upload_item.c.status == "Success"
            )
        ).scalar_one()
        with_host_id = conn.execute(
            select(func.count(func.distinct(upload_item.c.address))).where(
                upload_item.c.schedule == schedule,
                upload_item.c.kind == "ip",
                upload_item.c.qualys_host_id.is_not(None),
            )
        ).scalar_one()
    ips = by_kind.get("ip", {})
    return {
        "schedule": schedule,
        "source": source,
        "run": {
            "run_id": rid,
            "status": run["status"] if run else None,
            "started_at": run["started_at"].isoformat() if run else None,
            "finished_at": run["finished_at"].isoformat() if run and run["finished_at"] else None,
            "api_calls": run["api_calls"] if run else 0,
            "stopped_reason": run["stopped_reason"] if run else None,
        },
        "addresses": {
            "added": ips.get("Success", 0),
            "skipped": ips.get("Skipped", 0),
            "failed": ips.get("Error", 0),
            "queued": ips.get("Queued", 0) + ips.get("Processing", 0),
        },
        "items_by_kind": by_kind,
        "errors": error_list,
        "added_ever": int(added_ever),
        "with_host_id": int(with_host_id),
        "not_scanned": not_scanned_counts(engine, source).get(schedule, 0),
    }


def render_export(summary: dict[str, Any]) -> str:
    """A short human-readable form."""
    run, addr = summary["run"], summary["addresses"]
    lines = [
        f"CMDB → Qualys schedule {summary['schedule']} (source {summary['source']}), run {run['run_id']}: "
        f"{run['status']}",
        f"  addresses: {addr['added']} added, {addr['skipped']} skipped (already in Qualys), {addr['failed']} failed, "
        f"{addr['queued']} still queued; {run['api_calls']} Qualys call(s)",
    ]
    for kind, statuses in sorted(summary["items_by_kind"].items()):
        if kind != "ip":
            lines.append(f"  {KINDS.get(kind, kind)}: " + ", ".join(f"{s} {n}" for s, n in sorted(statuses.items())))
    lines.append(
        f"  overall: {summary['added_ever']} address(es) added to Qualys by this schedule, {summary['not_scanned']} "
        f"of them not scanned yet; {summary['with_host_id']} of its addresses have a Qualys host id"
    )
    for error in summary["errors"]:
        who = error["ci_name"] or error["ci_sys_id"] or "?"
        lines.append(f"  error [{error['kind']}] {error['address']} ({who}): {error['message']}")
    if run["stopped_reason"]:
        lines.append(f"  stopped: {run['stopped_reason']}")
    return "\n".join(lines)
