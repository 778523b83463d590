"""Build one Airflow DAG per active Qualys → CMDB schedule of the configuration (cheap: no I/O, no Airflow calls)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import DAG, CronDataIntervalTimetable, DeltaDataIntervalTimetable, Param, TriggerRule

from qualys_cmdb.config import QualysCmdbConfig, Schedule, load_config
from qualys_cmdb.operators.classify import ClassifyAssetsOperator
from qualys_cmdb.operators.cmdb import (
    ApproveOrWaitOperator,
    BatchApprovalOperator,
    LoadCmdbOperator,
    RunSummaryOperator,
)
from qualys_cmdb.operators.intake import FetchAssetsOperator, ParseResponsesOperator, StageAssetsOperator

DEFAULT_START = datetime(2020, 1, 1, tzinfo=UTC)


def _ui_base() -> str:
    """Airflow's own address, for links in approval messages (read from its configuration, no I/O)."""
    from airflow.configuration import conf

    return str(conf.get("api", "base_url", fallback="")).rstrip("/")


def _timetable(schedule: Schedule) -> Any:
    spec = schedule.timetable_spec()
    if spec is None:
        return None
    if isinstance(spec, timedelta):
        return DeltaDataIntervalTimetable(spec)
    return CronDataIntervalTimetable(spec, timezone="UTC")


def intake_dag(config: QualysCmdbConfig, schedule: Schedule, config_path: str | None = None) -> DAG:
    """The ``qualys_to_cmdb__<name>`` DAG: fetch → parse (mapped) → stage → classify → approve → load → summary."""
    source = config.source(schedule.source)
    doc = (
        f"Qualys → CMDB sync **{schedule.name}** from source **{source.name}** ({source.api}).\n\n"
        f"Interval: `{schedule.interval or 'manual'}` · Download assets since: "
        f"`{schedule.download_assets_since or 'everything'}` · QQL: `{schedule.qql_filter or '-'}` · "
        f"tag: `{schedule.tag_filter or '-'}` · details: {schedule.details.model_dump()}\n\n"
        "Trigger with `since` (ISO date-time) to re-sync assets modified after that moment; "
        "`airflow backfill create` re-syncs past intervals."
    )
    with DAG(
        dag_id=schedule.dag_id,
        schedule=_timetable(schedule),
        start_date=schedule.download_assets_since or DEFAULT_START,
        catchup=False,
        max_active_runs=1,  # runs of one schedule share its cursor and watermark
        tags=["qualys-cmdb", f"source:{source.name}"],
        doc_md=doc,
        params={
            "since": Param(
                None,
                type=["null", "string"],
                format="date-time",
                description="Re-sync assets modified after this moment (ISO 8601); empty: the normal window.",
            )
        },
        default_args={"retries": 1, "retry_delay": timedelta(minutes=1)},
    ) as dag:
        common: dict[str, Any] = {"schedule_name": schedule.name, "config_path": config_path}
        fetch = FetchAssetsOperator(task_id="fetch", **common)
        parse = ParseResponsesOperator.partial(task_id="parse", **common).expand(queue_ids=fetch.output)
        stage = StageAssetsOperator(task_id="stage", trigger_rule=TriggerRule.NONE_FAILED, **common)
        classify = ClassifyAssetsOperator(task_id="classify", **common)
        approve: Any
        if schedule.batch_approval and not schedule.auto_approve:
            approve = BatchApprovalOperator(
                task_id="approve_batch",
                subject=f"Qualys → CMDB {schedule.name}: approve this run's assets?",
                body=(
                    "{{ ti.xcom_pull(task_ids='classify')['pending'] }} asset(s) of this run wait for approval "
                    "({{ ti.xcom_pull(task_ids='classify')['failed'] }} failed classification). "
                    "By class: {{ ti.xcom_pull(task_ids='classify')['by_class'] }}.\n\n"
                    "Approve writes them to the CMDB; Reject keeps them out. Run: "
                    f"{_ui_base()}/dags/{schedule.dag_id}/runs/{{{{ run_id }}}}"
                ),
                response_timeout=timedelta(minutes=schedule.approval_wait_minutes or 60),
                **common,
            )
        else:
            approve = ApproveOrWaitOperator(task_id="approve_or_wait", **common)
        load = LoadCmdbOperator(task_id="load", **common)
        summary = RunSummaryOperator(task_id="summary", trigger_rule=TriggerRule.NONE_FAILED, **common)
        fetch >> parse >> stage >> classify >> approve >> load >> summary
    return dag


def build_dags(config_path: str | None = None, only: str | None = None) -> dict[str, DAG]:
    """Every DAG of the configuration, by id; ``only`` limits it to one DAG id (worker-side parsing)."""
    config = load_config(config_path)
    dags = {}
    for schedule in config.active_intake_schedules():
        if only and schedule.dag_id != only:
            continue
        dags[schedule.dag_id] = intake_dag(config, schedule, config_path)
    return dags
