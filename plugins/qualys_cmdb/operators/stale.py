"""Thin Airflow operator of BY-7: retire the CIs of a schedule's stale assets (and reinstate those that came back)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from qualys_cmdb.hooks.servicenow import ServiceNowHook
from qualys_cmdb.load.stale import RetirementRules, render, retire_stale_cis
from qualys_cmdb.operators.base import ScheduleOperator

if TYPE_CHECKING:
    from airflow.sdk import Context


class RetireStaleCisOperator(ScheduleOperator):
    """After the load: mark the CIs of assets Qualys has not modified for the schedule's ``stale_after_days`` as
    Absent (or Retired), when only this sync looks after them; returns the counts by verdict."""

    ui_color = "#e5e8e8"

    def execute(self, context: Context) -> dict[str, int]:
        config, schedule, _, engine, app_log = self.setup(context)
        if not schedule.retire_stale_cis or schedule.stale_after_days is None:  # the file changed since the parse
            self.log.warning("schedule %s no longer asks to retire stale CIs: nothing done", schedule.name)
            return {}
        hook = ServiceNowHook.for_properties(config.properties)
        try:
            rules = RetirementRules.of(schedule.stale_ci_status, hook)
            result = retire_stale_cis(engine, hook, schedule.name, schedule.stale_after_days, rules, app_log)
        finally:
            hook.close()
        self.log.info("\n%s", render(result))
        return {**result.counts(), "cmdb_calls": result.cmdb_calls}
