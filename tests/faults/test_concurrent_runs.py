"""Two runs of one schedule at once (``airflow dags test``, a manual CLI run, a backfill, a zombie's retry: none of
them is held back by ``max_active_runs=1``) end exactly as one clean run does, in staging and in the CMDB.

Before the schedule's steps were serialised in the database, a second parser took a record the first was still
parsing, and a second stage computed what changed, then deleted the detail rows whose landing rows the first had
already cleared: every staged OS, software and other detail row was lost for good.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from qualys_cmdb.config import DetailFlags
from qualys_cmdb.hooks.qualys import QualysHook
from qualys_cmdb.intake.fetch import RunInfo, fetch_assets
from qualys_cmdb.intake.parse import parse_record
from qualys_cmdb.intake.stage import stage_records
from qualys_cmdb.staging import store
from qualys_cmdb.staging.locks import Step, record_held
from sqlalchemy import Engine, text

from tests.conftest import SimHandle, start_sim, write_config
from tests.faults.harness import (
    DAG_ID,
    assert_same_staging,
    cmdb_snapshot,
    empty_staging,
    run_dag,
    staging_snapshot,
    start_cmdb,
)

ASSETS = 60


def _waiting_for(engine: Engine, step: Step, schedule: str) -> int:
    """How many sessions wait for the lock of ``step`` on ``schedule``."""
    with engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objsubid = 2 "
                    "AND classid::bigint = :step AND objid::bigint = (hashtext(:schedule)::bigint & 4294967295)"
                ),
                {"step": int(step), "schedule": schedule},
            ).scalar_one()
        )


def _until(condition, what: str, limit_s: float = 600) -> None:  # type: ignore[no-untyped-def]
    """Wait for ``condition()`` (an event in another process); the limit only stops a broken test."""
    deadline = time.monotonic() + limit_s
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.2)


def _clean_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, staging: Engine) -> tuple[dict, dict]:  # type: ignore[type-arg]
    """Staging and CMDB after one clean run of the estate (then staging is emptied again)."""
    sim = start_sim(monkeypatch, assets=ASSETS, seed=11)
    cmdb = start_cmdb(monkeypatch)
    try:
        write_config(tmp_path, monkeypatch, batch=7, schedule_extra="    auto_approve: true")
        run_dag()
        expected = staging_snapshot(staging), cmdb_snapshot(cmdb.url)
    finally:
        sim.sim.stop()
        cmdb.stop()
    empty_staging(staging)
    return expected


def test_two_runs_of_one_schedule_at_once_end_as_one_clean_run(
    airflow_db: None, staging: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two ``airflow dags test`` processes; the test holds the stage lock until both wait for it, so both runs
    have fetched and parsed and reach stage together (its lock is the source's), the overlap that used to wipe
    the detail rows."""
    expected_staging, expected_cmdb = _clean_run(tmp_path, monkeypatch, staging)

    sim: SimHandle = start_sim(monkeypatch, assets=ASSETS, seed=11)
    cmdb = start_cmdb(monkeypatch)
    write_config(tmp_path, monkeypatch, batch=7, schedule_extra="    auto_approve: true")
    runs: list[subprocess.Popen[bytes]] = []
    try:
        with staging.connect() as holder:
            holder.execute(text("SELECT pg_advisory_lock(:s, hashtext('sim'))"), {"s": int(Step.STAGE)})
            holder.commit()
            for day in ("2026-06-01", "2026-06-02"):  # after every modification date of the estate
                runs.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "airflow", "dags", "test", DAG_ID, day],
                        stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT,
                        env=dict(os.environ),
                    )
                )
            _until(lambda: _waiting_for(staging, Step.STAGE, "sim") == 2, "both runs to reach stage")
            holder.execute(text("SELECT pg_advisory_unlock(:s, hashtext('sim'))"), {"s": int(Step.STAGE)})
            holder.commit()
        for process in runs:
            output, _ = process.communicate(timeout=900)
            assert process.returncode == 0, output.decode(errors="replace")[-4000:]
        assert_same_staging(staging_snapshot(staging), expected_staging)
        assert cmdb_snapshot(cmdb.url) == expected_cmdb
        with staging.connect() as conn:
            statuses = set(conn.execute(text("SELECT status FROM qcmdb.sync_queue")).scalars())
        assert statuses == {"Success"}
    finally:
        for process in runs:
            if process.poll() is None:
                process.kill()
                process.wait()
        sim.sim.stop()
        cmdb.stop()


def test_a_record_being_parsed_is_never_claimed_by_a_second_parser(
    staging: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, qualys_sim: SimHandle
) -> None:
    """While one parser holds a record (its lock), another skips it, even though it is marked Processing; once the
    first parser is gone, the record is claimed again (it was left half-done)."""
    from qualys_cmdb.config import load_config

    write_config(tmp_path, monkeypatch, batch=10)
    config = load_config()
    schedule, source = config.schedule("t"), config.source("sim")
    hook = QualysHook.for_source(source, config.properties)
    try:
        fetched = fetch_assets(
            staging,
            hook,
            schedule=schedule,
            source=source,
            properties=config.properties,
            run=RunInfo("r1"),
            app_log=store.AppLog(staging),
        )
    finally:
        hook.close()
    first = fetched.queue_ids[0]
    with staging.begin() as conn:  # a parser claimed it and is still at work
        store.mark(conn, [first], "Processing", processor_id="parse[0]@busy:1")
    with record_held(staging, first) as held:
        assert held
        skipped = parse_record(staging, first, DetailFlags(), "parse[1]@other:2")
        assert skipped.status == "Skipped" and "another processor" in (skipped.note or "")
    again = parse_record(staging, first, DetailFlags(), "parse[1]@other:2")  # its parser is gone: claim it
    assert again.status == "Processing" and again.assets == 10
    for queue_id in fetched.queue_ids[1:]:
        assert parse_record(staging, queue_id, DetailFlags(), "parse[1]@other:2").status == "Processing"
    result = stage_records(staging, "t", "r1")
    assert result.assets == qualys_sim.estate()["count"] and result.requeued == []
