"""Pages that are lost on the way to staging come back by themselves, and staging ends as after a clean run:

* a PostgreSQL crash between parse and stage empties the UNLOGGED landing tables: stage notices the missing rows
  and parses those records again from their stored responses (it never marks them Success with 0 assets);
* a page that arrived truncated moved the watermark past itself: the next run downloads it again.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
from qualys_cmdb.staging.schema import landing_asset, sync_queue
from sqlalchemy import Engine, func, select, text

from tests.conftest import SimHandle, start_sim, write_config
from tests.faults.harness import assert_same_staging, empty_staging, run_dag, staging_snapshot

AFTER_PARSE = r"^(stage|classify|approve_or_wait|load|summary)$"


def _queue(engine: Engine) -> list[tuple[str, int, str]]:
    with engine.connect() as conn:
        return [
            (r.status, r.refetches, r.notes or "")
            for r in conn.execute(select(sync_queue.c.status, sync_queue.c.refetches, sync_queue.c.notes))
        ]


@pytest.fixture
def own_postgres(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """A PostgreSQL server of this test's own for the staging database (the test crashes it), stopped after."""
    import pgserver
    from qualys_cmdb.staging.database import get_engine
    from qualys_cmdb.staging.migrate import upgrade

    server = pgserver.get_server(tmp_path / "pgdata", cleanup_mode="stop")
    server.psql('CREATE DATABASE "qualys_cmdb";')
    socket_dir = str(server.get_postmaster_info().socket_dir)
    monkeypatch.setenv(
        "AIRFLOW_CONN_QUALYS_CMDB_STAGING",
        json.dumps({"conn_type": "postgres", "host": socket_dir, "login": "postgres", "schema": "qualys_cmdb"}),
    )
    engine = get_engine()
    upgrade(engine)
    try:
        yield engine
    finally:
        engine.dispose()
        server.cleanup()


def _crash(engine: Engine) -> None:
    """Kill one backend with SIGKILL: the postmaster then stops every session and recovers from its WAL, which
    resets UNLOGGED tables, as after a power loss."""
    with engine.connect() as conn:
        pid = int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 120
    while _alive(pid):  # reaped by the postmaster, which has then begun its crash recovery
        assert time.monotonic() < deadline, "the killed backend was never reaped"
        time.sleep(0.05)
    while True:  # the server answers again once recovery is over (an event, polled; the limit stops a broken test)
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return
        except Exception:
            assert time.monotonic() < deadline, "PostgreSQL did not come back after the crash"
            time.sleep(0.2)


def queue_notes(queue_id: int, engine: Engine) -> str:
    with engine.connect() as conn:
        return str(conn.execute(select(sync_queue.c.notes).where(sync_queue.c.id == queue_id)).scalar_one())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_postgresql_crash_between_parse_and_stage_loses_no_page(
    airflow_db: None, own_postgres: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = own_postgres
    sim: SimHandle = start_sim(monkeypatch, assets=50, seed=5)
    try:
        write_config(tmp_path, monkeypatch, batch=7)
        run_dag()
        clean = staging_snapshot(engine)
        empty_staging(engine)

        run_dag(mark_success_pattern=AFTER_PARSE)  # fetch and parse only: then the database crashes
        with engine.connect() as conn:
            landed = conn.execute(select(func.count()).select_from(landing_asset)).scalar_one()
        assert landed == 50
        _crash(engine)
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(landing_asset)).scalar_one() == 0  # it did reset

        run_dag()
        assert_same_staging(staging_snapshot(engine), clean)
        queue = _queue(engine)
        assert {status for status, _, _ in queue} == {"Success"}
        assert all("landing rows lost before stage" in notes for _, _, notes in queue)
    finally:
        sim.sim.stop()


def test_a_truncated_page_is_downloaded_again_by_the_next_run(
    airflow_db: None, staging: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clean_sim = start_sim(monkeypatch, assets=45, seed=9)
    try:
        write_config(tmp_path, monkeypatch, batch=10)
        run_dag()
        clean = staging_snapshot(staging)
    finally:
        clean_sim.sim.stop()
    empty_staging(staging)

    sim = start_sim(monkeypatch, assets=45, seed=9)
    try:
        sim.control("faults", truncate={"family": "csam", "count": 1})
        run_dag(expect="failed")  # the summary says a page was lost (the rest is staged)
        (bad,) = [q for q in _queue(staging) if q[0] == "Error"]
        assert "truncated JSON response" in bad[2]
        run_dag()  # nobody did anything: the next run fetches the page again
        assert_same_staging(staging_snapshot(staging), clean)
        queue = _queue(staging)
        assert {status for status, _, _ in queue} == {"Success"}
        assert [refetches for _, refetches, _ in queue if refetches] == [1]
    finally:
        sim.sim.stop()


def test_an_empty_200_from_qualys_is_an_error_record_that_says_so_and_is_fetched_again(
    airflow_db: None, staging: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 18.3: an empty body (HTTP 200, nothing in it) is not an empty page: it is kept as an Error record whose
    note says what came back, logged in the application log with the record's id, and fetched again next run."""
    sim = start_sim(monkeypatch, assets=25, seed=4)
    try:
        write_config(tmp_path, monkeypatch, batch=10)
        sim.control("faults", empty_body={"family": "csam", "count": 1})
        run_dag(expect="failed")
        with staging.connect() as conn:
            (bad,) = conn.execute(
                select(sync_queue.c.id, sync_queue.c.notes, sync_queue.c.payload_bytes).where(
                    sync_queue.c.status == "Error"
                )
            ).all()
            logged = conn.execute(
                text("SELECT message, details FROM qcmdb.app_log WHERE level = 'error' AND component = 'fetch'")
            ).all()
        assert bad.notes.startswith("Qualys answered HTTP 200 with an empty body.") and bad.payload_bytes == 0
        assert [(m, d["queue_id"]) for m, d in logged] == [
            (f"empty response (HTTP 200 without a body) stored as Error (queue record {bad.id})", bad.id)
        ]
        run_dag()  # the next run downloads that page again
        queue = _queue(staging)
        assert {status for status, _, _ in queue} == {"Success"}, queue
        assert [n for _, _, n in queue if "Downloaded again as queue record" in n] == [queue_notes(bad.id, staging)]
        with staging.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM qcmdb.staged_asset")).scalar_one() == 25
    finally:
        sim.sim.stop()


def test_a_page_the_database_refuses_becomes_an_error_record_and_the_run_goes_on(
    airflow_db: None, staging: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Any database error while a page lands (here a value longer than its column) makes that page an Error record
    with a note; the other pages are staged, and nothing sits in Processing."""
    sim = start_sim(monkeypatch, assets=30, seed=4)
    try:
        odd = sorted(a["assetId"] for a in sim.estate()["assets"])[12]  # on the second page of 10
        sim.control("overrides", assetId=odd, fields={"address": "10.1.2." + "3" * 80})
        write_config(tmp_path, monkeypatch, batch=10)
        run_dag(expect="failed")  # the summary names the page
        queue = _queue(staging)
        assert sorted(status for status, _, _ in queue) == ["Error", "Success", "Success"]
        (note,) = [notes for status, _, notes in queue if status == "Error"]
        assert "the staging database refused the rows of page 2" in note and "value too long" in note
        assert "qcmdb queue requeue" in note
        with staging.connect() as conn:
            staged = set(conn.execute(text("SELECT asset_id FROM qcmdb.staged_asset")).scalars())
        assert len(staged) == 20 and odd not in staged
    finally:
        sim.sim.stop()
