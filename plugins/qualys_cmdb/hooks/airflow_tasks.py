"""What Airflow knows about task instances, asked from inside a running task (the Task SDK's supervisor channel).

The terminated-runs bookkeeping (:mod:`qualys_cmdb.staging.terminated`) asks it whether a step left open in staging
still runs in Airflow; a task has no access to Airflow's metadata database, so the question goes through the
execution API like every other call a task makes.
"""

from __future__ import annotations

from collections.abc import Mapping


def task_states(dag_id: str, run_ids: list[str]) -> Mapping[str, Mapping[str, str | None]]:
    """The states of the task instances of ``run_ids`` of ``dag_id``:
    ``{run_id: {task_id (or "<task_id>_<map_index>"): state}}``."""
    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

    states = RuntimeTaskInstance.get_task_states(dag_id=dag_id, run_ids=run_ids)
    return {
        str(run): {str(task): (str(getattr(state, "value", state)) if state else None) for task, state in tasks.items()}
        for run, tasks in states.items()
    }
