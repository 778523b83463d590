"""HK-4, the vendor's "Qualys Terminate Schedule Logs": the log of steps that did not run to their end.

A step ends early in two ways:

* it **stops itself** at a page or batch boundary when the max transaction lifetime is over
  (:mod:`qualys_cmdb.lifetime`), with its work stored and the rest left for the next run: :meth:`StepRun.stopped`;
* Airflow **kills** it: the execution timeout or a SIGTERM (the task marked failed, the worker shutting down) raise
  inside the step, which logs itself on the way out; a lost worker or a SIGKILL leaves no chance to, so every step
  writes a ``run_step`` row when it starts and closes it when it ends. A row left open is found by the next attempt
  of the same task (Airflow's retry) or by the schedule's next run, once Airflow no longer runs the task.

Each entry says what stopped (schedule, run, step, map index, try), where (its cursor or batch), why, what resumes
it, and, once a later attempt or run carried on, which one and when. The steps keep their state in staging (resume
cursor, Queued and parsed records, unclassified and approved assets, Queued upload items), so whatever runs the step
next carries on from there: the log says so, it does not drive it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from qualys_cmdb.staging.schema import run_step, sync_run, terminated_run

log = logging.getLogger(__name__)

#: Task-instance states in which Airflow still runs (or will run) a task: its open step is not dead.
ACTIVE_STATES = frozenset(
    {
        "running",
        "queued",
        "scheduled",
        "up_for_retry",
        "up_for_reschedule",
        "deferred",
        "restarting",
        "awaiting_input",
    }
)

#: What carries on after each step stopped: the state it leaves behind, and who picks it up.
RESUMES = {
    "fetch": "the next run fetches from the schedule's stored resume point (its window and cursor)",
    "parse": "the next run parses the records still Queued (or left mid-parse) from their stored responses",
    "stage": "the next run stages the parsed records still waiting (their landing rows are kept, or parsed again)",
    "classify": "the next run classifies the staged assets not classified yet",
    "load": "the next run sends the approved assets still waiting for the CMDB",
    "upload": "the next run sends the upload items still Queued (items left Processing are queued again)",
    "cleanup": "the next cleanup carries on with the records still past their retention",
}


class TaskStates(Protocol):
    """Airflow's task-instance states of runs of a DAG: ``{run_id: {task_id | f"{task_id}_{map_index}": state}}``
    (the shape of the Task SDK's ``get_task_states``)."""

    def __call__(self, dag_id: str, run_ids: list[str]) -> Mapping[str, Mapping[str, str | None]]: ...


@dataclass(frozen=True)
class StepKey:
    """Which step of which run: one task (and map index) of one DAG run of a schedule."""

    schedule: str
    run_id: str
    step: str
    dag_id: str
    task_id: str
    source: str | None = None
    map_index: int = -1
    try_number: int = 1

    @property
    def where(self) -> dict[str, Any]:
        return {"schedule": self.schedule, "run_id": self.run_id, "step": self.step, "map_index": self.map_index}


@dataclass
class StepRun:
    """A tracked step in progress: record how far it got, and whether it stopped by the lifetime."""

    engine: Engine
    key: StepKey
    outcome: str = "finished"

    def progress(self, **position: Any) -> None:
        """How far the step got (the cursor, the batch): shown if it is killed before its end."""
        with self.engine.begin() as conn:
            conn.execute(update(run_step).filter_by(**self.key.where).values(position=position))

    def stopped(self, reason: str, *, position: Mapping[str, Any], resumes: str | None = None) -> None:
        """The step stops itself (max transaction lifetime): log it and mark the run stopped."""
        self.outcome = "stopped"
        with self.engine.begin() as conn:
            _log(
                conn,
                self.key,
                cause="lifetime",
                reason=reason,
                position=dict(position),
                resumes=resumes or RESUMES.get(self.key.step),
                started_at=_started(conn, self.key),
            )
            conn.execute(
                update(sync_run)
                .where(sync_run.c.schedule == self.key.schedule, sync_run.c.run_id == self.key.run_id)
                .values(status="stopped", stopped_reason=func.concat_ws("; ", sync_run.c.stopped_reason, reason))
            )


@contextlib.contextmanager
def tracked_step(engine: Engine, key: StepKey, task_states: TaskStates | None = None) -> Iterator[StepRun]:
    """Run one step under the terminated-runs bookkeeping.

    On entry: log the schedule's steps that were killed (this task's previous attempt, left open; other runs'
    steps Airflow no longer runs, when ``task_states`` can tell), close the records of runs that ended without
    finishing, mark the log entries this step now resumes, and open this step's row. On exit: close the row; an
    execution timeout or a SIGTERM raised inside the step is logged (and re-raised).
    """
    begin(engine, key, task_states)
    step = StepRun(engine, key)
    try:
        yield step
    except BaseException as exc:
        cause = interruption(exc)
        if cause is None:
            _close(engine, key, "deferred" if type(exc).__name__ == "TaskDeferred" else "failed")
        else:
            _interrupted(engine, key, cause, exc)
        raise
    _close(engine, key, step.outcome)


def interruption(exc: BaseException) -> str | None:
    """``timeout`` or ``terminated`` when Airflow interrupted the step (by raising inside it), else None."""
    name = type(exc).__name__
    if name == "AirflowTaskTimeout":
        return "timeout"
    if name == "AirflowTaskTerminated" or isinstance(exc, KeyboardInterrupt):
        return "terminated"
    return None


def begin(engine: Engine, key: StepKey, task_states: TaskStates | None = None) -> None:
    """The bookkeeping when a step starts (see :func:`tracked_step`)."""
    if task_states is not None:
        try:
            reap(engine, key.schedule, key.dag_id, task_states, current_run=key.run_id)
        except Exception:  # bookkeeping must never stop a sync: say so and carry on
            log.warning("could not look for killed steps of schedule %s", key.schedule, exc_info=True)
    with engine.begin() as conn:
        previous = conn.execute(select(run_step).filter_by(**key.where).with_for_update()).mappings().first()
        if previous is not None and previous["finished_at"] is None:
            _log(
                conn,
                replace(key, try_number=int(previous["try_number"])),
                cause="killed",
                reason=(
                    f"try {previous['try_number']} of task {key.task_id} never recorded its end: Airflow killed it "
                    "(lost worker or heartbeat, SIGKILL) or its process died"
                ),
                position=previous["position"],
                resumes=f"try {key.try_number} of the same task carries on from what try {previous['try_number']} "
                "stored",
                started_at=previous["started_at"],
            )
        conn.execute(
            update(terminated_run)
            .where(
                terminated_run.c.schedule == key.schedule,
                terminated_run.c.step == key.step,
                terminated_run.c.resumed_at.is_(None),
                or_(
                    terminated_run.c.run_id != key.run_id,
                    and_(
                        terminated_run.c.map_index == key.map_index,
                        func.coalesce(terminated_run.c.try_number, 0) < key.try_number,
                    ),
                ),
            )
            .values(
                resumed_by_run=key.run_id if key.try_number <= 1 else f"{key.run_id} (try {key.try_number})",
                resumed_at=func.now(),
            )
        )
        values = {"source": key.source, "dag_id": key.dag_id, "task_id": key.task_id, "try_number": key.try_number}
        conn.execute(
            pg_insert(run_step)
            .values(**key.where, **values)
            .on_conflict_do_update(
                index_elements=[run_step.c.schedule, run_step.c.run_id, run_step.c.step, run_step.c.map_index],
                set_={**values, "started_at": func.now(), "finished_at": None, "outcome": None, "position": None},
            )
        )


def reap(engine: Engine, schedule: str, dag_id: str, task_states: TaskStates, current_run: str | None = None) -> int:
    """Log the schedule's open steps of other runs that Airflow no longer runs (killed without a chance to say so),
    and close the records of runs that ended without finishing; returns how many steps were logged."""
    with engine.begin() as conn:
        rows = (
            conn.execute(
                select(run_step)
                .where(
                    run_step.c.schedule == schedule,
                    run_step.c.finished_at.is_(None),
                    run_step.c.run_id != (current_run or ""),
                )
                .with_for_update(skip_locked=True)
            )
            .mappings()
            .all()
        )
        open_runs = [
            str(r)
            for r in conn.execute(
                select(sync_run.c.run_id).where(
                    sync_run.c.schedule == schedule,
                    sync_run.c.finished_at.is_(None),
                    sync_run.c.status.in_(("running", "fetched", "stopped")),
                    sync_run.c.run_id != (current_run or ""),
                )
            ).scalars()
        ]
        wanted: dict[str, set[str]] = {}
        for row in rows:
            wanted.setdefault(str(row["dag_id"]), set()).add(str(row["run_id"]))
        if open_runs:
            wanted.setdefault(dag_id, set()).update(open_runs)
        if not wanted:
            return 0
        states = {dag: task_states(dag, sorted(runs)) for dag, runs in wanted.items()}
        logged = 0
        for row in rows:
            task_key = row["task_id"] if row["map_index"] < 0 else f"{row['task_id']}_{row['map_index']}"
            state = (states[str(row["dag_id"])].get(row["run_id"]) or {}).get(task_key)
            if state in ACTIVE_STATES:
                continue
            key = StepKey(
                schedule,
                row["run_id"],
                row["step"],
                row["dag_id"],
                row["task_id"],
                row["source"],
                row["map_index"],
                row["try_number"],
            )
            _log(
                conn,
                key,
                cause="killed",
                reason=(
                    f"task {row['task_id']} (try {row['try_number']}) never recorded its end, and Airflow no longer "
                    f"runs it (state {state or 'unknown'}): it was killed (lost worker or heartbeat, SIGKILL) or its "
                    "process died"
                ),
                position=row["position"],
                resumes=RESUMES.get(row["step"]),
                started_at=row["started_at"],
            )
            conn.execute(update(run_step).filter_by(**key.where).values(finished_at=func.now(), outcome="terminated"))
            logged += 1
        for run_id in open_runs:
            if any(s in ACTIVE_STATES for s in (states[dag_id].get(run_id) or {}).values()):
                continue
            _close_run(conn, schedule, run_id)
    return logged


def _close_run(conn: Connection, schedule: str, run_id: str) -> None:
    """A run that Airflow no longer runs but whose record never closed (a step was killed, or failed before stage
    recorded the run): close it, as terminated when the log has an entry for it, else as failed."""
    terminated = conn.execute(
        select(func.count()).where(terminated_run.c.schedule == schedule, terminated_run.c.run_id == run_id)
    ).scalar_one()
    reason = (
        "the run ended before its steps finished: see the terminated runs"
        if terminated
        else "the run ended before its steps finished (a task failed)"
    )
    conn.execute(
        update(sync_run)
        .where(sync_run.c.schedule == schedule, sync_run.c.run_id == run_id, sync_run.c.finished_at.is_(None))
        .values(
            status="terminated" if terminated else "failed",
            finished_at=func.now(),
            stopped_reason=func.concat_ws("; ", sync_run.c.stopped_reason, reason),
        )
    )


def _interrupted(engine: Engine, key: StepKey, cause: str, exc: BaseException) -> None:
    what = {
        "timeout": "Airflow's execution timeout of the task ran out",
        "terminated": "Airflow terminated the task (SIGTERM: marked failed or cleared, or the worker shut down)",
    }[cause]
    try:
        with engine.begin() as conn:
            position = conn.execute(select(run_step.c.position).filter_by(**key.where)).scalar()
            _log(
                conn,
                key,
                cause=cause,
                reason=f"{what}{f': {exc}' if str(exc) else ''}",
                position=position,
                resumes=RESUMES.get(key.step),
                started_at=_started(conn, key),
            )
            conn.execute(update(run_step).filter_by(**key.where).values(finished_at=func.now(), outcome="terminated"))
    except Exception:  # the task is going down anyway: the open row lets the next attempt log it
        log.warning("could not log the interrupted step %s", key, exc_info=True)


def _close(engine: Engine, key: StepKey, outcome: str) -> None:
    with engine.begin() as conn:
        conn.execute(update(run_step).filter_by(**key.where).values(finished_at=func.now(), outcome=outcome))


def _started(conn: Connection, key: StepKey) -> Any:
    return conn.execute(select(run_step.c.started_at).filter_by(**key.where)).scalar()


def _log(
    conn: Connection,
    key: StepKey,
    *,
    cause: str,
    reason: str,
    position: Mapping[str, Any] | None,
    resumes: str | None,
    started_at: Any,
) -> None:
    conn.execute(
        terminated_run.insert().values(
            schedule=key.schedule,
            source=key.source,
            dag_id=key.dag_id,
            run_id=key.run_id,
            step=key.step,
            map_index=key.map_index,
            try_number=key.try_number,
            cause=cause,
            reason=reason,
            position=dict(position) if position else None,
            resumes=resumes,
            step_started_at=started_at,
        )
    )


# ---------------------------------------------------------------------------------------------- reading the log
def terminated_runs(
    engine: Engine, *, schedule: str | None = None, limit: int | None = 200, offset: int = 0
) -> tuple[list[dict[str, Any]], int]:
    """Entries of the log, newest first (one schedule's, or all), and how many there are in all."""
    query = select(terminated_run)
    count = select(func.count()).select_from(terminated_run)
    if schedule:
        query = query.where(terminated_run.c.schedule == schedule)
        count = count.where(terminated_run.c.schedule == schedule)
    query = query.order_by(terminated_run.c.stopped_at.desc(), terminated_run.c.id.desc()).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()], int(conn.execute(count).scalar_one())


def describe_position(position: Mapping[str, Any] | None) -> str:
    """A log entry's position on one line: ``cursor 1234, records left 3``."""
    if not position:
        return "-"
    return ", ".join(f"{k.replace('_', ' ')} {_short(v)}" for k, v in position.items())


def _short(value: Any) -> str:
    if isinstance(value, list) and len(value) > 8:
        return f"{', '.join(map(str, value[:8]))} … ({len(value)})"
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return str(value)


def open_steps(engine: Engine, schedule: str) -> list[dict[str, Any]]:
    """The schedule's steps recorded as running (for tests and diagnosis)."""
    sql = select(run_step).where(run_step.c.schedule == schedule, run_step.c.finished_at.is_(None))
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(sql.order_by(run_step.c.started_at)).mappings()]
