"""Thin Airflow operators for the intake steps: fetch → parse (mapped) → stage.

Each operator reads the configuration (by schedule name) at run time, opens the staging database and the Qualys
hook, and calls the library. XCom carries queue-record ids and counts only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from qualys_cmdb.classify.mappings import MappingError, OsName, load_mappings
from qualys_cmdb.config import DetailFlags, Schedule, Source
from qualys_cmdb.hooks.qualys import QualysHook
from qualys_cmdb.hooks.qualys_protocol import QualysAuthError
from qualys_cmdb.intake.fetch import RunInfo, fetch_assets, fetch_stop
from qualys_cmdb.intake.parse import parse_record
from qualys_cmdb.intake.runs import parse_batches, record_stage
from qualys_cmdb.intake.stage import StageResult, stage_records
from qualys_cmdb.lifetime import Lifetime
from qualys_cmdb.operators.base import ScheduleOperator, tracked
from qualys_cmdb.staging import store

if TYPE_CHECKING:
    from airflow.sdk import Context
    from sqlalchemy import Engine


#: The fetch's XCom saying it stored its page group and a next run fetches on (a boolean, not data).
HANDED_OVER = "handed_over"
#: Run ids of the runs that page groups start: ``next_group__`` and a digest of the run before.
NEXT_GROUP_PREFIX = "next_group__"


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
    """Fetch the schedule's assets from Qualys into the sync queue; returns the parse batches (queue ids).

    Qualys refusing the credentials fails the task for good, without its retry: the same wrong password sent again a
    minute later cannot succeed, and each attempt counts towards locking the Qualys account.
    """

    ui_color = "#d6eaf8"

    def execute(self, context: Context) -> list[list[int]]:
        config, schedule, source, engine, app_log = self.setup(context)
        run = run_info(context)
        app_log.info("scheduler", f"schedule {schedule.name} run started ({run.run_type})")
        with tracked(context, engine, schedule.name, source.name) as step:
            hook = QualysHook.for_source(source, config.properties)
            try:
                result = fetch_assets(
                    engine,
                    hook,
                    schedule=schedule,
                    source=source,
                    properties=config.properties,
                    run=run,
                    app_log=app_log,
                )
            except QualysAuthError as exc:
                message = (
                    f"{exc}. Not retried: the same credentials would be refused again, and each attempt counts towards "
                    f"locking the Qualys account. Fix the password (or user) of Airflow connection "
                    f"{source.connection_id!r}, then clear this task."
                )
                raise AirflowFailException(message) from None
            finally:
                hook.close()
            if result.stopped_by_lifetime:
                position, resumes = fetch_stop(engine, schedule.name, run.run_id)
                step.stopped(result.stopped_reason or "", position=position, resumes=resumes)
        self.log.info("fetched %s", {k: v for k, v in asdict(result).items() if k != "queue_ids"})
        context["ti"].xcom_push(key=HANDED_OVER, value=result.handed_over)
        pending = store.pending_downloads(engine, schedule.name)
        batches = parse_batches(pending, config.properties.download_processors)
        self.log.info("%d queue record(s) to parse in %d batch(es)", len(pending), len(batches))
        return batches


class ContinueSyncOperator(TriggerDagRunOperator):
    """Page groups (``pages_per_run``): start the schedule's next run as soon as this run's fetch has stored its page
    group, so that the next group is fetched, parsed, staged and classified while this run loads; skipped when the
    fetch reached the end.

    The next run's id comes from this run's, and a run that already exists is not triggered again: a retry of this
    task never starts a second next run.
    """

    ui_color = "#d6eaf8"

    def __init__(self, *, dag_id: str, **kwargs: Any) -> None:
        super().__init__(trigger_dag_id=dag_id, skip_when_already_exists=True, **kwargs)

    def execute(self, context: Context) -> None:
        if not context["ti"].xcom_pull(task_ids="fetch", key=HANDED_OVER):
            raise AirflowSkipException("the fetch reached the end of what this run selects: no next page group")
        run_id = context["run_id"]
        self.trigger_run_id = f"{NEXT_GROUP_PREFIX}{hashlib.sha256(run_id.encode()).hexdigest()[:16]}"
        self.note = f"Next page group after run {run_id}"
        self.logical_date = None
        self.run_after = datetime.now(UTC)
        self.log.info("page group fetched: starting run %s for the next one", self.trigger_run_id)
        super().execute(context)


class ParseResponsesOperator(ScheduleOperator):
    """Parse a batch of sync-queue records into the landing tables (one mapped instance per batch)."""

    ui_color = "#d5f5e3"

    def __init__(self, *, queue_ids: list[int], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.queue_ids = queue_ids

    def execute(self, context: Context) -> dict[str, int]:
        config, schedule, source, engine, app_log = self.setup(context)
        map_index = context["ti"].map_index
        processor = store.processor_id(f"parse[{map_index}]")
        app_log.info("download processor", f"{processor} started on {len(self.queue_ids)} record(s)")
        totals = {"records": 0, "assets": 0, "rows": 0, "errors": 0}
        lifetime = Lifetime.of(config.properties)
        with tracked(context, engine, schedule.name, source.name) as step:
            for done, queue_id in enumerate(self.queue_ids):
                if done and lifetime.exceeded():  # PR-3: the records left stay Queued for the next run's parse
                    left = self.queue_ids[done:]
                    reason = lifetime.reason(f"{done} of {len(self.queue_ids)} record(s) parsed by {processor}")
                    step.stopped(
                        reason,
                        position={"parsed": done, "records_left": left},
                        resumes=f"the next run parses the {len(left)} record(s) left Queued from their stored "
                        "responses",
                    )
                    app_log.warning("download processor", f"stopped: {reason}", records_left=left)
                    break
                step.progress(parsed=done, record=queue_id)
                self._parse(engine, queue_id, schedule.details, processor, totals, app_log)
        app_log.info("download processor", f"{processor} finished: {totals}")
        return totals

    def _parse(
        self,
        engine: Engine,
        queue_id: int,
        details: DetailFlags,
        processor: str,
        totals: dict[str, int],
        app_log: store.AppLog,
    ) -> None:
        """Parse one record; add its outcome to ``totals`` and the logs."""
        outcome = parse_record(engine, queue_id, details, processor)
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


class StageAssetsOperator(ScheduleOperator):
    """Stage every parsed record of the schedule (set-based upsert) and record the run's counts."""

    ui_color = "#fcf3cf"

    def execute(self, context: Context) -> dict[str, object]:
        config, schedule, source, engine, app_log = self.setup(context)
        os_names = _os_names(source, app_log)
        lifetime = Lifetime.of(config.properties)
        with tracked(context, engine, schedule.name, source.name) as step:
            result = self._stage(context, schedule, source, engine, app_log, os_names, lifetime)
            if result.stopped_reason:  # PR-3: the parsed records left wait, with their landing rows, for the next run
                step.stopped(
                    result.stopped_reason,
                    position={
                        "records_staged": result.records,
                        "chunks": result.chunks,
                        "records_left": result.records_left,
                    },
                    resumes=f"the next run stages the {result.records_left} parsed record(s) left",
                )
                app_log.warning("stage", f"stopped: {result.stopped_reason}", records_left=result.records_left)
        return self._finish(context, schedule, source, engine, app_log, result)

    def _stage(
        self,
        context: Context,
        schedule: Schedule,
        source: Source,
        engine: Engine,
        app_log: store.AppLog,
        os_names: Sequence[OsName] | None,
        lifetime: Lifetime,
    ) -> StageResult:
        result = stage_records(
            engine,
            schedule.name,
            context["run_id"],
            source=source.name,
            details=schedule.details,
            os_names=os_names,
            lifetime=lifetime,
        )
        if result.requeued and not result.stopped_reason:
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
                engine,
                schedule.name,
                context["run_id"],
                source=source.name,
                details=schedule.details,
                os_names=os_names,
                lifetime=lifetime,
            )
            result = StageResult(
                records=result.records + again.records,
                assets=result.assets + again.assets,
                changed=result.changed + again.changed,
                unchanged=result.unchanged + again.unchanged,
                software_rows=result.software_rows + again.software_rows,
                requeued=again.requeued,
                os_rows_derived=result.os_rows_derived + again.os_rows_derived,
                chunks=result.chunks + again.chunks,
                stopped_reason=again.stopped_reason,
                records_left=again.records_left,
                analyzed=list(dict.fromkeys(result.analyzed + again.analyzed)),
            )
        return result

    def _finish(
        self,
        context: Context,
        schedule: Schedule,
        source: Source,
        engine: Engine,
        app_log: store.AppLog,
        result: StageResult,
    ) -> dict[str, object]:
        if result.os_rows_derived:
            app_log.info(
                "stage",
                f"OS family and category of {result.os_rows_derived} staged asset(s) derived from their OS name "
                "(os_names.yaml)",
            )
        if result.analyzed:
            self.log.info("planner statistics refreshed (ANALYZE) for %s", ", ".join(result.analyzed))
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


def _os_names(source: Source, app_log: store.AppLog) -> Sequence[OsName] | None:
    """The OS-name table for a source whose records carry OS names without categories (api: hostasset), else None.

    Invalid mapping files do not stop the stage: it keeps what Qualys sent, without derived categories, and says so;
    classify then fails on the same problems, and the first run after the fix derives every asset's categories.
    """
    if source.api != "hostasset":
        return None
    try:
        return load_mappings().os_names
    except MappingError as exc:
        app_log.warning(
            "stage", f"OS categories not derived from OS names this run: the mapping files are invalid ({exc})"
        )
        return None
