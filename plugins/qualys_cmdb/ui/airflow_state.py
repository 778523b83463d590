"""What Airflow itself knows about the schedules' DAGs, read through its own models (the plugin runs in Airflow's API
server, on Airflow's metadata database): whether a DAG is paused, its next run, its latest run, the runs that wait
for approval; and triggering a run the way Airflow's own "Trigger" does.

A run *waits for approval* while its ``approve_or_wait`` task is deferred (people decide its assets in Approve
assets) or its ``approve_batch`` task awaits input (Airflow's "Required actions", HITL).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

APPROVAL_TASKS = ("approve_or_wait", "approve_batch")
APPROVALS_PATH = "/qualys-cmdb/approvals"


def approvals_link(run_id: str, schedule: str | None = None) -> str:
    """The absolute path of Approve assets filtered to one run (and its schedule)."""
    query = {"run": run_id, **({"schedule": schedule} if schedule else {})}
    return f"{APPROVALS_PATH}?{urlencode(query)}"


@dataclass(frozen=True)
class DagState:
    """One DAG as Airflow sees it (``known`` False: the DAG processor has not parsed it yet)."""

    dag_id: str
    known: bool
    paused: bool | None = None
    next_run: datetime | None = None  # when the scheduler creates the next scheduled run (None: on demand only)
    last_run_id: str | None = None
    last_run_state: str | None = None
    last_run_at: datetime | None = None


@dataclass(frozen=True)
class WaitingRun:
    """A run whose approval step waits for people."""

    schedule: str
    dag_id: str
    run_id: str
    task_id: str
    since: datetime | None

    @property
    def link(self) -> str:
        return approvals_link(self.run_id, self.schedule)


def dag_states(dag_ids: Iterable[str]) -> dict[str, DagState]:
    """Every DAG of ``dag_ids``: paused or active, next run, latest run."""
    from airflow.models.dag import DagModel
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import func, select

    wanted = sorted(set(dag_ids))
    out = {d: DagState(d, known=False) for d in wanted}
    if not wanted:
        return out
    with create_session() as session:
        models = session.execute(
            select(DagModel.dag_id, DagModel.is_paused, DagModel.next_dagrun_create_after, DagModel.is_stale).where(
                DagModel.dag_id.in_(wanted)
            )
        ).all()
        newest = (
            select(DagRun.dag_id, func.max(DagRun.id).label("id"))
            .where(DagRun.dag_id.in_(wanted))
            .group_by(DagRun.dag_id)
            .subquery()
        )
        runs = {
            str(r.dag_id): r
            for r in session.execute(
                select(DagRun.dag_id, DagRun.run_id, DagRun.state, DagRun.run_after).join(
                    newest, DagRun.id == newest.c.id
                )
            ).all()
        }
    for dag_id, paused, next_run, stale in models:
        run = runs.get(str(dag_id))
        out[str(dag_id)] = DagState(
            str(dag_id),
            known=not stale,
            paused=bool(paused),
            next_run=next_run,
            last_run_id=str(run.run_id) if run else None,
            last_run_state=str(run.state) if run and run.state else None,
            last_run_at=run.run_after if run else None,
        )
    return out


def waiting_runs(dag_ids: Mapping[str, str]) -> list[WaitingRun]:
    """The runs of the schedules' DAGs (``{schedule: dag_id}``) whose approval step waits, longest waiting first."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState
    from sqlalchemy import select

    schedules = {dag_id: schedule for schedule, dag_id in dag_ids.items()}
    if not schedules:
        return []
    states = [TaskInstanceState.DEFERRED, TaskInstanceState.AWAITING_INPUT]
    with create_session() as session:
        rows = session.execute(
            select(TaskInstance.dag_id, TaskInstance.run_id, TaskInstance.task_id, TaskInstance.start_date)
            .where(
                TaskInstance.dag_id.in_(sorted(schedules)),
                TaskInstance.task_id.in_(APPROVAL_TASKS),
                TaskInstance.state.in_(states),
            )
            .order_by(TaskInstance.start_date, TaskInstance.run_id)
        ).all()
    return [
        WaitingRun(schedules[str(dag_id)], str(dag_id), str(run_id), str(task_id), since)
        for dag_id, run_id, task_id, since in rows
    ]


def trigger(dag_id: str, user: str) -> str:
    """Trigger a manual run of ``dag_id`` for ``user`` (Airflow's own ``trigger_dag``, as its UI's Trigger does);
    returns the new run's id. ValueError when Airflow does not know the DAG or refuses the run."""
    from airflow.api.common.trigger_dag import trigger_dag
    from airflow.exceptions import AirflowException
    from airflow.utils.types import DagRunTriggeredByType

    try:
        run = trigger_dag(dag_id, triggered_by=DagRunTriggeredByType.UI, triggering_user_name=user)
    except AirflowException as exc:  # DagNotFound, DagRunAlreadyExists
        raise ValueError(str(exc)) from exc
    if run is None:
        raise ValueError(f"Airflow did not create a run of {dag_id}")
    return str(run.run_id)
