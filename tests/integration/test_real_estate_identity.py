"""A first sync of an estate shaped like a real one (issue 16's "done when"): cloned VMs sharing a serial number and
a MAC address, a firmware placeholder serial, two hosts with one name, and two overlapping schedules on the source.
No false merge, no flapping, and the counts reach the summary. Real DAG runs, real Postgres, both simulators.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
from sqlalchemy import Engine, text

from tests.conftest import SimHandle
from tests.integration.test_shared_source import _calls, _config, _run, _schedule

SN_AUTH = ("sn_integration", "sn-Passw0rd")


def _table(cmdb, table: str, query: str) -> list[dict]:  # type: ignore[no-untyped-def,type-arg]
    response = requests.get(
        f"{cmdb.url}/api/now/table/{table}",
        params={"sysparm_query": query, "sysparm_limit": "10000"},
        auth=SN_AUTH,
        headers={"Accept": "application/json"},
        timeout=30,
    )
    response.raise_for_status()
    return list(response.json()["result"])


def test_cloned_vms_placeholder_serials_and_a_reused_name_merge_nothing_and_nothing_flaps(
    airflow_db: None,
    staging: Engine,
    qualys_sim: SimHandle,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    cmdb,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assets = sorted(qualys_sim.estate()["assets"], key=lambda a: a["assetId"])
    placeholder, clone_a, clone_b, twin_a, twin_b = (a["assetId"] for a in assets[11:16])
    assert assets[14]["name"] == assets[15]["name"]  # the estate does have them
    _config(
        tmp_path,
        monkeypatch,
        _schedule("everything"),
        _schedule("linux", "    qql_filter: operatingSystem.category1:`Linux`\n"),
    )
    _run("everything")
    _run("linux")

    with staging.connect() as conn:
        merged = conn.execute(
            text(
                "SELECT cmdb_sys_id FROM qcmdb.asset_classification WHERE state = 'loaded' "
                "GROUP BY cmdb_sys_id HAVING count(DISTINCT (source, asset_id)) > 1"
            )
        ).all()
        loaded = conn.execute(
            text("SELECT count(DISTINCT asset_id) FROM qcmdb.asset_classification WHERE state = 'loaded'")
        ).scalar_one()
        rows = conn.execute(
            text(
                "SELECT asset_id, reason, state FROM qcmdb.asset_classification "
                "WHERE schedule = 'everything' AND asset_id = ANY(:ids)"
            ),
            {"ids": [placeholder, clone_a, clone_b, twin_a, twin_b]},
        ).all()
        notes = {r.asset_id: r.reason for r in rows}
        states = {r.asset_id: r.state for r in rows}
    assert merged == []  # no CI holds two Qualys assets
    tables = requests.get(f"{cmdb.url}/sim/control/cmdb", timeout=10).json()["tables"]
    assert tables["sys_object_source"] == loaded  # one CI per loaded Qualys asset
    assert set(states.values()) == {"loaded"}  # each of them is its own CI
    for asset in (clone_a, clone_b):
        assert "(shared with another asset)" in (notes[asset] or ""), notes[asset]
    with staging.connect() as conn:
        payloads = dict(
            conn.execute(
                text("SELECT asset_id, payload FROM qcmdb.asset_classification WHERE schedule = 'everything'")
            ).all()
        )
    for asset in (placeholder, clone_a, clone_b):  # the CI's own serial number field does not carry them either
        assert "serial_number" not in payloads[asset], payloads[asset]
    with staging.connect() as conn:
        twins = (
            conn.execute(
                text(
                    "SELECT cmdb_sys_id FROM qcmdb.asset_classification WHERE schedule = 'everything' "
                    "AND asset_id = ANY(:ids)"
                ),
                {"ids": [twin_a, twin_b]},
            )
            .scalars()
            .all()
        )
    names = [_table(cmdb, "cmdb_ci", f"sys_id={sys_id}")[0]["name"] for sys_id in twins]
    assert len(set(twins)) == 2 and names == [payloads[twin_a]["name"]] * 2  # two CIs, each named in the end
    clone_serial = next(a for a in assets if a["assetId"] == clone_a)
    assert clone_serial["has_serial"]
    # neither the placeholder nor the clones' serial became a serial-number record of any CI
    placeholders = _table(cmdb, "cmdb_serial_number", "serial_numberSTARTSWITHTo be^ORserial_number=Default string")
    placeholders += _table(cmdb, "cmdb_serial_number", "serial_number=Not Specified^ORserial_number=0")
    placeholders += _table(cmdb, "cmdb_serial_number", "serial_number=System Serial Number")
    assert placeholders == []
    vmware = _table(cmdb, "cmdb_serial_number", "serial_numberSTARTSWITHVMware-")
    assert len({r["serial_number"] for r in vmware}) == len(vmware)  # no serial number appears on two CIs

    before = _calls(cmdb)
    _run("everything")
    _run("linux")
    assert _calls(cmdb) == before  # no flapping: nothing to send again

    from qualys_cmdb.cli import main

    out = tmp_path / "summary.json"
    assert main(["summary", "--schedule", "everything", "--json", str(out)]) == 0
    summary = json.loads(out.read_text())
    assert summary["cmdb"]["failed_by_code"].get("SHARED_CI", 0) == 0
    assert "class switches:" in capsys.readouterr().out
