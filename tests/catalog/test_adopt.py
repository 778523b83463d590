"""Migration path: ``qcmdb adopt`` links the CIs the vendor's app created to the staged assets they are, so that the
first sync updates them instead of creating each machine a second time.

Real Airflow (``dag.test()``), real Postgres, both simulators over HTTP; the vendor-style CIs (discovery source Qualys,
a ``u_qualys_asset_details`` record naming the Qualys asset id or host id) are inserted through the Table API.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests
from qualys_cmdb.adopt import VendorCi, plan_adoption
from qualys_cmdb.approval.decisions import auto_approve
from qualys_cmdb.cli import main
from qualys_cmdb.staging.schema import adopted_ci
from sqlalchemy import select, text

from tests.conftest import REPO, start_sim, write_config

AUTH = ("sn_integration", "sn-Passw0rd")
DAG_ID = "qualys_to_cmdb__t"


def _run() -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {}, bag.import_errors
    assert str(bag.get_dag(DAG_ID).test().state) == "success"


def _insert(cmdb: Any, table: str, values: dict[str, Any]) -> str:
    response = requests.post(f"{cmdb.url}/api/now/table/{table}", json=values, auth=AUTH, timeout=30)
    response.raise_for_status()
    return str(response.json()["result"]["sys_id"])


#: CIs a load relates to a machine: not machines themselves
PARTS = {"cmdb_ci_spkg", "cmdb_ci_network_adapter", "cmdb_ci_ip_address", "cmdb_ci_file_system"}


def _computers(cmdb: Any) -> dict[str, dict[str, Any]]:
    """The machines of the CMDB (every CI but packages, adapters, addresses and file systems)."""
    response = requests.get(
        f"{cmdb.url}/api/now/table/cmdb_ci",
        params={"sysparm_limit": "10000", "sysparm_fields": "sys_id,name,sys_class_name,sys_updated_on"},
        auth=AUTH,
        headers={"Accept": "application/json"},
        timeout=30,
    )
    response.raise_for_status()
    return {r["sys_id"]: r for r in response.json()["result"] if r["sys_class_name"] not in PARTS}


def _vendor_ci(cmdb: Any, name: str, **details: Any) -> str:
    """A CI as the vendor app leaves it: discovery source Qualys, its Qualys ids in u_qualys_asset_details."""
    sys_id = _insert(cmdb, "cmdb_ci_computer", {"name": name, "discovery_source": "Qualys"})
    if details:
        _insert(cmdb, "u_qualys_asset_details", {"u_ci": sys_id, **{k: str(v) for k, v in details.items()}})
    return sys_id


def test_adopt_lists_then_links_and_the_sync_updates_the_vendor_cis_without_duplicates(
    airflow_db: None, staging: Any, cmdb: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    qualys = start_sim(monkeypatch, assets=6)
    try:
        write_config(tmp_path, monkeypatch)  # schedule t: not auto-approved, so the first run only stages
        _run()
        with staging.connect() as conn:
            assets = conn.execute(
                text("SELECT asset_id, qweb_host_id FROM qcmdb.staged_asset WHERE source = 'sim' ORDER BY asset_id")
            ).all()
            loaded = conn.execute(text("SELECT count(*) FROM qcmdb.asset_classification WHERE cmdb_sys_id IS NOT NULL"))
            assert loaded.scalar_one() == 0
        assert len(assets) == 6
        by_asset = {}
        for n, (asset_id, host_id) in enumerate(assets):
            if n == 0 and host_id is not None:  # one the app knew by its host id only
                by_asset[asset_id] = _vendor_ci(cmdb, f"vendor-{n}", u_qweb_host_id=host_id)
            else:
                by_asset[asset_id] = _vendor_ci(cmdb, f"vendor-{n}", u_qualys_asset_id=asset_id)
        orphan = _vendor_ci(cmdb, "vendor-gone", u_qualys_asset_id=987654321)
        no_ids = _vendor_ci(cmdb, "vendor-no-ids")
        before = _computers(cmdb)
        assert len(before) == 8

        assert main(["adopt", "--schedule", "t"]) == 0  # a dry run
        out = capsys.readouterr().out
        assert "6 CI(s) would link, 0 already linked, 2 not linked (dry run: add --apply to link)" in out
        assert assets[0][1] is not None and f"vendor-0 [cmdb_ci_computer {by_asset[assets[0][0]]}] (host id" in out
        assert f"-> asset {assets[0][0]} (by host id)" in out and out.count("(by asset id)") == 5
        assert f"vendor-gone [cmdb_ci_computer {orphan}] (asset id 987654321): no staged asset of source sim" in out
        assert f"vendor-no-ids [cmdb_ci_computer {no_ids}]: no Qualys asset id or host id on the CI" in out
        with staging.connect() as conn:
            assert conn.execute(select(adopted_ci)).all() == []

        # an asset two CIs claim is linked to neither (library level: no such CI enters the CMDB)
        first = assets[1][0]
        twins = [VendorCi(s, "cmdb_ci_computer", s, first, None) for s in ("c" * 32, "d" * 32)]
        plan = plan_adoption(staging, "sim", "t", twins)
        assert (
            plan.links == []
            and [why for _, why in plan.unlinked] == [f"asset {first} matches 2 CIs ({'c' * 32}, {'d' * 32})"] * 2
        )

        assert main(["adopt", "--schedule", "t", "--apply"]) == 0
        assert "6 CI(s) linked" in capsys.readouterr().out
        with staging.connect() as conn:
            links = {int(r.asset_id): r.ci_sys_id for r in conn.execute(select(adopted_ci))}
        assert links == by_asset

        assert auto_approve(staging, "t") == 6
        _run()  # the sync: each asset's item names its adopted CI
        after = _computers(cmdb)
        assert set(after) == set(before), "no CI was created"
        with staging.connect() as conn:
            confirmed = dict(
                conn.execute(
                    text("SELECT asset_id, cmdb_sys_id FROM qcmdb.asset_classification WHERE cmdb_sys_id IS NOT NULL")
                ).all()
            )
        assert confirmed == by_asset
        for sys_id in by_asset.values():
            assert after[sys_id]["name"] != before[sys_id]["name"] or (
                after[sys_id]["sys_updated_on"] != before[sys_id]["sys_updated_on"]
            ), "each adopted CI got updated"
        assert main(["adopt", "--schedule", "t"]) == 0
        assert "0 CI(s) would link, 6 already linked, 2 not linked" in capsys.readouterr().out
    finally:
        qualys.sim.stop()


def test_without_adoption_the_first_sync_creates_each_vendor_machine_again(
    airflow_db: None, staging: Any, cmdb: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The control experiment: what the vendor's CIs become when nobody adopts them (the problem adopt solves)."""
    qualys = start_sim(monkeypatch, assets=6)
    try:
        write_config(tmp_path, monkeypatch)
        _run()
        with staging.connect() as conn:
            assets = [int(r[0]) for r in conn.execute(text("SELECT asset_id FROM qcmdb.staged_asset"))]
        for n, asset_id in enumerate(assets):
            _vendor_ci(cmdb, f"vendor-{n}", u_qualys_asset_id=asset_id)
        before = _computers(cmdb)
        assert auto_approve(staging, "t") == 6
        _run()
        assert len(_computers(cmdb)) == len(before) + 6
    finally:
        qualys.sim.stop()
