"""Run-level bookkeeping around the intake steps: parse batches, and the counts a run leaves behind (QS-7)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, func, select

from qualys_cmdb.intake.stage import StageResult
from qualys_cmdb.staging import store
from qualys_cmdb.staging.schema import sync_queue, sync_run


def parse_batches(queue_ids: list[int], processors: int) -> list[list[int]]:
    """Split queue records over ``processors`` parallel parse tasks (the app's download processors, SY-2)."""
    count = max(1, min(processors, len(queue_ids)))
    batches: list[list[int]] = [[] for _ in range(count)]
    for i, queue_id in enumerate(sorted(queue_ids)):
        batches[i % count].append(queue_id)
    return [b for b in batches if b]


def record_stage(engine: Engine, schedule: str, source: str, run_id: str, result: StageResult) -> dict[str, object]:
    """Store the run's staging counts on the run and the schedule state; returns them."""
    with engine.begin() as conn:
        errors = conn.execute(
            select(func.count()).where(
                sync_queue.c.schedule == schedule, sync_queue.c.run_id == run_id, sync_queue.c.status == "Error"
            )
        ).scalar_one()
        run = (
            conn.execute(select(sync_run).where(sync_run.c.schedule == schedule, sync_run.c.run_id == run_id))
            .mappings()
            .first()
        )
        status = "stopped" if run and run["status"] == "stopped" else ("complete_with_errors" if errors else "complete")
        counts: dict[str, object] = {
            "assets_fetched": int(run["assets_fetched"]) if run else 0,
            "pages": int(run["pages"]) if run else 0,
            "api_calls": int(run["api_calls"]) if run else 0,
            "records_staged": result.records,
            "assets_staged": result.assets,
            "assets_changed": result.changed,
            "assets_unchanged": result.unchanged,
            "software_rows": result.software_rows,
            "errors": int(errors),
        }
        store.update_run(
            conn,
            schedule,
            run_id,
            status=status,
            finished_at=datetime.now(UTC),
            assets_staged=result.assets,
            assets_changed=result.changed,
            software_rows=result.software_rows,
            errors=int(errors),
        )
        store.save_state(
            conn,
            schedule,
            source,
            last_run_id=run_id,
            last_run_at=datetime.now(UTC),
            last_status=status,
            last_counts=counts,
        )
    return counts
