"""HK-4 and PR-3: the max transaction lifetime bounds every step; steps it stops, and steps Airflow kills, are logged
as terminated runs; the next run (or the task's retry) resumes from what they left.

Real Airflow (``dag.test()``), real Postgres, real HTTP to both simulators. The lifetime's clock is the only fake: it
advances 4 minutes per look, so with the 10-minute minimum each step does three pages or batches, then stops.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
from qualys_cmdb.staging import store
from qualys_cmdb.staging.terminated import StepKey, begin, open_steps, terminated_runs, tracked_step
from sqlalchemy import text

from tests.conftest import REPO, SimHandle, write_config

DAG_ID = "qualys_to_cmdb__t"


def _run_dag(**kw: object) -> Any:
    """A run of the schedule's DAG; a run stopped by the lifetime is a success: nothing was lost or refused."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {}, bag.import_errors
    run = bag.get_dag(DAG_ID).test(**kw)
    assert str(run.state) == "success"
    return run


def _fast_lifetime(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every step's lifetime clock advances 4 minutes each time it is read."""
    from qualys_cmdb.lifetime import Lifetime

    def of(cls: type[Lifetime], properties: Any) -> Lifetime:
        ticks = itertools.count(0, 240)
        return cls(properties.max_transaction_lifetime_minutes, clock=lambda: float(next(ticks)))

    monkeypatch.setattr(Lifetime, "of", classmethod(of))


def _scalar(engine: Any, sql: str) -> Any:
    with engine.connect() as conn:
        return conn.execute(text(sql)).scalar_one()


def _added(qualys: SimHandle) -> list[str]:
    """The addresses the CMDB → Qualys runs added to the simulated subscription."""
    return [a["ip"] for a in qualys.control("vm", method="GET")["added_ips"]]


def _entries(engine: Any, schedule: str = "t") -> dict[str, dict[str, Any]]:
    rows, _ = terminated_runs(engine, schedule=schedule)
    return {r["step"] + (f"[{r['map_index']}]" if r["map_index"] >= 0 else ""): r for r in rows}


def test_every_step_stops_at_the_lifetime_and_the_next_run_resumes_from_there(
    airflow_db: None,
    staging: Any,
    qualys_sim: SimHandle,
    cmdb: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """40 assets in 8 pages of 5, parsed by 2 mapped tasks, staged 5 assets a chunk, classified 4 a batch, loaded 2
    a batch: each step stops after three pages or batches, leaves the rest where the next run finds it, and logs it.
    """
    write_config(tmp_path, monkeypatch, batch=5, schedule_extra="    auto_approve: true")
    path = tmp_path / "qualys_cmdb.yaml"
    path.write_text(path.read_text() + "  ire_batch_size: 2\n")
    monkeypatch.setattr("qualys_cmdb.intake.stage.CHUNK_ASSETS", 5)
    monkeypatch.setattr("qualys_cmdb.classify.batches.BATCH", 4)
    from qualys_cmdb.lifetime import Lifetime

    normal = Lifetime.__dict__["of"]
    _fast_lifetime(monkeypatch)

    run1 = _run_dag()
    entries = _entries(staging)
    assert set(entries) == {"parse[0]", "parse[1]", "stage", "classify", "load"}
    assert all(e["cause"] == "lifetime" and e["run_id"] == run1.run_id for e in entries.values())
    assert all("max transaction lifetime of 10 min reached" in e["reason"] for e in entries.values())
    assert all(e["resumed_at"] is None for e in entries.values())
    # parse: 3 of each task's 4 records parsed; the fourth stays Queued
    assert [e["position"]["parsed"] for e in (entries["parse[0]"], entries["parse[1]"])] == [3, 3]
    queued = {e["position"]["records_left"][0] for e in (entries["parse[0]"], entries["parse[1]"])}
    with staging.connect() as conn:
        statuses = dict(conn.execute(text("SELECT id, status FROM qcmdb.sync_queue")).all())
    assert {i for i, s in statuses.items() if s == "Queued"} == queued
    # stage: three chunks of one record each; the other three parsed records wait with their landing rows
    assert entries["stage"]["position"] == {"records_staged": 3, "chunks": 3, "records_left": 3}
    assert sum(s == "Processing" for s in statuses.values()) == 3
    assert _scalar(staging, "SELECT count(DISTINCT queue_id) FROM qcmdb.landing_asset") == 3
    assert _scalar(staging, "SELECT count(*) FROM qcmdb.staged_asset") == 15
    # classify: three batches of 4 of the 15 staged assets
    assert entries["classify"]["position"]["classified"] == 12
    assert entries["classify"]["position"]["assets_left"] == 3
    assert _scalar(staging, "SELECT count(*) FROM qcmdb.asset_classification") == 12
    # load: three batches of 2; the other approved assets wait
    assert entries["load"]["position"]["batches"] == 3 and entries["load"]["position"]["sent"] == 6
    left = entries["load"]["position"]["approved_left"]
    assert left > 0
    assert _scalar(staging, "SELECT count(*) FROM qcmdb.asset_classification WHERE state = 'approved'") == left
    assert entries["load"]["resumes"] == f"the next run sends the {left} approved asset(s) still waiting"
    run = store.get_run(staging, "t", run1.run_id)
    assert run and run["status"] == "stopped" and "max transaction lifetime" in run["stopped_reason"]
    assert open_steps(staging, "t") == []  # every step recorded its end

    monkeypatch.setattr(Lifetime, "of", normal)
    run2 = _run_dag()
    estate = qualys_sim.estate()
    assert _scalar(staging, "SELECT count(*) FROM qcmdb.staged_asset") == estate["count"]
    assert _scalar(staging, "SELECT count(*) FROM qcmdb.sync_queue WHERE status <> 'Success'") == 0
    assert _scalar(staging, "SELECT count(*) FROM qcmdb.landing_asset") == 0
    assert _scalar(staging, "SELECT count(*) FROM qcmdb.asset_classification") == estate["count"]
    assert (
        _scalar(staging, "SELECT count(*) FROM qcmdb.asset_classification WHERE state IN ('pending', 'approved')") == 0
    )
    resumed = _entries(staging)
    assert {k: (e["resumed_by_run"], e["resumed_at"] is not None) for k, e in resumed.items()} == {
        k: (run2.run_id, True) for k in entries
    }


def test_a_fetch_stopped_by_the_lifetime_is_logged_with_its_cursor_and_resumed(
    airflow_db: None, staging: Any, qualys_sim: SimHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import qualys_cmdb.intake.fetch as fetch_module

    write_config(tmp_path, monkeypatch, batch=5)
    ticks = itertools.count(0, 240)
    original = fetch_module.fetch_assets

    def fetch_with_fast_clock(*args: Any, **kwargs: Any) -> Any:
        kwargs["clock"] = lambda: float(next(ticks))
        return original(*args, **kwargs)

    monkeypatch.setattr("qualys_cmdb.operators.intake.fetch_assets", fetch_with_fast_clock)
    run1 = _run_dag()
    (entry,) = terminated_runs(staging, schedule="t")[0]
    state = store.get_state(staging, "t")
    assert state and state["resume"]
    assert (entry["step"], entry["cause"], entry["run_id"]) == ("fetch", "lifetime", run1.run_id)
    assert entry["position"]["cursor"] == state["resume"]["cursor"] > 0 and entry["position"]["pages"] == 2
    assert f"from after asset id {state['resume']['cursor']}" in entry["resumes"]

    monkeypatch.setattr("qualys_cmdb.operators.intake.fetch_assets", original)
    run2 = _run_dag()
    (entry,) = terminated_runs(staging, schedule="t")[0]
    assert entry["resumed_by_run"] == run2.run_id
    assert _scalar(staging, "SELECT count(*) FROM qcmdb.staged_asset") == qualys_sim.estate()["count"]
    assert store.get_state(staging, "t")["resume"] is None  # type: ignore[index]


def test_a_step_killed_without_a_word_is_found_and_resumed_by_the_next_run(
    airflow_db: None, staging: Any, qualys_sim: SimHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run's worker died in stage (SIGKILL: no chance to log anything): its pages are parsed, its step record is
    open, its run record says 'fetched'. The next run asks Airflow, which no longer runs that task, logs the kill
    with where the step had got to, closes the dead run's record, and its own stage stages the records."""
    from qualys_cmdb.config import load_config
    from qualys_cmdb.hooks.qualys import QualysHook
    from qualys_cmdb.intake.fetch import RunInfo, fetch_assets
    from qualys_cmdb.intake.parse import parse_record

    write_config(tmp_path, monkeypatch, batch=10)
    config = load_config()
    schedule, source = config.schedule("t"), config.source("sim")
    hook = QualysHook.for_source(source, config.properties)
    fetched = fetch_assets(
        staging,
        hook,
        schedule=schedule,
        source=source,
        properties=config.properties,
        run=RunInfo("killed-run"),
        app_log=store.AppLog(staging),
    )
    hook.close()
    for queue_id in fetched.queue_ids:
        parse_record(staging, queue_id, schedule.details, "parse[0]@dead:1")
    key = StepKey("t", "killed-run", "stage", DAG_ID, "stage", "sim")
    begin(staging, key)  # the stage step started …
    with staging.begin() as conn:  # … got through one chunk, and its worker was killed
        conn.execute(text("UPDATE qcmdb.run_step SET position = '{\"chunks\": 1}' WHERE run_id = 'killed-run'"))
    assert store.get_run(staging, "t", "killed-run")["status"] == "fetched"  # type: ignore[index]

    run = _run_dag()
    (entry,) = terminated_runs(staging, schedule="t")[0]
    assert (entry["run_id"], entry["step"], entry["cause"]) == ("killed-run", "stage", "killed")
    assert "never recorded its end, and Airflow no longer runs it" in entry["reason"]
    assert entry["position"] == {"chunks": 1} and entry["resumes"].startswith("the next run stages")
    assert entry["resumed_by_run"] == run.run_id
    dead = store.get_run(staging, "t", "killed-run")
    assert dead and dead["status"] == "terminated" and dead["finished_at"] is not None
    assert _scalar(staging, "SELECT count(*) FROM qcmdb.staged_asset") == qualys_sim.estate()["count"]
    assert open_steps(staging, "t") == []


def test_a_timeout_inside_a_step_is_logged_and_its_retry_resumes_it(staging: Any) -> None:
    from airflow.sdk.exceptions import AirflowTaskTimeout

    key = StepKey("t", "run-1", "load", DAG_ID, "load", "sim")
    with pytest.raises(AirflowTaskTimeout), tracked_step(staging, key) as step:
        step.progress(batches=2, sent=400)
        raise AirflowTaskTimeout("Timeout, PID: 1234")
    (entry,) = terminated_runs(staging, schedule="t")[0]
    assert (entry["cause"], entry["position"], entry["try_number"]) == ("timeout", {"batches": 2, "sent": 400}, 1)
    assert "execution timeout" in entry["reason"] and "Timeout, PID: 1234" in entry["reason"]
    # the retry: the same task, try 2, carries on
    with tracked_step(staging, StepKey("t", "run-1", "load", DAG_ID, "load", "sim", try_number=2)):
        pass
    (entry,) = terminated_runs(staging, schedule="t")[0]
    assert entry["resumed_by_run"] == "run-1 (try 2)"


def test_a_retry_finds_its_previous_attempt_killed(staging: Any) -> None:
    first = StepKey("t", "run-1", "parse", DAG_ID, "parse", "sim", map_index=1)
    begin(staging, first)  # try 1 started and its process vanished
    with tracked_step(staging, StepKey("t", "run-1", "parse", DAG_ID, "parse", "sim", map_index=1, try_number=2)):
        pass
    (entry,) = terminated_runs(staging, schedule="t")[0]
    assert (entry["cause"], entry["map_index"], entry["try_number"]) == ("killed", 1, 1)
    assert entry["resumes"].startswith("try 2 of the same task carries on")
    assert entry["resumed_by_run"] == "run-1 (try 2)"
    # a step of another map index of the same run does not resume it, nor does an ordinary failure log anything
    with pytest.raises(ValueError), tracked_step(staging, StepKey("t", "run-1", "parse", DAG_ID, "parse", "sim")):
        raise ValueError("an ordinary error: a failed task, not a terminated one")
    assert len(terminated_runs(staging, schedule="t")[0]) == 1
    assert open_steps(staging, "t") == []


def test_the_log_is_in_the_cli_and_the_ui(
    staging: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from qualys_cmdb.cli import main

    write_config(tmp_path, monkeypatch)
    key = StepKey("t", "scheduled__2026-01-01", "classify", DAG_ID, "classify", "sim")
    with tracked_step(staging, key) as step:
        step.stopped("max transaction lifetime of 10 min reached after 40000 asset(s)", position={"assets_left": 7})
    assert main(["runs", "terminated", "--schedule", "t"]) == 0
    out = capsys.readouterr().out
    assert "scheduled__2026-01-01  classify (try 1)  lifetime" in out
    assert "where: assets left 7" in out and "resumes: the next run classifies" in out and "not resumed yet" in out
    assert out.strip().endswith("1 terminated run step(s)")
    assert main(["runs", "terminated", "--schedule", "other"]) == 0
    assert capsys.readouterr().out.strip() == "0 terminated run step(s)"

    from fastapi.testclient import TestClient
    from qualys_cmdb.ui.app import create_app, current_user

    class User:
        def get_name(self) -> str:
            return "viewer"

        def get_id(self) -> str:
            return "viewer"

    app = create_app()
    app.dependency_overrides[current_user] = User
    page = TestClient(app).get("/terminated?schedule=t", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert "Terminated runs" in page.text and "scheduled__2026-01-01" in page.text
    assert "assets left 7" in page.text and "not yet: the next run" in page.text


def test_an_upload_stopped_by_the_lifetime_is_logged_and_the_next_run_sends_the_rest(
    airflow_db: None, staging: Any, cmdb: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime, timedelta

    from tests.conftest import start_sim
    from tests.export.test_reverse_dag import _add_cis, _run, _write_config

    qualys = start_sim(monkeypatch, assets=20)
    try:
        addresses = [f"10.250.0.{n}" for n in range(1, 7)]
        _add_cis(cmdb, [(f"lab-{n:02d}", a, "1") for n, a in enumerate(addresses, start=1)])
        _write_config(tmp_path, monkeypatch, "    tracking_method: IP", "  upload_batch_size: 1")
        from qualys_cmdb.lifetime import Lifetime

        normal = Lifetime.__dict__["of"]
        _fast_lifetime(monkeypatch)
        first = _run("cmdb_to_qualys__push", datetime(2026, 1, 1, tzinfo=UTC))
        (entry,) = terminated_runs(staging, schedule="push")[0]
        assert (entry["step"], entry["cause"], entry["run_id"]) == ("upload", "lifetime", first.run_id)
        left = entry["position"]["items_left_queued"]
        assert 0 < left < len(addresses) and entry["resumes"] == f"the next run sends the {left} item(s) left Queued"
        assert len(_added(qualys)) == len(addresses) - left

        monkeypatch.setattr(Lifetime, "of", normal)
        second = _run("cmdb_to_qualys__push", datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=1))
        (entry,) = terminated_runs(staging, schedule="push")[0]
        assert entry["resumed_by_run"] == second.run_id
        assert sorted(_added(qualys)) == sorted(addresses)  # each once
        assert _scalar(staging, "SELECT count(*) FROM qcmdb.upload_item WHERE status = 'Queued'") == 0
    finally:
        qualys.sim.stop()
