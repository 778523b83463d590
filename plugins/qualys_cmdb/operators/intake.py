"""Thin Airflow operators for the intake steps: fetch → parse (mapped) → stage.

Each operator reads the configuration (by schedule name) at run time, opens the staging database and the Qualys
hook, and calls the library. XCom carries queue-record ids and counts only.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING, Any

from qualys_cmdb.hooks.qualys import QualysHook
from qualys_cmdb.intake.fetch import RunInfo, fetch_assets
from qualys_cmdb.intake.parse import parse_record
from qualys_cmdb.intake.runs import parse_batches, record_stage
from qualys_cmdb.intake.stage import StageResult, stage_records
from qualys_cmdb.operators.base import ScheduleOperator
from qualys_cmdb.staging import store

if TYPE_CHECKING:
    from airflow.sdk import Context


def run_info(context: Context) -> RunInfo:
    """What the fetch needs from the Airflow context: run id and type, data interval, the ``since`` param."""
    dag_run = context["dag_run"]
    run_type = getattr(dag_run.run_type, "value", dag_run.run_type)  # DagRunType is a str enum: "backfill" …
    since = (context.get("params") or {}).get("since")
    return RunInfo(
        run_id=context["run_id"],
        run_type=str(run_type),
        data_interval_start=context.get("data_interval_start"),
        data_interval_end=context.get("data_interval_end"),
        since=datetime.fromisoformat(str(since).replace("Z", "+00:00")) if since else None,
    )


class FetchAssetsOperator(ScheduleOperator):
    """Fetch the schedule's assets from Qualys into the sync queue; returns the parse batches (queue ids)."""

    ui_color = "#d6eaf8"

    def execute(self, context: Context) -> list[list[int]]:
        config, schedule, source, engine, app_log = self.setup(context)
        run = run_info(context)
        app_log.info("scheduler", f"schedule {schedule.name} run started ({run.run_type})")
        hook = QualysHook.for_source(source, config.properties)
        try:
            result = fetch_assets(
                engine, hook, schedule=schedule, source=source, properties=config.properties, run=run, app_log=app_log
            )
        finally:
            hook.close()
        self.log.info("fetched %s", {k: v for k, v in asdict(result).items() if k != "queue_ids"})
        pending = store.pending_downloads(engine, schedule.name)
        batches = parse_batches(pending, config.properties.download_processors)
        self.log.info("%d queue record(s) to parse in %d batch(es)", len(pending), len(batches))
        return batches


class ParseResponsesOperator(ScheduleOperator):
    """Parse a batch of sync-queue records into the landing tables (one mapped instance per batch)."""

    ui_color = "#d5f5e3"

    def __init__(self, *, queue_ids: list[int], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.queue_ids = queue_ids

    def execute(self, context: Context) -> dict[str, int]:
        _, schedule, _, engine, app_log = self.setup(context)
        map_index = context["ti"].map_index
        processor = store.processor_id(f"parse[{map_index}]")
        app_log.info("download processor", f"{processor} started on {len(self.queue_ids)} record(s)")
        totals = {"records": 0, "assets": 0, "rows": 0, "errors": 0}
        for queue_id in self.queue_ids:
            outcome = parse_record(engine, queue_id, schedule.details, processor)
            totals["records"] += 1
            totals["assets"] += outcome.assets
            totals["rows"] += outcome.rows
            if outcome.status == "Error":
                totals["errors"] += 1
                app_log.error("download processor", f"queue record {queue_id}: {outcome.note}")
                self.log.error("queue record %s: %s", queue_id, outcome.note)
            elif outcome.odd_values:
                app_log.warning("download processor", f"queue record {queue_id}: {outcome.note}", queue_id=queue_id)
                self.log.warning("queue record %s: %s", queue_id, outcome.note)
        app_log.info("download processor", f"{processor} finished: {totals}")
        return totals


class StageAssetsOperator(ScheduleOperator):
    """Stage every parsed record of the schedule (set-based upsert) and record the run's counts."""

    ui_color = "#fcf3cf"

    def execute(self, context: Context) -> dict[str, object]:
        _, schedule, source, engine, app_log = self.setup(context)
        result = stage_records(engine, schedule.name, context["run_id"], source=source.name, details=schedule.details)
        if result.requeued:
            # Their landing rows were lost (a database crash empties the UNLOGGED landing tables): parse the stored
            # responses again, here, so the run still stages everything it fetched.
            app_log.warning(
                "stage",
                f"landing rows of {len(result.requeued)} parsed record(s) were lost before stage; parsing them "
                "again from their stored responses",
                queue_ids=result.requeued,
            )
            processor = store.processor_id("stage")
            for queue_id in result.requeued:
                outcome = parse_record(engine, queue_id, schedule.details, processor)
                if outcome.status == "Error":
                    app_log.error("download processor", f"queue record {queue_id}: {outcome.note}")
            again = stage_records(
                engine, schedule.name, context["run_id"], source=source.name, details=schedule.details
            )
            result = StageResult(
                records=result.records + again.records,
                assets=result.assets + again.assets,
                changed=result.changed + again.changed,
                unchanged=result.unchanged + again.unchanged,
                software_rows=result.software_rows + again.software_rows,
                requeued=again.requeued,
            )
        counts = record_stage(engine, schedule.name, source.name, context["run_id"], result)
        app_log.info(
            "stage",
            f"staged {result.assets} asset(s) from {result.records} record(s): "
            f"{result.changed} changed, {result.unchanged} unchanged",
            **counts,
        )
        app_log.info("scheduler", f"schedule {schedule.name} run finished", **counts)
        self.log.info("run counts: %s", counts)
        return counts
