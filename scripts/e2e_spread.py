"""Whether a step's task instances spread over the Celery workers as the workers were free.

Each worker runs one task at a time and takes the next queued task once it has none. Which worker takes a task when
both are free, or when the other is busy, is up to the workers' timing: a check that demands both workers would fail
on a busy machine without a fault. What must never happen is a task waiting for its worker to end another task while
another worker ran nothing the whole time (a worker that does not take work, or one that reserves more than it
runs). Standard library only, so that the tests can import it without the e2e's environment.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Protocol


class Try(Protocol):
    """A task instance's try as the REST API reports it (``e2e_airflow.TaskTry``)."""

    @property
    def hostname(self) -> str: ...
    @property
    def queued(self) -> datetime | None: ...
    @property
    def started(self) -> datetime | None: ...
    @property
    def ended(self) -> datetime | None: ...
    @property
    def label(self) -> str: ...


def _busy(tasks: Iterable[Try], host: str, begin: datetime, end: datetime, besides: datetime | None = None) -> bool:
    """Whether ``host`` ran a task at some point of [begin, end] (other than the one it started at ``besides``)."""
    return any(
        t.hostname == host
        and t.started is not None
        and t.started != besides
        and t.started <= end
        and (t.ended is None or t.ended >= begin)
        for t in tasks
    )


def idle_while_waiting(waiting: Sequence[Try], tasks: Sequence[Try], workers: set[str]) -> str | None:
    """The first of ``waiting`` (each queued and started) that waited for its worker to end another task while
    another of ``workers`` ran none of ``tasks`` (every task instance that had started by then, of any DAG) from its
    queueing to its start, said in words; None if there is none."""
    for task in waiting:
        if task.queued is None or task.started is None:
            return f"{task.label} has no queued or start time"
        if not _busy(tasks, task.hostname, task.queued, task.started, besides=task.started):
            continue  # its worker was free: it did not wait for it
        for other in sorted(workers - {task.hostname}):
            if not _busy(tasks, other, task.queued, task.started):
                return (
                    f"{task.label} waited on {task.hostname} from {task.queued:%H:%M:%S.%f} to "
                    f"{task.started:%H:%M:%S.%f} while {other} ran no task"
                )
    return None


__all__ = ["Try", "idle_while_waiting"]
