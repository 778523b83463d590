"""Thin Airflow operators for the CMDB side: approve_or_wait, load, the summary and the Overview's figures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlencode

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import BaseOperatorLink

from qualys_cmdb.approval.decisions import auto_approve, counts
from qualys_cmdb.classify.mappings import load_mappings
from qualys_cmdb.hooks.servicenow import ServiceNowHook
from qualys_cmdb.lifetime import Lifetime
from qualys_cmdb.load.ire import count_waiting, load_approved, preview_pending
from qualys_cmdb.load.transform_map import load_via_import_set
from qualys_cmdb.operators.base import ScheduleOperator, tracked
from qualys_cmdb.operators.intake import HANDED_OVER
from qualys_cmdb.triggers.approvals import PendingApprovalsTrigger

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.sdk.types import TaskInstanceKey

#: Where people decide a run's assets: the operator UI's Approve assets page (the plugin's app on the API server).
APPROVALS_PAGE = "/qualys-cmdb/approvals"


def approvals_page(run_id: str, schedule: str) -> str:
    """The absolute path of Approve assets filtered to one run of a schedule."""
    return f"{APPROVALS_PAGE}?{urlencode({'run': run_id, 'schedule': schedule})}"


def _ui_base() -> str:
    """Airflow's own address (``[api] base_url``), to make the path whole in a task log."""
    from airflow.configuration import conf

    return str(conf.get("api", "base_url", fallback="")).rstrip("/")


class ApprovalsPageLink(BaseOperatorLink):
    """The task's link (button) to Approve assets filtered to its run: where its pending assets are decided."""

    name = "Approve assets"

    def get_link(self, operator: Any, *, ti_key: TaskInstanceKey) -> str:
        return approvals_page(ti_key.run_id, str(getattr(operator, "schedule_name", "")))


class ApproveOrWaitOperator(ScheduleOperator):
    """Auto-approve (SY-5), or defer until people decide this run's pending assets or the wait limit passes.

    Its link "Approve assets" (and the message it logs when it starts waiting) opens the operator UI's Approve
    assets page filtered to its run."""

    ui_color = "#fadbd8"
    operator_extra_links = (ApprovalsPageLink(),)

    def execute(self, context: Context) -> dict[str, int]:
        config, schedule, _, engine, app_log = self.setup(context)
        if schedule.auto_approve:
            approved = auto_approve(engine, schedule.name)
            app_log.info("approval", f"auto-approval: {approved} asset(s) approved")
            return {"approved": approved}
        pending = counts(engine, schedule.name, context["run_id"]).get("pending", 0)
        if pending == 0 or schedule.approval_wait_minutes == 0:
            app_log.info("approval", f"manual approval: {pending} asset(s) of this run wait for a decision")
            return {"pending": pending}
        hook = ServiceNowHook.for_properties(config.properties)
        try:  # BY-2: show reviewers what IRE would do with each asset
            preview_pending(engine, hook, load_mappings(), schedule.name, config.properties.ire_batch_size)
        finally:
            hook.close()
        # the Overview shows what waits while people decide (its pending report opens that list); the staged data's
        # figures are counted beside this step (overview_figures)
        _count_report_figures(self.log, engine, app_log, context, schedule.name, what="decisions")
        deadline = datetime.now(UTC) + timedelta(minutes=schedule.approval_wait_minutes)
        page = approvals_page(context["run_id"], schedule.name)
        app_log.info(
            "approval",
            f"manual approval: waiting for decisions on {pending:,} asset(s) until {deadline:%Y-%m-%d %H:%M} UTC; "
            f"decide them in Approve assets: {page}",
            approvals=page,
        )
        self.log.info("Waiting for decisions on %d asset(s); decide them at %s%s", pending, _ui_base(), page)
        self.defer(
            trigger=PendingApprovalsTrigger(
                schedule.name, context["run_id"], deadline.isoformat(), schedule.approval_poll_seconds
            ),
            method_name="execute_complete",
            timeout=timedelta(minutes=schedule.approval_wait_minutes, seconds=60),
        )
        raise AssertionError("unreachable")  # pragma: no cover - defer raises

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, int]:
        _, schedule, _, engine, app_log = self.setup(context)
        state = counts(engine, schedule.name, context["run_id"])
        if event.get("status") == "wait_limit":
            app_log.warning(
                "approval", f"wait limit reached: {event.get('pending')} asset(s) stay pending for a later run"
            )
        else:
            app_log.info("approval", "every asset of this run is decided")
        return state


class LoadCmdbOperator(ScheduleOperator):
    """Write approved, changed assets to the CMDB through IRE (PR-5); returns the counts."""

    ui_color = "#d4efdf"

    def execute(self, context: Context) -> dict[str, object]:
        config, schedule, source, engine, app_log = self.setup(context)
        props = config.properties
        lifetime = Lifetime.of(props)
        with tracked(context, engine, schedule.name, source.name) as step:
            hook = ServiceNowHook.for_properties(props)
            try:
                if props.insertion_method == "ire":
                    result = load_approved(
                        engine,
                        hook,
                        load_mappings(),
                        schedule.name,
                        props.ire_batch_size,
                        concurrency=props.ire_concurrency,
                        source=source.name,
                        lifetime=lifetime,
                        group_run=context["run_id"] if schedule.pages_per_run else None,
                    )
                else:
                    result = load_via_import_set(
                        engine,
                        hook,
                        load_mappings(),
                        schedule.name,
                        config.transform_map_table(schedule),
                        props.copy_empty_fields,
                        source=source.name,
                        lifetime=lifetime,
                        group_run=context["run_id"] if schedule.pages_per_run else None,
                    )
            finally:
                hook.close()
            if result.stopped_reason:  # PR-3: the approved assets not sent wait for the next run's load
                left = count_waiting(engine, schedule.name)
                step.stopped(
                    result.stopped_reason,
                    position={"batches": result.batches, "sent": result.sent, "approved_left": left},
                    resumes=f"the next run sends the {left} approved asset(s) still waiting",
                )
                app_log.warning("load", f"stopped: {result.stopped_reason}", approved_left=left)
        method = "identification engine" if props.insertion_method == "ire" else "transform map"
        if props.insertion_method != "ire":
            method += f" {config.transform_map_table(schedule)}"
        for message, details in result.skipped.log_entries():  # guide 2.2: listed in the application log, once a load
            app_log.warning("load", message, **details)
            self.log.warning("%s", message)
        out: dict[str, object] = {
            "sent": result.sent,
            "loaded": result.loaded,
            "failed": result.failed,
            "cmdb_calls": result.calls,
            "operations": result.operations,
            "errors": result.errors,
            "shared_ci": result.shared_ci,
            "written_by_other_schedules": result.by_siblings,
            "detail_rows_not_sent": sum(sum(map(len, a.values())) for a in result.skipped.by_reason.values()),
        }
        if props.insertion_method == "ire":  # batches sent, and the most in flight at once (ire_concurrency)
            out["batches"] = result.batches
            out["peak_in_flight"] = result.peak_in_flight
        message = f"{method}: {result.loaded} loaded, {result.failed} failed, {result.calls} CMDB call(s)"
        if result.failed:
            # Refused items are work not done: a warning in both logs, and the run's summary step fails on them.
            app_log.warning("load", message, **out)
            self.log.warning("%s; errors by code: %s", message, result.errors)
            for asset, reason in result.refused[:20]:
                self.log.warning("asset %s refused: %s", asset, reason)
        else:
            app_log.info("load", message, **out)
        if result.switches:  # a CI changed class: never silent (a wrong match can turn a server into a UPS)
            switched = ", ".join(f"{asset} -> {ci}" for asset, ci in result.switches[:20])
            app_log.warning(
                "load", f"{len(result.switches)} CI(s) switched class (UPDATE_WITH_SWITCH): {switched}", **out
            )
            self.log.warning("%d CI(s) switched class (UPDATE_WITH_SWITCH): %s", len(result.switches), switched)
        return out


class BatchApprovalOperator(ApprovalOperator):
    """Airflow 3.3 HITL approval of a run's whole batch (QS-6): Approve or Reject in "Required actions".

    The answer is applied to the run's pending assets, recorded with the responder's name; Reject also skips the
    load. Without an answer by the response timeout, the assets stay pending for later runs. Its message and its
    link "Approve assets" lead to the run's assets in the operator UI, to decide them one by one instead.
    """

    operator_extra_links = (ApprovalsPageLink(),)

    def __init__(self, *, schedule_name: str, config_path: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.schedule_name = schedule_name
        self.config_path = config_path

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        from qualys_cmdb.approval.decisions import Decision, Selection, decide
        from qualys_cmdb.staging import store
        from qualys_cmdb.staging.database import get_engine

        chosen = (event.get("chosen_options") or [None])[0]
        user = event.get("responded_by_user") or {}
        if chosen in (self.APPROVE, self.REJECT) and user:
            engine = get_engine()
            decision: Decision = "approved" if chosen == self.APPROVE else "rejected"
            who = str(user.get("name") or user.get("id"))
            n = decide(
                engine,
                Selection(self.schedule_name, run_id=context["run_id"]),
                decision,
                who,
                note="batch decision in Airflow (Required actions)",
            )
            store.AppLog(engine, schedule=self.schedule_name, run_id=context["run_id"]).info(
                "approval", f"batch {decision} by {who}: {n} asset(s)"
            )
        return super().execute_complete(context, event)


class RunSummaryOperator(ScheduleOperator):
    """The run's figures (intake and CMDB) in the task log and the application log; returns them (counts only).

    Fails (without retry) when the run lost or had refused work: pages that could not be read, assets that could
    not be classified, assets the CMDB refused. A run is green only when everything it fetched got where it should.
    """

    ui_color = "#eaecee"

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowFailException

        from qualys_cmdb.summary import intake_summary, render, run_problems

        _, schedule, source, engine, app_log = self.setup(context)
        summary = intake_summary(engine, schedule.name, source.name)
        self.log.info("\n%s", render(summary))
        load = context["ti"].xcom_pull(task_ids="load")
        problems = run_problems(engine, schedule.name, context["run_id"], load if isinstance(load, dict) else None)
        app_log.write(
            "warning" if problems else "info",
            "scheduler",
            f"schedule {schedule.name} summary",
            last_run=summary["last_run"],
            cmdb_states=summary["cmdb"]["assets_by_state"],
            error_pages=problems.error_pages,
            classification_failures=problems.classification_failures,
            cmdb_refusals=problems.cmdb_refusals,
            shared_ci=problems.shared_ci,
        )
        _count_report_figures(self.log, engine, app_log, context, schedule.name)
        if problems:
            message = problems.message(schedule.name)
            self.log.error("%s", message)
            raise AirflowFailException(message)
        return {"staged_assets": summary["staged_assets"], "cmdb_states": summary["cmdb"]["assets_by_state"]}


#: What the Overview's report figures count at each point of a run (qualys_cmdb.ui.report_figures).
FigureCount = Literal["staged", "decisions", "run"]


class OverviewFiguresOperator(ScheduleOperator):
    """The Overview's figures of staged data, counted once the run has staged its assets, beside classify, approval
    and load: the summary then counts only what decisions changed. Never fails the run (the summary, a decision or
    Refresh counts what it could not)."""

    ui_color = "#eaecee"

    def execute(self, context: Context) -> None:
        _, schedule, _, engine, app_log = self.setup(context)
        _count_report_figures(self.log, engine, app_log, context, schedule.name, what="staged")


def _count_report_figures(
    log: Any, engine: Any, app_log: Any, context: Context, schedule: str, *, what: FigureCount = "run"
) -> None:
    """The Overview's figures (qualys_cmdb.ui.report_figures), counted now that the run's data is in: the page reads
    them instead of counting. ``what``: the reports of staged data (after stage), the reports decisions change (while
    an approval waits), or every report (the summary; what the run did not change since is kept). A failure to count
    them never fails the run (the next run, a decision or Refresh counts them). A run that handed over to the next
    page group's run leaves them to it (at 50,000 assets a count is some 25 s of the database's time, which the next
    group's run needs)."""
    from qualys_cmdb.ui.report_figures import DECISION_REPORTS, refresh, refresh_after_run, refresh_after_stage

    if context["ti"].xcom_pull(task_ids="fetch", key=HANDED_OVER):
        log.info("the Overview's report figures are counted by the run of the next page group")
        return
    by = f"run {context['run_id']} of {schedule}"
    try:
        if what == "staged":
            done = refresh_after_stage(engine, by=f"{by}, once staged")
        elif what == "decisions":
            done = refresh(engine, by=by, reports=DECISION_REPORTS)
        else:
            done = refresh_after_run(engine, by=by)
    except Exception as exc:
        log.warning("the Overview's report figures could not be counted: %s", exc)
        app_log.warning("scheduler", f"the Overview's report figures could not be counted: {exc}")
        return
    log.info("%s", done.describe())
