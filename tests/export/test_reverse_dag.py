"""The CMDB → Qualys DAG end to end: real Airflow (`dag.test()`), real Postgres, real HTTP to both simulators.

CIs are created in the ServiceNow simulator through its Table API, as another discovery tool would; the Qualys
simulator keeps the subscription's IPs, tags and asset groups, and its control API shows what the DAG changed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from qualys_cmdb.staging.schema import sync_queue, upload_item
from sqlalchemy import func, select

from tests.conftest import REPO, SimHandle, start_sim

SN_AUTH = ("sn_integration", "sn-Passw0rd")
TAG = "Net: Secondary VIPs"  # a NETWORK_RANGE tag of the simulated subscription (10.200.0.0/16)


def _write_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, schedule: str, properties: str = "") -> None:
    path = tmp_path / "qualys_cmdb.yaml"
    path.write_text(
        f"""
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
{schedule}
properties:
  upload_batch_size: 4
  cmdb_connection_id: servicenow_default
{properties}
"""
    )
    monkeypatch.setenv("QUALYS_CMDB_CONFIG", str(path))


def _add_cis(cmdb: Any, cis: list[tuple[str, str, str]]) -> None:
    """(name, ip_address, operational_status) CIs in cmdb_ci_computer."""
    for name, address, status in cis:
        response = requests.post(
            f"{cmdb.url}/api/now/table/cmdb_ci_computer",
            json={"name": name, "ip_address": address, "operational_status": status},
            auth=SN_AUTH,
            timeout=30,
        )
        response.raise_for_status()


def _run(dag_id: str, when: datetime, succeed: bool = True) -> Any:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils.state import DagRunState

    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {}, bag.import_errors
    dag_run = bag.get_dag(dag_id).test(logical_date=when)
    assert (dag_run.state == DagRunState.SUCCESS) is succeed, dag_run.state
    return dag_run


def _items(engine: Any, run_id: str | None = None) -> dict[tuple[str, str], dict[str, Any]]:
    query = select(upload_item)
    if run_id:
        query = query.where(upload_item.c.run_id == run_id)
    with engine.connect() as conn:
        return {(r["kind"], r["address"]): dict(r) for r in conn.execute(query).mappings()}


def _vm(sim: SimHandle) -> dict[str, Any]:
    return sim.control("vm", method="GET")


def _fo_adds(sim: SimHandle) -> int:
    stats = sim.control("stats", method="GET")
    return int(stats["by_method_endpoint"].get("POST /api/2.0/fo/asset/ip", 0))


@pytest.fixture
def qualys(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    handle = start_sim(monkeypatch, assets=20)
    yield handle
    handle.sim.stop()


NEW = [f"10.250.0.{n}" for n in range(1, 7)]


def test_addresses_go_into_qualys_once_with_tag_tracking_and_flags(
    airflow_db: None, staging: Any, qualys: SimHandle, cmdb: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    known = qualys.estate()["assets"][0]["address"]
    _add_cis(
        cmdb,
        [(f"lab-{n:02d}", address, "1") for n, address in enumerate(NEW, start=1)]
        + [
            ("lab-07", known, "1"),  # Qualys has it: skipped, never overwritten
            ("lab-08", "10.250.0.300", "1"),  # not an address
            ("lab-09", "127.0.1.1", "1"),  # Qualys refuses loopback addresses
            ("lab-10", NEW[0], "1"),  # shares lab-01's address: pushed once
            ("lab-11", "10.250.9.9", "2"),  # not operational: outside the schedule's query
            ("other-01", "10.250.9.10", "1"),  # outside the query
        ],
    )
    _write_config(tmp_path, monkeypatch, f"    tracking_method: DNS\n    enable_pc: true\n    asset_tag: '{TAG}'")
    first = _run("cmdb_to_qualys__push", datetime(2026, 1, 1, tzinfo=UTC))

    items = _items(staging, first.run_id)
    for address in NEW:
        assert items[("ip", address)]["status"] == "Success", items[("ip", address)]
        assert "tracking DNS" in items[("ip", address)]["message"]
        assert items[("tag", address)]["status"] == "Success"
    assert items[("ip", NEW[0])]["ci_count"] == 2
    assert items[("ip", known)]["status"] == "Skipped"
    assert "already in the Qualys subscription" in items[("ip", known)]["message"]
    bad = items[("ip", "10.250.0.300")]
    assert bad["status"] == "Error" and "lab-08" in bad["message"] and "not an IPv4 address" in bad["message"]
    refused = items[("ip", "127.0.1.1")]
    assert (refused["status"], refused["qualys_code"]) == ("Error", "1905"), refused
    assert "Qualys refused the address" in refused["message"] and "127.0.1.1" in refused["message"]
    assert items[("tag", "127.0.1.1")]["status"] == "Error"  # its assignment says why
    assert ("ip", "10.250.9.9") not in items and ("ip", "10.250.9.10") not in items

    vm = _vm(qualys)
    added = {a["ip"]: a for a in vm["added_ips"]}
    assert set(added) == set(NEW)  # the known address is not re-added, the refused one not added
    assert all(a["tracking_method"] == "DNS" and a["enable_vm"] and a["enable_pc"] for a in added.values())
    tag = next(t for t in vm["tags"] if t["name"] == TAG)
    from qualys_cmdb.hooks.qualys_vm_protocol import covered, ip_to_int, parse_ranges

    ranges = parse_ranges(tag["ruleText"])
    assert all(covered(ip_to_int(a), ranges) for a in [*NEW, known])
    assert tag["ruleText"].startswith("10.200.0.0/16")  # the existing range is kept as it was

    with staging.connect() as conn:
        uploads = conn.execute(
            select(func.count()).where(sync_queue.c.direction == "upload", sync_queue.c.run_id == first.run_id)
        ).scalar_one()
    assert uploads >= 3  # list, add batches and tag updates are kept as Upload records with their answers

    adds_before = _fo_adds(qualys)
    second = _run("cmdb_to_qualys__push", datetime(2026, 1, 2, tzinfo=UTC))
    again = _items(staging, second.run_id)
    assert {a for (k, a), i in again.items() if k == "ip" and i["status"] == "Skipped"} == {*NEW, known}
    assert not any(i["status"] == "Success" for i in again.values())
    assert {a for (k, a), i in again.items() if k == "tag" and i["status"] == "Skipped"} == {*NEW, known}
    assert len(_vm(qualys)["added_ips"]) == len(NEW)
    # Only the refused address is tried again (it stays an Error): the others cost no add call.
    assert _fo_adds(qualys) - adds_before <= 2

    from qualys_cmdb.export.report import export_summary

    summary = export_summary(staging, "push", "sim", second.run_id)
    assert summary["addresses"]["added"] == 0 and summary["addresses"]["skipped"] == len(NEW) + 1
    assert summary["run"]["status"] == "complete_with_errors"


def test_asset_group_members_and_rate_limits_waited_out(
    airflow_db: None, staging: Any, qualys: SimHandle, cmdb: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    groups = _vm(qualys)["asset_groups"]
    group = next(g for g in groups if g["title"] != "All")
    _add_cis(cmdb, [(f"lab-{n:02d}", address, "1") for n, address in enumerate(NEW, start=1)])
    _write_config(
        tmp_path,
        monkeypatch,
        f"    asset_group: '{group['title']}'",
        "  allow_asset_group_sync: true",
    )
    # Two calls per 3 s per FO endpoint: each time the headers say a window is spent (Remaining 0, ToWait 0), the
    # run waits it out before its next call (BY-5), so Qualys never has to block it (no 409, CODE 1965).
    qualys.control("faults", fo_rate_limit={"limit": 2, "window_sec": 3, "concurrency": 5})
    run = _run("cmdb_to_qualys__push", datetime(2026, 1, 1, tzinfo=UTC))

    items = _items(staging, run.run_id)
    assert {a for (k, a), i in items.items() if k == "ip" and i["status"] == "Success"} == set(NEW)
    assert {a for (k, a), i in items.items() if k == "group" and i["status"] == "Success"} == set(NEW)
    stats = qualys.control("stats", method="GET")
    assert stats["by_status"].get("409", 0) == 0 and stats["by_status"]["200"] > 2  # windows spent, never run into
    members = next(g for g in _vm(qualys)["asset_groups"] if g["id"] == group["id"])
    from qualys_cmdb.hooks.qualys_vm_protocol import covered, ip_to_int, parse_ranges

    ranges = parse_ranges(",".join(members["ips"]))
    assert all(covered(ip_to_int(a), ranges) for a in NEW)


def test_a_long_rate_limit_block_stops_the_run_and_a_rerun_finishes_only_what_is_left(
    airflow_db: None, staging: Any, qualys: SimHandle, cmdb: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _add_cis(cmdb, [(f"lab-{n:02d}", address, "1") for n, address in enumerate(NEW, start=1)])
    _write_config(tmp_path, monkeypatch, "    tracking_method: IP")
    # Two asset/ip calls per hour: the list, one add batch of 4, then blocked for about an hour.
    qualys.control("faults", fo_rate_limit={"limit": 2, "window_sec": 3600, "concurrency": 5})
    first = _run("cmdb_to_qualys__push", datetime(2026, 1, 1, tzinfo=UTC))
    items = _items(staging, first.run_id)
    done = {a for (_, a), i in items.items() if i["status"] == "Success"}
    left = {a for (_, a), i in items.items() if i["status"] == "Queued"}
    assert len(done) == 4 and left == set(NEW) - done
    assert all("not sent yet" in (items[("ip", a)]["message"] or "") for a in left), [items[("ip", a)] for a in left]
    from qualys_cmdb.export.report import export_summary

    stopped = export_summary(staging, "push", "sim", first.run_id)
    assert stopped["run"]["status"] == "stopped" and "rate limit" in stopped["run"]["stopped_reason"]

    qualys.control("faults", method="DELETE")  # the window has passed
    second = _run("cmdb_to_qualys__push", datetime(2026, 1, 2, tzinfo=UTC))
    vm = _vm(qualys)
    assert sorted(a["ip"] for a in vm["added_ips"]) == sorted(NEW)  # each address added exactly once
    with staging.connect() as conn:
        added = list(conn.execute(select(upload_item.c.address).where(upload_item.c.status == "Success")).scalars())
    # The re-queued item of run 1 and run 2's own item of an address were sent together, in one call.
    assert set(added) == set(NEW)
    rerun = export_summary(staging, "push", "sim", second.run_id)
    assert rerun["addresses"]["added"] == len(left) and rerun["run"]["status"] == "complete"


@pytest.mark.parametrize(
    ("schedule", "properties", "message"),
    [
        ("    table_override: cmdb_model", "", "cmdb_model is not a CMDB class on this instance"),
        ("    asset_tag: Windows Servers", "", "is a OS_REGEX tag; only NETWORK_RANGE tags can take addresses"),
        (
            "    asset_group: No Such Group",
            "  allow_asset_group_sync: true",
            "has no asset group titled 'No Such Group'",
        ),
    ],
    ids=["table-without-ip_address", "tag-not-network-range", "unknown-group"],
)
def test_configuration_errors_fail_the_run_before_anything_is_queued(
    airflow_db: None,
    staging: Any,
    qualys: SimHandle,
    cmdb: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    schedule: str,
    properties: str,
    message: str,
) -> None:
    _add_cis(cmdb, [("lab-01", NEW[0], "1")])
    _write_config(tmp_path, monkeypatch, "" if "table_override" in schedule else schedule, properties)
    if "table_override" in schedule:
        path = tmp_path / "qualys_cmdb.yaml"
        path.write_text(path.read_text().replace("table: cmdb_ci_computer", "table: cmdb_model"))
    _run("cmdb_to_qualys__push", datetime(2026, 1, 1, tzinfo=UTC), succeed=False)
    assert _items(staging) == {}
    assert _vm(qualys)["added_ips"] == []
    from qualys_cmdb.staging.schema import app_log

    with staging.connect() as conn:
        errors = list(conn.execute(select(app_log.c.message).where(app_log.c.level == "error")).scalars())
    assert any(message in e for e in errors), errors


def test_host_id_updater_records_scanned_addresses_and_counts_the_rest(
    airflow_db: None, staging: Any, qualys: SimHandle, cmdb: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _add_cis(cmdb, [(f"lab-{n:02d}", address, "1") for n, address in enumerate(NEW, start=1)])
    _write_config(tmp_path, monkeypatch, "    tracking_method: IP")
    _run("cmdb_to_qualys__push", datetime(2026, 1, 1, tzinfo=UTC))
    from qualys_cmdb.export.host_ids import not_scanned_counts

    assert not_scanned_counts(staging) == {"push": len(NEW)}
    scanned = qualys.control("scan", ips=NEW[:4])["scanned"]
    _run("qualys_host_id_updater", datetime(2026, 1, 1, 1, tzinfo=UTC) + timedelta(hours=1))
    items = _items(staging)
    host_ids = {s["ip"]: s["hostId"] for s in scanned}
    for address in NEW[:4]:
        assert items[("ip", address)]["qualys_host_id"] == host_ids[address]
    for address in NEW[4:]:
        assert items[("ip", address)]["qualys_host_id"] is None
    assert not_scanned_counts(staging) == {"push": 2}


def test_cli_checks_schedules_online_lists_items_and_requeues_errors(
    airflow_db: None,
    staging: Any,
    qualys: SimHandle,
    cmdb: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from qualys_cmdb.cli import main

    _write_config(tmp_path, monkeypatch, "    asset_group: Workstations", "  allow_asset_group_sync: true")
    config = str(tmp_path / "qualys_cmdb.yaml")
    assert main(["config", "validate", config, "--online"]) == 0
    assert "push: OK — cmdb_ci_computer has ip_address; group 'Workstations'" in capsys.readouterr().out

    path = tmp_path / "qualys_cmdb.yaml"
    path.write_text(path.read_text().replace("asset_group: Workstations", "asset_tag: Linux Servers"))
    assert main(["config", "validate", config, "--online"]) == 1
    assert "is a OS_REGEX tag; only NETWORK_RANGE tags" in capsys.readouterr().err

    path.write_text(path.read_text().replace("    asset_tag: Linux Servers\n", ""))
    _add_cis(cmdb, [("lab-01", "10.250.0.1", "1"), ("lab-02", "10.250.0.999", "1")])
    _run("cmdb_to_qualys__push", datetime(2026, 1, 1, tzinfo=UTC))
    capsys.readouterr()
    assert main(["uploads", "list", "--schedule", "push", "--status", "Error"]) == 0
    listed = capsys.readouterr().out
    assert "10.250.0.999" in listed and "not an IPv4 address" in listed and "10.250.0.1 " not in listed
    error_id = next(i["id"] for i in _items(staging).values() if i["status"] == "Error")
    assert main(["uploads", "requeue", str(error_id)]) == 0
    assert _items(staging)[("ip", "10.250.0.999")]["status"] == "Queued"
    assert main(["summary", "--schedule", "push"]) == 0
    assert "1 added" in capsys.readouterr().out


def test_a_crash_after_qualys_accepted_a_batch_never_adds_its_addresses_twice(
    staging: Any, qualys: SimHandle, cmdb: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The uploader library on its own: the crash is injected (mocked) right after Qualys answered the first add."""
    from qualys_cmdb.config import load_config
    from qualys_cmdb.export.selection import queue_items, select_cis
    from qualys_cmdb.export.upload import Uploader
    from qualys_cmdb.hooks.qualys import QualysHook
    from qualys_cmdb.hooks.servicenow import ServiceNowHook

    _add_cis(cmdb, [(f"lab-{n:02d}", address, "1") for n, address in enumerate(NEW, start=1)])
    _write_config(tmp_path, monkeypatch, "    tracking_method: IP")
    schedule = load_config().reverse_schedule("push")
    sn = ServiceNowHook("servicenow_default")
    select_cis(staging, sn, schedule, "run-1")
    sn.close()
    queue_items(staging, schedule, "run-1", None)

    real_add = QualysHook.add_ips
    crashes = []

    def add_then_crash(self: QualysHook, ips: list[str], **kw: Any) -> str:
        answer = real_add(self, ips, **kw)
        if not crashes:
            crashes.append(ips)
            raise RuntimeError("worker killed after Qualys accepted the batch")
        return answer

    monkeypatch.setattr(QualysHook, "add_ips", add_then_crash)
    hook = QualysHook(qualys.conn_id)
    with pytest.raises(RuntimeError, match="worker killed"):
        Uploader(staging, hook, schedule, run_id="run-1", batch_size=4, processor="p1").run()
    items = _items(staging)
    assert sum(i["status"] == "Queued" for i in items.values()) == len(NEW)  # nothing recorded as done

    result = Uploader(staging, hook, schedule, run_id="run-1", batch_size=4, processor="p2").run()
    hook.close()
    assert (result.skipped, result.added) == (4, 2)  # the crashed batch is recognised in Qualys, not re-added
    assert sorted(a["ip"] for a in _vm(qualys)["added_ips"]) == sorted(NEW)
    assert _fo_adds(qualys) == 1 + 1 + 2  # list + first add, then list + the second add


def test_a_refusal_that_names_no_address_is_isolated_by_splitting_the_batch(
    staging: Any, qualys: SimHandle, cmdb: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The simulator names refused addresses; the real Qualys may not (unverified). The refusal text is stripped of
    addresses here (mocked) to prove the uploader still isolates the one address by splitting the batch."""
    import re as regex

    from qualys_cmdb.config import load_config
    from qualys_cmdb.export.selection import queue_items, select_cis
    from qualys_cmdb.export.upload import Uploader
    from qualys_cmdb.hooks.qualys import QualysHook
    from qualys_cmdb.hooks.qualys_vm_protocol import QualysRefused
    from qualys_cmdb.hooks.servicenow import ServiceNowHook

    cis = [(f"lab-{n:02d}", address, "1") for n, address in enumerate(NEW, start=1)]
    _add_cis(cmdb, [*cis, ("lab-09", "127.0.1.1", "1")])
    _write_config(tmp_path, monkeypatch, "    tracking_method: IP")
    schedule = load_config().reverse_schedule("push")
    sn = ServiceNowHook("servicenow_default")
    select_cis(staging, sn, schedule, "run-1")
    sn.close()
    queue_items(staging, schedule, "run-1", None)
    real_add = QualysHook.add_ips

    def anonymous_refusal(self: QualysHook, ips: list[str], **kw: Any) -> str:
        try:
            return real_add(self, ips, **kw)
        except QualysRefused as exc:
            text = regex.sub(r"\d+\.\d+\.\d+\.\d+", "<address>", exc.text or "")
            raise QualysRefused(text, exc.code, text) from None

    monkeypatch.setattr(QualysHook, "add_ips", anonymous_refusal)
    hook = QualysHook(qualys.conn_id)
    result = Uploader(staging, hook, schedule, run_id="run-1", batch_size=10, processor="p").run()
    hook.close()
    assert (result.added, result.errors) == (len(NEW), 1)
    items = _items(staging)
    assert items[("ip", "127.0.1.1")]["status"] == "Error" and items[("ip", "127.0.1.1")]["qualys_code"] == "1905"
    assert sorted(a["ip"] for a in _vm(qualys)["added_ips"]) == sorted(NEW)
