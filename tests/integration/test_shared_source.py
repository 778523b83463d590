"""Several schedules on one Qualys source (FM-8, BY-12): the vendor pattern is one schedule per class or QQL/tag slice
of the same subscription. Each schedule keeps its own view of its assets (classification, approvals, failures, load
state); staged data is one copy per asset, each schedule replacing only the details it fetches; the CI is written
once; an asset two schedules classify differently is held as a conflict, never flipped. Real DAG runs
(``dag.test()``), real Postgres, both simulators over HTTP.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from qualys_cmdb.approval.decisions import Selection, counts, decide
from sqlalchemy import Engine, text

from tests.conftest import REPO, SimHandle
from tests.faults.harness import staging_snapshot

HEADER = """
sources:
  - name: sim
    api: csam
    pod: US1
    connection_id: qualys_test
schedules:
"""
FOOTER = """
properties:
  download_batch_size: 10
  download_processors: 2
"""


def _schedule(name: str, extra: str = "") -> str:
    return (
        f"  - name: {name}\n    source: sim\n    interval: 1h\n    download_assets_since: 2000-01-01T00:00:00Z\n"
        f"    approval_wait_minutes: 0\n    auto_approve: true\n{extra}"
    )


def _config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *schedules: str) -> None:
    path = tmp_path / "shared.yaml"
    path.write_text(HEADER + "".join(schedules) + FOOTER)
    monkeypatch.setenv("QUALYS_CMDB_CONFIG", str(path))


def _run(name: str, expect: str = "success") -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {}, bag.import_errors
    dag_run = bag.get_dag(f"qualys_to_cmdb__{name}").test()
    assert str(dag_run.state) == expect, (name, dag_run.state)


def _calls(cmdb: Any) -> int:
    return int(requests.get(f"{cmdb.url}/sim/control/stats", timeout=10).json()["total"])


def _cis(cmdb: Any) -> dict[str, int]:
    return dict(requests.get(f"{cmdb.url}/sim/control/cmdb", timeout=10).json()["cmdb_ci"]["by_class"])


def _rows(engine: Engine, schedule: str) -> dict[int, tuple[str, str | None]]:
    with engine.connect() as conn:
        return {
            int(a): (str(s), c)
            for a, s, c in conn.execute(
                text("SELECT asset_id, state, target_class FROM qcmdb.asset_classification WHERE schedule = :s"),
                {"s": schedule},
            )
        }


def _os_of(qualys_sim: SimHandle, category: str) -> set[int]:
    return {a["assetId"] for a in qualys_sim.estate()["assets"] if a.get("os_category1") == category}


def test_schedules_with_disjoint_slices_each_keep_their_own_assets(
    airflow_db: None, staging: Engine, qualys_sim: SimHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cmdb
) -> None:
    linux, windows = _os_of(qualys_sim, "Linux"), _os_of(qualys_sim, "Windows")
    assert linux and windows
    _config(
        tmp_path,
        monkeypatch,
        _schedule("linux", "    qql_filter: operatingSystem.category1:`Linux`\n"),
        _schedule("windows", "    qql_filter: operatingSystem.category1:`Windows`\n"),
    )
    _run("linux")
    first = _rows(staging, "linux")
    _run("windows")
    assert set(_rows(staging, "linux")) == linux and _rows(staging, "linux") == first  # not taken by windows
    assert set(_rows(staging, "windows")) == windows
    states = [s for rows in (_rows(staging, "linux"), _rows(staging, "windows")) for s, _ in rows.values()]
    tables = requests.get(f"{cmdb.url}/sim/control/cmdb", timeout=10).json()["tables"]
    assert tables["sys_object_source"] == states.count("loaded") == len(states) - states.count("failed")

    before = _calls(cmdb)
    _run("linux")
    _run("windows")
    assert _calls(cmdb) == before  # reruns with nothing changed: no CMDB call


def test_overlapping_schedules_with_other_detail_flags_neither_wipe_nor_rewrite_each_other(
    airflow_db: None, staging: Engine, qualys_sim: SimHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cmdb
) -> None:
    lean = "    details: {ports: false, software: false, volumes: true, interfaces: true, processors: true}\n"
    _config(tmp_path, monkeypatch, _schedule("full"), _schedule("lean", lean))
    estate = qualys_sim.estate()
    _run("full")
    staged = staging_snapshot(staging)
    assert len(staged["staged_software_install"]) == estate["software_rows"]
    cis, calls = _cis(cmdb), _calls(cmdb)

    _run("lean")  # the same assets, without software and ports
    after = staging_snapshot(staging)
    assert after["staged_software_install"] == staged["staged_software_install"]  # not wiped
    assert after["staged_open_port"] == staged["staged_open_port"]
    assert _cis(cmdb) == cis and _calls(cmdb) == calls  # the CI is written once: full wrote it as lean would
    lean_rows = _rows(staging, "lean")
    assert len(lean_rows) == estate["count"]
    assert {s for s, _ in lean_rows.values()} == {s for s, _ in _rows(staging, "full").values()}

    _run("full")
    _run("lean")
    assert _calls(cmdb) == calls  # and nothing flips back and forth
    again = staging_snapshot(staging)
    assert again["staged_software_install"] == staged["staged_software_install"]


def test_a_conflicting_class_override_holds_the_asset_instead_of_switching_its_ci(
    airflow_db: None, staging: Engine, qualys_sim: SimHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cmdb
) -> None:
    linux = _os_of(qualys_sim, "Linux")
    _config(
        tmp_path,
        monkeypatch,
        _schedule("everything"),
        _schedule("servers", "    qql_filter: operatingSystem.category1:`Linux`\n    target_class: cmdb_ci_server\n"),
    )
    _run("everything")
    cis, calls = _cis(cmdb), _calls(cmdb)
    kept = {a: c for a, (s, c) in _rows(staging, "everything").items() if a in linux}
    _run("servers", expect="failed")  # the run reports the held conflicts
    with staging.connect() as conn:
        held = conn.execute(
            text(
                "SELECT asset_id, reason FROM qcmdb.asset_classification "
                "WHERE schedule = 'servers' AND failure_code = 'CLASS_CONFLICT'"
            )
        ).all()
    conflicting = {a for a, c in kept.items() if c != "cmdb_ci_server"}
    assert {a for a, _ in held} == conflicting and conflicting
    assert all("schedule everything" in reason and "cmdb_ci_server" in reason for _, reason in held)
    assert _cis(cmdb) == cis and _calls(cmdb) == calls  # no CI switched class
    _run("servers")  # held, not flipped: nothing new to report or send
    _run("everything")
    assert _calls(cmdb) == calls


def test_a_third_schedule_on_a_synced_source_gets_its_own_pending_list_with_the_preview(
    airflow_db: None, staging: Engine, qualys_sim: SimHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cmdb
) -> None:
    review = "    auto_approve: false\n".join(_schedule("review").rsplit("    auto_approve: true\n", 1)).replace(
        "approval_wait_minutes: 0", "approval_wait_minutes: 5\n    approval_poll_seconds: 0.5"
    )
    _config(
        tmp_path,
        monkeypatch,
        _schedule("linux", "    qql_filter: operatingSystem.category1:`Linux`\n"),
        _schedule("everything"),
        review,
    )
    _run("linux")
    _run("everything")
    calls = _calls(cmdb)
    previews: dict[str, int] = {}

    def reviewer() -> None:  # a person in the review page while the new schedule's run waits
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            pending = counts(staging, "review").get("pending", 0)
            with staging.connect() as conn:
                seen = dict(
                    conn.execute(
                        text(
                            "SELECT preview_operation, count(*) FROM qcmdb.asset_classification "
                            "WHERE schedule = 'review' AND preview_at IS NOT NULL GROUP BY 1"
                        )
                    ).all()
                )
            if pending and sum(seen.values()) == pending:
                previews.update(seen)
                decide(staging, Selection("review"), "approved", "alice")
                return
            time.sleep(0.3)

    thread = threading.Thread(target=reviewer)
    thread.start()
    try:
        _run("review")
    finally:
        thread.join()
    estate = qualys_sim.estate()["count"]
    failed = counts(staging, "everything").get("failed", 0)
    assert sum(previews.values()) == estate - failed  # its own pending list, not "0 changed"
    assert set(previews) <= {"UPDATE", "NO_CHANGE"}  # it would update the CIs the other schedules wrote
    assert counts(staging, "review").get("loaded") == estate - failed
    assert _calls(cmdb) - calls == (estate - failed + 199) // 200  # the previews only: the CIs are written once
