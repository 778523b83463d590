"""The Qualys → CMDB DAG end to end: real Airflow (`dag.test()`), real Postgres, real HTTP to the simulator."""

from __future__ import annotations

from pathlib import Path

import pytest
from qualys_cmdb.staging import store
from qualys_cmdb.staging.schema import STAGED_CHILDREN, staged_asset, sync_queue, sync_run
from sqlalchemy import func, select, text

from tests.conftest import REPO, SimHandle, write_config

DAG_ID = "qualys_to_cmdb__t"


def _run_dag(expect: str = "success", **kw: object):  # type: ignore[no-untyped-def]
    """Run the DAG with ``dag.test()``; a run that lost or had refused work ends ``failed`` (its summary step)."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {}, bag.import_errors
    dag_run = bag.get_dag(DAG_ID).test(**kw)
    assert str(dag_run.state) == expect
    return dag_run


def _counts(engine) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        out = {"asset": conn.execute(select(func.count()).select_from(staged_asset)).scalar_one()}
        for kind, table in STAGED_CHILDREN.items():
            out[kind] = conn.execute(select(func.count()).select_from(table)).scalar_one()
        out["software"] = conn.execute(text("SELECT count(*) FROM qcmdb.staged_software")).scalar_one()
    return out


def _run_row(engine, run_id: str) -> dict:  # type: ignore[no-untyped-def,type-arg]
    with engine.connect() as conn:
        return dict(conn.execute(select(sync_run).where(sync_run.c.run_id == run_id)).mappings().one())


def test_every_dag_file_imports_without_errors(airflow_db: None) -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags"))  # the shipped configuration
    assert bag.import_errors == {}
    assert "qualys_to_cmdb__demo" in bag.dag_ids
    assert [t.task_id for t in bag.get_dag("qualys_to_cmdb__demo").tasks] == [
        "fetch",
        "parse",
        "stage",
        "classify",
        "approve_or_wait",
        "load",
        "summary",
        "overview_figures",  # beside classify → … → load: stage → overview_figures → summary
    ]


def test_an_invalid_configuration_builds_no_dag_and_shows_each_problem(
    airflow_db: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.dag_processing.dagbag import DagBag

    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "sources: [{name: s, pod: US1, connection_id: c}]\nschedules: [{name: x, source: s, interval: soon}]\n"
        "properties: {max_transaction_lifetime_minutes: 99}\n"
    )
    monkeypatch.setenv("QUALYS_CMDB_CONFIG", str(bad))
    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.dag_ids == []
    (error,) = bag.import_errors.values()
    assert "schedules[0].interval: 'soon' is neither a duration" in error
    assert "properties.max_transaction_lifetime_minutes: Input should be less than or equal to 60" in error


@pytest.mark.parametrize(("text", "error"), [("", "the file is empty"), ("allow_empty: true\n", None)])
def test_an_empty_configuration_builds_no_dag_and_says_why_unless_confirmed(
    airflow_db: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, error: str | None
) -> None:
    """An empty file would silently remove every DAG: it is an import error, unless ``allow_empty`` confirms it."""
    from airflow.dag_processing.dagbag import DagBag

    empty = tmp_path / "empty.yaml"
    empty.write_text(text)
    monkeypatch.setenv("QUALYS_CMDB_CONFIG", str(empty))
    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.dag_ids == []
    if error is None:
        assert bag.import_errors == {}
    else:
        (message,) = bag.import_errors.values()
        assert error in message and "set allow_empty: true" in message


def test_every_task_has_an_execution_timeout_from_the_configuration(tmp_path: Path) -> None:
    from datetime import timedelta

    from qualys_cmdb.dag_factory import build_dags

    config = tmp_path / "qualys_cmdb.yaml"
    config.write_text(
        """
sources: [{name: s, pod: US1, connection_id: c, cmdb_to_qualys: true}]
schedules:
  - {name: people, source: s, approval_wait_minutes: 30}
  - {name: batch, source: s, batch_approval: true, approval_wait_minutes: 45}
  - {name: push, source: s, direction: cmdb_to_qualys, table: cmdb_ci_server, asset_group: G}
properties:
  max_transaction_lifetime_minutes: 20
  api_timeout_ms: 120000
  task_timeout_minutes: 90
  allow_asset_group_sync: true
"""
    )
    dags = build_dags(str(config))
    assert set(dags) == {
        "qualys_to_cmdb__people",
        "qualys_to_cmdb__batch",
        "cmdb_to_qualys__push",
        "qualys_asset_tags",
        "qualys_asset_groups",
        "qualys_host_id_updater",
        "qualys_queue_cleanup",
    }
    step = timedelta(minutes=90)
    # the lifetime, a rate-window wait the hook accepts (900 s), the API timeout of the call in flight, a margin
    lifetime = timedelta(minutes=20) + timedelta(seconds=900) + timedelta(minutes=2) + timedelta(minutes=5)
    special = {
        ("qualys_to_cmdb__people", "fetch"): lifetime,
        ("qualys_to_cmdb__batch", "fetch"): lifetime,
        ("cmdb_to_qualys__push", "upload"): lifetime,
        # the preview before deferring, plus the wait in case an Airflow counts the deferral against it
        ("qualys_to_cmdb__people", "approve_or_wait"): step + timedelta(minutes=30, seconds=60),
    }
    for dag_id, dag in dags.items():
        for task in dag.tasks:
            assert task.execution_timeout == special.get((dag_id, task.task_id), step), (dag_id, task.task_id)
    # HITL: people's answer is bounded by response_timeout, not by execution_timeout (which is not moved into it)
    batch = dags["qualys_to_cmdb__batch"].get_task("approve_batch")
    assert (batch.response_timeout, batch.execution_timeout) == (timedelta(minutes=45), step)


def test_a_run_stages_exactly_the_estate_and_a_rerun_changes_nothing(
    airflow_db: None, staging, qualys_sim: SimHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(tmp_path, monkeypatch, batch=7)
    estate = qualys_sim.estate()
    run1 = _run_dag()
    counts = _counts(staging)
    assert counts["asset"] == estate["count"]
    with staging.connect() as conn:
        ids = sorted(r[0] for r in conn.execute(select(staged_asset.c.asset_id)))
        by_os = dict(
            conn.execute(
                text(
                    "SELECT coalesce(o.os_category_1, '(none)'), count(*) FROM qcmdb.staged_asset a "
                    "LEFT JOIN qcmdb.staged_os o USING (source, asset_id) GROUP BY 1"
                )
            ).all()
        )
    assert ids == sorted(a["assetId"] for a in estate["assets"])
    assert counts["software_install"] == estate["software_rows"]
    assert counts["open_port"] == sum(a["ports"] for a in estate["assets"])
    assert counts["volume"] == sum(a["volumes"] for a in estate["assets"])
    assert counts["tag"] == sum(a["tags"] for a in estate["assets"])
    assert counts["cloud"] == sum(1 for a in estate["assets"] if a["cloud_provider"])
    assert {k: v for k, v in by_os.items() if k != "(none)"} == {
        k: v for k, v in estate["by_os_category1"].items() if k not in (None, "(none)")
    }
    first = _run_row(staging, run1.run_id)
    assert first["status"] == "complete" and first["assets_fetched"] == estate["count"]
    assert first["pages"] == -(-estate["count"] // 7)
    with staging.connect() as conn:
        statuses = dict(conn.execute(select(sync_queue.c.status, func.count()).group_by(sync_queue.c.status)).all())
        classes = dict(
            conn.execute(text("SELECT state, count(*) FROM qcmdb.asset_classification GROUP BY state")).all()
        )
    assert statuses == {"Success": first["pages"]}
    assert sum(classes.values()) == estate["count"]  # every staged asset got a class (or a reason it has none)
    assert classes.get("pending", 0) >= estate["count"] - classes.get("failed", 0)

    run2 = _run_dag()
    assert _counts(staging) == counts
    second = _run_row(staging, run2.run_id)
    assert (second["assets_fetched"], second["assets_changed"]) == (0, 0)

    # credentials never reach the queue or the application log
    with staging.connect() as conn:
        stored = conn.execute(
            text("SELECT string_agg(request::text || coalesce(notes, ''), ' ') FROM qcmdb.sync_queue")
        )
        logged = conn.execute(text("SELECT string_agg(message || coalesce(details::text, ''), ' ') FROM qcmdb.app_log"))
        assert "sim-Passw0rd" not in (stored.scalar_one() or "") + (logged.scalar_one() or "")


def test_a_manual_run_with_since_re_syncs_without_moving_the_watermark(
    airflow_db: None, staging, qualys_sim: SimHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(tmp_path, monkeypatch, batch=25)
    _run_dag()
    watermark = store.get_state(staging, "t")["watermark"]  # type: ignore[index]
    rerun = _run_dag(run_conf={"since": "2001-01-01T00:00:00Z"})
    row = _run_row(staging, rerun.run_id)
    assert row["assets_fetched"] == qualys_sim.estate()["count"]  # the whole window again
    assert row["assets_changed"] == 0  # nothing changed, so nothing is rewritten
    assert store.get_state(staging, "t")["watermark"] == watermark  # type: ignore[index]


def test_a_second_run_after_the_estate_changed_stages_only_the_changed_assets(
    airflow_db: None, staging, qualys_sim: SimHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(tmp_path, monkeypatch, batch=10)
    _run_dag()
    before = _counts(staging)
    modified = qualys_sim.control("advance", seconds=0, modify=4)["modified"]
    run2 = _run_dag()
    row = _run_row(staging, run2.run_id)
    assert (row["assets_fetched"], row["assets_staged"], row["assets_changed"]) == (4, 4, 4)
    with staging.connect() as conn:
        changed = sorted(
            r[0] for r in conn.execute(select(staged_asset.c.asset_id).where(staged_asset.c.changed_run == run2.run_id))
        )
    assert changed == sorted(modified)
    assert _counts(staging)["asset"] == before["asset"]


def test_a_run_stopped_by_the_lifetime_resumes_where_it_stopped(
    airflow_db: None, staging, qualys_sim: SimHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The 10-minute minimum lifetime is simulated by a clock that advances 4 minutes per look (the only fake)."""
    import qualys_cmdb.intake.fetch as fetch_module

    write_config(tmp_path, monkeypatch, batch=5)
    ticks = iter(range(0, 10**6, 240))
    original = fetch_module.fetch_assets

    def fetch_with_fast_clock(*args, **kwargs):  # type: ignore[no-untyped-def]
        kwargs["clock"] = lambda: float(next(ticks))
        return original(*args, **kwargs)

    monkeypatch.setattr("qualys_cmdb.operators.intake.fetch_assets", fetch_with_fast_clock)
    run1 = _run_dag()
    row = _run_row(staging, run1.run_id)
    assert row["status"] == "stopped" and "max transaction lifetime of 10 min" in row["stopped_reason"]
    assert row["pages"] == 2
    state = store.get_state(staging, "t")
    assert state and state["resume"] and state["resume"]["cursor"] > 0
    with staging.connect() as conn:
        log = [r[0] for r in conn.execute(text("SELECT message FROM qcmdb.app_log WHERE message LIKE 'lifetime%'"))]
    assert log and "resumes after asset id" in log[0]

    monkeypatch.setattr("qualys_cmdb.operators.intake.fetch_assets", original)
    run2 = _run_dag()
    estate = qualys_sim.estate()
    assert _counts(staging)["asset"] == estate["count"]
    assert _run_row(staging, run2.run_id)["status"] == "complete"
    assert store.get_state(staging, "t")["resume"] is None  # type: ignore[index]


def test_requeued_records_are_processed_again_without_duplicates(
    airflow_db: None, staging, qualys_sim: SimHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(tmp_path, monkeypatch, batch=10)
    _run_dag()
    before = _counts(staging)
    with staging.connect() as conn:
        ids = [r[0] for r in conn.execute(select(sync_queue.c.id))]
    assert store.requeue(staging, ids) == sorted(ids)
    _run_dag()
    assert _counts(staging) == before
    with staging.connect() as conn:
        rows = conn.execute(select(sync_queue.c.status, sync_queue.c.attempts, sync_queue.c.notes)).all()
    assert all(
        status == "Success" and attempts == 2 and "re-queued by user" in notes for status, attempts, notes in rows
    )


def test_a_bad_page_becomes_an_error_record_and_nothing_else_is_lost(
    airflow_db: None, staging, qualys_sim: SimHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(tmp_path, monkeypatch, batch=10)
    qualys_sim.control("faults", truncate={"family": "csam", "count": 1})
    run1 = _run_dag(expect="failed")  # the summary step says a page was lost
    with staging.connect() as conn:
        errors = conn.execute(
            select(sync_queue.c.id, sync_queue.c.record_count, sync_queue.c.notes).where(sync_queue.c.status == "Error")
        ).all()
    assert len(errors) == 1
    bad_id, bad_count, note = errors[0]
    assert "truncated JSON response" in note and f"qcmdb queue requeue {bad_id} --refetch" in note
    estate = qualys_sim.estate()
    assert _counts(staging)["asset"] == estate["count"] - bad_count
    assert _run_row(staging, run1.run_id)["errors"] == 1

    from qualys_cmdb.config import load_config
    from qualys_cmdb.intake.fetch import refetch_record

    assert "downloaded again" in refetch_record(staging, load_config(), bad_id)
    store.requeue(staging, [bad_id])
    _run_dag()
    assert _counts(staging)["asset"] == estate["count"]


def test_a_crash_between_fetch_and_stage_loses_nothing(
    airflow_db: None, staging, qualys_sim: SimHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run that died after fetch (pages queued, one left mid-parse): the next run parses and stages them."""
    from qualys_cmdb.config import load_config
    from qualys_cmdb.hooks.qualys import QualysHook
    from qualys_cmdb.intake.fetch import RunInfo, fetch_assets

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
        run=RunInfo("crashed-run"),
        app_log=store.AppLog(staging),
    )
    hook.close()
    with staging.begin() as conn:  # the worker died while parsing the first record
        store.mark(conn, fetched.queue_ids[:1], "Processing", processor_id="parse[0]@dead:1")
    run = _run_dag()
    assert _counts(staging)["asset"] == qualys_sim.estate()["count"]
    assert _run_row(staging, run.run_id)["assets_fetched"] == 0  # nothing new: the old pages were enough
    with staging.connect() as conn:
        assert set(conn.execute(select(sync_queue.c.status)).scalars()) == {"Success"}


def test_the_cli_reports_the_connection_test_and_logs_it(
    staging, qualys_sim: SimHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess
    import sys

    write_config(tmp_path, monkeypatch)
    result = subprocess.run(
        [sys.executable, "-m", "qualys_cmdb.cli", "test-connection", "sim"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Connection OK")
    with staging.connect() as conn:
        (entry,) = conn.execute(text("SELECT level, component, message FROM qcmdb.app_log")).all()
    assert entry[0] == "info" and entry[1] == "test connection" and entry[2].startswith("Connection OK")


def test_the_hostasset_api_stages_the_same_estate(
    airflow_db: None, staging, qualys_sim: SimHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(tmp_path, monkeypatch, api="hostasset", batch=15)
    # hostasset records carry an OS name, not CSAM's categories: stage derives them (os_names.yaml), so every asset
    # gets a class (issue 22) and the run is green (its summary step fails on any unclassified asset)
    run = _run_dag()
    estate = qualys_sim.estate()
    counts = _counts(staging)
    with staging.connect() as conn:
        ids = sorted(conn.execute(select(staged_asset.c.asset_id)).scalars())
        formats = set(conn.execute(select(sync_queue.c.format)).scalars())
        by_os = dict(
            conn.execute(
                text("SELECT os_category_1, count(*) FROM qcmdb.staged_os GROUP BY 1 HAVING os_category_1 IS NOT NULL")
            ).all()
        )
        states = dict(conn.execute(text("SELECT state, count(*) FROM qcmdb.asset_classification GROUP BY 1")).all())
    assert ids == sorted(a["assetId"] for a in estate["assets"])
    assert formats == {"xml"}
    assert counts["software_install"] == estate["software_rows"]
    assert counts["cloud"] == sum(1 for a in estate["assets"] if a["cloud_provider"])
    assert _run_row(staging, run.run_id)["pages"] == -(-estate["count"] // 15)
    # the derived OS families are CSAM's, asset for asset in number (an unidentified OS has no name in hostasset)
    assert by_os == {k: v for k, v in estate["by_os_category1"].items() if k != "Unidentified"}
    assert states == {"pending": estate["count"]}


@pytest.mark.parametrize("api", ["csam", "hostasset"])
def test_wrong_credentials_are_sent_once_and_fail_the_run_without_retry(
    airflow_db: None,
    staging,
    qualys_sim: SimHandle,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    api: str,
) -> None:
    """A retry a minute later would send the same wrong password again (and count towards locking the account)."""
    import json

    write_config(tmp_path, monkeypatch, api=api)
    monkeypatch.setenv(
        "AIRFLOW_CONN_QUALYS_TEST",
        json.dumps(
            {
                "conn_type": "qualys",
                "host": qualys_sim.url,
                "login": "qualys_test",
                "password": "not-the-password",
                "extra": {"gateway_url": qualys_sim.url},
            }
        ),
    )
    qualys_sim.control("stats", method="DELETE")
    dag_run = _run_dag(expect="failed")
    fetch = next(ti for ti in dag_run.get_task_instances() if ti.task_id == "fetch")
    assert (fetch.state, fetch.try_number) == ("failed", 1)  # failed for good: not up_for_retry
    stats = qualys_sim.control("stats", method="GET")
    assert stats["total"] == 1, stats["by_endpoint_status"]  # the one request Qualys refused, never sent again
    ((endpoint, statuses),) = stats["by_endpoint_status"].items()
    assert endpoint == ("/auth" if api == "csam" else "/qps/rest/2.0/search/am/hostasset")
    assert statuses == ({"401": 1} if api == "csam" else {"200": 1})  # QPS says INVALID_CREDENTIALS at HTTP 200
    with staging.connect() as conn:
        logged = " ".join(conn.execute(text("SELECT message FROM qcmdb.app_log WHERE level = 'error'")).scalars())
    assert "fetch failed" in logged and "not-the-password" not in logged


def test_an_invalid_utf8_byte_is_repaired_and_noted_and_the_page_stages(
    airflow_db: None, staging, qualys_sim: SimHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(tmp_path, monkeypatch, batch=25)
    qualys_sim.control("faults", invalid_utf8={"family": "csam", "count": 1})
    _run_dag()
    assert _counts(staging)["asset"] == qualys_sim.estate()["count"]
    with staging.connect() as conn:
        notes = list(conn.execute(select(sync_queue.c.status, sync_queue.c.notes)).all())
    assert all(status == "Success" for status, _ in notes)
    assert sum("1 invalid UTF-8 byte sequence(s) replaced" in note for _, note in notes) == 1


def test_end_to_end_from_qualys_into_the_cmdb_and_an_unchanged_rerun_makes_no_cmdb_call(
    airflow_db: None, staging, qualys_sim: SimHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cmdb
) -> None:
    """dag.test() from the Qualys simulator into the ServiceNow simulator, with auto-approve."""
    import requests
    from qualys_cmdb.ui.report_figures import DECISION_REPORTS, STAGED_DATA_REPORTS

    write_config(tmp_path, monkeypatch, batch=25, schedule_extra="    auto_approve: true")
    first = _run_dag()
    with staging.connect() as conn:
        states = dict(conn.execute(text("SELECT state, count(*) FROM qcmdb.asset_classification GROUP BY state")).all())
        expected = dict(
            conn.execute(
                text(
                    "SELECT target_class, count(*) FROM qcmdb.asset_classification WHERE state = 'loaded' "
                    "GROUP BY target_class"
                )
            ).all()
        )
        reasons = (
            conn.execute(text("SELECT reason FROM qcmdb.asset_classification WHERE state = 'failed'")).scalars().all()
        )
    estate = qualys_sim.estate()
    assert states.get("loaded", 0) + states.get("failed", 0) == estate["count"], (states, reasons[:3])
    assert states.get("loaded", 0) >= estate["count"] * 0.9, reasons[:5]
    summary = requests.get(f"{cmdb.url}/sim/control/cmdb", timeout=10).json()
    by_class = summary["cmdb_ci"]["by_class"]
    # one CI per loaded asset, in the class the mappings gave (dependent classes are counted apart)
    assert {k: by_class.get(k, 0) for k in expected} == expected
    assert summary["tables"]["sys_object_source"] == states["loaded"]
    assert summary["tables"]["cmdb_software_instance"] > 0 and summary["tables"]["cmdb_ci_file_system"] > 0

    def counted_by() -> dict[tuple[str, str], str]:  # the Overview's figures of the source: who counted each
        with staging.connect() as conn:
            query = "SELECT report_id, source, computed_by FROM qcmdb.report_figure WHERE source <> ''"
            rows = conn.execute(text(query))
            return {(r.report_id, r.source): r.computed_by for r in rows}

    # the figures of staged data were counted by overview_figures, beside classify and load; the summary kept them
    # (the run changed no staged data since) and counted only what the decisions and the load changed
    by_first = counted_by()
    assert {r for r, _ in by_first} == set(STAGED_DATA_REPORTS) | set(DECISION_REPORTS)
    for (report, _), who in by_first.items():
        once_staged = f"run {first.run_id} of t, once staged"
        assert who == (once_staged if report in STAGED_DATA_REPORTS else f"run {first.run_id} of t"), report

    calls_before = requests.get(f"{cmdb.url}/sim/control/stats", timeout=10).json()["total"]
    again = _run_dag()
    calls_after = requests.get(f"{cmdb.url}/sim/control/stats", timeout=10).json()["total"]
    assert calls_after == calls_before  # BY-1: an unchanged rerun costs zero CMDB calls
    by_again = counted_by()  # nothing staged changed: the rerun counted the decisions' reports only
    assert by_again == {
        key: who if key[0] in STAGED_DATA_REPORTS else f"run {again.run_id} of t" for key, who in by_first.items()
    }


def test_the_run_waits_for_people_and_loads_what_they_approved(
    airflow_db: None, staging, qualys_sim: SimHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cmdb
) -> None:
    """Manual approval: the deferrable wait (trigger polling staging) ends when every asset is decided."""
    import threading
    import time

    from qualys_cmdb.approval.decisions import Selection, counts, decide

    config = write_config(tmp_path, monkeypatch, batch=25)
    config.write_text(
        config.read_text().replace(
            "approval_wait_minutes: 0", "approval_wait_minutes: 5\n    approval_poll_seconds: 0.5"
        )
    )
    decided: dict[str, int] = {}

    def reviewer() -> None:  # a person working in the review page while the run waits
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with staging.connect() as conn:
                runs = (
                    conn.execute(text("SELECT DISTINCT classified_run FROM qcmdb.asset_classification")).scalars().all()
                )
            if runs and counts(staging, "t", runs[0]).get("pending"):
                time.sleep(1)
                ids = tuple(_asset_ids(staging))
                decided["rejected"] = decide(staging, Selection("t", asset_ids=ids[:3]), "rejected", "bob")
                decided["approved"] = decide(staging, Selection("t", run_id=runs[0]), "approved", "alice")
                return
            time.sleep(0.3)

    thread = threading.Thread(target=reviewer)
    thread.start()
    try:
        _run_dag()
    finally:
        thread.join()
    estate = qualys_sim.estate()["count"]
    states = counts(staging, "t")
    assert decided["rejected"] == 3 and states["rejected"] == 3
    assert states.get("loaded", 0) == decided["approved"] and decided["approved"] >= estate - 3 - states.get(
        "failed", 0
    )
    with staging.connect() as conn:
        previews = conn.execute(
            text("SELECT count(*) FROM qcmdb.asset_classification WHERE preview_operation = 'INSERT'")
        ).scalar_one()
        who = dict(
            conn.execute(
                text("SELECT decision, count(DISTINCT decided_by) FROM qcmdb.approval_decision GROUP BY decision")
            ).all()
        )
    assert previews >= decided["approved"]  # BY-2: reviewers saw what IRE would do before deciding
    assert who == {"rejected": 1, "approved": 1}


def _asset_ids(engine) -> list[int]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return list(
            conn.execute(
                text("SELECT asset_id FROM qcmdb.asset_classification WHERE state = 'pending' ORDER BY asset_id")
            ).scalars()
        )


def test_batch_approval_puts_airflows_approval_step_before_the_load(
    airflow_db: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.providers.standard.operators.hitl import ApprovalOperator

    write_config(tmp_path, monkeypatch, schedule_extra="    batch_approval: true")
    dag = DagBag(dag_folder=str(REPO / "dags")).get_dag(DAG_ID)
    step = dag.get_task("approve_batch")
    assert isinstance(step, ApprovalOperator)
    assert step.downstream_task_ids == {"load"} and step.upstream_task_ids == {"classify"}


def test_a_batch_approval_answered_through_airflows_rest_api_loads_the_run(
    airflow_db: None, staging, qualys_sim: SimHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cmdb
) -> None:
    """HITL: the run waits in "Required actions"; a PATCH on Airflow's REST API (its real app) approves the batch."""
    import threading
    import time

    from fastapi.testclient import TestClient
    from qualys_cmdb.approval.decisions import counts

    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "True")
    from airflow.api_fastapi.app import create_app

    write_config(tmp_path, monkeypatch, batch=25, schedule_extra="    batch_approval: true")
    client = TestClient(create_app())
    answered: dict[str, object] = {}

    def approver() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            details = client.get("/api/v2/dags/~/dagRuns/~/hitlDetails", params={"dag_id": DAG_ID}).json()
            waiting = [d for d in details.get("hitl_details", []) if d.get("response_received") is False]
            if waiting:
                ti = waiting[0]["task_instance"]
                answered["body"] = waiting[0].get("body")
                response = client.patch(
                    f"/api/v2/dags/{DAG_ID}/dagRuns/{ti['dag_run_id']}/taskInstances/approve_batch/-1/hitlDetails",
                    json={"chosen_options": ["Approve"], "params_input": {}},
                )
                answered["status"] = response.status_code
                return
            time.sleep(0.5)

    thread = threading.Thread(target=approver)
    thread.start()
    try:
        _run_dag()
    finally:
        thread.join()
    assert answered.get("status") == 200, answered
    assert "asset(s) of this run wait for approval" in str(answered["body"])
    states = counts(staging, "t")
    assert states.get("loaded", 0) >= qualys_sim.estate()["count"] - states.get("failed", 0)
    with staging.connect() as conn:
        deciders = conn.execute(text("SELECT DISTINCT decided_by FROM qcmdb.approval_decision")).scalars().all()
    assert len(deciders) == 1 and deciders[0]  # the responder's name, from Airflow


def test_a_mapping_error_stops_the_run_before_anything_is_classified_or_written(
    airflow_db: None, staging, qualys_sim: SimHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils.state import DagRunState

    broken = tmp_path / "mappings"
    shutil.copytree(REPO / "include" / "mappings", broken)
    rules = broken / "ci_class_rules.yaml"
    rules.write_text(rules.read_text().replace("cmdb_ci_linux_server", "cmdb_ci_penguin"))
    monkeypatch.setenv("QUALYS_CMDB_MAPPINGS", str(broken))
    write_config(tmp_path, monkeypatch, schedule_extra="    auto_approve: true")
    dag_run = DagBag(dag_folder=str(REPO / "dags")).get_dag(DAG_ID).test()
    assert dag_run.state == DagRunState.FAILED
    states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
    assert states["stage"] == "success" and states["classify"] == "failed" and states["load"] == "upstream_failed"
    assert _counts(staging)["asset"] == qualys_sim.estate()["count"]  # the staged data is kept
    with staging.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM qcmdb.asset_classification")).scalar_one() == 0


def test_page_groups_add_the_hand_over_and_let_two_runs_overlap(tmp_path: Path) -> None:
    from qualys_cmdb.dag_factory import build_dags

    config = tmp_path / "qualys_cmdb.yaml"
    config.write_text(
        """
sources: [{name: s, pod: US1, connection_id: c}]
schedules:
  - {name: grouped, source: s, auto_approve: true, pages_per_run: 40}
  - {name: whole, source: s}
"""
    )
    dags = build_dags(str(config))
    grouped, whole = dags["qualys_to_cmdb__grouped"], dags["qualys_to_cmdb__whole"]
    assert (grouped.max_active_runs, whole.max_active_runs) == (2, 1)
    hand_over = grouped.get_task("continue_sync")
    assert hand_over.upstream_task_ids == {"fetch"} and not hand_over.downstream_task_ids
    assert hand_over.trigger_dag_id == "qualys_to_cmdb__grouped"
    assert "continue_sync" not in whole.task_ids
    for dag in (grouped, whole):  # the Overview's figures of staged data: counted beside classify → … → load
        figures = dag.get_task("overview_figures")
        assert (figures.upstream_task_ids, figures.downstream_task_ids) == ({"stage"}, {"summary"})
    assert "at most 40 page(s)" in (grouped.doc_md or "")
