"""Thin Airflow operator for *classify*: mappings as code applied set-based to the schedule's changed assets."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.sdk.exceptions import AirflowFailException

from qualys_cmdb.classify.batches import classify_in_batches
from qualys_cmdb.classify.mappings import MappingError, load_mappings
from qualys_cmdb.lifetime import Lifetime
from qualys_cmdb.operators.base import ScheduleOperator, tracked

if TYPE_CHECKING:
    from airflow.sdk import Context


class ClassifyAssetsOperator(ScheduleOperator):
    """Classify the assets staged or changed since their last classification; returns the counts."""

    ui_color = "#e8daef"

    def execute(self, context: Context) -> dict[str, object]:
        config, schedule, source, engine, app_log = self.setup(context)
        try:
            mappings = load_mappings()  # a mapping error fails here, before anything is written
        except MappingError as exc:
            app_log.error("classify", str(exc))
            raise AirflowFailException(f"{exc}\nFix the mapping files, then clear this task.") from None
        with tracked(context, engine, schedule.name, source.name) as step:
            batched = classify_in_batches(
                engine,
                mappings,
                schedule=schedule.name,
                source=source.name,
                run_id=context["run_id"],
                class_override=schedule.target_class,
                lifetime=Lifetime.of(config.properties),
            )
            if batched.stopped_reason:  # PR-3: the assets not classified yet are the next run's classify's
                step.stopped(
                    batched.stopped_reason,
                    position={
                        "batches": batched.batches,
                        "classified": batched.result.classified,
                        "assets_left": batched.left,
                        "next_asset_id": batched.next_asset_id,
                    },
                    resumes=f"the next run classifies the {batched.left} staged asset(s) left, from asset id "
                    f"{batched.next_asset_id} on",
                )
                app_log.warning("classify", f"stopped: {batched.stopped_reason}", assets_left=batched.left)
        result = batched.result
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
