"""The Qualys → CMDB DAG through the transform-map path (PR-5, CM-7, QS-5, CM-4): ``dag.test()`` from the Qualys
simulator into the ServiceNow simulator, through the schedule's own import set table; the CIs and their related rows
(asset, OS and hardware details, open ports, processors, software details) land, odd software is listed in the
application log, and an unchanged rerun makes no CMDB call."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import requests
from qualys_cmdb.load.payload import DUPLICATE_SOFTWARE, NAMELESS_SOFTWARE
from sqlalchemy import Engine, text

from tests.conftest import start_sim, write_config
from tests.faults.harness import run_dag, start_cmdb

SHAPE = "software=6,ports=3,interfaces=1,volumes=1,cloud=0"
AUTH = ("sn_integration", "sn-Passw0rd")


def _cmdb_rows(url: str, table: str, fields: str) -> list[dict[str, Any]]:
    response = requests.get(
        f"{url}/api/now/table/{table}",
        params={"sysparm_fields": fields, "sysparm_limit": "100000", "sysparm_exclude_reference_link": "true"},
        auth=AUTH,
        headers={"Accept": "application/json"},
        timeout=60,
    )
    response.raise_for_status()
    return list(response.json()["result"])


def _by_ci(url: str, table: str, *fields: str) -> dict[str, set[tuple[str, ...]]]:
    """Each CI's rows of a related table, as tuples of ``fields``."""
    out: dict[str, set[tuple[str, ...]]] = defaultdict(set)
    for row in _cmdb_rows(url, table, ",".join(("u_ci", *fields))):
        out[row["u_ci"]].add(tuple(row[f] for f in fields))
    return dict(out)


def _staged_by_ci(staging: Engine, sql: str) -> dict[str, set[tuple[str, ...]]]:
    """Per CI of a loaded asset, the staged rows ``sql`` selects (after the CI's sys_id) as strings."""
    out: dict[str, set[tuple[str, ...]]] = defaultdict(set)
    with staging.connect() as conn:
        for sys_id, *values in conn.execute(text(sql)):
            out[sys_id].add(tuple(str(v) for v in values))
    return dict(out)


def _calls(url: str) -> int:
    return int(requests.get(f"{url}/sim/control/stats", timeout=10).json()["total"])


def test_the_dag_writes_each_ci_and_its_related_rows_through_the_schedules_transform_map(
    airflow_db: None, staging: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = start_sim(monkeypatch, assets=12, seed=3, shape=SHAPE)
    cmdb = start_cmdb(monkeypatch)
    try:
        # one asset's software has a row without a name, and the same name and version twice
        odd = next(a for a in sorted(sim.estate()["assets"], key=lambda a: a["assetId"]) if a["software"] >= 3)
        nameless = {"fullName": "", "productName": "", "discoveredName": ""}
        twice = {"fullName": "Dup Tool", "version": "1.0"}
        sim.control("overrides", assetId=odd["assetId"], software={"0": nameless, "1": twice, "2": twice})
        path = write_config(
            tmp_path,
            monkeypatch,
            schedule_extra="    auto_approve: true\n    transform_map_table: u_qualys_computer_import",
        )
        # QS-5: the schedule's own transform map wins over the properties' (which this instance does not have)
        path.write_text(path.read_text() + "  insertion_method: transform_map\n  transform_map_table: u_not_here\n")
        requests.post(f"{cmdb.url}/sim/control/transform", json={"coalesce": ["correlation_id"]}, timeout=10)

        run_dag()

        with staging.connect() as conn:
            states = dict(conn.execute(text("SELECT state, count(*) FROM qcmdb.asset_classification GROUP BY 1")).all())
            cis = dict(conn.execute(text("SELECT asset_id, cmdb_sys_id FROM qcmdb.asset_classification")).all())
            log = conn.execute(text("SELECT level, message, details FROM qcmdb.app_log WHERE component = 'load'")).all()
        assert states == {"loaded": sim.estate()["count"]}
        tables = requests.get(f"{cmdb.url}/sim/control/cmdb", timeout=10).json()["tables"]
        assert tables["u_qualys_computer_import"] == len(cis)  # one import row per asset, in the schedule's table
        servers = {r["sys_id"]: r for r in _cmdb_rows(cmdb.url, "cmdb_ci", "sys_id,correlation_id")}
        assert {servers[sys_id]["correlation_id"] for sys_id in cis.values()} == {f"sim:{a}" for a in cis}

        # CM-4: every CI has its asset details, and exactly the ports, processors and software Qualys reports
        details = _by_ci(cmdb.url, "u_qualys_asset_details", "u_qualys_asset_id")
        assert details == {sys_id: {(str(asset),)} for asset, sys_id in cis.items()}
        ports = _staged_by_ci(
            staging,
            "SELECT c.cmdb_sys_id, port, protocol FROM qcmdb.staged_open_port "
            "JOIN qcmdb.asset_classification c USING (source, asset_id) WHERE protocol > ''",
        )
        assert ports and _by_ci(cmdb.url, "u_qualys_open_ports", "u_port", "u_protocol") == ports
        processors = _staged_by_ci(
            staging,
            "SELECT c.cmdb_sys_id, processor_description FROM qcmdb.staged_processor "
            "JOIN qcmdb.asset_classification c USING (source, asset_id) WHERE processor_description > ''",
        )
        assert processors and _by_ci(cmdb.url, "u_qualys_processors", "u_processor_description") == processors
        software = _staged_by_ci(
            staging,
            "SELECT c.cmdb_sys_id, s.name, s.version FROM qcmdb.staged_software_install i "
            "JOIN qcmdb.staged_software s USING (software_key) "
            "JOIN qcmdb.asset_classification c USING (source, asset_id) WHERE s.name > '' AND s.version > ''",
        )
        sent = _by_ci(cmdb.url, "u_qualys_software_details", "u_name", "u_version")
        assert software and sent == software  # one row per package: "Dup Tool 1.0" once, the nameless row not at all
        assert ("Dup Tool", "1.0") in sent[cis[odd["assetId"]]]

        # guide 2.2: what was left out is listed in the application log, once, with the asset
        warnings = {
            details["reason"]: details for level, _, details in log if level == "warning" and "reason" in details
        }
        assert (warnings[NAMELESS_SOFTWARE]["rows"], list(warnings[NAMELESS_SOFTWARE]["assets"])) == (
            1,
            [f"sim/{odd['assetId']}"],
        )
        assert warnings[DUPLICATE_SOFTWARE]["assets"] == {f"sim/{odd['assetId']}": ["Dup Tool 1.0"]}
        assert any(m.startswith(f"transform map u_qualys_computer_import: {len(cis)} loaded") for _, m, _ in log)

        before = _calls(cmdb.url)
        run_dag()
        assert _calls(cmdb.url) == before  # BY-1: an unchanged rerun costs no CMDB call
    finally:
        sim.sim.stop()
        cmdb.stop()
