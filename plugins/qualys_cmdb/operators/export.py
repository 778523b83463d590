"""Thin Airflow operators of the CMDB → Qualys direction and of the Qualys housekeeping DAGs.

XCom carries counts and the schedule's tag/group id only; the CIs and upload items live in staging.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowFailException
from sqlalchemy import func

from qualys_cmdb.export.checks import Assignment, ScheduleCheckError, check_schedule
from qualys_cmdb.export.host_ids import update_host_ids
from qualys_cmdb.export.reference import fetch_asset_groups, fetch_tags
from qualys_cmdb.export.report import export_summary, render_export
from qualys_cmdb.export.selection import queue_items, select_cis
from qualys_cmdb.export.upload import Uploader
from qualys_cmdb.hooks.qualys import QualysHook
from qualys_cmdb.hooks.servicenow import ServiceNowHook
from qualys_cmdb.lifetime import Lifetime
from qualys_cmdb.operators.base import ReverseScheduleOperator, SourceOperator, tracked
from qualys_cmdb.staging import store

if TYPE_CHECKING:
    from airflow.sdk import Context


class SelectCisOperator(ReverseScheduleOperator):
    """Check the schedule against the CMDB and Qualys, then read its CIs into staging (RS-2)."""

    ui_color = "#d6eaf8"

    def execute(self, context: Context) -> dict[str, Any]:
        config, schedule, source, engine, app_log = self.setup(context)
        run_id = context["run_id"]
        store.start_run(engine, schedule.name, source.name, run_id)
        app_log.info("scheduler", f"CMDB → Qualys schedule {schedule.name} run started")
        for warning in config.warnings():
            if f"{schedule.name!r}" in warning:
                self.log.warning("%s", warning)
                app_log.warning("config", warning)
        qualys = QualysHook.for_source(source, config.properties)
        cmdb = ServiceNowHook.for_properties(config.properties)
        try:
            try:
                assignment = check_schedule(engine, qualys, cmdb, schedule, config.properties)
            except ScheduleCheckError as exc:
                app_log.error("config", str(exc))
                with engine.begin() as conn:
                    store.update_run(conn, schedule.name, run_id, status="failed", finished_at=func.now())
                raise AirflowFailException(f"{exc}\nFix the configuration, then trigger the DAG again.") from None
            result = select_cis(engine, cmdb, schedule, run_id)
        finally:
            qualys.close()
            cmdb.close()
        app_log.info(
            "select",
            f"{result.cis} CI(s) of {schedule.table} selected, {result.with_address} with an address "
            f"({result.cmdb_calls} CMDB call(s))",
            query=schedule.query,
        )
        return {
            "cis": result.cis,
            "with_address": result.with_address,
            "assignment": asdict(assignment) if assignment else None,
        }


class QueueUploadsOperator(ReverseScheduleOperator):
    """One upload item per address, plus one per tag/group assignment (RS-6)."""

    ui_color = "#fdebd0"

    def execute(self, context: Context) -> dict[str, int]:
        _, schedule, _, engine, app_log = self.setup(context)
        selected = context["ti"].xcom_pull(task_ids="select") or {}
        raw = selected.get("assignment")
        assignment = Assignment(**raw) if raw else None
        result = queue_items(engine, schedule, context["run_id"], assignment)
        app_log.info(
            "queue",
            f"{result.ip_items} address(es) queued ({result.invalid} invalid), "
            f"{result.assignment_items} {assignment.kind if assignment else ''} assignment(s)".rstrip(),
        )
        return asdict(result)


class UploadToQualysOperator(ReverseScheduleOperator):
    """Send the queued items to Qualys in batches of the upload batch size (PR-2)."""

    ui_color = "#d5f5e3"

    def execute(self, context: Context) -> dict[str, Any]:
        config, schedule, source, engine, app_log = self.setup(context)
        props = config.properties
        processor = store.processor_id("upload")
        app_log.info("upload processor", f"{processor} started")
        lifetime = Lifetime.of(props)
        with tracked(context, engine, schedule.name, source.name) as step:
            hook = QualysHook.for_source(source, props)
            try:
                result = Uploader(
                    engine,
                    hook,
                    schedule,
                    run_id=context["run_id"],
                    batch_size=props.upload_batch_size,
                    processor=processor,
                    deadline=lifetime.deadline,
                    clock=lifetime.clock,
                ).run()
            finally:
                hook.close()
                with engine.begin() as conn:
                    store.update_run(conn, schedule.name, context["run_id"], add_api_calls=hook.api_calls)
            if result.stopped_by_lifetime:  # PR-3: the items left stay Queued for the next run
                step.stopped(
                    lifetime.reason(f"{result.batches} batch(es): {result.added} added, {result.skipped} skipped"),
                    position={"batches": result.batches, "items_left_queued": result.left_queued},
                    resumes=f"the next run sends the {result.left_queued} item(s) left Queued",
                )
        counts = {k: v for k, v in asdict(result).items() if k != "messages"}
        with engine.begin() as conn:
            store.update_run(
                conn,
                schedule.name,
                context["run_id"],
                errors=result.errors + result.assignment_errors,
                stopped_reason=result.stopped_reason,
            )
        level = app_log.warning if result.stopped_reason or result.errors else app_log.info
        level(
            "upload processor",
            f"{result.added} added, {result.skipped} skipped, {result.errors} failed; "
            f"{result.assigned} assigned, {result.assignment_skipped} already assigned, "
            f"{result.assignment_errors} assignment(s) failed; {result.qualys_calls} Qualys call(s)"
            + (f"; stopped: {result.stopped_reason}" if result.stopped_reason else ""),
            **counts,
        )
        return counts


class ExportSummaryOperator(ReverseScheduleOperator):
    """The run's figures in the task log and the application log; closes the run's record."""

    ui_color = "#eaecee"

    def execute(self, context: Context) -> dict[str, Any]:
        _, schedule, source, engine, app_log = self.setup(context)
        run_id = context["run_id"]
        summary = export_summary(engine, schedule.name, source.name, run_id)
        addresses = summary["addresses"]
        failed = addresses["failed"] + sum(v.get("Error", 0) for k, v in summary["items_by_kind"].items() if k != "ip")
        if summary["run"]["stopped_reason"] or addresses["queued"]:
            status = "stopped"
        else:
            status = "complete_with_errors" if failed else "complete"
        with engine.begin() as conn:
            store.update_run(conn, schedule.name, run_id, status=status, finished_at=func.now())
            store.save_state(
                conn,
                schedule.name,
                source.name,
                last_run_id=run_id,
                last_run_at=func.now(),
                last_status=status,
                last_counts={**addresses, "not_scanned": summary["not_scanned"]},
                updated_at=func.now(),
            )
        summary = export_summary(engine, schedule.name, source.name, run_id)
        self.log.info("\n%s", render_export(summary))
        app_log.info("scheduler", f"CMDB → Qualys schedule {schedule.name} finished: {status}", **addresses)
        return {"status": status, **addresses, "not_scanned": summary["not_scanned"]}


# ---------------------------------------------------------------------------------------------- housekeeping
class _QualysSourceTask(SourceOperator):
    """Run one library function with the source's Qualys hook; log its outcome in the application log."""

    component = ""

    def work(self, engine: Any, hook: QualysHook, source: str) -> Any:
        raise NotImplementedError

    def describe(self, result: Any) -> str:
        raise NotImplementedError

    def execute(self, context: Context) -> dict[str, Any]:
        config, source, engine, app_log = self.setup(context)
        hook = QualysHook.for_source(source, config.properties)
        try:
            result = self.work(engine, hook, source.name)
        finally:
            hook.close()
        app_log.info(self.component, self.describe(result))
        return asdict(result)


class FetchTagsOperator(_QualysSourceTask):
    """Fetch the source's Qualys asset tags into staging (HK-1)."""

    ui_color = "#e8daef"
    component = "tags"

    def work(self, engine: Any, hook: QualysHook, source: str) -> Any:
        return fetch_tags(engine, hook, source)

    def describe(self, result: Any) -> str:
        return f"{result.count} Qualys tag(s) fetched with {result.api_calls} API call(s)"


class FetchAssetGroupsOperator(_QualysSourceTask):
    """Fetch the source's Qualys asset groups into staging (HK-2)."""

    ui_color = "#e8daef"
    component = "asset groups"

    def work(self, engine: Any, hook: QualysHook, source: str) -> Any:
        return fetch_asset_groups(engine, hook, source)

    def describe(self, result: Any) -> str:
        return f"{result.count} asset group(s) fetched with {result.api_calls} API call(s)"


class HostIdUpdaterOperator(_QualysSourceTask):
    """Record the Qualys host ids of pushed addresses that Qualys has scanned since (HK-6)."""

    ui_color = "#e8daef"
    component = "host-id updater"

    def work(self, engine: Any, hook: QualysHook, source: str) -> Any:
        return update_host_ids(engine, hook, source)

    def describe(self, result: Any) -> str:
        return (
            f"{result.found} of {result.checked} pushed address(es) now have a Qualys host id; "
            f"{result.not_scanned} pushed but not scanned yet"
        )
