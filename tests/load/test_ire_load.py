"""load through IRE into the ServiceNow simulator (real Postgres, real HTTP): confirmed items only, BY-1, SY-6."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from qualys_cmdb.approval.decisions import Selection, auto_approve, counts, retry_failed
from qualys_cmdb.classify.mappings import load_mappings
from qualys_cmdb.hooks.servicenow import ServiceNowHook, SnRetryPolicy
from qualys_cmdb.load.ire import load_approved, preview_pending
from qualys_cmdb.staging.schema import STAGED_CHILDREN, asset_classification
from sqlalchemy import func, insert, select, text, update

from tests.classify.test_classify import change, run, stage
from tests.conftest import REPO
from tests.integration.test_servicenow_hook import Sn, start_servicenow

MAPPINGS = load_mappings(REPO / "include" / "mappings")


@pytest.fixture
def cmdb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sn]:
    """The ServiceNow simulator as the Airflow connection ``sn_load`` the load tests' hook uses."""
    started = start_servicenow(monkeypatch, "sn_load")
    yield started
    started.sim.stop()


def _hook() -> ServiceNowHook:
    return ServiceNowHook("sn_load", retry=SnRetryPolicy(max_attempts=3, backoff_s=0.01))


def _three(staging) -> list[int]:  # type: ignore[no-untyped-def]
    server = {"os_category_1": "Linux", "os_category_2": "Server"}
    ids = [
        stage(staging, os=server),
        stage(staging, os={"os_category_1": "Windows", "os_category_2": "Server"}),
        stage(staging, hw={"hardware_category_1": "Printers", "hardware_category_2": "Laser"}),
    ]
    run(staging)
    return ids


def test_approved_assets_are_loaded_and_an_unchanged_rerun_makes_no_call(staging, cmdb: Sn) -> None:  # type: ignore[no-untyped-def]
    ids = _three(staging)
    auto_approve(staging, "t")
    hook = _hook()
    result = load_approved(staging, hook, MAPPINGS, "t", batch_size=2)
    assert (result.sent, result.loaded, result.failed, result.calls) == (3, 3, 0, 2)
    assert result.operations == {"INSERT": 3}
    summary = cmdb.control("cmdb", method="GET")
    by_class = summary["cmdb_ci"]["by_class"]
    assert {k: by_class[k] for k in ("cmdb_ci_linux_server", "cmdb_ci_win_server", "cmdb_ci_printer")} == dict.fromkeys(
        ("cmdb_ci_linux_server", "cmdb_ci_win_server", "cmdb_ci_printer"), 1
    )
    assert summary["tables"]["cmdb_ci_network_adapter"] == 3  # the adapters went in as lookups
    assert summary["tables"]["sys_object_source"] == 3  # identity by Qualys asset id (BY-3)
    with staging.connect() as conn:
        rows = conn.execute(
            select(asset_classification.c.asset_id, asset_classification.c.state, asset_classification.c.cmdb_sys_id)
        ).all()
    assert {a for a, s, sys_id in rows if s == "loaded" and sys_id} == set(ids)
    # nothing changed: nothing to send
    assert load_approved(staging, hook, MAPPINGS, "t").calls == 0
    # one asset changes: only it is classified, approved and sent again
    with staging.begin() as conn:
        change(conn, ids[0], "changed", memory_mb=4096)
    assert run(staging).classified == 1
    auto_approve(staging, "t")
    again = load_approved(staging, hook, MAPPINGS, "t")
    assert (again.sent, again.calls, again.operations) == (1, 1, {"UPDATE": 1})


def test_items_the_cmdb_refuses_fail_with_its_message_and_can_be_retried(staging, cmdb: Sn) -> None:  # type: ignore[no-untyped-def]
    _three(staging)
    auto_approve(staging, "t")
    cmdb.control("discovery-sources", values=["ServiceNow"])  # "Qualys" missing: IRE refuses every item at HTTP 200
    result = load_approved(staging, _hook(), MAPPINGS, "t")
    assert (result.loaded, result.failed) == (0, 3) and "INVALID_INPUT_DATA" in result.errors
    with staging.connect() as conn:
        reasons = conn.execute(select(asset_classification.c.reason)).scalars().all()
    assert all("invalid data source" in r for r in reasons)
    cmdb.control("discovery-sources", values=["ServiceNow", "Qualys"])
    assert retry_failed(staging, Selection("t"), "alice") == 3
    assert load_approved(staging, _hook(), MAPPINGS, "t").loaded == 3
    assert counts(staging, "t") == {"loaded": 3}


def test_the_dry_run_previews_insert_or_update_without_writing(staging, cmdb: Sn) -> None:  # type: ignore[no-untyped-def]
    _three(staging)
    assert preview_pending(staging, _hook(), MAPPINGS, "t") == 3
    with staging.connect() as conn:
        previews = conn.execute(select(asset_classification.c.preview_operation)).scalars().all()
    assert previews == ["INSERT"] * 3
    assert counts(staging, "t") == {"pending": 3}


def test_the_transform_map_path_inserts_then_updates_through_the_import_set(staging, cmdb: Sn) -> None:  # type: ignore[no-untyped-def]
    from qualys_cmdb.load.transform_map import load_via_import_set

    ids = _three(staging)
    auto_approve(staging, "t")
    cmdb.control("transform", coalesce=["serial_number"], copy_empty_fields=False)
    first = load_via_import_set(staging, _hook(), MAPPINGS, "t", "u_qualys_computer_import")
    # a row each, and their related rows: three asset details, two OS details (Linux, Windows), the printer's hardware
    assert (first.sent, first.loaded, first.failed, first.calls) == (3, 3, 0, 3 + 6)
    assert first.operations == {"INSERT": 3}
    with staging.begin() as conn:
        change(conn, ids[1], "changed", memory_mb=2048)
    run(staging)
    auto_approve(staging, "t")
    second = load_via_import_set(staging, _hook(), MAPPINGS, "t", "u_qualys_computer_import")
    assert (second.sent, second.operations) == (1, {"UPDATE": 1})  # matched on the serial number (coalesce)
    assert counts(staging, "t") == {"loaded": 3}


def test_a_429_storm_mid_load_loses_nothing_and_a_rerun_finishes(staging, cmdb: Sn) -> None:  # type: ignore[no-untyped-def]
    from qualys_cmdb.hooks.servicenow import ServiceNowUnreachable

    _three(staging)
    auto_approve(staging, "t")
    hook = ServiceNowHook("sn_load", retry=SnRetryPolicy(max_attempts=2, backoff_s=0.01), sleep=lambda s: None)
    load_approved(staging, hook, MAPPINGS, "t", batch_size=1)  # warm: one call per asset from here on
    with staging.begin() as conn:  # two assets change, then the CMDB starts refusing
        conn.execute(update(asset_classification).values(state="approved", loaded_hash=None))
    cmdb.control("faults", throttle={"count": 10, "family": "ire"})
    with pytest.raises(ServiceNowUnreachable, match="the work is kept and the next run carries on"):
        load_approved(staging, hook, MAPPINGS, "t", batch_size=1)
    assert counts(staging, "t") == {"approved": 3}  # nothing marked loaded that the CMDB did not confirm
    cmdb.control("faults", method="DELETE")
    finished = load_approved(staging, hook, MAPPINGS, "t", batch_size=1)
    assert (finished.loaded, finished.operations) == (3, {"NO_CHANGE": 3})  # no duplicates in the CMDB
    assert counts(staging, "t") == {"loaded": 3}


def test_a_placeholder_mac_never_identifies_a_ci(staging, cmdb: Sn) -> None:  # type: ignore[no-untyped-def]
    """Loopback adapters share the MAC 00:00:00:00:00:00. Two hosts with no serial number whose only adapter is a
    loopback are two CIs, not one (the address would match the second to the first); the adapters still land."""
    from qualys_cmdb.staging.schema import STAGED_CHILDREN
    from sqlalchemy import insert

    server = {"os_category_1": "Linux", "os_category_2": "Server"}
    ids = [stage(staging, os=server, nic=False, bios_serial_number=None) for _ in range(2)]
    with staging.begin() as conn:
        conn.execute(
            insert(STAGED_CHILDREN["network_interface"]),
            [{"source": "s", "asset_id": a, "interface_name": "lo", "mac_address": "00:00:00:00:00:00"} for a in ids],
        )
    run(staging)
    auto_approve(staging, "t")
    result = load_approved(staging, _hook(), MAPPINGS, "t")
    assert (result.loaded, result.operations) == (2, {"INSERT": 2})
    with staging.connect() as conn:
        sys_ids = conn.execute(select(asset_classification.c.cmdb_sys_id)).scalars().all()
    assert len(set(sys_ids)) == 2
    adapters = list(_hook().table_query("cmdb_ci_network_adapter", "name=lo", ["cmdb_ci", "mac_address"]))
    assert sorted(a["cmdb_ci"] for a in adapters) == sorted(sys_ids)
    assert {a["mac_address"] for a in adapters} == {""}


def test_a_page_group_load_ends_with_its_own_runs_classify_and_leaves_a_later_runs_group(staging, cmdb) -> None:  # type: ignore[no-untyped-def]
    """A page-group run's load ends with what its own run classified (so the next run can start fetching) instead of
    following the classifications a later run makes meanwhile: those wait for that run's load. A later run's
    classification is stood in for by another run id and a ``classified_at`` an hour on; a load of the ordinary kind
    takes them all."""
    ids = _three(staging)
    auto_approve(staging, "t")
    with staging.begin() as conn:
        first = conn.execute(select(asset_classification.c.classified_run).limit(1)).scalar_one()
        conn.execute(
            update(asset_classification)
            .where(asset_classification.c.asset_id == ids[2])
            .values(classified_at=func.now() + text("interval '1 hour'"), classified_run="next_group__later")
        )
    grouped = load_approved(staging, _hook(), MAPPINGS, "t", group_run=first)
    assert (grouped.sent, grouped.loaded) == (2, 2)
    assert counts(staging, "t") == {"loaded": 2, "approved": 1}
    later = load_approved(staging, _hook(), MAPPINGS, "t", group_run="next_group__later")
    assert (later.sent, later.loaded) == (1, 1)
    assert counts(staging, "t") == {"loaded": 3}


def test_an_asset_another_runs_classify_changes_while_its_batch_is_in_flight_is_sent_again_with_the_change(  # type: ignore[no-untyped-def]
    staging, cmdb: Sn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page group's load beside the next run: while an asset's batch is at the CMDB, the next run stages its clone
    and classifies (the serial is shared now: classify takes it out). The outcome is of the payload that was sent:
    the CI is recorded, the new classification keeps the state classify gave it (not marked loaded), and once
    approved the next load sends the asset again without the serial."""
    from simulators.servicenow import ire

    linux = {"os_category_1": "Linux", "os_category_2": "Server"}
    serial = "VMware-42 11 22"

    def staged_with_serial() -> int:
        asset = stage(staging, os=linux, bios_serial_number=serial)
        with staging.begin() as conn:
            conn.execute(
                insert(STAGED_CHILDREN["serial_number"]).values(
                    source="s", asset_id=asset, serial_number=serial, serial_type="bios"
                )
            )
        return asset

    first = staged_with_serial()
    run(staging)
    auto_approve(staging, "t")
    real = ire.handle
    clone: list[int] = []

    def handle(inst, req, user):  # type: ignore[no-untyped-def]
        if not clone:  # the first IRE request: the next run stages the clone and classifies meanwhile
            clone.append(staged_with_serial())
            assert run(staging).classified == 2  # the clone, and the first asset without its serial
        return real(inst, req, user)

    monkeypatch.setattr(ire, "handle", handle)
    result = load_approved(staging, _hook(), MAPPINGS, "t")
    assert (result.sent, result.loaded) == (1, 1)
    with staging.connect() as conn:
        row = conn.execute(select(asset_classification).where(asset_classification.c.asset_id == first)).one()
    assert row.state == "pending" and row.cmdb_sys_id  # the CI is known; the change waits for approval
    assert row.loaded_hash != row.payload_hash and row.payload.get("serial_number") is None

    auto_approve(staging, "t")
    again = load_approved(staging, _hook(), MAPPINGS, "t")
    assert again.sent == 2  # the first asset's change and the clone
    assert counts(staging, "t") == {"loaded": 2}
    with staging.connect() as conn:
        hashes = conn.execute(select(asset_classification.c.loaded_hash, asset_classification.c.payload_hash)).all()
    assert all(loaded == current for loaded, current in hashes)


def test_even_batches_cut_a_page_groups_load_into_whole_waves_of_equal_batches() -> None:
    from qualys_cmdb.load.ire import even_batches

    assert even_batches(600, 500, 2) == 300  # 300 + 300 on two connections, not 500 + 100
    assert even_batches(5100, 500, 2) == 425  # 6 waves of two
    assert even_batches(50_000, 500, 2) == 500  # a large load keeps the full batch
    assert even_batches(40, 500, 2) == 20
    assert even_batches(1, 500, 4) == 1
    assert even_batches(0, 500, 2) == 500
    assert even_batches(700, 500, 1) == 350  # one connection: two batches either way, of equal size
