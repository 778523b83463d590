"""classify on real Postgres: the hardware table row by row, rule priority and precedence, failures, BY-1, BY-6."""

from __future__ import annotations

import csv
import itertools
from typing import Any

import pytest
from qualys_cmdb.classify.batches import classify_in_batches
from qualys_cmdb.classify.classify import classify_assets
from qualys_cmdb.classify.mappings import load_mappings
from qualys_cmdb.staging.schema import STAGED_CHILDREN, asset_classification, schedule_asset, staged_asset
from qualys_cmdb.staging.statistics import planned_rows
from sqlalchemy import insert, select, update

from tests.conftest import REPO

MAPPINGS = load_mappings(REPO / "include" / "mappings")
_ids = itertools.count(1000)


def mac_of(asset_id: int) -> str:
    """A MAC address of its own for each staged asset."""
    return f"00:11:22:{asset_id // 65536 % 256:02x}:{asset_id // 256 % 256:02x}:{asset_id % 256:02x}"


def stage(
    engine,
    *,
    os: dict[str, Any] | None = None,
    hw: dict[str, Any] | None = None,  # type: ignore[no-untyped-def]
    nic: bool = True,
    cloud: str | None = None,
    **asset: Any,
) -> int:
    """Put one asset straight into the staging tables."""
    asset_id = next(_ids)
    row = {
        "source": "s",
        "asset_id": asset_id,
        "content_hash": f"h{asset_id}",
        "name": f"host-{asset_id}",
        "bios_serial_number": f"SN{asset_id}",
    }
    row.update(asset)
    with engine.begin() as conn:
        conn.execute(insert(staged_asset).values(**row))
        # schedule t selected it (its view of the asset, which classify reads)
        conn.execute(
            insert(schedule_asset).values(schedule="t", source="s", asset_id=asset_id, content_hash=row["content_hash"])
        )
        if os:
            conn.execute(insert(STAGED_CHILDREN["os"]).values(source="s", asset_id=asset_id, **os))
        if hw:
            conn.execute(insert(STAGED_CHILDREN["hardware"]).values(source="s", asset_id=asset_id, **hw))
        if nic:
            conn.execute(
                insert(STAGED_CHILDREN["network_interface"]).values(
                    source="s",
                    asset_id=asset_id,
                    interface_name="eth0",
                    mac_address=mac_of(asset_id),
                )
            )
        if cloud:
            conn.execute(
                insert(STAGED_CHILDREN["cloud"]).values(
                    source="s", asset_id=asset_id, provider="aws", instance_id=cloud
                )
            )
    return asset_id


def change(conn, asset_id: int, content_hash: str, **values: Any) -> None:  # type: ignore[no-untyped-def]
    """The asset's staged content changes (as a stage of schedule t would record it)."""
    conn.execute(
        update(staged_asset).where(staged_asset.c.asset_id == asset_id).values(content_hash=content_hash, **values)
    )
    conn.execute(update(schedule_asset).where(schedule_asset.c.asset_id == asset_id).values(content_hash=content_hash))


def classified(engine) -> dict[int, dict[str, Any]]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return {r["asset_id"]: dict(r) for r in conn.execute(select(asset_classification)).mappings()}


def run(engine, override: str | None = None, mappings=MAPPINGS):  # type: ignore[no-untyped-def]
    return classify_assets(engine, mappings, schedule="t", source="s", run_id="r", class_override=override)


def test_every_row_of_the_hardware_table_maps_to_its_class(staging) -> None:  # type: ignore[no-untyped-def]
    rows = list(csv.DictReader((REPO / "include/mappings/hardware_classes.csv").open()))
    expected = {
        stage(
            staging,
            hw={"hardware_category_1": r["category1"], "hardware_category_2": r["category2"]},
            cloud="i-vm" if r["target_class"] == "cmdb_ci_vm_instance" else None,  # VMs are identified by object_id
        ): r["target_class"]
        for r in rows
    }
    result = run(staging)
    got = classified(staging)
    assert result.classified == len(rows) == 87 and result.failed == 0
    assert {a: got[a]["target_class"] for a in expected} == expected
    by_rule = {got[a]["matched_by"] for a in expected if not got[a]["matched_by"].startswith("hardware: ")}
    assert by_rule == {"rule: Notebook"}  # the Notebook computer rule gives the same class first (CM-2 precedence)


def test_computer_rules_go_first_in_priority_order(staging) -> None:  # type: ignore[no-untyped-def]
    server_hw = {"hardware_category_1": "Computers", "hardware_category_2": "Server"}
    win = stage(staging, os={"os_category_1": "Windows", "os_category_2": "Server"}, hw=server_hw)
    esx = stage(staging, os={"os_name": "VMware ESXi 8.0", "os_category_1": "Linux", "os_category_2": "Server"})
    aix = stage(staging, os={"os_name": "IBM AIX 7.3", "os_category_1": "Unix", "os_category_2": "Server"})
    laptop = stage(
        staging,
        os={"os_category_1": "Windows", "os_category_2": "Client"},
        hw={"hardware_category_1": "Computers", "hardware_category_2": "Notebook"},
    )
    cloud = stage(staging, os={"os_category_1": "Embedded"}, cloud="i-0abc", cloud_provider="aws")
    plain = stage(staging, hw=server_hw)
    run(staging)
    got = classified(staging)
    assert (got[win]["target_class"], got[win]["matched_by"]) == ("cmdb_ci_win_server", "rule: Windows server")
    assert got[esx]["target_class"] == "cmdb_ci_esx_server"  # ESX (100) wins over Linux server (300)
    assert got[aix]["target_class"] == "cmdb_ci_aix_server"  # AIX (400) before Unix server (450)
    assert (got[laptop]["target_class"], got[laptop]["matched_by"]) == ("cmdb_ci_pc_hardware", "rule: Notebook")
    assert got[cloud]["target_class"] == "cmdb_ci_vm_instance" and got[cloud]["payload"]["object_id"] == "i-0abc"
    assert (got[plain]["target_class"], got[plain]["matched_by"]) == ("cmdb_ci_server", "hardware: Computers / Server")
    assert "object_id" not in got[win]["payload"]


def test_the_schedule_override_wins_and_changing_it_reclassifies(staging) -> None:  # type: ignore[no-untyped-def]
    asset = stage(staging, os={"os_category_1": "Linux", "os_category_2": "Server"})
    run(staging, override="cmdb_ci_server")
    assert classified(staging)[asset]["matched_by"] == "schedule override"
    assert run(staging, override=None).classified == 1
    assert classified(staging)[asset]["target_class"] == "cmdb_ci_linux_server"


def test_unclassifiable_or_unidentifiable_assets_fail_with_the_reason(staging) -> None:  # type: ignore[no-untyped-def]
    nothing = stage(staging, os={"os_category_1": "Plan9", "os_category_2": "Research"})
    anonymous = stage(
        staging, os={"os_category_1": "Linux", "os_category_2": "Server"}, nic=False, name=None, bios_serial_number=None
    )
    vm_without_id = stage(staging, hw={"hardware_category_1": "Virtualized", "hardware_category_2": "Virtual Machine"})
    loopback_only = stage(
        staging, os={"os_category_1": "Linux", "os_category_2": "Server"}, nic=False, name=None, bios_serial_number=None
    )
    with staging.begin() as conn:
        conn.execute(
            insert(STAGED_CHILDREN["network_interface"]).values(
                source="s", asset_id=loopback_only, interface_name="lo", mac_address="00-00-00-00-00-00"
            )
        )
    result = run(staging)
    got = classified(staging)
    assert result.failed == 4
    assert got[loopback_only]["reason"] == got[anonymous]["reason"]  # a placeholder MAC identifies nothing
    assert got[nothing]["reason"].startswith("no CI-class rule or hardware mapping matches (os_category_1=Plan9")
    assert (
        got[anonymous]["reason"]
        == "nothing identifies it in the CMDB: no serial number of its own, no name and no network adapter with a "
        "MAC address of its own"
    )
    assert got[vm_without_id]["reason"] == (
        "cmdb_ci_vm_instance is identified by object_id, and the asset has no cloud instance id"
    )


def test_only_changed_assets_are_reclassified_and_unchanged_loaded_ones_stay_loaded(staging) -> None:  # type: ignore[no-untyped-def]
    a = stage(staging, os={"os_category_1": "Linux", "os_category_2": "Server"})
    b = stage(staging, os={"os_category_1": "Windows", "os_category_2": "Server"})
    run(staging)
    with staging.begin() as conn:  # pretend the CMDB confirmed both
        conn.execute(
            update(asset_classification).values(state="loaded", loaded_hash=asset_classification.c.payload_hash)
        )
    assert run(staging).classified == 0  # nothing changed: nothing to do
    with staging.begin() as conn:  # a content change that does not touch the CI payload, and one that does
        change(conn, a, "new")
        change(conn, b, "new-b", memory_mb=65536)
    result = run(staging)
    got = classified(staging)
    assert result.classified == 2
    assert got[b]["state"] == "pending" and got[b]["payload"]["ram"] == "65536"
    # a's content hash is part of the payload hash: its details (software, ports…) may have changed
    assert got[a]["state"] == "pending"


def test_a_mapping_change_reclassifies_the_staged_assets(staging, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import shutil

    asset = stage(staging, os={"os_category_1": "Linux", "os_category_2": "Server"})
    run(staging)
    folder = tmp_path / "m"
    shutil.copytree(REPO / "include" / "mappings", folder)
    rules = folder / "ci_class_rules.yaml"
    rules.write_text(rules.read_text().replace("target_class: cmdb_ci_linux_server", "target_class: cmdb_ci_server"))
    changed = load_mappings(folder)
    assert run(staging, mappings=changed).classified == 1
    got = classified(staging)[asset]
    assert (got["target_class"], got["mapping_version"]) == ("cmdb_ci_server", changed.version)


@pytest.mark.parametrize("op", ["equals", "contains", "starts_with", "in"])
def test_text_conditions_ignore_case(staging, op: str) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from qualys_cmdb.classify.mappings import CiClassRule, Condition

    value: Any = {"equals": "WINDOWS", "contains": "NDOW", "starts_with": "win", "in": ("x", "wInDoWs")}[op]
    rule = CiClassRule("probe", 1, "cmdb_ci_win_server", (Condition("os_category_1", op, value),))
    asset = stage(staging, os={"os_category_1": "Windows"})
    run(staging, mappings=replace(MAPPINGS, rules=(rule,), version=f"probe-{op}"))
    assert classified(staging)[asset]["matched_by"] == "rule: probe"


def test_placeholder_and_shared_identifiers_never_identify_an_asset(staging) -> None:  # type: ignore[no-untyped-def]
    """BY-10: a placeholder serial, or a serial, MAC address or name more than one asset of the source holds, is
    never sent as an identifier; an asset that only such a value could identify is held, not merged."""
    linux = {"os_category_1": "Linux", "os_category_2": "Server"}
    oem = stage(staging, os=linux, bios_serial_number="To be filled by O.E.M.")
    zeros = stage(staging, os=linux, bios_serial_number="0000000")
    clone_a = stage(staging, os=linux, bios_serial_number="VMware-42 1a 2b", nic=False)
    clone_b = stage(staging, os=linux, bios_serial_number="vmware-42 1A 2B ", nic=False)  # the same, other case
    unique = stage(staging, os=linux, bios_serial_number="CZ1234XYZ")
    # two hosts called "build", identified by nothing else: held; a third one with a MAC of its own is fine
    twin_a = stage(staging, os=linux, name="build", bios_serial_number=None, nic=False)
    twin_b = stage(staging, os=linux, name="Build", bios_serial_number=None, nic=False)
    named_with_nic = stage(staging, os=linux, name="build ", bios_serial_number=None)
    # cloned MAC addresses identify neither host
    mac_a = stage(staging, os=linux, name="mac-a", bios_serial_number=None, nic=False)
    mac_b = stage(staging, os=linux, name="mac-b", bios_serial_number=None, nic=False)
    with staging.begin() as conn:
        for asset in (mac_a, mac_b):
            conn.execute(
                insert(STAGED_CHILDREN["network_interface"]).values(
                    source="s", asset_id=asset, interface_name="eth0", mac_address="00:0c:29:aa:bb:cc"
                )
            )
    run(staging)
    got = classified(staging)
    for asset in (oem, zeros, clone_a, clone_b):
        assert got[asset]["state"] == "pending" and "serial_number" not in got[asset]["payload"], asset
    assert got[unique]["payload"]["serial_number"] == "CZ1234XYZ"
    for asset in (twin_a, twin_b):
        assert (got[asset]["state"], got[asset]["failure_code"]) == ("failed", "SHARED_IDENTIFIER")
        assert "'build'" in got[asset]["reason"].lower() and "held" in got[asset]["reason"]
    assert got[named_with_nic]["state"] == "pending"  # its own MAC address identifies it
    # mac-a and mac-b: their names are their own, so they are identified by name, not by the shared MAC
    assert got[mac_a]["state"] == got[mac_b]["state"] == "pending"


def test_an_asset_whose_name_or_mac_became_shared_since_it_was_classified_is_judged_again_and_held(staging) -> None:  # type: ignore[no-untyped-def]
    """BY-10 across page groups: an asset classified while its name (or its MAC address) was its own; the next page
    group stages its twin. Classify judges it again, as one run would have: held, not sent to be merged with the
    twin. One that its own MAC address identifies, or that the CMDB knows already, is not judged again."""
    linux = {"os_category_1": "Linux", "os_category_2": "Server"}
    shared_mac = "00:0c:29:aa:bb:cc"

    def with_mac(asset: int) -> int:
        with staging.begin() as conn:
            conn.execute(
                insert(STAGED_CHILDREN["network_interface"]).values(
                    source="s", asset_id=asset, interface_name="eth0", mac_address=shared_mac
                )
            )
        return asset

    named = stage(staging, os=linux, name="build", bios_serial_number=None, nic=False)
    mac_only = with_mac(stage(staging, os=linux, name=None, bios_serial_number=None, nic=False))
    own_mac = stage(staging, os=linux, name="web", bios_serial_number=None)  # a MAC address of its own
    known = stage(staging, os=linux, name="db", bios_serial_number=None, nic=False)
    assert run(staging).classified == 4
    with staging.begin() as conn:  # the CMDB confirmed it: its Qualys asset id identifies it from now on
        conn.execute(
            update(asset_classification)
            .where(asset_classification.c.asset_id == known)
            .values(state="loaded", cmdb_sys_id="b" * 32)
        )
    assert {a: classified(staging)[a]["state"] for a in (named, mac_only, own_mac)} == dict.fromkeys(
        (named, mac_only, own_mac), "pending"
    )

    # the next page group: a twin of each
    twin = stage(staging, os=linux, name="Build ", bios_serial_number=None, nic=False)
    mac_clone = with_mac(stage(staging, os=linux, name="other", bios_serial_number=None, nic=False))
    stage(staging, os=linux, name="WEB", bios_serial_number=None)
    stage(staging, os=linux, name="DB", bios_serial_number=None, nic=False)
    assert run(staging).classified == 6  # the four new ones, and the two that their twins now leave unidentified
    got = classified(staging)
    assert (got[named]["state"], got[named]["failure_code"]) == ("failed", "SHARED_IDENTIFIER")
    assert (got[twin]["state"], got[twin]["failure_code"]) == ("failed", "SHARED_IDENTIFIER")
    assert (got[mac_only]["state"], got[mac_only]["failure_code"]) == ("failed", "NOT_IDENTIFIABLE")
    assert got[mac_clone]["state"] == "pending"  # its name is its own
    assert got[own_mac]["state"] == "pending" and got[known]["state"] == "loaded"
    assert run(staging).classified == 0  # and that settles it


def test_an_asset_the_cmdb_already_knows_is_not_held_for_a_name_that_became_shared(staging) -> None:  # type: ignore[no-untyped-def]
    linux = {"os_category_1": "Linux", "os_category_2": "Server"}
    first = stage(staging, os=linux, name="db01", bios_serial_number=None, nic=False)
    run(staging)
    with staging.begin() as conn:  # the CMDB confirmed it: from now on its Qualys asset id identifies it
        conn.execute(update(asset_classification).values(state="loaded", cmdb_sys_id="a" * 32))
    second = stage(staging, os=linux, name="DB01", bios_serial_number=None, nic=False)
    with staging.begin() as conn:
        change(conn, first, "first-changed")
    run(staging)
    got = classified(staging)
    assert got[first]["state"] == "pending"
    assert (got[second]["state"], got[second]["failure_code"]) == ("failed", "SHARED_IDENTIFIER")


def test_assets_without_hardware_categories_are_classified_by_their_os_alone(staging) -> None:  # type: ignore[no-untyped-def]
    """Issue 22: a QPS hostasset record has an OS name (its categories derived from it) and no hardware category."""

    def by_os(name: str, c1: str, c2: str, **asset: Any) -> int:
        return stage(staging, os={"os_name": name, "os_category_1": c1, "os_category_2": c2}, **asset)

    nos = "Network Operating System"
    expected = {
        by_os("IBM z/OS 2.5", "Mainframe", "Server"): ("cmdb_ci_mainframe_hardware", "Mainframe (by OS)"),
        by_os("FortiOS 7.2.5", nos, "Firewall"): ("cmdb_ci_firewall_device", "Firewall (by OS)"),
        by_os("F5 Networks Big-IP 16.1.3", nos, "Load Balancer"): ("cmdb_ci_lb", "Load balancer (by OS)"),
        by_os("Cisco NX-OS 9.3(8)", nos, "Switch"): ("cmdb_ci_ip_switch", "Switch (by OS)"),
        by_os("Cisco IOS XR 7.9", nos, "Router"): ("cmdb_ci_ip_router", "Router (by OS)"),
        by_os("ArubaOS 8.10.0.6", nos, "Wireless"): ("cmdb_ci_wap_network", "Wireless access point (by OS)"),
        by_os("Cisco IOS 15.2(7)E8", nos, "Unidentified"): ("cmdb_ci_netgear", "Network device (by OS)"),
        by_os("Xerox Printer", "Embedded", "Printer"): ("cmdb_ci_printer", "Printer (by OS)"),
        by_os("Siemens Simatic S7", "Embedded", "Industrial"): ("cmdb_ci_manufacturing", "Industrial device (by OS)"),
        by_os("Wind River VxWorks", "Embedded", "RTOS"): ("cmdb_ci_iot", "Embedded device (by OS)"),
        by_os("iOS 17.4", "Mobile", "iOS"): ("cmdb_ci_hardware", "Mobile device (by OS)"),
        # computers still go by the OS rules, as CSAM assets do
        by_os("Windows Server 2019 Datacenter", "Windows", "Server"): ("cmdb_ci_win_server", "Windows server"),
        by_os("macOS 14.4", "Mac", "Client"): ("cmdb_ci_pc_hardware", "Workstation"),
        by_os("Amazon Linux 2", "Linux", "Server", cloud_provider="aws"): ("cmdb_ci_linux_server", "Linux server"),
        # nothing but a Cloud Agent: a computer; nothing at all (OS "Unknown"): the base hardware class
        stage(staging, agent_id="4e5f-uuid"): ("cmdb_ci_computer", "Computer with a Cloud Agent"),
        stage(staging): ("cmdb_ci_hardware", "Unidentified device"),
    }
    # a CSAM asset with the same OS but a hardware category goes to the hardware table's finer class
    csam_router = stage(
        staging,
        os={"os_name": "Cisco IOS 15.2", "os_category_1": nos, "os_category_2": "Router"},
        hw={"hardware_category_1": "Networking Device", "hardware_category_2": "Bridges and Routers"},
    )
    # an OS name no pattern gave a category fails, and the reason says where to add one
    unknown = stage(staging, os={"os_name": "Plan 9 from Bell Labs"})
    result = run(staging)
    got = classified(staging)
    assert {a: (got[a]["target_class"], got[a]["matched_by"]) for a in expected} == {
        a: (cls, rule if rule.startswith("hardware") else f"rule: {rule}") for a, (cls, rule) in expected.items()
    }
    assert got[csam_router]["target_class"] == "cmdb_ci_ip_router"
    assert got[csam_router]["matched_by"] == "hardware: Networking Device / Bridges and Routers"
    assert (result.failed, got[unknown]["failure_code"]) == (1, "NO_CLASS")
    assert got[unknown]["reason"] == (
        "no CI-class rule or hardware mapping matches (os_category_1=-, os_category_2=-, hardware_category_1=-, "
        "hardware_category_2=-, os_name=Plan 9 from Bell Labs): add a rule or a hardware mapping, or a pattern for "
        "its OS name to os_names.yaml"
    )


def test_classify_in_batches_refreshes_the_statistics_of_the_classifications_it_wrote(staging) -> None:  # type: ignore[no-untyped-def]
    """Each batch plans on the classifications of the ones before (and load on all of them): a batch that changed
    much of the table analyzes it. Counts only."""
    ids = [stage(staging) for _ in range(5)]
    done = classify_in_batches(staging, MAPPINGS, schedule="t", source="s", run_id="r", class_override=None, batch=2)
    assert (done.batches, done.result.classified) == (3, 5)
    assert done.analyzed == 3  # 2 rows on none, 2 more on 2, 1 more on 4: each at least a tenth
    with staging.connect() as conn:
        assert planned_rows(conn, asset_classification.name) == len(ids)
