"""What a schedule's last run did and what is staged: the figures `qcmdb summary` and the demo print."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Column, Connection, Engine, func, literal_column, select

from qualys_cmdb.classify.classify import CLASSIFICATION_FAILURES
from qualys_cmdb.staging.schema import (
    STAGED_CHILDREN,
    app_log,
    asset_classification,
    staged_asset,
    staged_software,
    sync_queue,
    sync_run,
)


def _count_by(conn: Connection, source: str, column: Column[Any]) -> list[Any]:
    """Staged assets of ``source`` counted by a column of a one-row-per-asset detail table."""
    detail = column.table
    joined = staged_asset.outerjoin(
        detail, (detail.c.source == staged_asset.c.source) & (detail.c.asset_id == staged_asset.c.asset_id)
    )
    return list(
        conn.execute(
            select(func.coalesce(column, "(unknown)"), func.count())
            .select_from(joined)
            .where(staged_asset.c.source == source)
            .group_by(column)
            .order_by(func.count().desc())
        ).all()
    )


def intake_summary(engine: Engine, schedule: str, source: str) -> dict[str, Any]:
    """Counts of the schedule's latest run and of the source's staged assets."""
    installs = STAGED_CHILDREN["software_install"]
    with engine.connect() as conn:
        run = (
            conn.execute(
                select(sync_run).where(sync_run.c.schedule == schedule).order_by(sync_run.c.started_at.desc()).limit(1)
            )
            .mappings()
            .first()
        )
        by_os = _count_by(conn, source, STAGED_CHILDREN["os"].c.os_category_1)
        by_hw = _count_by(conn, source, STAGED_CHILDREN["hardware"].c.hardware_category_1)
        staged = conn.execute(select(func.count()).where(staged_asset.c.source == source)).scalar_one()
        software_rows = conn.execute(select(func.count()).where(installs.c.source == source)).scalar_one()
        catalog = conn.execute(select(func.count()).select_from(staged_software)).scalar_one()
        cmdb = _cmdb(conn, schedule)
        queue: dict[str, int] = dict(
            conn.execute(
                select(sync_queue.c.status, func.count())
                .where(sync_queue.c.schedule == schedule)
                .group_by(sync_queue.c.status)
            ).all()
        )
    return {
        "schedule": schedule,
        "source": source,
        "last_run": {
            "run_id": run["run_id"] if run else None,
            "status": run["status"] if run else None,
            "started_at": run["started_at"].isoformat() if run else None,
            "finished_at": run["finished_at"].isoformat() if run and run["finished_at"] else None,
            "assets_fetched": run["assets_fetched"] if run else 0,
            "pages": run["pages"] if run else 0,
            "api_calls": run["api_calls"] if run else 0,
            "bytes_downloaded": run["bytes"] if run else 0,
            "assets_staged": run["assets_staged"] if run else 0,
            "assets_changed": run["assets_changed"] if run else 0,
            "software_rows": run["software_rows"] if run else 0,
            "errors": run["errors"] if run else 0,
            "stopped_reason": run["stopped_reason"] if run else None,
        },
        "staged_assets": staged,
        "staged_by_os_category": {k: v for k, v in by_os},
        "staged_by_hardware_category": {k: v for k, v in by_hw},
        "staged_software_installs": software_rows,
        "software_catalog_entries": catalog,
        "sync_queue": queue,
        "cmdb": cmdb,
    }


def _cmdb(conn: Connection, schedule: str) -> dict[str, Any]:
    """Classification states, CIs loaded by class, top failure reasons, and the last load's counts."""
    cls = asset_classification
    states: dict[str, int] = dict(
        conn.execute(select(cls.c.state, func.count()).where(cls.c.schedule == schedule).group_by(cls.c.state)).all()
    )
    by_class: dict[str, int] = dict(
        conn.execute(
            select(cls.c.cmdb_class, func.count())
            .where(cls.c.schedule == schedule, cls.c.state == "loaded")
            .group_by(cls.c.cmdb_class)
            .order_by(func.count().desc())
        ).all()
    )
    by_code: dict[str, int] = dict(
        conn.execute(
            select(cls.c.failure_code, func.count())
            .where(cls.c.schedule == schedule, cls.c.state == "failed", cls.c.failure_code.is_not(None))
            .group_by(cls.c.failure_code)
            .order_by(func.count().desc())
        ).all()
    )
    reason = func.left(cls.c.reason, literal_column("160"))
    reasons = conn.execute(
        select(reason, func.count())
        .where(cls.c.schedule == schedule, cls.c.state == "failed")
        .group_by(reason)
        .order_by(func.count().desc())
        .limit(5)
    ).all()
    last_load = conn.execute(
        select(app_log.c.details)
        .where(app_log.c.schedule == schedule, app_log.c.component == "load")
        .order_by(app_log.c.id.desc())
        .limit(1)
    ).scalar()
    return {
        "assets_by_state": states,
        "cis_by_class": by_class,
        # BY-10, BY-12: SHARED_CI (two Qualys assets confirmed as one CI), SHARED_IDENTIFIER, CLASS_CONFLICT …
        "failed_by_code": by_code,
        "top_failure_reasons": [{"reason": r, "assets": n} for r, n in reasons],
        "last_load": last_load or {},
    }


@dataclass
class RunProblems:
    """What one run lost or had refused: the reasons its summary step fails (the run must not look green)."""

    error_pages: list[int] = field(default_factory=list)  # download records that ended Error in this run
    classification_failures: int = 0  # assets this run classified that no class or identifier fits
    cmdb_refusals: int = 0  # assets this run's load sent and the CMDB refused
    shared_ci: int = 0  # of those: held because another Qualys asset holds the same CI
    reasons: list[tuple[str, int]] = field(default_factory=list)  # the most frequent failure reasons

    def __bool__(self) -> bool:
        return bool(self.error_pages or self.classification_failures or self.cmdb_refusals)

    def message(self, schedule: str) -> str:
        """What went wrong and what to do, for the task log and the failed task."""
        lines = [f"this run of schedule {schedule} lost or had refused some of its work:"]
        if self.error_pages:
            ids = " ".join(map(str, self.error_pages[:10]))
            lines.append(
                f"  - {len(self.error_pages)} downloaded page(s) could not be read (queue records {ids}); their "
                "assets are not staged. The next run downloads them again; to do it now: "
                f"`qcmdb queue requeue {ids} --refetch`, then trigger the DAG."
            )
        if self.classification_failures:
            lines.append(
                f"  - {self.classification_failures} asset(s) could not be classified or identified; add a CI-class "
                f"rule or hardware mapping, then `qcmdb assets retry-failed --schedule {schedule} --all`."
            )
        if self.cmdb_refusals:
            held = f" ({self.shared_ci} held because another Qualys asset holds the same CI)" if self.shared_ci else ""
            lines.append(
                f"  - {self.cmdb_refusals} asset(s) were refused by the CMDB{held}; fix the cause, then "
                f"`qcmdb assets retry-failed --schedule {schedule} --all` (or name the asset ids)."
            )
        for reason, count in self.reasons:
            lines.append(f"    {count}: {reason}")
        lines.append(f"Details: `qcmdb assets list --schedule {schedule} --state failed` and the Failed assets page.")
        return "\n".join(lines)


def run_problems(engine: Engine, schedule: str, run_id: str, load: dict[str, Any] | None) -> RunProblems:
    """The work this run lost or had refused. ``load`` is what the run's load step returned (None: no load)."""
    cls = asset_classification
    problems = RunProblems()
    with engine.connect() as conn:
        started = conn.execute(
            select(sync_run.c.started_at).where(sync_run.c.schedule == schedule, sync_run.c.run_id == run_id)
        ).scalar()
        pages = select(sync_queue.c.id).where(
            sync_queue.c.direction == "download", sync_queue.c.schedule == schedule, sync_queue.c.status == "Error"
        )
        # this run's pages, and older pages this run downloaded again
        touched = sync_queue.c.run_id == run_id
        if started is not None:
            touched = touched | (sync_queue.c.updated_at >= started)
        problems.error_pages = [int(i) for i in conn.execute(pages.where(touched).order_by(sync_queue.c.id)).scalars()]
        this_run = (cls.c.schedule == schedule) & (cls.c.classified_run == run_id) & (cls.c.state == "failed")
        this_run &= cls.c.failure_code.in_(CLASSIFICATION_FAILURES)
        problems.classification_failures = int(conn.execute(select(func.count()).where(this_run)).scalar_one())
        reason = func.left(cls.c.reason, literal_column("200"))
        problems.reasons = [
            (str(r), int(n))
            for r, n in conn.execute(
                select(reason, func.count()).where(this_run).group_by(reason).order_by(func.count().desc()).limit(5)
            )
        ]
    if load:
        problems.cmdb_refusals = int(load.get("failed") or 0)
        problems.shared_ci = int(load.get("shared_ci") or 0)
        errors = load.get("errors") or {}
        problems.reasons += [(f"CMDB error {code}", int(n)) for code, n in sorted(errors.items(), key=lambda e: -e[1])]
    return problems


def render(summary: dict[str, Any]) -> str:
    """A short human-readable form."""
    run = summary["last_run"]
    lines = [
        f"Schedule {summary['schedule']} (source {summary['source']}), last run {run['run_id']}: {run['status']}",
        f"  fetched {run['assets_fetched']} assets in {run['pages']} page(s) with {run['api_calls']} API call(s) "
        f"({run['bytes_downloaded'] / 1e6:.1f} MB)",
        f"  staged {run['assets_staged']} assets ({run['assets_changed']} changed) with {run['software_rows']} "
        f"software rows; {run['errors']} error record(s)",
        f"  staging now holds {summary['staged_assets']} assets, {summary['staged_software_installs']} software "
        f"installs, {summary['software_catalog_entries']} catalog entries",
        "  by OS category:       " + ", ".join(f"{k} {v}" for k, v in summary["staged_by_os_category"].items()),
        "  by hardware category: " + ", ".join(f"{k} {v}" for k, v in summary["staged_by_hardware_category"].items()),
        "  sync queue:           " + ", ".join(f"{k} {v}" for k, v in sorted(summary["sync_queue"].items())),
    ]
    cmdb = summary["cmdb"]
    load = cmdb["last_load"]
    ops = load.get("operations") or {}
    lines += [
        "CMDB:",
        "  assets by state:      " + ", ".join(f"{k} {v}" for k, v in sorted(cmdb["assets_by_state"].items())),
        f"  last load:            {ops.get('INSERT', 0)} inserted, "
        f"{sum(v for k, v in ops.items() if k.startswith('UPDATE'))} updated, {ops.get('NO_CHANGE', 0)} unchanged, "
        f"{load.get('failed', 0)} failed, {load.get('cmdb_calls', 0)} CMDB call(s)",
        "  CIs by class:         " + ", ".join(f"{k} {v}" for k, v in cmdb["cis_by_class"].items()),
        f"  class switches:       {ops.get('UPDATE_WITH_SWITCH', 0)} in the last load",
    ]
    if cmdb["failed_by_code"]:
        lines.append("  failed by code:       " + ", ".join(f"{k} {v}" for k, v in cmdb["failed_by_code"].items()))
    for item in cmdb["top_failure_reasons"]:
        lines.append(f"  failed ({item['assets']}): {item['reason']}")
    if run["stopped_reason"]:
        lines.append(f"  stopped: {run['stopped_reason']}")
    return "\n".join(lines)
