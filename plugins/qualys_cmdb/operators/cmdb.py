"""Thin Airflow operators for the CMDB side: approve_or_wait and load."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from qualys_cmdb.approval.decisions import auto_approve, counts
from qualys_cmdb.classify.mappings import load_mappings
from qualys_cmdb.hooks.servicenow import ServiceNowHook
from qualys_cmdb.load.ire import load_approved, preview_pending
from qualys_cmdb.operators.base import ScheduleOperator
from qualys_cmdb.triggers.approvals import PendingApprovalsTrigger

if TYPE_CHECKING:
    from airflow.sdk import Context


class ApproveOrWaitOperator(ScheduleOperator):
    """Auto-approve (SY-5), or defer until people decide this run's pending assets or the wait limit passes."""

    ui_color = "#fadbd8"

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
        hook = ServiceNowHook(config.properties.cmdb_connection_id)
        try:  # BY-2: show reviewers what IRE would do with each asset
            preview_pending(engine, hook, load_mappings(), schedule.name, config.properties.ire_batch_size)
        finally:
            hook.close()
        deadline = datetime.now(UTC) + timedelta(minutes=schedule.approval_wait_minutes)
        app_log.info(
            "approval",
            f"manual approval: waiting for decisions on {pending} asset(s) until {deadline:%Y-%m-%d %H:%M} UTC",
        )
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
        config, schedule, _, engine, app_log = self.setup(context)
        if config.properties.insertion_method != "ire":
            raise ValueError(
                "insertion_method transform_map is not available yet; set properties.insertion_method: ire"
            )
        hook = ServiceNowHook(config.properties.cmdb_connection_id)
        try:
            result = load_approved(engine, hook, load_mappings(), schedule.name, config.properties.ire_batch_size)
        finally:
            hook.close()
        out: dict[str, object] = {
            "sent": result.sent,
            "loaded": result.loaded,
            "failed": result.failed,
            "cmdb_calls": result.calls,
            "operations": result.operations,
            "errors": result.errors,
        }
        app_log.info(
            "load",
            f"identification engine: {result.loaded} loaded, {result.failed} failed, {result.calls} CMDB call(s)",
            **out,
        )
        return out
