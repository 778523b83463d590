"""Qualys reference data (HK-1, HK-2) and the hook's FO/tag calls against the simulator (real HTTP, nothing mocked)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from qualys_cmdb.export.reference import fetch_asset_groups, fetch_tags, last_fetch, network_range_tag_names
from qualys_cmdb.hooks.qualys import QualysHook, RetryPolicy
from qualys_cmdb.hooks.qualys_vm_protocol import QualysRefused
from qualys_cmdb.staging.schema import qualys_asset_group, qualys_tag
from sqlalchemy import func, select

from tests.conftest import REPO, SimHandle

FAST = RetryPolicy(max_attempts=5, backoff_s=0.01, backoff_max_s=0.05)


def _hook(sim: SimHandle) -> QualysHook:
    return QualysHook(sim.conn_id, retry=FAST)


def test_asset_group_paging_follows_the_warning_url_and_reads_every_group_once(qualys_sim: SimHandle) -> None:
    expected = {g["id"]: g["title"] for g in qualys_sim.control("vm", method="GET")["asset_groups"]}
    hook = _hook(qualys_sim)
    try:
        groups = list(hook.asset_groups(page_size=3))
        calls = hook.api_calls
    finally:
        hook.close()
    assert {g.id: g.title for g in groups} == expected
    assert len(groups) == len(expected)
    assert calls == -(-len(expected) // 3)  # ⌈groups / page size⌉ calls


def test_tag_update_persists_and_a_bad_range_is_refused_with_qualys_message(qualys_sim: SimHandle) -> None:
    hook = _hook(qualys_sim)
    try:
        tag = next(t for t in hook.tags(page_size=7) if t.name == "Net: Secondary VIPs")
        updated = hook.set_tag_rule_text(tag.id, f"{tag.rule_text},192.0.2.10")
        assert updated.rule_text == f"{tag.rule_text},192.0.2.10"
        assert hook.tag(tag.id).rule_text == updated.rule_text
        with pytest.raises(QualysRefused) as info:
            hook.set_tag_rule_text(tag.id, "10.0.0.0/8,not-a-range")
        assert info.value.code == "INVALID_REQUEST"
    finally:
        hook.close()


def test_adding_a_reserved_address_is_refused_with_code_1905(qualys_sim: SimHandle) -> None:
    hook = _hook(qualys_sim)
    try:
        with pytest.raises(QualysRefused) as info:
            hook.add_ips(["127.0.0.9"], tracking_method="IP", enable_vm=True, enable_pc=False)
        assert info.value.code == "1905" and "127.0.0.9" in str(info.value)
        assert "asset/ip add" in str(info.value)
        assert hook.add_ips(["192.0.2.1-192.0.2.3"], tracking_method="NETBIOS", enable_vm=True, enable_pc=False)
        known = hook.ips_in_subscription(["192.0.2.2", "192.0.2.9"])
        assert known == [(3221225986, 3221225986)]  # 192.0.2.2 only: the list is limited to the asked IPs
    finally:
        hook.close()


def test_reference_data_is_replaced_not_accumulated(staging: Any, qualys_sim: SimHandle) -> None:
    hook = _hook(qualys_sim)
    try:
        tags = fetch_tags(staging, hook, "sim")
        groups = fetch_asset_groups(staging, hook, "sim")
        fetch_tags(staging, hook, "sim")  # a second refresh
    finally:
        hook.close()
    vm = qualys_sim.control("vm", method="GET")
    assert tags.count == len(vm["tags"]) and groups.count == len(vm["asset_groups"])
    with staging.connect() as conn:
        assert conn.execute(select(func.count()).select_from(qualys_tag)).scalar_one() == len(vm["tags"])
        assert conn.execute(select(func.count()).select_from(qualys_asset_group)).scalar_one() == len(
            vm["asset_groups"]
        )
    assert "Net: HQ Servers" in network_range_tag_names(staging, "sim")
    assert "Windows Servers" not in network_range_tag_names(staging, "sim")
    assert last_fetch(staging, "sim", "tags") is not None


def test_the_housekeeping_dags_store_tags_and_groups(
    airflow_db: None, staging: Any, qualys_sim: SimHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils.state import DagRunState

    path = tmp_path / "qualys_cmdb.yaml"
    path.write_text(
        f"""
sources:
  - {{name: sim, pod: US1, connection_id: {qualys_sim.conn_id}}}
properties:
  allow_asset_group_sync: true
"""
    )
    monkeypatch.setenv("QUALYS_CMDB_CONFIG", str(path))
    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {}
    assert {"qualys_asset_tags", "qualys_asset_groups"} <= set(bag.dag_ids)
    assert "qualys_host_id_updater" not in bag.dag_ids  # no CMDB → Qualys schedule, nothing to update
    for dag_id in ("qualys_asset_tags", "qualys_asset_groups"):
        run = bag.get_dag(dag_id).test(logical_date=datetime(2026, 1, 1, tzinfo=UTC))
        assert run.state == DagRunState.SUCCESS
    vm = qualys_sim.control("vm", method="GET")
    with staging.connect() as conn:
        assert conn.execute(select(func.count()).select_from(qualys_tag)).scalar_one() == len(vm["tags"])
        assert conn.execute(select(func.count()).select_from(qualys_asset_group)).scalar_one() == len(
            vm["asset_groups"]
        )

    path.write_text(path.read_text().replace("allow_asset_group_sync: true", "allow_asset_group_sync: false"))
    assert "qualys_asset_groups" not in DagBag(dag_folder=str(REPO / "dags")).dag_ids
