"""BY-11 end to end: CMDB → Qualys → CMDB never duplicates a CI.

Real Airflow (`dag.test()`), real Postgres, real HTTP to both simulators. CIs are created in the ServiceNow simulator
with a placeholder name and an address, as people do it; the CMDB → Qualys DAG pushes their addresses, the Qualys
simulator scans them (the hosts it finds there have names, serial numbers and MAC addresses the CMDB has never seen,
so IRE's identification rules alone would insert a second CI for each: the vendor guide's known issue), the host-id
updater records their host ids, and the Qualys → CMDB DAG brings them back.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from qualys_cmdb.classify.mappings import load_mappings
from sqlalchemy import text

from tests.conftest import REPO, SimHandle, start_sim

SN_AUTH = ("sn_integration", "sn-Passw0rd")
#: the CMDB classes of a CI's own details (IRE dependents and lookups), not CIs of a machine
DETAIL_CLASSES = {"cmdb_ci_network_adapter", "cmdb_ci_ip_address", "cmdb_ci_file_system", "cmdb_ci_spkg"}
PUSHED = {f"lab-{n:02d}": f"10.250.0.{n}" for n in range(1, 5)}
MOVED = "lab-04"  # the CMDB gives it another address between the push and the sync back
NEW_ADDRESS = "10.250.1.4"
LATE = "lab-03"  # scanned after the host-id updater's pass: linked by its pushed address


def _write_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "qualys_cmdb.yaml"
    path.write_text(
        """
sources:
  - name: sim
    pod: US1
    connection_id: qualys_test
    cmdb_to_qualys: true
schedules:
  - name: push
    source: sim
    direction: cmdb_to_qualys
    table: cmdb_ci_computer
    query: operational_status=1^nameSTARTSWITHlab-
    tracking_method: IP
  - name: back
    source: sim
    interval: 1h
    download_assets_since: 2000-01-01T00:00:00Z
    auto_approve: true
properties:
  upload_batch_size: 10
  download_batch_size: 25
  cmdb_connection_id: servicenow_default
"""
    )
    monkeypatch.setenv("QUALYS_CMDB_CONFIG", str(path))


def _run(dag_id: str, when: datetime | None = None) -> None:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils.state import DagRunState

    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {}, bag.import_errors
    dag_run = bag.get_dag(dag_id).test(**({"logical_date": when} if when else {}))
    assert dag_run.state == DagRunState.SUCCESS, (dag_id, dag_run.state)


def _table(cmdb: Any, table: str, fields: str, query: str = "") -> list[dict[str, Any]]:
    response = requests.get(
        f"{cmdb.url}/api/now/table/{table}",
        params={"sysparm_fields": fields, "sysparm_query": query, "sysparm_exclude_reference_link": "true"},
        auth=SN_AUTH,
        timeout=30,
    )
    response.raise_for_status()
    return list(response.json()["result"])


def _add_ci(cmdb: Any, name: str, address: str) -> str:
    response = requests.post(
        f"{cmdb.url}/api/now/table/cmdb_ci_computer",
        json={"name": name, "ip_address": address, "operational_status": "1"},
        auth=SN_AUTH,
        timeout=30,
    )
    response.raise_for_status()
    return str(response.json()["result"]["sys_id"])


def _cmdb_calls(cmdb: Any) -> int:
    return int(requests.get(f"{cmdb.url}/sim/control/stats", timeout=10).json()["total"])


@pytest.fixture
def qualys(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    handle = start_sim(monkeypatch, assets=6)
    yield handle
    handle.sim.stop()


def test_a_ci_pushed_to_qualys_scanned_and_synced_back_is_updated_never_duplicated(
    airflow_db: None, staging: Any, qualys: SimHandle, cmdb: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_config(tmp_path, monkeypatch)
    cis = {name: _add_ci(cmdb, name, address) for name, address in PUSHED.items()}
    _run("cmdb_to_qualys__push", datetime(2026, 1, 1, tzinfo=UTC))

    # The CMDB moves lab-04 to another address; the next push adds that one too (Qualys has not scanned it).
    response = requests.patch(
        f"{cmdb.url}/api/now/table/cmdb_ci_computer/{cis[MOVED]}",
        json={"ip_address": NEW_ADDRESS},
        auth=SN_AUTH,
        timeout=30,
    )
    response.raise_for_status()
    _run("cmdb_to_qualys__push", datetime(2026, 1, 2, tzinfo=UTC))

    # Qualys scans the addresses pushed first (lab-04's old one included); the host-id updater finds all but the one
    # scanned after its pass.
    early = [a for n, a in PUSHED.items() if n != LATE]
    scanned = {s["ip"]: s for s in qualys.control("scan", ips=early)["scanned"]}
    _run("qualys_host_id_updater", datetime(2026, 1, 2, 1, tzinfo=UTC))
    scanned.update({s["ip"]: s for s in qualys.control("scan", ips=[PUSHED[LATE]])["scanned"]})
    assert set(scanned) == set(PUSHED.values())
    with staging.connect() as conn:
        recorded = dict(
            conn.execute(
                text("SELECT address, max(qualys_host_id) FROM qcmdb.upload_item WHERE kind = 'ip' GROUP BY address")
            ).all()
        )
    assert recorded == {
        **{a: scanned[a]["hostId"] for a in early},
        PUSHED[LATE]: None,
        NEW_ADDRESS: None,
    }

    _run("qualys_to_cmdb__back")

    with staging.connect() as conn:
        assets = {
            int(r["asset_id"]): dict(r)
            for r in conn.execute(
                text(
                    "SELECT c.asset_id, c.state, c.cmdb_sys_id, c.last_operation, c.reason, a.ip_address, "
                    "concat_ws(' ', a.name, a.dns_name, a.netbios_name) AS names "
                    "FROM qcmdb.asset_classification c JOIN qcmdb.staged_asset a USING (source, asset_id) "
                    "WHERE c.schedule = 'back'"
                )
            ).mappings()
        }
    assert all(a["state"] == "loaded" for a in assets.values()), [a for a in assets.values() if a["state"] != "loaded"]
    assert len(assets) == qualys.estate()["count"]  # the seeded estate and the four scanned hosts

    # Each scanned host came back as the CI its address was pushed from, lab-04 (moved) and lab-03 (late) included.
    for name, address in PUSHED.items():
        asset = assets[scanned[address]["assetId"]]
        assert (asset["ip_address"], asset["cmdb_sys_id"]) == (address, cis[name]), (name, asset)
        assert asset["last_operation"].startswith("UPDATE"), (name, asset)
        assert name not in asset["names"]  # nothing IRE's identification rules could have matched it by

    # No CI twice: one CI per Qualys asset, none sharing a name or an address.
    machines = [
        ci
        for ci in _table(cmdb, "cmdb_ci", "sys_id,name,ip_address,sys_class_name")
        if ci["sys_class_name"] not in DETAIL_CLASSES
    ]
    assert sorted(ci["sys_id"] for ci in machines) == sorted(a["cmdb_sys_id"] for a in assets.values())
    for field in ("name", "ip_address"):
        twice = {v: n for v, n in Counter(ci[field] for ci in machines if ci[field]).items() if n > 1}
        assert twice == {}, (field, twice)

    # The pushed CIs keep their class or get a finer one (Qualys never moves them sideways or up), and carry the
    # Qualys asset id and host id: in the asset-details row and in IRE's source key.
    mappings = load_mappings(REPO / "include" / "mappings")
    by_sys_id = {ci["sys_id"]: ci for ci in machines}
    details = {d["u_ci"]: d for d in _table(cmdb, "u_qualys_asset_details", "u_ci,u_qualys_asset_id,u_qweb_host_id")}
    sources = {s["id"]: s["target_sys_id"] for s in _table(cmdb, "sys_object_source", "id,target_sys_id")}
    for name, address in PUSHED.items():
        host = scanned[address]
        assert mappings.is_a(by_sys_id[cis[name]]["sys_class_name"], "cmdb_ci_computer"), by_sys_id[cis[name]]
        assert (details[cis[name]]["u_qualys_asset_id"], details[cis[name]]["u_qweb_host_id"]) == (
            str(host["assetId"]),
            str(host["hostId"]),
        )
        assert sources[str(host["assetId"])] == cis[name]

    # Nothing changed: a second sync back makes no CMDB call (the links re-send nothing).
    calls = _cmdb_calls(cmdb)
    _run("qualys_to_cmdb__back")
    assert _cmdb_calls(cmdb) == calls
