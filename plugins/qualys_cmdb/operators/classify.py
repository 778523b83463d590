"""Thin Airflow operator for *classify*: mappings as code applied set-based to the schedule's changed assets."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.sdk.exceptions import AirflowFailException

from qualys_cmdb.classify.classify import classify_assets
from qualys_cmdb.classify.mappings import MappingError, load_mappings
from qualys_cmdb.operators.base import ScheduleOperator

if TYPE_CHECKING:
    from airflow.sdk import Context


class ClassifyAssetsOperator(ScheduleOperator):
    """Classify the assets staged or changed since their last classification; returns the counts."""

    ui_color = "#e8daef"

    def execute(self, context: Context) -> dict[str, object]:
        _, schedule, source, engine, app_log = self.setup(context)
        try:
            mappings = load_mappings()  # a mapping error fails here, before anything is written
        except MappingError as exc:
            app_log.error("classify", str(exc))
            raise AirflowFailException(f"{exc}\nFix the mapping files, then clear this task.") from None
        result = classify_assets(
            engine,
            mappings,
            schedule=schedule.name,
            source=source.name,
            run_id=context["run_id"],
            class_override=schedule.target_class,
        )
        counts: dict[str, object] = {
            "classified": result.classified,
            "pending": result.pending,
            "failed": result.failed,
            "unchanged_since_load": result.unchanged_since_load,
            "class_conflicts": result.conflicts,
            "by_class": result.by_class,
            "mapping_version": mappings.version,
        }
        app_log.write(
            "warning" if result.conflicts else "info",
            "classify",
            f"classified {result.classified} asset(s): {result.pending} to approve, "
            f"{result.failed} failed, {result.unchanged_since_load} unchanged since their last load"
            + (
                f"; {result.conflicts} held because another schedule of the source gives them another class"
                if result.conflicts
                else ""
            ),
            **counts,
        )
        return counts
