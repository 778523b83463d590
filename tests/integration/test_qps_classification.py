"""Issue 22: a source on the Asset Management API (QPS hostasset) classifies as well as a CSAM source.

One simulated estate, read by two sources of one configuration (api: csam and api: hostasset), each through its own
DAG (`dag.test()`, real Postgres, real HTTP). Every asset gets a class through both; the few that land in another
class through hostasset are listed below, each with why.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.conftest import REPO, start_sim

ASSETS, SEED = 150, 3

#: (class through CSAM, class through hostasset): assets. Every other asset lands in the same class both ways: the
#: computers (Windows, Linux, Unix, Mac, mainframe, cloud instances, VMs, point-of-sale) and the devices whose OS
#: says what they are (firewalls, load balancers, NX-OS switches, wireless, printers but MFPs, phones and tablets).
#: The estate is generated (simulators/qualys, seed SEED): a change of the generator may move these numbers.
EXPECTED_DIFFERENCES = {
    # Ubuntu writes one OS name for its desktop and its server edition ("Ubuntu / Linux 22.04.4 LTS"): hostasset has
    # nothing else that tells them apart, and os_names.yaml makes Ubuntu a server. CSAM's catalog says Client.
    ("cmdb_ci_pc_hardware", "cmdb_ci_linux_server"): 2,
    # Network devices whose OS runs on many kinds of device (Cisco IOS, IOS XE, Junos): only CSAM's hardware
    # category tells a router, a hub, a modem, an access or print server, an IoT gateway or a serial device server
    # from the generic network device hostasset can name.
    ("cmdb_ci_ip_router", "cmdb_ci_netgear"): 2,
    ("cmdb_ci_hub_network", "cmdb_ci_netgear"): 1,
    ("cmdb_ci_modem_network", "cmdb_ci_netgear"): 1,
    ("cmdb_ci_server", "cmdb_ci_netgear"): 2,  # Networking Device / Access Servers and / Print Server
    ("cmdb_ci_iot_gateway", "cmdb_ci_netgear"): 1,
    ("cmdb_ci_hardware", "cmdb_ci_netgear"): 1,  # Industrial Networking / Industrial Serial Device Server
    # A printer's firmware does not say whether it also scans and copies: CSAM's hardware category does.
    ("cmdb_ci_mfp_printer", "cmdb_ci_printer"): 5,
    # Industrial firmware (Siemens SIMATIC) runs on every kind of controller: CSAM's hardware category names the
    # HMI and the PLC (classes ServiceNow soft-deprecated), hostasset gives their parent class.
    ("cmdb_ci_hmi", "cmdb_ci_manufacturing"): 1,
    ("cmdb_ci_plc", "cmdb_ci_manufacturing"): 1,
    # Embedded Linux and VxWorks run in every kind of appliance: CSAM's hardware category gives the media player,
    # smart TV, camera, PDU, UPS, storage or wearable class; hostasset knows an embedded device, cmdb_ci_iot. For
    # phones, PBXs and conferencing gear CSAM's table says cmdb_ci_hardware, less than hostasset's cmdb_ci_iot.
    ("cmdb_ci_media_player", "cmdb_ci_iot"): 4,
    ("cmdb_ci_stv", "cmdb_ci_iot"): 1,
    ("cmdb_ci_security", "cmdb_ci_iot"): 2,
    ("cmdb_ci_pdu", "cmdb_ci_iot"): 1,
    ("cmdb_ci_ups", "cmdb_ci_iot"): 1,
    ("cmdb_ci_storage_device", "cmdb_ci_iot"): 1,
    ("cmdb_ci_wearable", "cmdb_ci_iot"): 5,
    ("cmdb_ci_hardware", "cmdb_ci_iot"): 7,
    # Devices Qualys could not identify (OS "Unknown", no agent): CSAM still has their hardware category, hostasset
    # has nothing but the address, so the "Unidentified device" rule gives them the base class.
    ("cmdb_ci_iot", "cmdb_ci_hardware"): 5,
    ("cmdb_ci_display", "cmdb_ci_hardware"): 1,
    ("cmdb_ci_wearable", "cmdb_ci_hardware"): 1,
    ("cmdb_ci_manufacturing", "cmdb_ci_hardware"): 1,
}


def _config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "qualys_cmdb.yaml"
    path.write_text(
        """
sources:
  - {name: via_csam, api: csam, pod: US1, connection_id: qualys_test}
  - {name: via_qps, api: hostasset, pod: US1, connection_id: qualys_test}
schedules:
  - {name: csam, source: via_csam, interval: 1h, download_assets_since: 2000-01-01T00:00:00Z, approval_wait_minutes: 0}
  - {name: qps, source: via_qps, interval: 1h, download_assets_since: 2000-01-01T00:00:00Z, approval_wait_minutes: 0}
properties: {download_batch_size: 100, download_processors: 2}
"""
    )
    monkeypatch.setenv("QUALYS_CMDB_CONFIG", str(path))


def _classes(engine, schedule: str) -> dict[int, str]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT asset_id, state, target_class, reason FROM qcmdb.asset_classification WHERE schedule = :s"),
            {"s": schedule},
        ).all()
    failed = [(a, reason) for a, state, _, reason in rows if state == "failed"]
    assert failed == [], failed[:5]
    return {int(a): str(cls) for a, _, cls, _ in rows}


def test_the_same_estate_lands_in_the_same_classes_through_csam_and_through_hostasset(
    airflow_db: None, staging, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.dag_processing.dagbag import DagBag

    sim = start_sim(monkeypatch, assets=ASSETS, seed=SEED)
    try:
        _config(tmp_path, monkeypatch)
        bag = DagBag(dag_folder=str(REPO / "dags"))
        for schedule in ("csam", "qps"):
            # green: the summary step fails a run that left any asset without a class
            assert str(bag.get_dag(f"qualys_to_cmdb__{schedule}").test().state) == "success"
        estate = sim.estate()
    finally:
        sim.sim.stop()
    csam, qps = _classes(staging, "csam"), _classes(staging, "qps")
    assert sorted(csam) == sorted(qps) == sorted(a["assetId"] for a in estate["assets"])
    differences = Counter((csam[a], qps[a]) for a in csam if csam[a] != qps[a])
    assert dict(differences) == EXPECTED_DIFFERENCES
    # what the rules can know from an OS name, they know: every computer lands in its CSAM class
    computers = {"Windows", "Linux", "Unix", "Mac", "Mainframe"}
    os_family = {a["assetId"]: a["os_category1"] for a in estate["assets"]}
    assert [a for a in csam if csam[a] != qps[a] and os_family[a] in computers] == [
        a for a in csam if (csam[a], qps[a]) == ("cmdb_ci_pc_hardware", "cmdb_ci_linux_server")
    ]
