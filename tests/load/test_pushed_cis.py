"""BY-11 on real Postgres: which CI a returning Qualys asset was pushed from, and how its IRE item names that CI.

The whole round trip through both DAGs and both simulators is in tests/export/test_round_trip.py; these tests pin
the rules of the link one by one (evidence, ambiguity, a link never moves a CI) and the item it gives.
"""

from __future__ import annotations

from typing import Any

from qualys_cmdb.classify.mappings import load_mappings
from qualys_cmdb.load.payload import build_payload
from qualys_cmdb.load.pushed_cis import PushedCi, pushed_cis
from qualys_cmdb.staging.schema import asset_classification, upload_item
from sqlalchemy import insert, update

from tests.classify.test_classify import run, stage
from tests.conftest import REPO

MAPPINGS = load_mappings(REPO / "include" / "mappings")
LINUX = {"os_category_1": "Linux", "os_category_2": "Server", "os_full_name": "Ubuntu 22.04"}
CI_X = "a" * 32
CI_Y = "b" * 32


def pushed(engine: Any, address: str, ci: str | None = CI_X, **item: Any) -> None:
    """An ``ip`` upload item of schedule ``push``: ``address`` pushed to source ``s`` for CI ``ci``."""
    row = {
        "schedule": "push",
        "source": "s",
        "kind": "ip",
        "address": address,
        "tracking_method": "IP",
        "ci_sys_id": ci,
        "ci_class": "cmdb_ci_computer",
        "status": "Success",
        "run_id": "push-1",
    }
    row.update(item)
    with engine.begin() as conn:
        conn.execute(insert(upload_item).values(**row))


def confirmed(engine: Any, asset_id: int, sys_id: str) -> None:
    """The CMDB confirmed the asset as CI ``sys_id`` (a load of it succeeded)."""
    with engine.begin() as conn:
        conn.execute(
            update(asset_classification)
            .where(asset_classification.c.asset_id == asset_id)
            .values(state="loaded", cmdb_sys_id=sys_id, loaded_hash=asset_classification.c.payload_hash)
        )


def links(engine: Any, *assets: int) -> dict[int, PushedCi]:
    return {key[1]: ci for key, ci in pushed_cis(engine, [("s", a) for a in assets]).items()}


def test_the_host_id_links_an_asset_to_its_ci_when_the_cmdb_changed_the_address_since(staging: Any) -> None:
    # Pushed as 10.0.0.1, the host-id updater found host 501 there; the CMDB then gave the CI 10.0.0.2 (pushed
    # too, not scanned). The asset Qualys found at 10.0.0.1 comes back: its host id says which CI it is.
    asset = stage(staging, ip_address="10.0.0.1", qweb_host_id=501)
    pushed(staging, "10.0.0.1", qualys_host_id=501, qualys_asset_id=asset)
    pushed(staging, "10.0.0.2", run_id="push-2")
    assert links(staging, asset) == {asset: PushedCi(CI_X, "cmdb_ci_computer", "host id", confirmed=False)}


def test_the_asset_id_alone_links_too_and_the_address_does_not_matter_then(staging: Any) -> None:
    asset = stage(staging, ip_address="10.9.9.9", qweb_host_id=None)
    pushed(staging, "10.0.0.1", qualys_host_id=777, qualys_asset_id=asset)
    assert links(staging, asset)[asset].evidence == "host id"


def test_before_the_host_id_updater_ran_the_pushed_address_links(staging: Any) -> None:
    asset = stage(staging, ip_address="10.0.0.1", qweb_host_id=501)
    pushed(staging, "10.0.0.1", status="Skipped", ci_class="cmdb_ci_server")  # Qualys had the address already
    pushed(staging, "10.0.0.1", run_id="push-2", ci_class="cmdb_ci_linux_server")  # the CMDB reclassified it since
    assert links(staging, asset) == {asset: PushedCi(CI_X, "cmdb_ci_linux_server", "address", confirmed=False)}


def test_an_address_is_no_evidence_once_another_host_was_found_at_it(staging: Any) -> None:
    asset = stage(staging, ip_address="10.0.0.1", qweb_host_id=501)
    pushed(staging, "10.0.0.1", qualys_host_id=999, qualys_asset_id=1)  # the host the push became is another one
    assert links(staging, asset) == {}


def test_ambiguous_evidence_links_nothing(staging: Any) -> None:
    shared = stage(staging, ip_address="10.0.0.1", qweb_host_id=501)
    pushed(staging, "10.0.0.1", ci_count=2)  # two CIs had the address: the item names one of them, not the machine
    moved = stage(staging, ip_address="10.0.0.3", qweb_host_id=503)
    pushed(staging, "10.0.0.3", qualys_host_id=503)
    pushed(staging, "10.0.0.3", CI_Y, run_id="push-2", qualys_host_id=503)  # the CMDB gave the address to CI Y
    assert links(staging, shared, moved) == {}


def test_only_pushed_addresses_of_the_same_source_with_a_ci_are_evidence(staging: Any) -> None:
    refused = stage(staging, ip_address="10.0.0.1", qweb_host_id=501)
    pushed(staging, "10.0.0.1", status="Error")
    queued = stage(staging, ip_address="10.0.0.2", qweb_host_id=502)
    pushed(staging, "10.0.0.2", status="Queued")
    elsewhere = stage(staging, ip_address="10.0.0.3", qweb_host_id=503)
    pushed(staging, "10.0.0.3", source="other")
    tagged = stage(staging, ip_address="10.0.0.4", qweb_host_id=504)
    pushed(staging, "10.0.0.4", kind="tag", target="Net: Lab")
    assert links(staging, refused, queued, elsewhere, tagged) == {}


def test_a_link_never_moves_a_ci(staging: Any) -> None:
    mine = stage(staging, ip_address="10.0.0.1", qweb_host_id=501)  # the CMDB confirmed it as CI X already
    pushed(staging, "10.0.0.1", qualys_host_id=501)
    elsewhere = stage(staging, ip_address="10.0.0.2", qweb_host_id=502)  # the CMDB confirmed it as another CI
    pushed(staging, "10.0.0.2", CI_Y, qualys_host_id=502)
    second = stage(staging, ip_address="10.0.0.3", qweb_host_id=503)  # CI X's second host (it moved; both scanned)
    pushed(staging, "10.0.0.3", run_id="push-2", qualys_host_id=503)
    run(staging)
    confirmed(staging, mine, CI_X)
    confirmed(staging, elsewhere, "c" * 32)
    assert links(staging, mine, elsewhere, second) == {
        mine: PushedCi(CI_X, "cmdb_ci_computer", "host id", confirmed=True)
    }


def test_of_two_assets_of_a_batch_pointing_at_one_ci_the_stronger_evidence_wins(staging: Any) -> None:
    scanned = stage(staging, ip_address="10.0.0.1", qweb_host_id=501)
    pushed(staging, "10.0.0.1", qualys_host_id=501)
    fresh = stage(staging, ip_address="10.0.0.2", qweb_host_id=502)
    pushed(staging, "10.0.0.2", run_id="push-2")  # the CI's new address, not looked up yet
    assert links(staging, fresh, scanned) == {scanned: PushedCi(CI_X, "cmdb_ci_computer", "host id", False)}
    assert set(links(staging, fresh)) == {fresh}  # alone in its batch it is linked (and IRE tells the rest)


def test_the_item_names_the_pushed_ci_until_the_cmdb_confirmed_it_and_keeps_its_class(staging: Any) -> None:
    linux = stage(staging, os=LINUX, ip_address="10.0.0.1", qweb_host_id=501)
    pushed(staging, "10.0.0.1", qualys_host_id=501)
    printer = stage(staging, hw={"hardware_category_1": "Printers", "hardware_category_2": "Laser"}, qweb_host_id=502)
    pushed(staging, "10.0.0.2", CI_Y, qualys_host_id=502)
    plain = stage(staging, os=LINUX, ip_address="10.0.0.3", qweb_host_id=503)
    run(staging)
    keys = [("s", linux), ("s", printer), ("s", plain)]
    payload = build_payload(staging, MAPPINGS, "t", keys)
    items = {key[1]: payload.items[index] for key, index in payload.main_index.items()}
    keep = {"updateWithoutDowngrade": True, "updateWithoutSwitch": True}
    # a cmdb_ci_computer that Qualys finds to be a Linux server becomes one (an upgrade)
    assert items[linux]["className"] == "cmdb_ci_linux_server"
    assert items[linux]["values"]["sys_id"] == CI_X and items[linux]["settings"] == keep
    # a cmdb_ci_computer is not moved sideways to the printer class Qualys's hardware category gives
    assert items[printer]["className"] == "cmdb_ci_computer"
    assert items[printer]["values"]["sys_id"] == CI_Y and items[printer]["settings"] == keep
    # an asset nobody pushed is identified by IRE's rules as before
    assert "sys_id" not in items[plain]["values"] and "settings" not in items[plain]
    assert items[plain]["className"] == "cmdb_ci_linux_server"

    confirmed(staging, linux, CI_X)  # from now on IRE finds the CI by the asset's source key
    again = build_payload(staging, MAPPINGS, "t", [("s", linux)]).items[0]
    assert "sys_id" not in again["values"] and again["settings"] == keep
    assert again["sys_object_source_info"]["source_native_key"] == str(linux)


def test_a_ci_the_cmdb_reclassified_since_the_push_keeps_its_class_and_gets_the_scan(staging: Any, cmdb: Any) -> None:
    """Through IRE (real HTTP to the ServiceNow simulator): the CI was pushed as a cmdb_ci_computer, the CMDB has
    made it a Windows server since; Qualys finds a Linux server. The CI is updated in place and stays what the
    CMDB says it is (IRE skips the class switch, as the item's settings ask)."""
    import requests
    from qualys_cmdb.hooks.servicenow import ServiceNowHook

    created = requests.post(
        f"{cmdb.url}/api/now/table/cmdb_ci_win_server",
        json={"name": "lab-01", "ip_address": "10.0.0.1"},
        auth=("sn_integration", "sn-Passw0rd"),
        timeout=30,
    )
    created.raise_for_status()
    ci = created.json()["result"]["sys_id"]
    asset = stage(staging, os=LINUX, ip_address="10.0.0.1", qweb_host_id=501)
    pushed(staging, "10.0.0.1", ci, qualys_host_id=501)
    run(staging)
    payload = build_payload(staging, MAPPINGS, "t", [("s", asset)])
    hook = ServiceNowHook("servicenow_default")
    try:
        outcomes = hook.identify_reconcile(payload.items, MAPPINGS.discovery_source, relations=payload.relations)
    finally:
        hook.close()
    main = outcomes[payload.main_index[("s", asset)]]
    assert all(o.ok for o in outcomes), [o.message for o in outcomes if not o.ok]
    assert (main.sys_id, main.operation) == (ci, "UPDATE")
    record = requests.get(
        f"{cmdb.url}/api/now/table/cmdb_ci_computer/{ci}",
        params={"sysparm_fields": "sys_class_name,name,os"},
        auth=("sn_integration", "sn-Passw0rd"),
        timeout=30,
    ).json()["result"]
    assert record == {"sys_class_name": "cmdb_ci_win_server", "name": f"host-{asset}", "os": "Ubuntu 22.04"}
