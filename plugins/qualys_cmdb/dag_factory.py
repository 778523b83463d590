"""Build the DAGs of the configuration (cheap: no I/O, no Airflow calls).

* one ``qualys_to_cmdb__<name>`` DAG per active Qualys → CMDB schedule;
* one ``cmdb_to_qualys__<name>`` DAG per active CMDB → Qualys schedule;
* the housekeeping DAGs: ``qualys_asset_tags`` and ``qualys_asset_groups`` (daily, HK-1, HK-2),
  ``qualys_host_id_updater`` (hourly, HK-6), ``qualys_software_catalog`` (every 4 h, HK-5) and
  ``qualys_queue_cleanup`` (daily, HK-3); each one's frequency is
  ``properties.housekeeping_schedules`` (HK-8).

Every task has an ``execution_timeout`` from the configuration (:func:`step_timeout`, :func:`lifetime_timeout`,
:func:`approval_timeout`): a backstop that fails a task stuck where no other limit reaches, so that its retry, or
the next run, carries on from what was stored.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import DAG, CronDataIntervalTimetable, DeltaDataIntervalTimetable, Param, TriggerRule

from qualys_cmdb.config import Properties, QualysCmdbConfig, ReverseSchedule, Schedule, load_config
from qualys_cmdb.hooks.qualys import RetryPolicy
from qualys_cmdb.operators.catalog import SoftwareCatalogOperator
from qualys_cmdb.operators.classify import ClassifyAssetsOperator
from qualys_cmdb.operators.cmdb import (
    APPROVALS_PAGE,
    ApproveOrWaitOperator,
    BatchApprovalOperator,
    LoadCmdbOperator,
    OverviewFiguresOperator,
    RunSummaryOperator,
)
from qualys_cmdb.operators.export import (
    ExportSummaryOperator,
    FetchAssetGroupsOperator,
    FetchTagsOperator,
    HostIdUpdaterOperator,
    QueueUploadsOperator,
    SelectCisOperator,
    UploadToQualysOperator,
)
from qualys_cmdb.operators.housekeeping import QueueCleanupOperator
from qualys_cmdb.operators.intake import (
    ContinueSyncOperator,
    FetchAssetsOperator,
    ParseResponsesOperator,
    StageAssetsOperator,
)
from qualys_cmdb.operators.stale import RetireStaleCisOperator

DEFAULT_START = datetime(2020, 1, 1, tzinfo=UTC)
#: Room beyond the computed limits, for a task's start-up and for storing what it fetched.
TIMEOUT_MARGIN = timedelta(minutes=5)


def step_timeout(properties: Properties) -> timedelta:
    """The execution timeout of a step with no time limit of its own (``task_timeout_minutes``)."""
    return timedelta(minutes=properties.task_timeout_minutes)


def lifetime_timeout(properties: Properties) -> timedelta:
    """The execution timeout of fetch and upload, which stop by themselves at the max transaction lifetime (PR-3).

    When the lifetime passes they still finish the Qualys call in flight: it may first wait out a spent rate window
    (up to the retry policy's ``max_wait_s``; a longer wait ends the run instead) and then take up to the API
    timeout (PR-4), which bounds the whole exchange. A call that keeps failing beyond that is cut by this timeout;
    the task's retry resumes from the stored cursor.
    """
    return (
        timedelta(minutes=properties.max_transaction_lifetime_minutes)
        + timedelta(seconds=RetryPolicy().max_wait_s)
        + timedelta(milliseconds=properties.api_timeout_ms)
        + TIMEOUT_MARGIN
    )


def approval_timeout(properties: Properties, schedule: Schedule) -> timedelta:
    """The execution timeout of ``approve_or_wait``, which defers while people decide.

    In Airflow 3.3 ``execution_timeout`` bounds each stretch of the task's own code (the IRE preview before it
    defers, ``execute_complete`` after), not the deferral, which ``defer(timeout=...)`` bounds (the task runner
    marks counting the deferral as a to-do). The wait is added all the same, so an Airflow that does count it
    still lets the wait run to its end.
    """
    return step_timeout(properties) + timedelta(minutes=schedule.approval_wait_minutes, seconds=60)


def _ui_base() -> str:
    """Airflow's own address, for links in approval messages (read from its configuration, no I/O)."""
    from airflow.configuration import conf

    return str(conf.get("api", "base_url", fallback="")).rstrip("/")


def _timetable(schedule: Schedule | ReverseSchedule) -> Any:
    spec = schedule.timetable_spec()
    if spec is None:
        return None
    if isinstance(spec, timedelta):
        return DeltaDataIntervalTimetable(spec)
    return CronDataIntervalTimetable(spec, timezone="UTC")


def _code(value: str | None) -> str:
    """``value`` as a Markdown code span in the DAG's doc, whatever it holds: the fence is one backtick longer than
    the longest run of backticks in it (CommonMark), so a filter never ends the span and turns into markup."""
    if not value:
        return "`-`"
    longest = max((len(run) for run in re.findall(r"`+", value)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if value.startswith("`") or value.endswith("`") else ""
    return f"{fence}{pad}{value}{pad}{fence}"


def intake_dag(config: QualysCmdbConfig, schedule: Schedule, config_path: str | None = None) -> DAG:
    """The ``qualys_to_cmdb__<name>`` DAG: fetch → parse (mapped) → stage → classify → approve → load
    [→ retire_stale_cis, when the schedule asks for it] → summary; beside classify → … → load, stage →
    overview_figures → summary."""
    source = config.source(schedule.source)
    doc = (
        f"Qualys → CMDB sync **{schedule.name}** from source **{source.name}** ({source.api}).\n\n"
        f"Interval: `{schedule.interval or 'manual'}` · Download assets since: "
        f"`{schedule.download_assets_since or 'everything'}` · QQL: {_code(schedule.qql_filter)} · "
        f"tag: {_code(schedule.tag_filter)} · details: {schedule.details.model_dump()}\n\n"
        "Trigger with `since` (ISO date-time) to re-sync assets modified after that moment; "
        "`airflow backfill create` re-syncs past intervals."
        + (
            f"\n\nPage groups: a run fetches at most {schedule.pages_per_run} page(s), then `continue_sync` starts the "
            "next run, which fetches the next group while this one parses, stages, classifies and loads its own."
            if schedule.pages_per_run
            else ""
        )
    )
    with DAG(
        dag_id=schedule.dag_id,
        schedule=_timetable(schedule),
        start_date=schedule.download_assets_since or DEFAULT_START,
        catchup=False,
        # One run at a time keeps a schedule's runs in order; with page groups, two: one loading while the next one
        # fetches (the steps themselves are serialised in the database, so two runs never do the same step at once).
        max_active_runs=2 if schedule.pages_per_run else 1,
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
        default_args={
            "retries": 1,
            "retry_delay": timedelta(minutes=1),
            "execution_timeout": step_timeout(config.properties),
        },
    ) as dag:
        common: dict[str, Any] = {"schedule_name": schedule.name, "config_path": config_path}
        fetch = FetchAssetsOperator(task_id="fetch", execution_timeout=lifetime_timeout(config.properties), **common)
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
                    f"{_ui_base()}/dags/{schedule.dag_id}/runs/{{{{ run_id }}}}\n\n"
                    "To decide them one by one instead, open Approve assets for this run: "
                    f"{_ui_base()}{APPROVALS_PAGE}?run={{{{ run_id | urlencode }}}}&schedule={schedule.name}"
                ),
                # HITL waits for people under response_timeout (the scheduler enforces it); execution_timeout
                # only bounds its code before and after the wait. Given both, neither is moved into the other.
                response_timeout=timedelta(minutes=schedule.approval_wait_minutes or 60),
                execution_timeout=step_timeout(config.properties),
                **common,
            )
        else:
            approve = ApproveOrWaitOperator(
                task_id="approve_or_wait", execution_timeout=approval_timeout(config.properties, schedule), **common
            )
        load = LoadCmdbOperator(task_id="load", **common)
        summary = RunSummaryOperator(task_id="summary", trigger_rule=TriggerRule.NONE_FAILED, **common)
        # the Overview's figures of staged data are final once stage is done: counted beside classify and load
        figures = OverviewFiguresOperator(task_id="overview_figures", **common)
        fetch >> parse >> stage >> classify >> approve >> load
        stage >> figures >> summary
        if schedule.pages_per_run:  # page groups: the next run fetches while this one goes on
            fetch >> ContinueSyncOperator(task_id="continue_sync", dag_id=schedule.dag_id)
        if schedule.retire_stale_cis:  # BY-7, opt-in: after the load (which may have brought assets back)
            retire = RetireStaleCisOperator(task_id="retire_stale_cis", trigger_rule=TriggerRule.NONE_FAILED, **common)
            load >> retire >> summary
        else:
            load >> summary
    return dag


def reverse_dag(config: QualysCmdbConfig, schedule: ReverseSchedule, config_path: str | None = None) -> DAG:
    """The ``cmdb_to_qualys__<name>`` DAG: select → queue → upload → summary."""
    assignment = schedule.assignment
    doc = (
        f"CMDB → Qualys sync **{schedule.name}** into source **{schedule.source}**.\n\n"
        f"Table `{schedule.table}` · query `{schedule.query or '(all CIs with an address)'}` · tracking "
        f"`{schedule.tracking_method}` · VM {'on' if schedule.enable_vm else '**off**'} · PC "
        f"{'on' if schedule.enable_pc else 'off'} · "
        + (f"{assignment[0]} `{assignment[1]}`" if assignment else "no tag or group")
        + f" · upload batch size {config.properties.upload_batch_size}\n\n"
        "Addresses Qualys already has are skipped, never overwritten; each address's fate is in the upload "
        "queue (`qcmdb uploads list`)."
    )
    with DAG(
        dag_id=schedule.dag_id,
        schedule=_timetable(schedule),
        start_date=DEFAULT_START,
        catchup=False,
        max_active_runs=1,  # runs of one schedule share its upload queue
        tags=["qualys-cmdb", "cmdb-to-qualys", f"source:{schedule.source}"],
        doc_md=doc,
        default_args={
            "retries": 1,
            "retry_delay": timedelta(minutes=1),
            "execution_timeout": step_timeout(config.properties),
        },
    ) as dag:
        common: dict[str, Any] = {"schedule_name": schedule.name, "config_path": config_path}
        select = SelectCisOperator(task_id="select", **common)
        queue = QueueUploadsOperator(task_id="queue", **common)
        upload = UploadToQualysOperator(
            task_id="upload", execution_timeout=lifetime_timeout(config.properties), **common
        )
        summary = ExportSummaryOperator(task_id="summary", trigger_rule=TriggerRule.NONE_FAILED, **common)
        select >> queue >> upload >> summary
    return dag


def _housekeeping_dag(dag_id: str, doc: str, properties: Properties) -> DAG:
    """A housekeeping DAG, run as often as ``properties.housekeeping_schedules`` says (HK-8)."""
    return DAG(
        dag_id=dag_id,
        schedule=properties.housekeeping_schedules.timetable_spec(dag_id),
        start_date=DEFAULT_START,
        catchup=False,
        max_active_runs=1,
        tags=["qualys-cmdb", "housekeeping"],
        doc_md=doc,
        default_args={
            "retries": 1,
            "retry_delay": timedelta(minutes=5),
            "execution_timeout": step_timeout(properties),
        },
    )


def housekeeping_dags(config: QualysCmdbConfig, config_path: str | None = None) -> dict[str, DAG]:
    """The reference-data DAGs (HK-1, HK-2) and the host-id updater (HK-6) for the active sources."""
    sources = [s.name for s in config.sources if s.active]
    dags: dict[str, DAG] = {}
    if "qualys_queue_cleanup" in config.housekeeping_dag_ids():
        dags["qualys_queue_cleanup"] = queue_cleanup_dag(config, config_path)
    if not sources:
        return dags
    with _housekeeping_dag(
        "qualys_asset_tags", "Fetch every source's Qualys asset tags into staging (HK-1).", config.properties
    ) as dag:
        for name in sources:
            FetchTagsOperator(task_id=f"fetch_tags__{name}", source_name=name, config_path=config_path)
    dags[dag.dag_id] = dag
    if config.properties.allow_asset_group_sync:
        with _housekeeping_dag(
            "qualys_asset_groups",
            "Fetch every source's Qualys asset groups into staging (HK-2).",
            config.properties,
        ) as dag:
            for name in sources:
                FetchAssetGroupsOperator(task_id=f"fetch_groups__{name}", source_name=name, config_path=config_path)
        dags[dag.dag_id] = dag
    pushing = sorted({s.source for s in config.schedules if isinstance(s, ReverseSchedule)} & set(sources))
    if pushing:
        with _housekeeping_dag(
            "qualys_host_id_updater",
            "Record the Qualys host ids of addresses pushed by CMDB → Qualys schedules once Qualys has scanned "
            "them, and count those not scanned yet (HK-6).",
            config.properties,
        ) as dag:
            for name in pushing:
                HostIdUpdaterOperator(task_id=f"update_host_ids__{name}", source_name=name, config_path=config_path)
        dags[dag.dag_id] = dag
    if "qualys_software_catalog" in config.housekeeping_dag_ids():
        dags["qualys_software_catalog"] = software_catalog_dag(config, config_path)
    return dags


def software_catalog_dag(config: QualysCmdbConfig, config_path: str | None = None) -> DAG:
    """``qualys_software_catalog`` (SRC-5, HK-5): one task per active source with ``sync_software_catalog``."""
    sources = [s for s in config.sources if s.active and s.sync_software_catalog]
    doc = (
        "Pull each source's software catalog from the CSAM asset inventory (software only, "
        f"{config.properties.software_catalog_page_size} assets a page) into staging, de-duplicated per product with "
        "its lifecycle, license and category; sources with `sync_software_catalog_to_cmdb` get their new and "
        "changed products written to the CMDB's Software table (cmdb_ci_spkg). `qcmdb catalog status` shows each "
        "source's last sync time, key and notes (SRC-5, HK-5)."
    )
    with _housekeeping_dag("qualys_software_catalog", doc, config.properties) as dag:
        for src in sources:
            SoftwareCatalogOperator(
                task_id=f"software_catalog__{src.name}",
                source_name=src.name,
                config_path=config_path,
                execution_timeout=lifetime_timeout(config.properties) + step_timeout(config.properties),
            )
    return dag


def queue_cleanup_dag(config: QualysCmdbConfig, config_path: str | None = None) -> DAG:
    """``qualys_queue_cleanup`` (HK-3): processed sync-queue records, old log entries and superseded upload items
    leave staging after their retention."""
    props = config.properties
    doc = (
        "Remove processed sync-queue records (Success after "
        f"{props.queue_retention_success_days} days, Error after {props.queue_retention_error_days} days) with their "
        f"stored responses and landing rows, application-log entries after {props.app_log_retention_days} days and "
        f"superseded upload items after {props.upload_item_retention_days} days (HK-3). Batches of short "
        "transactions that skip what a running sync holds; `qcmdb queue cleanup --dry-run` shows what would go."
    )
    with _housekeeping_dag("qualys_queue_cleanup", doc, props) as dag:
        QueueCleanupOperator(task_id="cleanup", config_path=config_path)
    return dag


def build_dags(config_path: str | None = None, only: str | None = None) -> dict[str, DAG]:
    """Every DAG of the configuration, by id; ``only`` limits it to one DAG id (worker-side parsing)."""
    config = load_config(config_path)
    dags = {}
    for schedule in config.active_intake_schedules():
        if only and schedule.dag_id != only:
            continue
        dags[schedule.dag_id] = intake_dag(config, schedule, config_path)
    for reverse in config.active_reverse_schedules():
        if only and reverse.dag_id != only:
            continue
        dags[reverse.dag_id] = reverse_dag(config, reverse, config_path)
    if not only or (only.startswith("qualys_") and "__" not in only):
        for dag_id, dag in housekeeping_dags(config, config_path).items():
            if not only or dag_id == only:
                dags[dag_id] = dag
    return dags
