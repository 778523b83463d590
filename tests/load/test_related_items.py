"""Related tables (CM-4): open ports, processors and software details reach the CMDB under their CI, through IRE;
software without a name and the same software twice on one asset are listed, not dropped silently (guide 2.2)."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import requests
from qualys_cmdb.approval.decisions import auto_approve
from qualys_cmdb.classify.mappings import load_mappings
from qualys_cmdb.hooks.servicenow import ServiceNowHook, SnRetryPolicy
from qualys_cmdb.load.ire import load_approved
from qualys_cmdb.load.payload import DUPLICATE_SOFTWARE, NAMELESS_SOFTWARE, build_payload
from qualys_cmdb.staging.schema import STAGED_CHILDREN, asset_classification, staged_software
from sqlalchemy import Engine, insert, select, update

from tests.classify.test_classify import change, run, stage
from tests.conftest import REPO

MAPPINGS = load_mappings(REPO / "include" / "mappings")
LINUX = {"os_category_1": "Linux", "os_category_2": "Server"}


def hook() -> ServiceNowHook:
    """The ServiceNow simulator of the ``cmdb`` fixture (the connection ``servicenow_default``)."""
    return ServiceNowHook("servicenow_default", retry=SnRetryPolicy(max_attempts=3, backoff_s=0.01))


def rows(sim: Any, table: str, query: str) -> list[dict[str, Any]]:
    """The CMDB's rows of ``table`` matching ``query`` (values only, no reference links)."""
    response = requests.get(
        f"{sim.url}/api/now/table/{table}",
        params={"sysparm_query": query, "sysparm_exclude_reference_link": "true", "sysparm_limit": "10000"},
        auth=("sn_integration", "sn-Passw0rd"),
        headers={"Accept": "application/json"},
        timeout=30,
    )
    response.raise_for_status()
    return list(response.json()["result"])


def stage_details(engine: Engine, asset: int) -> None:
    """Ports (one without a protocol), two sockets of one processor model, and software: bash twice (two installs),
    a package without a name, one without a version, and openssl with its catalog details."""
    with engine.begin() as conn:
        conn.execute(
            insert(STAGED_CHILDREN["open_port"]).values(source="s", asset_id=asset),
            [
                {"port": 22, "protocol": "TCP", "detected_service": "ssh", "description": None},
                {"port": 443, "protocol": "TCP", "detected_service": None, "description": "https"},
                {"port": 161, "protocol": None, "detected_service": None, "description": None},
            ],
        )
        cpu = {"processor_description": "Intel Xeon Gold 6338", "processor_speed": 2000, "processor_cpu_counts": 32}
        conn.execute(insert(STAGED_CHILDREN["processor"]), [{"source": "s", "asset_id": asset, **cpu}] * 2)
        conn.execute(
            insert(staged_software).values(
                software_key=f"ssl{asset}",
                name="OpenSSL",
                version="3.0.2",
                publisher="OpenSSL Project",
                software_type="Package",
                lifecycle_ga=date(2021, 9, 7),
                lifecycle_stage="GA",
                license_category="Open Source",
                is_ignored=False,
            )
        )
        conn.execute(insert(staged_software).values(software_key=f"bash{asset}", name="bash", version="5.1"))
        conn.execute(insert(staged_software).values(software_key=f"anon{asset}", name=None, version="0.9"))
        conn.execute(insert(staged_software).values(software_key=f"nover{asset}", name="busybox", version=None))
        installs = [("ssl", 1), ("bash", 2), ("bash", 3), ("anon", 4), ("nover", 5)]
        conn.execute(
            insert(STAGED_CHILDREN["software_install"]),
            [
                {
                    "source": "s",
                    "asset_id": asset,
                    "software_key": f"{key}{asset}",
                    "install_date": datetime(2024, 1, day, tzinfo=UTC),
                }
                for key, day in installs
            ],
        )


def test_ports_processors_and_software_details_are_related_items_of_the_ci(staging: Engine) -> None:
    asset = stage(staging, os=LINUX)
    stage_details(staging, asset)
    run(staging)
    payload = build_payload(staging, MAPPINGS, "t", [("s", asset)])
    related: dict[str, list[dict[str, str]]] = {}
    for item in payload.items[payload.main_index[("s", asset)]]["related"]:
        related.setdefault(item["className"], []).append(item["values"])
    assert sorted(related["u_qualys_open_ports"], key=lambda v: v["u_port"]) == [
        {"u_port": "22", "u_protocol": "TCP", "u_detected_service": "ssh"},
        {"u_port": "443", "u_protocol": "TCP", "u_description": "https"},
    ]
    # two sockets of one model: one row (identified by its description), nothing to report
    assert related["u_qualys_processors"] == [
        {"u_processor_description": "Intel Xeon Gold 6338", "u_processor_cpu_counts": "32", "u_processor_speed": "2000"}
    ]
    details = {v["u_name"]: v for v in related["u_qualys_software_details"]}
    assert details["OpenSSL"] == {
        "u_name": "OpenSSL",
        "u_version": "3.0.2",
        "u_is_ignored": "false",
        "u_license_category": "Open Source",
        "u_type": "Package",
        "u_lifecycle_ga": "2021-09-07",
        "u_lifecycle_stage": "GA",
        "u_publisher": "OpenSSL Project",
    }
    assert set(details) == {"OpenSSL", "bash"}  # busybox has no version, which tells its details row apart
    # one package each, bash once (the same install each time: the earlier one)
    assert sorted(v["key"] for v in related["cmdb_ci_spkg"]) == ["OpenSSL_|_3.0.2", "bash_|_5.1", "busybox_|_"]
    bash = [v for v in related["cmdb_software_instance"] if v["name"] == "bash"]
    assert bash == [{"name": "bash", "install_date": "2024-01-02 00:00:00"}]
    assert payload.skipped.by_reason == {
        NAMELESS_SOFTWARE: {("s", asset): ["version 0.9"]},
        DUPLICATE_SOFTWARE: {("s", asset): ["bash 5.1"]},
        "u_qualys_open_ports rows without u_protocol not sent (it tells the rows apart)": {("s", asset): ["161"]},
        "u_qualys_software_details rows without u_version not sent (it tells the rows apart)": {
            ("s", asset): ["busybox"]
        },
    }


def test_related_rows_reach_the_cmdb_under_the_ci_and_only_a_change_sends_them_again(
    staging: Engine, cmdb: Any
) -> None:
    asset = stage(staging, os=LINUX)
    stage_details(staging, asset)
    run(staging)
    auto_approve(staging, "t")
    sn = hook()
    result = load_approved(staging, sn, MAPPINGS, "t")
    assert (result.loaded, result.failed) == (1, 0), result.refused
    (ci,) = [r["sys_id"] for r in rows(cmdb, "cmdb_ci_linux_server", "")]
    ports = rows(cmdb, "u_qualys_open_ports", f"u_ci={ci}^ORDERBYu_port")
    assert [(p["u_port"], p["u_protocol"], p["u_detected_service"]) for p in ports] == [
        ("22", "TCP", "ssh"),
        ("443", "TCP", ""),
    ]
    assert [p["u_processor_cpu_counts"] for p in rows(cmdb, "u_qualys_processors", f"u_ci={ci}")] == ["32"]
    details = {d["u_name"]: d for d in rows(cmdb, "u_qualys_software_details", f"u_ci={ci}")}
    assert set(details) == {"OpenSSL", "bash"}
    assert (details["OpenSSL"]["u_publisher"], details["OpenSSL"]["u_lifecycle_ga"]) == (
        "OpenSSL Project",
        "2021-09-07",
    )
    assert details["OpenSSL"]["u_is_ignored"] == "false"
    # listed once per load, with the asset: the application log's entries
    messages = [m for m, _ in result.skipped.log_entries()]
    assert f"{NAMELESS_SOFTWARE}: 1 row(s) on 1 asset(s): s/{asset}: version 0.9" in messages
    assert f"{DUPLICATE_SOFTWARE}: 1 row(s) on 1 asset(s): s/{asset}: bash 5.1" in messages

    assert load_approved(staging, sn, MAPPINGS, "t").calls == 0  # unchanged: no call
    with staging.begin() as conn:  # a port closes, another opens: the asset's content changes
        conn.execute(STAGED_CHILDREN["open_port"].delete().where(STAGED_CHILDREN["open_port"].c.port == 443))
        conn.execute(insert(STAGED_CHILDREN["open_port"]).values(source="s", asset_id=asset, port=8443, protocol="TCP"))
        change(conn, asset, "ports changed")
    assert run(staging).classified == 1
    auto_approve(staging, "t")
    again = load_approved(staging, sn, MAPPINGS, "t")
    assert (again.loaded, again.calls) == (1, 1)
    ports = rows(cmdb, "u_qualys_open_ports", f"u_ci={ci}^ORDERBYu_port")
    # the new port is there; the closed one stays, as IRE leaves related rows a payload no longer names
    assert [p["u_port"] for p in ports] == ["22", "443", "8443"]


def test_a_change_of_the_related_maps_sends_the_loaded_assets_again(staging: Engine, tmp_path: Path) -> None:
    """The payload hash covers the maps of what goes with the CI: new related tables reach assets loaded before."""
    asset = stage(staging, os=LINUX)
    folder = tmp_path / "mappings"
    shutil.copytree(REPO / "include" / "mappings", folder)
    maps = folder / "field_maps.yaml"
    shipped = maps.read_text()  # without the tables of staged rows (ports, processors, software details)
    maps.write_text(
        shipped.split("  u_qualys_open_ports:")[0] + "# Values longer" + shipped.split("# Values longer")[1]
    )
    without_ports = load_mappings(folder)
    assert "u_qualys_open_ports" not in without_ports.related_tables
    run(staging, mappings=without_ports)
    with staging.begin() as conn:
        conn.execute(
            update(asset_classification).values(state="loaded", loaded_hash=asset_classification.c.payload_hash)
        )
    assert run(staging, mappings=without_ports).classified == 0  # nothing changed
    assert run(staging, mappings=MAPPINGS).classified == 1  # the maps changed: classified again …
    with staging.connect() as conn:
        state = conn.execute(
            select(asset_classification.c.state).where(asset_classification.c.asset_id == asset)
        ).scalar_one()
    assert state == "pending"  # … and to be sent again, with its ports
