"""Page groups (``pages_per_run``, issue 20 part 4): a run fetches its group of pages, starts the schedule's next run
(``continue_sync``) and goes on to load what it has, while the next run fetches the next group. Real DAG runs
(``dag.test()``, which runs one run: the test starts each next run the way the scheduler would, and checks that the
run before asked for it), real Postgres, both simulators over HTTP. The real scheduler running the chain by itself is
``make e2e``'s page-group scenario.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests
from qualys_cmdb.operators.intake import NEXT_GROUP_PREFIX
from sqlalchemy import Engine, text

from tests.conftest import REPO, SimHandle, write_config

DAG_ID = "qualys_to_cmdb__t"
GROUP = "    auto_approve: true\n    pages_per_run: 2\n"


def _dag() -> Any:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {}, bag.import_errors
    return bag.get_dag(DAG_ID)


def _states(dag_run: Any) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}


def _next_runs() -> set[str]:
    """The runs page groups asked for (queued: under ``dag.test()`` no scheduler starts them)."""
    from airflow.models import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        runs = session.query(DagRun).filter(DagRun.dag_id == DAG_ID, DagRun.run_id.like(f"{NEXT_GROUP_PREFIX}%")).all()
        return {r.run_id for r in runs}


@pytest.fixture(autouse=True)
def _no_runs_left_queued() -> Any:
    """The runs page groups asked for stay queued under ``dag.test()``: removed after each test, so that no other test
    of the session's Airflow database finds them."""
    yield
    from airflow.models import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        for run in session.query(DagRun).filter(DagRun.dag_id == DAG_ID, DagRun.run_id.like(f"{NEXT_GROUP_PREFIX}%")):
            session.delete(run)


def _pages_by_run(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT run_id, count(*) FROM qcmdb.sync_queue WHERE direction = 'download' GROUP BY run_id")
        )
        return {str(r): int(n) for r, n in rows}


def _searches(qualys_sim: SimHandle) -> int:
    stats = requests.get(f"{qualys_sim.url}/sim/control/stats", timeout=10).json()
    return sum(n for endpoint, n in stats["by_endpoint"].items() if "search" in endpoint)


def test_a_first_sync_in_page_groups_hands_over_from_run_to_run_and_writes_every_asset_once(
    airflow_db: None, staging: Engine, qualys_sim: SimHandle, cmdb: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(tmp_path, monkeypatch, schedule_extra=GROUP)  # 40 assets, 10 a page: 4 pages
    estate = qualys_sim.estate()
    dag = _dag()
    assert dag.max_active_runs == 2  # one run loads while the next one fetches

    first = dag.test()
    assert str(first.state) == "success"
    assert _states(first)["continue_sync"] == "success"
    asked = _next_runs()
    assert len(asked) == 1  # it asked for the next run ...
    assert _pages_by_run(staging) == {first.run_id: 2}  # ... after its group of 2 pages, and asked Qualys for no more
    assert _searches(qualys_sim) == 2
    with staging.connect() as conn:
        loaded = conn.execute(text("SELECT count(*) FROM qcmdb.asset_classification WHERE state = 'loaded'")).scalar()
    assert loaded == 20  # and loaded its own group ...
    stats = requests.get(f"{cmdb.url}/sim/control/stats", timeout=10).json()["by_endpoint"]
    ire_calls = sum(n for endpoint, n in stats.items() if "identifyreconcile" in endpoint.lower())
    # ... in two batches of 10, one on each of the default 2 connections (not one of 20), and one more: the group
    # holds two hosts with one name, and the one sent without it goes again with it once the CMDB knows it
    assert ire_calls == 3, stats

    runs = [first]
    while len(runs) < 5:  # the scheduler's part: start each run asked for (dag.test starts a run of its own)
        run = dag.test()
        assert str(run.state) == "success", _states(run)
        runs.append(run)
        if _states(run)["continue_sync"] == "skipped":
            break
    # run 2 fetches pages 3-4, which end the window; its group is then full, so run 3 looks at what changed since the
    # first run began (nothing) and asks for no further run
    assert [_pages_by_run(staging).get(r.run_id, 0) for r in runs] == [2, 2, 0]
    assert _searches(qualys_sim) == 5  # each page asked for once, and the last run's empty window
    assert len(_next_runs()) == 2

    with staging.connect() as conn:
        states = dict(conn.execute(text("SELECT state, count(*) FROM qcmdb.asset_classification GROUP BY state")).all())
        staged = conn.execute(text("SELECT count(*) FROM qcmdb.staged_asset")).scalar()
        resume = conn.execute(text("SELECT resume FROM qcmdb.schedule_state WHERE schedule = 't'")).scalar()
    assert staged == estate["count"] == 40
    assert states.get("loaded", 0) + states.get("failed", 0) == 40 and not states.get("approved")
    assert resume is None  # the window is complete: the next scheduled run starts from the watermark
    tables = requests.get(f"{cmdb.url}/sim/control/cmdb", timeout=10).json()["tables"]
    assert tables["sys_object_source"] == states.get("loaded")  # one CI per loaded asset: none written twice
    with staging.connect() as conn:
        counted_by = set(conn.execute(text("SELECT DISTINCT computed_by FROM qcmdb.report_figure")).scalars())
    # the runs that handed over left the Overview's count to it (staged data once staged, the rest at its end)
    assert counted_by == {f"run {runs[-1].run_id} of t", f"run {runs[-1].run_id} of t, once staged"}


def test_a_since_run_is_never_cut_into_page_groups(
    airflow_db: None, staging: Engine, qualys_sim: SimHandle, cmdb: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ``since`` (or backfill) window is not the schedule's resume point: a next run could not carry it on."""
    write_config(tmp_path, monkeypatch, schedule_extra=GROUP)
    run = _dag().test(run_conf={"since": "2000-01-01T00:00:00Z"})
    assert str(run.state) == "success"
    assert _states(run)["continue_sync"] == "skipped"
    assert _pages_by_run(staging) == {run.run_id: 4}


CLONED_SERIAL = "VMW-4211-7C3A-CLONE"


def test_a_serial_two_page_groups_share_identifies_neither_asset_once_both_are_staged(
    airflow_db: None, staging: Engine, qualys_sim: SimHandle, cmdb: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cloned serial number whose two assets fall in different page groups. The first group's run cannot know the
    clone yet and loads its asset with the serial; once the second group is staged the serial is shared, so that run
    sends its asset without it (never a payload with the serial twice: IRE refuses the whole payload) and sends the
    first asset again without it: both end as their own CIs, with what one run over the whole estate would send."""
    write_config(tmp_path, monkeypatch, schedule_extra=GROUP)  # 40 assets, 10 a page, 2 pages a group
    assets = sorted(qualys_sim.estate()["assets"], key=lambda a: a["assetId"])
    first, second = assets[8]["assetId"], assets[22]["assetId"]  # a Windows computer, a mainframe
    for asset in (first, second):
        qualys_sim.control("overrides", assetId=asset, fields={"biosSerialNumber": CLONED_SERIAL})
    dag = _dag()

    def serial(asset: int) -> str | None:
        with staging.connect() as conn:
            return conn.execute(
                text("SELECT payload ->> 'serial_number' FROM qcmdb.asset_classification WHERE asset_id = :a"),
                {"a": asset},
            ).scalar_one_or_none()

    run = dag.test()
    assert str(run.state) == "success", _states(run)
    assert serial(first) == CLONED_SERIAL and serial(second) is None  # its clone is not staged yet
    while _states(run)["continue_sync"] != "skipped":
        run = dag.test()
        assert str(run.state) == "success", _states(run)

    with staging.connect() as conn:
        rows = {
            r.asset_id: r
            for r in conn.execute(
                text(
                    "SELECT asset_id, state, cmdb_sys_id, reason, payload FROM qcmdb.asset_classification "
                    "WHERE asset_id IN (:a, :b)"
                ),
                {"a": first, "b": second},
            )
        }
        refused = conn.execute(
            text("SELECT count(*) FROM qcmdb.asset_classification WHERE failure_code LIKE 'DUPLICATE%'")
        ).scalar_one()
    assert refused == 0
    assert {r.state for r in rows.values()} == {"loaded"}
    assert rows[first].cmdb_sys_id != rows[second].cmdb_sys_id  # not merged into one CI
    for row in rows.values():
        assert "serial_number" not in row.payload  # sent again without it, as one run would have sent it
        assert f"serial number '{CLONED_SERIAL}' (shared with another asset)" in (row.reason or ""), row.reason
    serials = requests.get(
        f"{cmdb.url}/api/now/table/cmdb_serial_number",
        params={"sysparm_query": f"serial_number={CLONED_SERIAL}", "sysparm_fields": "cmdb_ci"},
        auth=("sn_integration", "sn-Passw0rd"),
        headers={"Accept": "application/json"},
        timeout=30,
    ).json()["result"]
    # the first group's load wrote it on its asset's CI (it could not know better); the second asset never got it
    assert [s["cmdb_ci"]["value"] if isinstance(s["cmdb_ci"], dict) else s["cmdb_ci"] for s in serials] == [
        rows[first].cmdb_sys_id
    ]
    with staging.connect() as conn:
        counted_by = set(conn.execute(text("SELECT DISTINCT computed_by FROM qcmdb.report_figure")).scalars())
    # a run that does not hand over counts the Overview itself
    assert counted_by == {f"run {run.run_id} of t", f"run {run.run_id} of t, once staged"}
