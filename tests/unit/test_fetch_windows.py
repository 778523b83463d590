"""Which window a run fetches (QS-2, PR-3): first run, normal runs, resume, backfill, `since`, task retries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from qualys_cmdb.config import Schedule
from qualys_cmdb.intake.fetch import EPOCH, RunInfo, Window, plan_windows

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
SINCE = datetime(2024, 1, 1, tzinfo=UTC)
SCHEDULE = Schedule(name="s", source="src", download_assets_since=SINCE)


def test_the_first_run_starts_at_download_assets_since() -> None:
    (window,) = plan_windows(SCHEDULE, None, RunInfo("r1"), NOW, None)
    assert (window.since, window.until, window.cursor, window.mainline) == (SINCE, NOW, 0, True)
    (window,) = plan_windows(Schedule(name="s", source="src"), None, RunInfo("r1"), NOW, None)
    assert window.since == EPOCH


def test_a_scheduled_run_fetches_from_the_watermark_to_its_interval_end() -> None:
    state = {"watermark": NOW - timedelta(hours=2), "resume": None}
    run = RunInfo("r2", "scheduled", NOW - timedelta(hours=1), NOW - timedelta(minutes=1))
    (window,) = plan_windows(SCHEDULE, state, run, NOW, None)
    # from the watermark, not the interval start: a skipped interval is never lost
    assert (window.since, window.until) == (NOW - timedelta(hours=2), NOW - timedelta(minutes=1))


def test_an_interrupted_window_is_finished_first_then_the_next_one_follows() -> None:
    stopped = Window(SINCE, NOW - timedelta(hours=1), cursor=4242, pages=3)
    state = {"watermark": None, "resume": {**stopped.to_json(), "run_id": "r1"}}
    first, second = plan_windows(SCHEDULE, state, RunInfo("r2"), NOW, None)
    assert (first.since, first.until, first.cursor) == (SINCE, NOW - timedelta(hours=1), 4242)
    assert (second.since, second.until, second.cursor) == (NOW - timedelta(hours=1), NOW, 0)


def test_backfill_and_since_runs_fetch_their_own_window_off_the_watermark_chain() -> None:
    state = {"watermark": NOW, "resume": None}
    start, end = datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 3, 2, tzinfo=UTC)
    (window,) = plan_windows(SCHEDULE, state, RunInfo("b", "backfill", start, end), NOW, None)
    assert (window.since, window.until, window.mainline) == (start, end, False)
    manual = RunInfo("m", since=datetime(2025, 6, 1, tzinfo=UTC))
    (window,) = plan_windows(SCHEDULE, state, manual, NOW, None)
    assert (window.since, window.until, window.mainline) == (datetime(2025, 6, 1, tzinfo=UTC), NOW, False)


def test_a_retried_task_carries_on_with_the_windows_of_its_run() -> None:
    earlier = [Window(SINCE, NOW, cursor=99, pages=2)]
    assert plan_windows(SCHEDULE, {"watermark": None}, RunInfo("r1"), NOW, earlier) is earlier


def test_nothing_to_fetch_when_the_watermark_is_now() -> None:
    assert plan_windows(SCHEDULE, {"watermark": NOW, "resume": None}, RunInfo("r"), NOW, None) == []


def test_the_operator_reads_the_run_type_and_since_from_the_airflow_context() -> None:
    from types import SimpleNamespace

    from airflow.utils.types import DagRunType
    from qualys_cmdb.operators.intake import run_info

    start, end = datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 3, 2, tzinfo=UTC)
    context = {
        "dag_run": SimpleNamespace(run_type=DagRunType.BACKFILL_JOB),
        "run_id": "backfill__2025-03-02",
        "data_interval_start": start,
        "data_interval_end": end,
        "params": {"since": None},
    }
    info = run_info(context)  # type: ignore[arg-type]
    assert (info.run_type, info.data_interval_start, info.since) == ("backfill", start, None)
    (window,) = plan_windows(SCHEDULE, {"watermark": NOW}, info, NOW, None)
    assert (window.since, window.until, window.mainline) == (start, end, False)
    context["params"] = {"since": "2025-06-01T00:00:00Z"}
    assert run_info(context).since == datetime(2025, 6, 1, tzinfo=UTC)  # type: ignore[arg-type]
