"""IRE payloads built from staging (CM-3 … CM-8, BY-3): identity, lookups, related items, dependents, truncation."""

from __future__ import annotations

from qualys_cmdb.classify.mappings import load_mappings
from qualys_cmdb.load.payload import build_payload
from qualys_cmdb.staging.schema import STAGED_CHILDREN, staged_software
from sqlalchemy import insert

from tests.classify.test_classify import mac_of, run, stage
from tests.conftest import REPO

MAPPINGS = load_mappings(REPO / "include" / "mappings")


def test_an_asset_becomes_a_main_item_with_its_details(staging) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    asset = stage(
        staging,
        os={"os_category_1": "Linux", "os_category_2": "Server", "os_full_name": "Ubuntu 22.04"},
        last_modified_date=datetime(2025, 7, 6, 20, 9, 27, tzinfo=UTC),
        asset_uuid="u-1",
        bios_asset_tag="T" * 60,
    )
    with staging.begin() as conn:
        conn.execute(
            insert(STAGED_CHILDREN["serial_number"]).values(
                source="s", asset_id=asset, serial_number=f"SN{asset}", serial_type="bios"
            )
        )
        conn.execute(
            insert(STAGED_CHILDREN["volume"]).values(source="s", asset_id=asset, name="/", total_size=10, free_size=4)
        )
        conn.execute(
            insert(STAGED_CHILDREN["ip_address"]).values(
                source="s", asset_id=asset, ip_address="10.0.0.9", ip_version=4
            )
        )
        conn.execute(insert(staged_software).values(software_key="k1", name="bash", version="5.1"))
        conn.execute(
            insert(STAGED_CHILDREN["software_install"]).values(
                source="s", asset_id=asset, software_key="k1", install_date=datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
            )
        )
    run(staging)
    payload = build_payload(staging, MAPPINGS, "t", [("s", asset)])
    main = payload.items[payload.main_index[("s", asset)]]
    assert main["className"] == "cmdb_ci_linux_server"
    assert main["values"]["os"] == "Ubuntu 22.04" and main["values"]["serial_number"] == f"SN{asset}"
    assert main["sys_object_source_info"] == {
        "source_name": "Qualys",
        "source_native_key": str(asset),
        "source_recency_timestamp": "2025-07-06 20:09:27",
    }
    lookups = {(lk["className"], tuple(sorted(lk["values"].items()))) for lk in main["lookup"]}
    assert (
        "cmdb_serial_number",
        (("absent", "false"), ("serial_number", f"SN{asset}"), ("serial_number_type", "bios"), ("valid", "true")),
    ) in lookups
    assert ("cmdb_ci_network_adapter", (("mac_address", mac_of(asset)), ("name", "eth0"))) in lookups
    related = {r["className"]: r["values"] for r in main["related"]}
    assert related["cmdb_ci_spkg"] == {"name": "bash", "version": "5.1", "key": "bash_|_5.1"}
    assert related["cmdb_software_instance"] == {"name": "bash", "install_date": "2024-01-02 03:04:05"}
    assert related["u_qualys_asset_details"]["u_asset_uuid"] == "u-1"
    dependents = {i["className"]: i for i in payload.items if i is not main}
    assert dependents["cmdb_ci_file_system"]["values"] == {
        "name": "/",
        "mount_point": "/",
        "size_bytes": "10",
        "free_space_bytes": "4",
    }
    assert dependents["cmdb_ci_ip_address"]["values"]["ip_address"] == "10.0.0.9"
    assert {(r["type"], r["child_id"]) for r in payload.relations} == {
        ("Contains::Contained by", dependents["cmdb_ci_file_system"]["internal_id"]),
        ("Owns::Owned by", dependents["cmdb_ci_ip_address"]["internal_id"]),
    }
    # CM-8: the 60-character asset tag is cut to the 40 the field holds, and the cut is reported
    assert main["values"]["asset_tag"] == "T" * 40
    assert payload.truncated[("s", asset)] == ["asset_tag (60 > 40)"]


def test_a_placeholder_mac_is_not_sent_as_an_identifier(staging) -> None:  # type: ignore[no-untyped-def]
    from qualys_cmdb.classify.identifiers import placeholder_mac

    assert (
        placeholder_mac("00:00:00:00:00:00")
        and placeholder_mac("FF-FF-FF-FF-FF-FF")
        and placeholder_mac("0000.0000.0000")
    )
    assert not placeholder_mac("00:00:00:00:00:01") and not placeholder_mac(None)
    asset = stage(staging, os={"os_category_1": "Linux", "os_category_2": "Server"})
    with staging.begin() as conn:
        conn.execute(
            insert(STAGED_CHILDREN["network_interface"]).values(
                source="s", asset_id=asset, interface_name="lo", mac_address="00:00:00:00:00:00"
            )
        )
    run(staging)
    main = build_payload(staging, MAPPINGS, "t", [("s", asset)]).items[0]
    adapters = [lk["values"] for lk in main["lookup"] if lk["className"] == "cmdb_ci_network_adapter"]
    assert sorted(adapters, key=lambda v: v["name"]) == [
        {"name": "eth0", "mac_address": mac_of(asset)},
        {"name": "lo"},  # still an adapter of the CI, without the address
    ]


def test_shared_and_placeholder_identifiers_are_not_sent_as_lookups_and_the_asset_says_so(staging) -> None:  # type: ignore[no-untyped-def]
    """BY-10: cloned VMs keep their template's MAC address and serial; neither may identify either VM."""
    linux = {"os_category_1": "Linux", "os_category_2": "Server"}
    first, second = stage(staging, os=linux, nic=False), stage(staging, os=linux, nic=False)
    with staging.begin() as conn:
        for asset in (first, second):
            conn.execute(
                insert(STAGED_CHILDREN["serial_number"]).values(
                    source="s", asset_id=asset, serial_number="VMware-42 11 22", serial_type="bios"
                )
            )
            conn.execute(
                insert(STAGED_CHILDREN["serial_number"]).values(
                    source="s", asset_id=asset, serial_number=f"OWN-{asset}", serial_type="system"
                )
            )
            conn.execute(
                insert(STAGED_CHILDREN["network_interface"]).values(
                    source="s", asset_id=asset, interface_name="ens160", mac_address="00:0C:29:11:22:33"
                )
            )
        conn.execute(
            insert(STAGED_CHILDREN["serial_number"]).values(
                source="s", asset_id=first, serial_number="To be filled by O.E.M.", serial_type="board"
            )
        )
    run(staging)
    payload = build_payload(staging, MAPPINGS, "t", [("s", first), ("s", second)])
    for asset in (first, second):
        main = payload.items[payload.main_index[("s", asset)]]
        serials = [lk["values"]["serial_number"] for lk in main["lookup"] if lk["className"] == "cmdb_serial_number"]
        adapters = [lk["values"] for lk in main["lookup"] if lk["className"] == "cmdb_ci_network_adapter"]
        assert serials == [f"OWN-{asset}"]  # its own serial still identifies it
        assert adapters == [{"name": "ens160"}]
        note = " ".join(payload.notes[("s", asset)])
        assert "serial number 'VMware-42 11 22' (shared with another asset)" in note
        assert "MAC address 00:0C:29:11:22:33 (shared with another asset)" in note
    assert "'To be filled by O.E.M.' (a placeholder)" in " ".join(payload.notes[("s", first)])


def test_a_serial_a_clone_staged_since_classify_has_identifies_nothing_and_classify_takes_it_out(staging) -> None:  # type: ignore[no-untyped-def]
    """BY-10 across page groups: an asset classified while its serial was its own; its clone is staged later (the
    next page group, a new clone). The payload is built from staging as it is now: the serial is neither a lookup
    nor a CI value, and the asset says why. The next classify takes the serial out of its classification too."""
    from sqlalchemy import text

    linux = {"os_category_1": "Linux", "os_category_2": "Server"}
    first = stage(staging, os=linux, bios_serial_number="VMware-42 11 22")
    with staging.begin() as conn:
        conn.execute(
            insert(STAGED_CHILDREN["serial_number"]).values(
                source="s", asset_id=first, serial_number="VMware-42 11 22", serial_type="bios"
            )
        )
    run(staging)
    alone = build_payload(staging, MAPPINGS, "t", [("s", first)])
    assert alone.items[alone.main_index[("s", first)]]["values"]["serial_number"] == "VMware-42 11 22"

    stage(staging, os=linux, bios_serial_number="VMware-42 11 22")  # the clone, not classified yet
    payload = build_payload(staging, MAPPINGS, "t", [("s", first)])
    main = payload.items[payload.main_index[("s", first)]]
    assert "serial_number" not in main["values"]
    assert [lk for lk in main["lookup"] if lk["className"] == "cmdb_serial_number"] == []
    assert "serial number 'VMware-42 11 22' (shared with another asset)" in " ".join(payload.notes[("s", first)])

    assert run(staging).classified == 2  # the clone, and the first asset again
    with staging.connect() as conn:
        kept = conn.execute(
            text("SELECT payload ->> 'serial_number' FROM qcmdb.asset_classification WHERE asset_id = :a"), {"a": first}
        ).scalar_one()
    assert kept is None
    assert run(staging).classified == 0  # and that settles it


def test_the_payload_and_its_digest_do_not_depend_on_the_order_staging_holds_the_rows_in(staging) -> None:  # type: ignore[no-untyped-def]
    """BY-12 compares digests of what two schedules send: a plan that reads an asset's rows in another order (after
    autovacuum's ANALYZE, a restage, a HOT update) must not make the same asset look changed and be sent again."""
    from sqlalchemy import delete

    asset = stage(staging, os={"os_category_1": "Linux", "os_category_2": "Server"})
    volumes = [{"source": "s", "asset_id": asset, "name": f"/v{n}", "total_size": n, "free_size": 1} for n in range(6)]
    addresses = [{"source": "s", "asset_id": asset, "ip_address": f"10.0.0.{n}", "ip_version": 4} for n in range(6)]
    packages = [{"software_key": f"k{n}", "name": f"pkg{n}", "version": "1"} for n in range(6)]
    installs = [{"source": "s", "asset_id": asset, "software_key": f"k{n}"} for n in range(6)]
    run(staging)

    def staged_in(order: slice) -> tuple[list[object], str]:
        with staging.begin() as conn:
            for table in ("volume", "ip_address", "software_install"):
                conn.execute(delete(STAGED_CHILDREN[table]).where(STAGED_CHILDREN[table].c.asset_id == asset))
            conn.execute(delete(staged_software))
            conn.execute(insert(STAGED_CHILDREN["volume"]), volumes[order])
            conn.execute(insert(STAGED_CHILDREN["ip_address"]), addresses[order])
            conn.execute(insert(staged_software), packages[order])
            conn.execute(insert(STAGED_CHILDREN["software_install"]), installs[order])
        payload = build_payload(staging, MAPPINGS, "t", [("s", asset)])
        return payload.items, payload.sent_hashes()[("s", asset)]

    (items, digest), (items_backwards, digest_backwards) = staged_in(slice(None)), staged_in(slice(None, None, -1))
    assert items == items_backwards and digest == digest_backwards
    dependents = [i["className"] for i in items[1:]]
    assert dependents.count("cmdb_ci_file_system") == 6 and dependents.count("cmdb_ci_ip_address") == 6
    assert [r["className"] for r in items[0]["related"]].count("cmdb_ci_spkg") == 6
