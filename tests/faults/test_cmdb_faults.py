"""Faults on the CMDB side: answers lost after the instance committed, and identifiers that lead IRE astray.

* Transform-map path: an Import Set row whose answer is lost (dropped connection, gateway timeout) was committed by
  the instance; the rerun must read back what the instance did instead of sending the row again (an asset with no
  coalesce match was inserted once per resend).
* IRE path: a batch whose answer is lost is sent again; identification by the Qualys asset id finds the CIs the
  first send created.
* Names longer than the CMDB's field are cut; cut to the same text, they made IRE match different assets to one CI
  (``UPDATE_WITH_SWITCH``), and every one was marked loaded. Now the later ones are held, and nothing flaps.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from sqlalchemy import Engine, text

from tests.conftest import SimHandle, start_sim, write_config
from tests.faults.harness import cmdb_snapshot, empty_staging, run_dag, start_cmdb


def _config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, method: str) -> None:
    path = write_config(tmp_path, monkeypatch, batch=10, schedule_extra="    auto_approve: true")
    path.write_text(path.read_text() + f"  insertion_method: {method}\n")


def _states(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return dict(conn.execute(text("SELECT state, count(*) FROM qcmdb.asset_classification GROUP BY 1")).all())


def _calls(url: str) -> int:
    return int(requests.get(f"{url}/sim/control/stats", timeout=10).json()["total"])


def _serial_less(sim: SimHandle, count: int) -> None:
    """The first ``count`` assets (the first rows the load sends) lose their BIOS serial number: the transform map's
    coalesce (serial number + name) cannot match them, so every send of one inserts a CI."""
    for asset in sorted(sim.estate()["assets"], key=lambda a: a["assetId"])[:count]:
        sim.control("overrides", assetId=asset["assetId"], fields={"biosSerialNumber": ""})


def test_answers_lost_after_commit_on_the_transform_map_path_never_write_a_ci_twice(
    airflow_db: None, staging: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = start_sim(monkeypatch, assets=24, seed=3)
    cmdb = start_cmdb(monkeypatch)
    try:
        _serial_less(sim, 3)
        _config(tmp_path, monkeypatch, "transform_map")
        run_dag()
        clean_cmdb, clean_states = cmdb_snapshot(cmdb.url), _states(staging)
    finally:
        sim.sim.stop()
        cmdb.stop()
    empty_staging(staging)

    sim = start_sim(monkeypatch, assets=24, seed=3)
    cmdb = start_cmdb(monkeypatch)
    try:
        _serial_less(sim, 3)
        _config(tmp_path, monkeypatch, "transform_map")
        # the 1st row's answer is dropped, the 2nd row's is a gateway timeout; the instance committed both
        requests.post(
            f"{cmdb.url}/sim/control/faults",
            json={
                "after_commit": [
                    {"family": "import", "count": 1, "answer": "drop"},
                    {"family": "import", "count": 1, "answer": 504},
                ]
            },
            timeout=10,
        ).raise_for_status()
        run_dag(expect="failed")  # load stops at each lost answer; its retry reads the first one back
        run_dag()  # the next run reads the second one back and sends the rest
        assert cmdb_snapshot(cmdb.url) == clean_cmdb  # not one CI more than a clean run wrote
        assert _states(staging) == clean_states
        with staging.connect() as conn:
            read_back = conn.execute(
                text("SELECT count(*) FROM qcmdb.asset_classification WHERE reason LIKE '%read back%'")
            ).scalar_one()
        assert read_back == 2
        before = _calls(cmdb.url)
        run_dag()
        assert _calls(cmdb.url) == before  # and nothing is left to send
    finally:
        sim.sim.stop()
        cmdb.stop()


def test_an_ire_answer_lost_after_commit_is_sent_again_without_a_duplicate(
    airflow_db: None, staging: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = start_sim(monkeypatch, assets=24, seed=3)
    cmdb = start_cmdb(monkeypatch)
    try:
        _config(tmp_path, monkeypatch, "ire")
        run_dag()
        clean_cmdb = cmdb_snapshot(cmdb.url)
    finally:
        sim.sim.stop()
        cmdb.stop()
    empty_staging(staging)

    sim = start_sim(monkeypatch, assets=24, seed=3)
    cmdb = start_cmdb(monkeypatch)
    try:
        _config(tmp_path, monkeypatch, "ire")
        requests.post(
            f"{cmdb.url}/sim/control/faults",
            json={"after_commit": {"family": "ire", "count": 1, "answer": "drop"}},
            timeout=10,
        ).raise_for_status()
        run_dag()
        assert cmdb_snapshot(cmdb.url) == clean_cmdb
    finally:
        sim.sim.stop()
        cmdb.stop()


def test_assets_whose_cut_names_are_the_same_are_never_merged_into_one_ci(
    airflow_db: None,
    staging: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sim = start_sim(monkeypatch, assets=30, seed=21)
    cmdb = start_cmdb(monkeypatch)
    try:
        chosen = [a["assetId"] for a in sorted(sim.estate()["assets"], key=lambda a: a["assetId"])[:5]]
        stem = "build-agent-" + "x" * 260  # the CMDB's name field holds 255 characters
        for n, asset_id in enumerate(chosen):
            sim.control("overrides", assetId=asset_id, fields={"assetName": f"{stem}-{n}", "dnsName": ""})
        _config(tmp_path, monkeypatch, "ire")
        run_dag(expect="failed")  # the summary reports the held assets
        with staging.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT asset_id, state, failure_code, reason, cmdb_sys_id, target_class "
                    "FROM qcmdb.asset_classification WHERE asset_id = ANY(:ids) ORDER BY asset_id"
                ),
                {"ids": chosen},
            ).all()
            shared = conn.execute(
                text(
                    "SELECT cmdb_sys_id FROM qcmdb.asset_classification WHERE state = 'loaded' "
                    "GROUP BY cmdb_sys_id HAVING count(*) > 1"
                )
            ).all()
        assert shared == []  # no CI is held by two loaded assets
        kept = [r for r in rows if r.state == "loaded"]
        held = [r for r in rows if r.state == "failed"]
        assert len(kept) == 1 and len(held) == 4, [(r.asset_id, r.state, r.reason) for r in rows]
        keeper = kept[0]
        assert "truncated: name" in keeper.reason
        for row in held:
            assert row.failure_code == "SHARED_CI"
            assert keeper.cmdb_sys_id in row.reason and str(keeper.asset_id) in row.reason
        ci = requests.get(
            f"{cmdb.url}/api/now/table/cmdb_ci/{keeper.cmdb_sys_id}",
            params={"sysparm_fields": "sys_class_name,name"},
            auth=("sn_integration", "sn-Passw0rd"),
            headers={"Accept": "application/json"},
            timeout=30,
        ).json()["result"]
        assert ci["sys_class_name"] == keeper.target_class  # the keeper's class again, whatever a held one switched
        assert ci["name"] == f"{stem}-0"[:255]

        before = _calls(cmdb.url)
        run_dag()  # nothing flaps: the held assets are not sent again, the keeper is unchanged
        assert _calls(cmdb.url) == before

        listed = _cli(capsys, "assets", "list", "--schedule", "t", "--state", "failed", "--code", "SHARED_CI")
        assert all(f"sim/{row.asset_id}" in listed for row in held) and "4 asset(s)" in listed
        retried = _cli(capsys, "assets", "retry-failed", *(str(r.asset_id) for r in held), "--schedule", "t")
        assert retried.startswith("4 failed asset(s)")
        assert _states(staging).get("approved") == 4  # sent again by the next run
    finally:
        sim.sim.stop()
        cmdb.stop()


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    from qualys_cmdb.cli import main

    capsys.readouterr()
    assert main(list(argv)) == 0
    return capsys.readouterr().out
