"""HK-3: the sync-queue cleanup removes what is past its retention, never what a running sync needs or holds.

Real Postgres; the DAG runs through ``dag.test()``; a second connection plays the running sync that holds locks.
"""

from __future__ import annotations

import io
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from qualys_cmdb.staging import store
from qualys_cmdb.staging.cleanup import Retention, clean_queue
from qualys_cmdb.staging.schema import landing_asset, landing_software
from sqlalchemy import func, select, text

from tests.conftest import REPO, SimHandle, write_config

NOW = datetime.now(UTC)


def _record(engine: Any, status: str, age_days: float, *, run_id: str = "old-run", schedule: str = "t") -> int:
    """A download record of ``schedule`` in ``status``, last changed ``age_days`` ago, with a stored response."""
    with engine.begin() as conn:
        queue_id = store.enqueue_download(
            conn,
            source="sim",
            schedule=schedule,
            run_id=run_id,
            api="csam",
            fmt="json",
            page_no=1,
            request={},
            cursor="0",
            next_cursor=None,
            has_more=False,
            record_count=1,
            payload=io.BytesIO(b"x" * 100),
            payload_bytes=1000,
            status=status,
        )
        conn.execute(
            text("UPDATE qcmdb.sync_queue SET updated_at = :t WHERE id = :i"),
            {"t": NOW - timedelta(days=age_days), "i": queue_id},
        )
        # landing rows it still owns (an Error record parsed halfway, a Success one a crash left behind)
        conn.execute(
            landing_asset.insert().values(queue_id=queue_id, source="sim", asset_id=queue_id, content_hash="h")
        )
        conn.execute(
            landing_software.insert().values(queue_id=queue_id, source="sim", asset_id=queue_id, software_key="k")
        )
    return queue_id


def _upload(engine: Any, status: str, age_days: float, address: str, *, run_id: str, host: int | None = None) -> int:
    with engine.begin() as conn:
        return int(
            conn.execute(
                text(
                    """INSERT INTO qcmdb.upload_item (schedule, source, kind, address, tracking_method, ci_sys_id,
                                                      status, run_id, updated_at, qualys_host_id)
                       VALUES ('push', 'sim', 'ip', :a, 'IP', 'ci1', :s, :r, :t, :h) RETURNING id"""
                ),
                {"a": address, "s": status, "r": run_id, "t": NOW - timedelta(days=age_days), "h": host},
            ).scalar_one()
        )


def _ids(engine: Any, table: str) -> set[int]:
    with engine.connect() as conn:
        return {int(r[0]) for r in conn.execute(text(f"SELECT id FROM qcmdb.{table}"))}  # noqa: S608 - test table


def _landing(engine: Any) -> set[int]:
    with engine.connect() as conn:
        return {int(r[0]) for r in conn.execute(select(landing_asset.c.queue_id))}


def test_records_past_their_retention_go_with_their_landing_rows_and_nothing_else(staging: Any) -> None:
    old_success = _record(staging, "Success", 31)
    young_success = _record(staging, "Success", 29)
    old_error = _record(staging, "Error", 61)
    young_error = _record(staging, "Error", 45)  # an Error is kept 60 days
    queued = _record(staging, "Queued", 400)
    processing = _record(staging, "Processing", 400)
    running = _record(staging, "Success", 90, run_id="running-run")  # its run is still going: never removed
    store.start_run(staging, "t", "sim", "running-run")
    with staging.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO qcmdb.app_log (created_at, level, message) "
                "VALUES (:old, 'info', 'old'), (now(), 'info', 'new')"
            ),
            {"old": NOW - timedelta(days=91)},
        )
    superseded = _upload(staging, "Success", 200, "10.0.0.1", run_id="r1")
    newest = _upload(staging, "Success", 190, "10.0.0.1", run_id="r2")  # the CI's evidence: kept
    scanned = _upload(staging, "Success", 200, "10.0.0.2", run_id="r1", host=77)  # has the host id the newer lacks
    unscanned = _upload(staging, "Success", 190, "10.0.0.2", run_id="r2")
    failed = _upload(staging, "Error", 181, "10.0.0.3", run_id="r1")
    waiting = _upload(staging, "Queued", 400, "10.0.0.4", run_id="r1")

    dry = clean_queue(staging, Retention(), dry_run=True, now=NOW)
    assert (dry.queue_success, dry.queue_error, dry.landing_rows, dry.upload_items, dry.app_log) == (1, 1, 4, 2, 1)
    assert len(_ids(staging, "sync_queue")) == 7  # a dry run removes nothing

    result = clean_queue(staging, Retention(), now=NOW)
    assert (result.queue_success, result.queue_error, result.landing_rows) == (1, 1, 4)
    assert (result.upload_items, result.app_log, result.payload_bytes) == (2, 1, 2000)
    assert result.stopped_reason is None and result.kept_in_use == 1  # the running run's record
    assert _ids(staging, "sync_queue") == {young_success, young_error, queued, processing, running}
    assert old_success not in _landing(staging) and old_error not in _landing(staging)
    assert _ids(staging, "upload_item") == {newest, scanned, unscanned, waiting}
    assert superseded not in _ids(staging, "upload_item") and failed not in _ids(staging, "upload_item")
    with staging.connect() as conn:
        assert conn.execute(text("SELECT message FROM qcmdb.app_log")).scalars().all() == ["new"]


def test_the_cleanup_works_in_batches_and_retention_is_configurable(staging: Any) -> None:
    ids = [_record(staging, "Success", 3) for _ in range(7)]
    assert clean_queue(staging, Retention(success_days=5), now=NOW).queue_success == 0
    result = clean_queue(staging, Retention(success_days=2), now=NOW, batch=3)
    assert result.queue_success == 7 and result.transactions >= 3  # 3 + 3 + 1, each its own transaction
    assert not _ids(staging, "sync_queue") & set(ids)


def test_a_record_a_running_sync_holds_is_skipped_and_neither_waits(staging: Any) -> None:
    """A second connection holds row locks on one old record and the fetch lock of its schedule, as a running sync
    does (stage locks its records FOR UPDATE; a re-queue updates them). The cleanup skips that record, removes the
    others and ends, while the other transaction is still open; the sync then goes on with its record."""
    held = _record(staging, "Success", 40)
    others = [_record(staging, "Success", 40) for _ in range(5)]
    sync = staging.connect()
    try:
        sync.execute(text("SELECT pg_advisory_lock(1371734017, hashtext('t'))"))  # the schedule's fetch lock
        sync.execute(text("SELECT id FROM qcmdb.sync_queue WHERE id = :i FOR UPDATE"), {"i": held})
        outcome: dict[str, Any] = {}
        cleanup = threading.Thread(
            target=lambda: outcome.update(result=clean_queue(staging, Retention(), now=NOW, batch=2)), daemon=True
        )
        cleanup.start()
        cleanup.join(timeout=120)
        assert not cleanup.is_alive(), "the cleanup waited for the running sync"
        result = outcome["result"]
        assert result.queue_success == 5 and result.stopped_reason is None and result.kept_in_use == 1
        assert _ids(staging, "sync_queue") == {held}
        assert not set(others) & _landing(staging)
        # the sync still has its record and carries on with it
        sync.execute(text("UPDATE qcmdb.sync_queue SET notes = 'still mine' WHERE id = :i"), {"i": held})
        sync.commit()
    finally:
        sync.execute(text("SELECT pg_advisory_unlock_all()"))
        sync.close()
    result = clean_queue(staging, Retention(), now=NOW + timedelta(days=1))  # released: the next cleanup takes it
    assert result.queue_success == 1 and not _ids(staging, "sync_queue")


def test_the_cleanup_dag_removes_a_real_runs_old_records(
    airflow_db: None, staging: Any, qualys_sim: SimHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.dag_processing.dagbag import DagBag

    write_config(tmp_path, monkeypatch, batch=10)
    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {}
    cleanup = bag.get_dag("qualys_queue_cleanup")
    assert cleanup.timetable.expression == "0 0 * * *"  # daily, the guide's job (HK-3), unless configured otherwise
    assert str(bag.get_dag("qualys_to_cmdb__t").test().state) == "success"
    with staging.begin() as conn:
        pages = conn.execute(
            select(func.count()).where(text("status = 'Success'")).select_from(text("qcmdb.sync_queue"))
        )
        assert pages.scalar_one() == 4
        conn.execute(text("UPDATE qcmdb.sync_queue SET updated_at = updated_at - interval '31 days'"))
    run = cleanup.test()
    assert str(run.state) == "success"
    assert not _ids(staging, "sync_queue")
    with staging.connect() as conn:
        staged = conn.execute(text("SELECT count(*) FROM qcmdb.staged_asset")).scalar_one()
        logged = conn.execute(
            text("SELECT details FROM qcmdb.app_log WHERE component = 'queue cleanup' ORDER BY id DESC LIMIT 1")
        ).scalar_one()
    assert staged == qualys_sim.estate()["count"]  # staged data is not the queue's: it stays
    assert logged["queue_success"] == 4 and logged["retention"]["success_days"] == 30


def test_qcmdb_queue_cleanup_prints_what_it_removes(
    staging: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from qualys_cmdb.cli import main

    write_config(tmp_path, monkeypatch)
    path = tmp_path / "qualys_cmdb.yaml"
    path.write_text(path.read_text() + "  queue_retention_success_days: 10\n")
    _record(staging, "Success", 11)
    _record(staging, "Error", 11)
    assert main(["queue", "cleanup", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "retention: Success 10 d, Error 60 d" in out and "(dry run" in out
    assert "would remove 1 Success and 0 Error record(s)" in out
    assert len(_ids(staging, "sync_queue")) == 2
    assert main(["queue", "cleanup"]) == 0
    assert "removed 1 Success and 0 Error record(s)" in capsys.readouterr().out
    assert len(_ids(staging, "sync_queue")) == 1


def test_the_cleanup_stops_between_batches_at_the_lifetime_and_the_next_one_carries_on(staging: Any) -> None:
    import itertools

    from qualys_cmdb.lifetime import Lifetime

    for _ in range(7):
        _record(staging, "Success", 40)
    ticks = itertools.count(0, 240)  # 4 minutes a look: three batches fit in the 10-minute lifetime
    result = clean_queue(
        staging, Retention(), now=NOW, batch=2, lifetime=Lifetime(10, clock=lambda: float(next(ticks)))
    )
    assert result.queue_success == 6 and result.transactions == 3
    assert (
        result.stopped_reason
        and "max transaction lifetime of 10 min reached after 3 batch(es)" in result.stopped_reason
    )
    assert result.kept_in_use == 1
    assert clean_queue(staging, Retention(), now=NOW, batch=2).queue_success == 1
