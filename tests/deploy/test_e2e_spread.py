"""`make e2e` scenario a's check that the mapped ``parse`` spread over the Celery workers as they were free
(scripts/e2e_spread.py): it fails when a task waited for its worker while the other worker ran nothing, and only then,
whichever worker the timing of a busy machine gave each task."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
WORKERS = {"w1", "w2"}


def _spread() -> ModuleType:
    spec = importlib.util.spec_from_file_location("qcmdb_e2e_spread", REPO / "scripts/e2e_spread.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class Try:
    label: str
    hostname: str
    queued: datetime | None
    started: datetime | None
    ended: datetime | None


def _at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def _parses_on_w1(count: int = 4, length: float = 5) -> list[Try]:
    """``count`` parse instances queued at once at T0, run one after the other on w1."""
    return [Try(f"parse[{n}]", "w1", T0, _at(n * length + 0.1), _at((n + 1) * length)) for n in range(count)]


def test_tasks_one_worker_ran_while_the_other_sat_idle_are_a_fault() -> None:
    parses = _parses_on_w1()
    problem = _spread().idle_while_waiting(parses, parses, WORKERS)
    assert problem is not None and problem.startswith("parse[1] waited on w1") and "while w2 ran no task" in problem


def test_tasks_one_worker_ran_while_the_other_was_busy_are_not() -> None:
    parses = _parses_on_w1()
    other = [Try("stage", "w2", _at(-1), _at(-0.5), _at(14)), Try("fetch", "w2", _at(14), _at(14.2), None)]
    assert _spread().idle_while_waiting(parses, [*parses, *other], WORKERS) is None


def test_a_task_its_worker_took_at_once_is_never_a_fault() -> None:
    """Both workers free: the first task goes to either, and did not wait for its worker."""
    first = _parses_on_w1(count=1)
    assert _spread().idle_while_waiting(first, first, WORKERS) is None


def test_an_idle_gap_of_the_other_worker_while_a_task_waited_is_not_enough() -> None:
    """The other worker ended its task during the wait and the task went to its own worker first: that is timing."""
    parses = _parses_on_w1(count=2)
    other = [Try("stage", "w2", _at(-1), _at(-0.5), _at(4.9))]
    assert _spread().idle_while_waiting(parses, [*parses, *other], WORKERS) is None


def test_a_task_with_no_times_is_said_so() -> None:
    untimed = [Try("parse[0]", "w1", None, None, None)]
    assert _spread().idle_while_waiting(untimed, untimed, WORKERS) == "parse[0] has no queued or start time"
