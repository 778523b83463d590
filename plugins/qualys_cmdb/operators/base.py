"""The common base of the package's operators: a schedule's configuration, the staging engine, the application log."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from qualys_cmdb.config import QualysCmdbConfig, ReverseSchedule, Schedule, Source, load_config
from qualys_cmdb.staging import store
from qualys_cmdb.staging.database import get_engine
from qualys_cmdb.staging.migrate import is_current, upgrade
from qualys_cmdb.staging.terminated import StepKey, StepRun, tracked_step

if TYPE_CHECKING:
    from airflow.sdk import Context
    from sqlalchemy import Engine


class ScheduleOperator(BaseOperator):
    """Common set-up: the schedule's configuration, the staging engine and the application log."""

    template_fields: Sequence[str] = ("schedule_name",)

    def __init__(self, *, schedule_name: str, config_path: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.schedule_name = schedule_name
        self.config_path = config_path

    def setup(self, context: Context) -> tuple[QualysCmdbConfig, Schedule, Source, Engine, store.AppLog]:
        config = load_config(self.config_path)
        schedule = config.schedule(self.schedule_name)
        source = config.source(schedule.source)
        engine = get_engine()
        if not is_current(engine):
            upgrade(engine)
        app_log = store.AppLog(engine, source.name, schedule.name, context["run_id"], config.properties.debug_logging)
        return config, schedule, source, engine, app_log


def tracked(context: Context, engine: Engine, schedule: str, source: str | None) -> AbstractContextManager[StepRun]:
    """Run the task's step under the terminated-runs bookkeeping (HK-4): the step is the task id; Airflow is asked
    (through the Task SDK) whether steps left open by other runs still run."""
    from qualys_cmdb.hooks.airflow_tasks import task_states

    ti = context["ti"]
    map_index = getattr(ti, "map_index", None)
    key = StepKey(
        schedule=schedule,
        run_id=context["run_id"],
        step=ti.task_id,
        dag_id=ti.dag_id,
        task_id=ti.task_id,
        source=source,
        map_index=-1 if map_index is None else int(map_index),
        try_number=int(getattr(ti, "try_number", None) or 1),
    )
    return tracked_step(engine, key, task_states)


def _engine() -> Engine:
    engine = get_engine()
    if not is_current(engine):
        upgrade(engine)
    return engine


class ReverseScheduleOperator(BaseOperator):
    """Common set-up of a CMDB → Qualys schedule's tasks."""

    template_fields: Sequence[str] = ("schedule_name",)

    def __init__(self, *, schedule_name: str, config_path: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.schedule_name = schedule_name
        self.config_path = config_path

    def setup(self, context: Context) -> tuple[QualysCmdbConfig, ReverseSchedule, Source, Engine, store.AppLog]:
        config = load_config(self.config_path)
        schedule = config.reverse_schedule(self.schedule_name)
        source = config.source(schedule.source)
        engine = _engine()
        app_log = store.AppLog(engine, source.name, schedule.name, context["run_id"], config.properties.debug_logging)
        return config, schedule, source, engine, app_log


class SourceOperator(BaseOperator):
    """Common set-up of a housekeeping task that works on one Qualys source."""

    template_fields: Sequence[str] = ("source_name",)

    def __init__(self, *, source_name: str, config_path: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.source_name = source_name
        self.config_path = config_path

    def setup(self, context: Context) -> tuple[QualysCmdbConfig, Source, Engine, store.AppLog]:
        config = load_config(self.config_path)
        source = config.source(self.source_name)
        engine = _engine()
        app_log = store.AppLog(engine, source.name, None, context["run_id"], config.properties.debug_logging)
        return config, source, engine, app_log
