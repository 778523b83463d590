"""Real-HTTP tests of the ServiceNow simulator (``simulators.servicenow``).

Each test talks to a simulator started on 127.0.0.1:0 in a background thread, with ``requests``.
Fixtures are local to this module (the package conftest serves the Qualys simulator).
"""

from __future__ import annotations

import copy
import gc
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from simulators.servicenow.identification_rules import DEFAULT_RULES
from simulators.servicenow.replies import json_reply, large_json_reply
from simulators.servicenow.server import ServiceNowSimulator

USER = "sn_integration"
PASSWORD = "sn-Passw0rd"
AUTH = (USER, PASSWORD)
CLIENT = ("qcmdb_client", "client-s3cret")
JSON = {"Accept": "application/json", "Content-Type": "application/json"}
ROOT = Path(__file__).resolve().parents[2]


# ----------------------------------------------------------------------------- fixtures and helpers
@pytest.fixture(scope="module")
def snow_server() -> Iterator[ServiceNowSimulator]:
    """One in-memory simulator per module."""
    simulator = ServiceNowSimulator(host="127.0.0.1", port=0).start()
    try:
        yield simulator
    finally:
        simulator.stop()


@pytest.fixture
def snow(snow_server: ServiceNowSimulator) -> Iterator[ServiceNowSimulator]:
    """The shared simulator with an empty CMDB, default rules/settings and no faults."""
    url = snow_server.url + "/sim/control/"
    requests.post(url + "reset", timeout=10).raise_for_status()
    requests.delete(url + "faults", timeout=10).raise_for_status()
    requests.delete(url + "identification-rules", timeout=10).raise_for_status()
    requests.delete(url + "stats", timeout=10).raise_for_status()
    requests.post(
        url + "transform",
        json={"coalesce": ["serial_number", "name"], "copy_empty_fields": False},
        timeout=10,
    ).raise_for_status()
    requests.post(
        url + "discovery-sources",
        json={"values": ["Qualys", "ServiceNow", "ManualEntry", "ImportSet", "Other Automated"]},
        timeout=10,
    ).raise_for_status()
    requests.post(url + "oauth", json={"client_credentials": True, "token_ttl_seconds": 1800}, timeout=10)
    yield snow_server
    requests.delete(url + "faults", timeout=10)


def control(
    sim: ServiceNowSimulator, path: str, method: str = "POST", body: dict[str, Any] | None = None, **fields: Any
) -> Any:
    response = requests.request(method, f"{sim.url}/sim/control/{path}", json=body or fields or None, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def table(sim: ServiceNowSimulator, method: str, path: str, **kwargs: Any) -> requests.Response:
    kwargs.setdefault("auth", AUTH)
    kwargs.setdefault("headers", JSON)
    return requests.request(method, f"{sim.url}/api/now/table/{path}", timeout=30, **kwargs)


def ire(
    sim: ServiceNowSimulator, payload: Any, endpoint: str = "", data_source: str | None = "Qualys", **params: Any
) -> dict[str, Any]:
    if data_source is not None:
        params["sysparm_data_source"] = data_source
    response = requests.post(
        f"{sim.url}/api/now/identifyreconcile{endpoint}",
        params=params,
        json=payload,
        auth=AUTH,
        headers=JSON,
        timeout=60,
    )
    assert response.status_code == 200, response.text
    return response.json()["result"]  # type: ignore[no-any-return]


def server(name: str, serial: str | None = None, cls: str = "cmdb_ci_linux_server", **values: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"className": cls, "values": {"name": name, **values}}
    if serial:
        item["values"]["serial_number"] = serial
        item["lookup"] = [
            {
                "className": "cmdb_serial_number",
                "values": {"serial_number": serial, "serial_number_type": "system", "valid": "true"},
            }
        ]
    return item


def host_with_packages(name: str, *packages: dict[str, str]) -> dict[str, Any]:
    item = server(name, f"SER-{name}")
    item["related"] = [{"className": "cmdb_ci_spkg", "values": dict(p)} for p in packages]
    return item


def package(name: str, **extra: str) -> dict[str, str]:
    return {"name": name, "version": "1", "key": f"{name}_|_1", **extra}


def rows(sim: ServiceNowSimulator, name: str, query: str = "", **params: Any) -> list[dict[str, Any]]:
    response = table(sim, "GET", name, params={"sysparm_query": query, **params})
    assert response.status_code == 200, response.text
    return response.json()["result"]  # type: ignore[no-any-return]


def ops(result: dict[str, Any]) -> list[str]:
    return [item["operation"] for item in result["items"]]


# ----------------------------------------------------------------------------- Table API
def test_table_crud_status_codes_strings_and_references(snow: ServiceNowSimulator) -> None:
    dell = rows(snow, "core_company", "name=Dell Inc.")[0]["sys_id"]
    created = table(
        snow,
        "POST",
        "cmdb_ci_linux_server",
        json={"name": "x" * 300, "ram": 8192, "virtual": True, "manufacturer": dell, "bogus": "ignored"},
    )
    assert created.status_code == 201
    record = created.json()["result"]
    sys_id = record["sys_id"]
    assert len(sys_id) == 32
    assert created.headers["Location"].endswith(f"/api/now/table/cmdb_ci_linux_server/{sys_id}")
    assert record["name"] == "x" * 255  # truncated to the field length
    assert record["ram"] == "8192" and record["virtual"] == "true"
    assert record["manufacturer"] == {"link": f"{snow.url}/api/now/table/core_company/{dell}", "value": dell}
    assert record["sys_class_name"] == "cmdb_ci_linux_server" and "bogus" not in record
    patched = table(snow, "PATCH", f"cmdb_ci_linux_server/{sys_id}", json={"os": "Ubuntu", "sys_id": "nope"})
    assert patched.status_code == 200 and patched.json()["result"]["os"] == "Ubuntu"
    assert patched.json()["result"]["sys_mod_count"] == "1"
    put = table(snow, "PUT", f"cmdb_ci/{sys_id}", json={"short_description": "via parent table"})
    assert put.status_code == 200 and "os" not in put.json()["result"]
    assert table(snow, "DELETE", f"cmdb_ci_server/{sys_id}").status_code == 204
    missing = table(snow, "GET", f"cmdb_ci_linux_server/{sys_id}")
    assert missing.status_code == 404
    assert missing.json() == {
        "error": {
            "message": "No Record found",
            "detail": "Record doesn't exist or ACL restricts the record retrieval",
        },
        "status": "failure",
    }
    bad = table(snow, "GET", "cmdb_ci_nonsense")
    assert bad.status_code == 400 and bad.json()["error"]["message"] == "Invalid table cmdb_ci_nonsense"


def test_auth_and_header_errors(snow: ServiceNowSimulator) -> None:
    anonymous = requests.get(f"{snow.url}/api/now/table/cmdb_ci", headers=JSON, timeout=10)
    assert anonymous.status_code == 401
    assert anonymous.json()["error"] == {
        "message": "User Not Authenticated",
        "detail": "Required to provide Auth information",
    }
    wrong = table(snow, "GET", "cmdb_ci", auth=(USER, "wrong"))
    assert wrong.status_code == 401
    assert table(snow, "GET", "cmdb_ci", headers={"Accept": "application/xml"}).status_code == 406
    no_type = table(snow, "POST", "cmdb_ci", data=b'{"name": "a"}', headers={"Accept": "application/json"})
    assert no_type.status_code == 400
    bad_json = table(snow, "POST", "cmdb_ci", data=b"{not json")
    assert bad_json.status_code == 400 and bad_json.json()["status"] == "failure"


def test_encoded_queries(snow: ServiceNowSimulator) -> None:
    hp = rows(snow, "core_company", "name=HP")[0]["sys_id"]
    for i, (name, os_name, ram) in enumerate(
        [("alpha", "Linux", 1024), ("beta", "Windows", 4096), ("gamma", "Linux", 16384), ("delta", "", 512)]
    ):
        values = {"name": name, "os": os_name, "ram": ram, "serial_number": f"S{i}"}
        if i == 1:
            values["manufacturer"] = hp
        assert table(snow, "POST", "cmdb_ci_computer", json=values).status_code == 201

    def names(query: str, name: str = "cmdb_ci_computer") -> list[str]:
        return [r["name"] for r in rows(snow, name, query, sysparm_fields="name")]

    assert names("os=Linux^ORDERBYname") == ["alpha", "gamma"]
    assert names("os=Linux^ORos=Windows^ORDERBYDESCname") == ["gamma", "beta", "alpha"]
    assert names("name=alpha^NQname=delta^ORDERBYname") == ["alpha", "delta"]
    assert names("ram>=4096^ORDERBYram") == ["beta", "gamma"]  # numeric comparison, not string
    assert names("ram<1000") == ["delta"]
    assert names("nameLIKEamm") == ["gamma"]
    assert names("nameSTARTSWITHde") == ["delta"] and names("nameENDSWITHta^ORDERBYname") == ["beta", "delta"]
    assert names("nameINalpha,beta^ORDERBYname") == ["alpha", "beta"]
    assert names("nameNOT INalpha,beta^ORDERBYname") == ["delta", "gamma"]
    assert names("osISEMPTY") == ["delta"] and len(names("osISNOTEMPTY")) == 3
    assert names("os!=Linux") == ["beta"]  # empty values never match !=
    assert names("nameNOT LIKEa") == []
    assert names("manufacturer.name=HP") == ["beta"]
    # unknown fields (including subclass-only fields queried through an ancestor) are dropped silently
    assert len(names("no_such_field=1^name=alpha")) == 1
    assert len(names("os=Linux", "cmdb_ci")) == 4
    assert names("sys_class_nameINSTANCEOFcmdb_ci_computer^name=beta", "cmdb_ci") == ["beta"]
    dotted = rows(snow, "cmdb_ci_computer", "name=beta", sysparm_fields="name,manufacturer.name,nope")
    assert dotted == [{"name": "beta", "manufacturer.name": "HP"}]


def test_paging_headers_and_versions(snow: ServiceNowSimulator) -> None:
    for i in range(5):
        table(snow, "POST", "cmdb_ci_ip_switch", json={"name": f"sw{i}"})
    page = table(
        snow, "GET", "cmdb_ci_netgear", params={"sysparm_limit": 2, "sysparm_offset": 2, "sysparm_query": "ORDERBYname"}
    )
    assert page.status_code == 200
    assert page.headers["X-Total-Count"] == "5"
    assert [r["name"] for r in page.json()["result"]] == ["sw2", "sw3"]
    link = page.headers["Link"]
    for rel, offset in (("first", 0), ("prev", 0), ("next", 4), ("last", 4)):
        assert f'sysparm_offset={offset}>;rel="{rel}"' in link
    assert "sysparm_query=ORDERBYname" in link and "sysparm_limit=2" in link
    bare = table(snow, "GET", "cmdb_ci_netgear", params={"name": "sw1", "sysparm_suppress_pagination_header": "true"})
    assert [r["name"] for r in bare.json()["result"]] == ["sw1"] and "Link" not in bare.headers
    empty_v2 = requests.get(f"{snow.url}/api/now/v2/table/cmdb_ci_printer", auth=AUTH, headers=JSON, timeout=10)
    assert empty_v2.status_code == 200 and empty_v2.json() == {"result": []}
    empty_v1 = requests.get(f"{snow.url}/api/now/v1/table/cmdb_ci_printer", auth=AUTH, headers=JSON, timeout=10)
    assert empty_v1.status_code == 404
    assert table(snow, "GET", "cmdb_ci", params={"sysparm_offset": "-1"}).status_code == 400


def test_class_inheritance_and_display_values(snow: ServiceNowSimulator) -> None:
    table(snow, "POST", "cmdb_ci_linux_server", json={"name": "lin", "os": "RHEL", "install_status": "7"})
    table(snow, "POST", "cmdb_ci_win_server", json={"name": "win", "os": "Windows"})
    table(snow, "POST", "cmdb_ci_printer", json={"name": "prn"})
    everything = rows(snow, "cmdb_ci", "ORDERBYname")
    assert [(r["name"], r["sys_class_name"]) for r in everything] == [
        ("lin", "cmdb_ci_linux_server"),
        ("prn", "cmdb_ci_printer"),
        ("win", "cmdb_ci_win_server"),
    ]
    assert "os" not in everything[0]  # fields of the queried table only
    servers = rows(snow, "cmdb_ci_server", "ORDERBYname")
    assert [r["os"] for r in servers] == ["RHEL", "Windows"]
    assert len(rows(snow, "cmdb_ci_hardware")) == 3
    shown = rows(
        snow, "cmdb_ci_server", "name=lin", sysparm_display_value="true", sysparm_fields="install_status,sys_class_name"
    )
    assert shown == [{"install_status": "Retired", "sys_class_name": "Linux Server"}]
    both = rows(snow, "cmdb_ci_server", "name=lin", sysparm_display_value="all", sysparm_fields="install_status")
    assert both == [{"install_status": {"display_value": "Retired", "value": "7"}}]
    dell = rows(snow, "core_company", "name=Dell Inc.")[0]["sys_id"]
    lin = rows(snow, "cmdb_ci_server", "name=lin")[0]["sys_id"]
    table(snow, "PATCH", f"cmdb_ci_server/{lin}", json={"manufacturer": dell})
    plain = rows(
        snow, "cmdb_ci_server", "name=lin", sysparm_exclude_reference_link="true", sysparm_fields="manufacturer"
    )
    assert plain == [{"manufacturer": dell}]
    display = rows(snow, "cmdb_ci_server", "name=lin", sysparm_display_value="true", sysparm_fields="manufacturer")
    assert display[0]["manufacturer"]["display_value"] == "Dell Inc."


# ----------------------------------------------------------------------------- IRE
def test_ire_insert_no_change_update_and_bookkeeping(snow: ServiceNowSimulator) -> None:
    payload = {"items": [server("web01", "SER-1", ram="2048")]}
    first = ire(snow, payload)
    item = first["items"][0]
    assert item["operation"] == "INSERT" and item["errors"] == [] and first["hasError"] is False
    sys_id = item["sysId"]
    assert len(item["relatedSysIds"]) == 1
    assert [a["attemptResult"] for a in item["identificationAttempts"]] == ["NO_MATCH"] * 3 + ["SKIPPED"]
    second = ire(snow, payload)["items"][0]
    assert second["operation"] == "NO_CHANGE" and second["sysId"] == sys_id
    attempts = second["identificationAttempts"]
    assert [a["attemptResult"] for a in attempts] == ["MATCHED"]  # stops at the first match
    assert attempts[0]["searchOnTable"] == "cmdb_serial_number"
    assert second["identifierEntrySysId"] != "Unknown"
    payload["items"][0]["values"]["ram"] = "4096"
    third = ire(snow, payload)["items"][0]
    assert third["operation"] == "UPDATE" and third["sysId"] == sys_id
    record = table(snow, "GET", f"cmdb_ci_linux_server/{sys_id}").json()["result"]
    assert record["ram"] == "4096" and record["discovery_source"] == "Qualys"
    assert record["first_discovered"] and record["last_discovered"]
    assert len(rows(snow, "cmdb_serial_number", f"cmdb_ci={sys_id}")) == 1
    stats = control(snow, "stats", method="GET")
    assert stats["ire_operations"] == {"INSERT": 1, "NO_CHANGE": 1, "UPDATE": 1}


def test_ire_matches_by_serial_lookup_name_and_source(snow: ServiceNowSimulator) -> None:
    inserted = ire(snow, {"items": [server("db01", "SER-9")]})["items"][0]["sysId"]
    renamed = ire(snow, {"items": [server("db01-renamed", "SER-9")]})["items"][0]
    assert renamed["operation"] == "UPDATE" and renamed["sysId"] == inserted
    by_name = ire(snow, {"items": [server("db01-renamed", cls="cmdb_ci_linux_server", ram="1")]})["items"][0]
    assert by_name["sysId"] == inserted
    assert [a["attemptResult"] for a in by_name["identificationAttempts"]] == ["SKIPPED", "SKIPPED", "MATCHED"]
    source = {
        "source_name": "Qualys",
        "source_native_key": "asset-42",
        "source_recency_timestamp": "2024-05-01 10:00:00",
    }
    with_source = server("db01-renamed", "SER-9")
    with_source["sys_object_source_info"] = source
    first = ire(snow, {"items": [with_source]})["items"][0]
    assert first["identificationAttempts"][0]["info"] == "sys_object_source NO_MATCH"
    only_key = {"className": "cmdb_ci_linux_server", "values": {"os": "Debian"}, "sys_object_source_info": source}
    matched = ire(snow, {"items": [only_key]})["items"][0]
    assert matched["sysId"] == inserted and matched["operation"] == "UPDATE"
    assert matched["identificationAttempts"][0]["info"] == "sys_object_source MATCHED"
    sources = rows(snow, "sys_object_source", "id=asset-42")
    assert sources[0]["target_sys_id"] == inserted and sources[0]["last_scan"] == "2024-05-01 10:00:00"
    direct = ire(
        snow, {"items": [{"className": "cmdb_ci_linux_server", "values": {"sys_id": inserted, "cpu_count": 4}}]}
    )
    assert direct["items"][0]["sysId"] == inserted


def test_ire_cmdb_duplicates_oldest_wins_or_multi_match(snow: ServiceNowSimulator) -> None:
    ids = [
        table(snow, "POST", "cmdb_ci_computer", json={"name": f"dup{i}", "serial_number": "SAME"}).json()["result"][
            "sys_id"
        ]
        for i in range(3)
    ]
    matched = ire(snow, {"items": [{"className": "cmdb_ci_computer", "values": {"serial_number": "SAME"}}]})["items"][0]
    assert matched["sysId"] == ids[0] and matched["operation"] == "NO_CHANGE"
    marked = rows(snow, "cmdb_ci_computer", "duplicate_ofISNOTEMPTY^ORDERBYname", sysparm_exclude_reference_link="true")
    assert [(r["name"], r["duplicate_of"]) for r in marked] == [("dup1", ids[0]), ("dup2", ids[0])]
    control(snow, "properties", body={"glide.identification_engine.skip_duplicates.threshold": 2})
    try:
        too_many = ire(snow, {"items": [{"className": "cmdb_ci_computer", "values": {"serial_number": "SAME"}}]})
        item = too_many["items"][0]
        assert item["identificationAttempts"][-1]["attemptResult"] == "MULTI_MATCH"
        assert item["errors"][0]["error"] == "MULTIPLE_DUPLICATE_RECORDS"
    finally:
        control(snow, "properties", body={"glide.identification_engine.skip_duplicates.threshold": 5})


def test_ire_class_upgrade_and_skipped_upgrade(snow: ServiceNowSimulator) -> None:
    created = table(snow, "POST", "cmdb_ci_computer", json={"name": "box", "serial_number": "UP-1"}).json()["result"]
    kept = server("box", cls="cmdb_ci_linux_server", serial_number="UP-1")
    kept["settings"] = {"updateWithoutUpgrade": True}
    skipped = ire(snow, {"items": [kept]})["items"][0]
    assert skipped["info"][0]["code"] == "SKIPPED_CLASS_UPGRADE"
    assert rows(snow, "cmdb_ci", f"sys_id={created['sys_id']}")[0]["sys_class_name"] == "cmdb_ci_computer"
    upgraded = ire(snow, {"items": [server("box", cls="cmdb_ci_linux_server", serial_number="UP-1")]})["items"][0]
    assert upgraded["operation"] == "UPDATE_WITH_UPGRADE" and upgraded["sysId"] == created["sys_id"]
    assert rows(snow, "cmdb_ci", f"sys_id={created['sys_id']}")[0]["sys_class_name"] == "cmdb_ci_linux_server"
    control(snow, "properties", body={"glide.class.downgrade.enabled": False})
    try:
        refused = ire(snow, {"items": [server("box", cls="cmdb_ci_computer", serial_number="UP-1")]})["items"][0]
        assert refused["errors"][0]["error"] == "RECLASSIFICATION_NOT_ALLOWED"
    finally:
        control(snow, "properties", body={"glide.class.downgrade.enabled": True})


def test_ire_item_errors(snow: ServiceNowSimulator) -> None:
    missing = ire(snow, {"items": [{"className": "cmdb_ci_linux_server", "values": {"ram": "1"}}]})
    item = missing["items"][0]
    assert missing["hasError"] is True and item["sysId"] == "Unknown" and item["operation"] == "NO_CHANGE"
    assert item["errors"][0]["error"] == "MISSING_MATCHING_ATTRIBUTES"
    assert "[cmdb_ci_hardware]" in item["errors"][0]["message"]
    assert [a["attemptResult"] for a in item["identificationAttempts"]] == ["SKIPPED"] * 4
    for source, shown in ((None, "null"), ("Tenable", "Tenable")):
        bad = ire(snow, {"items": [server("a", "S-A")]}, data_source=source)["items"][0]
        assert bad["errors"] == [
            {
                "error": "INVALID_INPUT_DATA",
                "message": f"In payload invalid data source [{shown}] exist. You need to provide a valid choice "
                "value from field [discovery_source] in table [cmdb_ci]",
            }
        ]
    bad_id = ire(snow, {"items": [{"className": "cmdb_ci_linux_server", "values": {"sys_id": "0" * 32}}]})
    assert bad_id["items"][0]["errors"][0]["error"] == "INVALID_INPUT_DATA"
    no_rule = ire(snow, {"items": [{"className": "cmdb_ci", "values": {"name": "x"}}]})
    assert no_rule["items"][0]["errors"][0]["error"] == "IDENTIFICATION_RULE_MISSING"
    duplicates = ire(snow, {"items": [server("d1", "DUP"), server("d2", "DUP"), server("ok", "OK-1")]})
    assert [i["errors"][0]["error"] for i in duplicates["items"]] == ["DUPLICATE_PAYLOAD_RECORDS"] * 3
    assert "(index 0 and 1)" in duplicates["items"][0]["errors"][0]["message"]
    assert rows(snow, "cmdb_ci") == []  # the classic endpoint rejects the whole payload
    abandoned = ire(
        snow,
        {
            "items": [
                {"className": "cmdb_ci_linux_server", "values": {"ram": "1"}},
                {"className": "cmdb_ci_file_system", "values": {"name": "/", "mount_point": "/"}},
                {"className": "cmdb_ci_file_system", "values": {"name": "/tmp", "mount_point": "/tmp"}},
            ],
            "relations": [
                {"parent": 0, "child": 1, "type": "Contains::Contained by"},
                {"parent": 0, "child": 1, "type": "Eats::Eaten by"},
            ],
        },
    )
    errors = [i["errors"][0]["error"] for i in abandoned["items"]]
    assert errors == ["MISSING_MATCHING_ATTRIBUTES", "ABANDONED", "MISSING_DEPENDENCY"]
    assert abandoned["relations"][0]["errors"][0]["error"] == "ABANDONED"
    assert abandoned["relations"][1]["errors"][0]["error"] == "INVALID_INPUT_DATA"
    assert "Eats::Eaten by" in abandoned["relations"][1]["errors"][0]["message"]


def test_ire_enhanced_dedup_partial_and_summary(snow: ServiceNowSimulator) -> None:
    payload = {
        "items": [
            server("e1", "ENH-1", ram="1"),
            server("e1", "ENH-1", cpu_count="2"),
            {"className": "cmdb_ci_ip_switch", "values": {"ip_address": "10.1.1.1"}},
        ]
    }
    result = ire(snow, payload, "/enhanced", options="generate_summary:true")
    assert len(result["items"]) == 2
    merged, partial = result["items"]
    assert merged["operation"] == "INSERT" and merged["inputIndices"] == [0, 1]
    record = table(snow, "GET", f"cmdb_ci_linux_server/{merged['sysId']}").json()["result"]
    assert (record["ram"], record["cpu_count"]) == ("1", "2")
    assert (
        partial["operation"] == "INSERT_AS_PARTIAL" and partial["warnings"][0]["error"] == "MISSING_MATCHING_ATTRIBUTES"
    )
    assert result["hasError"] is False and result["hasWarning"] is True
    assert result["summary"]["cmdb_ci_linux_server"]["inserted"] == 1
    assert result["summary"]["cmdb_ci_ip_switch"]["partial"] == 1
    assert len(rows(snow, "cmdb_ire_partial_payloads")) == 1


def test_ire_query_endpoints_do_not_commit(snow: ServiceNowSimulator) -> None:
    payload = {"items": [server("dry", "DRY-1")]}
    for endpoint in ("/query", "/queryEnhanced"):
        result = ire(snow, payload, endpoint)
        assert result["items"][0]["operation"] == "INSERT" and result["items"][0]["sysId"] == "Unknown"
    assert rows(snow, "cmdb_ci") == [] and rows(snow, "cmdb_serial_number") == []
    committed = ire(snow, payload, "/enhanced")["items"][0]["sysId"]
    payload["items"][0]["values"]["ram"] = "99"
    versioned = requests.post(
        f"{snow.url}/api/now/v1/identifyreconcile/query",
        params={"sysparm_data_source": "Qualys"},
        json=payload,
        auth=AUTH,
        headers=JSON,
        timeout=10,
    ).json()["result"]["items"][0]
    assert versioned["operation"] == "UPDATE" and versioned["sysId"] == committed
    assert table(snow, "GET", f"cmdb_ci_linux_server/{committed}").json()["result"]["ram"] == ""


def test_ire_related_items_dependents_and_relations(snow: ServiceNowSimulator) -> None:
    host = server("app01", "APP-1")
    host["internal_id"] = "host"
    host["lookup"].append(
        {"className": "cmdb_ci_network_adapter", "values": {"name": "eth0", "mac_address": "aa:bb:cc:00:00:01"}}
    )
    host["related"] = [
        {"className": "cmdb_software_instance", "internal_id": "swi-1", "values": {"name": "openssl 3.0"}},
        {"className": "cmdb_software_instance", "values": {"name": "bash 5.2"}},
        {"className": "u_qualys_asset_details", "values": {"u_qualys_asset_id": "987", "u_timezone": "UTC"}},
        {
            "className": "u_qualys_open_ports",
            "values": {"u_port": "22", "u_protocol": "TCP", "u_detected_service": "ssh"},
        },
    ]
    payload = {
        "items": [
            host,
            {
                "className": "cmdb_ci_spkg",
                "internal_id": "pkg",
                "values": {"name": "openssl", "version": "3.0", "key": "openssl_|_3.0"},
            },
            {"className": "cmdb_ci_file_system", "internal_id": "fs", "values": {"name": "/", "mount_point": "/"}},
        ],
        "relations": [{"parent_id": "host", "child_id": "fs", "type": "Contains::Contained by"}],
        "referenceItems": [{"referencedBy": "swi-1", "referenced": "pkg", "referenceField": "software"}],
    }
    result = ire(snow, payload)
    assert ops(result) == ["INSERT", "INSERT", "INSERT"] and result["hasError"] is False
    host_id, pkg_id, fs_id = (i["sysId"] for i in result["items"])
    related = result["items"][0]["relatedItems"]
    assert [r["operation"] for r in related] == ["INSERT"] * 4
    assert related[0]["inputIndices"] == [{"mainIndex": 0, "subIndex": 0}]
    instances = rows(
        snow, "cmdb_software_instance", f"installed_on={host_id}^ORDERBYname", sysparm_exclude_reference_link="true"
    )
    assert [(r["name"], r["software"]) for r in instances] == [("bash 5.2", ""), ("openssl 3.0", pkg_id)]
    assert rows(snow, "u_qualys_open_ports", f"u_ci={host_id}")[0]["u_port"] == "22"
    rel = rows(snow, "cmdb_rel_ci", f"parent={host_id}^child={fs_id}^type.name=Contains::Contained by")
    assert len(rel) == 1
    nics = rows(snow, "cmdb_ci_network_adapter", f"cmdb_ci={host_id}")
    assert [n["name"] for n in nics] == ["eth0"]
    again = ire(snow, payload)
    assert ops(again) == ["NO_CHANGE"] * 3 and again["relations"][0]["operation"] == "NO_CHANGE"
    assert [r["operation"] for r in again["items"][0]["relatedItems"]] == ["NO_CHANGE"] * 4
    # match by NIC lookup alone: another source knows only the MAC address
    nic_only = {
        "className": "cmdb_ci_linux_server",
        "values": {"ram": "512"},
        "lookup": [
            {"className": "cmdb_ci_network_adapter", "values": {"name": "eth0", "mac_address": "aa:bb:cc:00:00:01"}}
        ],
    }
    matched = ire(snow, {"items": [nic_only]})["items"][0]
    assert (
        matched["sysId"] == host_id
        and matched["identificationAttempts"][-1]["searchOnTable"] == "cmdb_ci_network_adapter"
    )
    summary = control(snow, "cmdb", method="GET")
    assert summary["cmdb_ci"]["by_class"] == {
        "cmdb_ci_file_system": 1,
        "cmdb_ci_linux_server": 1,
        "cmdb_ci_network_adapter": 1,
        "cmdb_ci_spkg": 1,
    }
    assert summary["tables"]["cmdb_software_instance"] == 2 and summary["tables"]["u_qualys_asset_details"] == 1


def test_ire_nic_lookup_with_an_address_many_cis_share(snow: ServiceNowSimulator) -> None:
    # Every host has a loopback adapter with the same MAC; only the adapter set as a whole identifies one
    # (exact count match), and adapters of an older CI outside the rule's class do not count.
    lo = {"name": "lo", "mac_address": "00:00:00:00:00:00"}

    def host(name: str, mac: str) -> dict[str, Any]:
        adapters = [lo, {"name": "eth0", "mac_address": mac}]
        lookup = [{"className": "cmdb_ci_network_adapter", "values": values} for values in adapters]
        return {"className": "cmdb_ci_linux_server", "values": {"name": name}, "lookup": lookup}

    foreign = table(snow, "POST", "cmdb_ci_vm_object", json={"name": "not hardware"}).json()["result"]["sys_id"]
    for values in (lo, {"name": "eth0", "mac_address": "aa:00:00:00:00:02"}):
        table(snow, "POST", "cmdb_ci_network_adapter", json={**values, "cmdb_ci": foreign}).raise_for_status()
    created = [ire(snow, {"items": [host(f"lo-{n}", f"aa:00:00:00:00:0{n}")]})["items"][0]["sysId"] for n in range(4)]
    matched = ire(snow, {"items": [host("another-name", "aa:00:00:00:00:02")]})["items"][0]
    assert matched["operation"] == "UPDATE" and matched["sysId"] == created[2]
    assert matched["identificationAttempts"][-1]["attemptResult"] == "MATCHED"
    unknown = ire(snow, {"items": [host("new-host", "aa:00:00:00:00:09")]})["items"][0]
    assert unknown["operation"] == "INSERT" and unknown["sysId"] not in [*created, foreign]


def test_ire_related_packages_see_earlier_writes_of_the_same_payload(snow: ServiceNowSimulator) -> None:
    older = table(snow, "POST", "cmdb_ci_spkg", json=package("dup", package_name="old")).json()["result"]["sys_id"]
    table(snow, "POST", "cmdb_ci_spkg", json=package("dup", package_name="new"))
    payload = {
        "items": [
            host_with_packages("h1", package("a"), package("dup", package_name="old")),
            host_with_packages("h2", package("a"), package("b", package_name="x")),
            {"className": "cmdb_ci_spkg", "values": package("c")},
            host_with_packages("h3", package("c"), package("b", package_name="y")),
            {"className": "cmdb_ci_spkg", "values": package("a", package_name="renamed")},
            host_with_packages("h4", package("a", package_name="renamed"), package("b", package_name="y")),
        ]
    }
    result = ire(snow, payload)
    assert result["hasError"] is False and gc.isenabled()
    related = [[(r["operation"], r["sysId"]) for r in item["relatedItems"]] for item in result["items"]]
    a_id, b_id, c_id = related[0][0][1], related[1][1][1], result["items"][2]["sysId"]
    assert related[0] == [("INSERT", a_id), ("NO_CHANGE", older)]  # the oldest duplicate wins
    assert related[1] == [("NO_CHANGE", a_id), ("INSERT", b_id)]
    assert related[3] == [("NO_CHANGE", c_id), ("UPDATE", b_id)]  # a package inserted as a main item
    assert result["items"][4]["sysId"] == a_id and result["items"][4]["operation"] == "UPDATE"
    assert related[5] == [("NO_CHANGE", a_id), ("NO_CHANGE", b_id)]  # sees the main item's update
    packages = rows(snow, "cmdb_ci_spkg", "ORDERBYkey^ORDERBYpackage_name")
    assert [(p["key"], p["package_name"]) for p in packages] == [
        ("a_|_1", "renamed"),
        ("b_|_1", "y"),
        ("c_|_1", ""),
        ("dup_|_1", "new"),
        ("dup_|_1", "old"),
    ]
    assert all(p["discovery_source"] == "Qualys" for p in packages if p["key"] != "dup_|_1")


def test_ire_related_packages_matched_by_different_rule_entries(snow: ServiceNowSimulator) -> None:
    rules = copy.deepcopy(DEFAULT_RULES)
    package_rule = next(r for r in rules if r["applies_to"] == "cmdb_ci_spkg")
    package_rule["entries"] = [{"priority": 100, "attributes": ["key"]}, {"priority": 200, "attributes": ["name"]}]
    control(snow, "identification-rules", body={"rules": rules})
    host = host_with_packages("h1", package("tool"), {"name": "tool", "package_name": "by name"})
    related = ire(snow, {"items": [host]})["items"][0]["relatedItems"]
    assert [r["operation"] for r in related] == ["INSERT", "UPDATE"] and related[0]["sysId"] == related[1]["sysId"]
    assert [p["package_name"] for p in rows(snow, "cmdb_ci_spkg")] == ["by name"]


def test_ire_unchanged_packages_are_compared_again_once_written(snow: ServiceNowSimulator) -> None:
    # IRE remembers a package found unchanged (and one whose bookkeeping it just wrote) for the next CI that has
    # it; any write to it in between must end that
    table(snow, "POST", "cmdb_ci_spkg", json=package("p", package_name="a"))
    payload = {
        "items": [
            host_with_packages("h1", package("p", package_name="a")),
            host_with_packages("h2", package("p", package_name="a")),
            host_with_packages("h3", package("p", package_name="c")),
            {"className": "cmdb_ci_spkg", "values": package("p", package_name="b")},
            host_with_packages("h4", package("p", package_name="a")),
            host_with_packages("h5", package("p", package_name="a")),
        ]
    }
    result = ire(snow, payload)
    related = [[r["operation"] for r in item["relatedItems"]] for item in result["items"]]
    assert related == [["NO_CHANGE"], ["NO_CHANGE"], ["UPDATE"], [], ["UPDATE"], ["NO_CHANGE"]]
    assert result["items"][3]["operation"] == "UPDATE"
    (stored,) = rows(snow, "cmdb_ci_spkg")
    assert (stored["package_name"], stored["sys_mod_count"], stored["discovery_source"]) == ("a", "3", "Qualys")
    assert stored["last_discovered"] and stored["last_discovered"] == stored["sys_updated_on"]


def test_ire_software_instances_updated_in_place(snow: ServiceNowSimulator) -> None:
    # software instances have no sys_id index: IRE updates them by row, the Table API still finds them by sys_id
    software = "f" * 32
    host = server("si-host", "SI-1")
    host["related"] = [{"className": "cmdb_software_instance", "values": {"name": "x", "software": software}}]
    host_id = ire(snow, {"items": [host]})["items"][0]["sysId"]
    host["related"] = [
        {"className": "cmdb_software_instance", "values": {"software": software, "install_date": "2024-01-01"}},
        {"className": "cmdb_software_instance", "values": {"name": "x", "install_date": "2024-02-02"}},
    ]
    again = ire(snow, {"items": [host]})["items"][0]
    assert [r["operation"] for r in again["relatedItems"]] == ["UPDATE", "UPDATE"]
    (instance,) = rows(snow, "cmdb_software_instance", f"installed_on={host_id}", sysparm_exclude_reference_link="true")
    assert again["relatedItems"][0]["sysId"] == again["relatedItems"][1]["sysId"] == instance["sys_id"]
    assert (instance["install_date"], instance["sys_mod_count"]) == ("2024-02-02 00:00:00", "2")
    path = f"cmdb_software_instance/{instance['sys_id']}"
    assert table(snow, "PATCH", path, json={"name": "y"}).json()["result"]["name"] == "y"
    assert table(snow, "GET", path).json()["result"]["sys_mod_count"] == "3"
    assert table(snow, "DELETE", path).status_code == 204
    assert table(snow, "GET", path).status_code == 404


def test_ire_relations_new_and_known(snow: ServiceNowSimulator) -> None:
    payload = {
        "items": [
            {**server("rel-host", "REL-1"), "internal_id": "h"},
            {"className": "cmdb_ci_file_system", "internal_id": "f", "values": {"name": "/", "mount_point": "/"}},
        ],
        "relations": [
            {"parent_id": "h", "child_id": "f", "type": "Contains::Contained by"},
            {"parent_id": "h", "child_id": "f", "type": "Owns::Owned by"},
            {"parent_id": "h", "child_id": "f", "type": "Contains::Contained by"},
        ],
    }
    first = ire(snow, payload)["relations"]
    assert [r["operation"] for r in first] == ["INSERT", "INSERT", "NO_CHANGE"]
    assert first[2]["errors"][0]["error"] == "MULTI_MATCH"
    second = ire(snow, payload)["relations"]
    assert [r["operation"] for r in second] == ["NO_CHANGE", "NO_CHANGE", "NO_CHANGE"]
    stored = rows(snow, "cmdb_rel_ci", "", sysparm_display_value="true", sysparm_exclude_reference_link="true")
    assert sorted(r["type"] for r in stored) == ["Contains::Contained by", "Owns::Owned by"]


def test_large_json_reply_is_byte_identical_to_json_reply() -> None:
    document = {
        "result": {
            "items": [
                {"className": "x", "sysId": None, "ok": True, "no": False, "n": -12, "big": 10**30, "list": []},
                {"text": 'naïve ☃ \u2028 \x7f \x01 \x1f \t\n "q" \\ / 😀 é', "nested": [{"a": [1, {"b": ""}]}]},
            ],
            "empty": {},
        }
    }
    fast, standard = large_json_reply(200, document), json_reply(200, document)
    assert (fast.status, fast.body, fast.content_type, fast.headers) == (
        standard.status,
        standard.body,
        standard.content_type,
        standard.headers,
    )
    with pytest.raises(UnicodeEncodeError, match="position 14"):  # the standard encoder's error, not msgspec's
        large_json_reply(200, {"className": "\ud800"})


def test_ire_dependent_items_are_matched_under_their_own_parent(snow: ServiceNowSimulator) -> None:
    def payload() -> dict[str, Any]:
        items: list[dict[str, Any]] = []
        relations: list[dict[str, Any]] = []
        for host in ("h1", "h2"):
            items.append({**server(host, f"SER-{host}"), "internal_id": host})
            for mount in ("/", "/var"):
                items.append(
                    {"className": "cmdb_ci_file_system", "internal_id": f"{host}{mount}", "values": {"name": mount}}
                )
                relations.append({"parent_id": host, "child_id": f"{host}{mount}", "type": "Contains::Contained by"})
        return {"items": items, "relations": relations}

    first = ire(snow, payload())
    second = ire(snow, payload())
    assert ops(first) == ["INSERT"] * 6 and ops(second) == ["NO_CHANGE"] * 6
    assert [i["sysId"] for i in first["items"]] == [i["sysId"] for i in second["items"]]
    assert len({i["sysId"] for i in first["items"]}) == 6


def test_ire_rules_are_data_driven_and_roles_enforced(snow: ServiceNowSimulator) -> None:
    rules = control(snow, "identification-rules", method="GET")["rules"]
    hardware = next(r for r in rules if r["name"] == "Hardware Rule")
    assert [e["priority"] for e in hardware["entries"]] == [100, 200, 300, 400]
    only_name = {
        "rules": [
            {
                "name": "Name Only",
                "applies_to": "cmdb_ci_hardware",
                "entries": [{"priority": 10, "attributes": ["name"]}],
            }
        ]
    }
    control(snow, "identification-rules", body=only_name)
    with_lookup = ire(snow, {"items": [server("same-name", "SER-A")]})["items"][0]
    assert with_lookup["errors"][0]["error"] == "IDENTIFICATION_RULE_FOR_LOOKUP_MISSING"
    ire(snow, {"items": [server("same-name", serial_number="SER-A")]})
    second = ire(snow, {"items": [server("same-name", serial_number="SER-B")]})["items"][0]
    assert second["operation"] == "UPDATE"  # the serial is no longer used for matching
    assert second["identificationAttempts"][0]["identifierName"] == "Name Only"
    bad = requests.post(f"{snow.url}/sim/control/identification-rules", json={"rules": [{"name": "x"}]}, timeout=10)
    assert bad.status_code == 400
    control(snow, "users", username="reader", password="r3ader", roles=["rest_service"])
    forbidden = requests.post(
        f"{snow.url}/api/now/identifyreconcile",
        params={"sysparm_data_source": "Qualys"},
        json={"items": []},
        auth=("reader", "r3ader"),
        headers=JSON,
        timeout=10,
    )
    assert forbidden.status_code == 403
    listing = table(snow, "GET", "cmdb_ci", auth=("reader", "r3ader"))
    assert listing.json() == {"result": []} and listing.headers["X-Total-Count"] == "1"


def test_ire_payload_of_500_items_is_fast(snow: ServiceNowSimulator) -> None:
    items: list[dict[str, Any]] = [
        {
            "className": "cmdb_ci_spkg",
            "internal_id": f"pkg{k}",
            "values": {"name": f"pkg{k}", "version": "1", "key": f"pkg{k}_|_1"},
        }
        for k in range(50)
    ]
    relations: list[dict[str, Any]] = []
    references: list[dict[str, Any]] = []
    for i in range(500):
        item = server(f"host{i}", f"PERF-{i}")
        item["lookup"] += [
            {"className": "cmdb_ci_network_adapter", "values": {"name": f"eth{n}", "mac_address": f"02:00:{i:04x}:{n}"}}
            for n in range(2)
        ]
        item["related"] = [
            {"className": "cmdb_software_instance", "internal_id": f"swi{i}-{k}", "values": {"name": f"pkg{k}"}}
            for k in range(50)
        ]
        references += [
            {"referencedBy": f"swi{i}-{k}", "referenced": f"pkg{k}", "referenceField": "software"} for k in range(50)
        ]
        parent = len(items)
        items.append(item)
        for mount in ("/", "/var"):
            items.append({"className": "cmdb_ci_file_system", "values": {"name": mount, "mount_point": mount}})
            relations.append({"parent": parent, "child": len(items) - 1, "type": "Contains::Contained by"})
    payload = {"items": items, "relations": relations, "referenceItems": references}
    started = time.monotonic()
    result = ire(snow, payload)
    elapsed = time.monotonic() - started
    assert result["hasError"] is False and set(ops(result)) == {"INSERT"}
    assert elapsed < 6, f"500-item IRE call took {elapsed:.1f}s"
    summary = control(snow, "cmdb", method="GET")["tables"]
    assert summary["cmdb_software_instance"] == 25_000 and summary["cmdb_rel_ci"] == 1000


# ----------------------------------------------------------------------------- Import Set API
def test_import_set_coalesce_insert_update_ignore(snow: ServiceNowSimulator) -> None:
    url = f"{snow.url}/api/now/import/u_qualys_computer_import"
    row = {
        "u_name": "imp01",
        "u_serial_number": "IMP-1",
        "u_ram": "2048",
        "u_manufacturer": "Contoso Ltd",
        "u_target_class": "cmdb_ci_win_server",
    }
    first = requests.post(url, json=row, auth=AUTH, headers=JSON, timeout=10)
    assert first.status_code == 201
    body = first.json()
    assert body["import_set"].startswith("ISET") and body["staging_table"] == "u_qualys_computer_import"
    result = body["result"][0]
    assert result["status"] == "inserted" and result["table"] == "cmdb_ci_win_server"
    sys_id = result["sys_id"]
    assert result["record_link"].endswith(f"/api/now/table/cmdb_ci_win_server/{sys_id}")
    assert rows(snow, "core_company", "name=Contoso Ltd")  # reference created by the field map
    same = requests.post(url, json=row, auth=AUTH, headers=JSON, timeout=10).json()["result"][0]
    assert (same["status"], same["sys_id"]) == ("ignored", sys_id)
    changed = requests.post(url, json={**row, "u_ram": "4096", "u_name": "IMP01"}, auth=AUTH, headers=JSON, timeout=10)
    assert (changed.json()["result"][0]["status"], changed.json()["result"][0]["sys_id"]) == ("updated", sys_id)
    renamed = requests.post(url, json={**row, "u_name": "other"}, auth=AUTH, headers=JSON, timeout=10).json()
    assert renamed["result"][0]["status"] == "inserted"  # all coalesce fields must match
    control(snow, "transform", coalesce=["serial_number"])
    by_serial = requests.post(url, json={**row, "u_name": "third", "u_ram": ""}, auth=AUTH, headers=JSON, timeout=10)
    assert by_serial.json()["result"][0]["status"] == "updated"
    record = table(snow, "GET", f"cmdb_ci_win_server/{sys_id}").json()["result"]
    assert (record["name"], record["ram"]) == ("third", "4096")  # empty source values do not overwrite
    staged = requests.get(
        f"{url}/{rows(snow, 'u_qualys_computer_import', 'ORDERBYDESCsys_created_on')[0]['sys_id']}",
        auth=AUTH,
        headers=JSON,
        timeout=10,
    )
    assert staged.status_code == 200 and staged.json()["result"][0]["status"] in ("updated", "inserted", "ignored")


# ----------------------------------------------------------------------------- OAuth
def test_oauth_grants(snow: ServiceNowSimulator) -> None:
    token_url = f"{snow.url}/oauth_token.do"
    form = {
        "grant_type": "password",
        "client_id": CLIENT[0],
        "client_secret": CLIENT[1],
        "username": USER,
        "password": PASSWORD,
    }
    granted = requests.post(token_url, data=form, timeout=10)
    assert granted.status_code == 200
    document = granted.json()
    assert document["token_type"] == "Bearer" and document["scope"] == "useraccount"
    assert 1700 < document["expires_in"] <= 1800 and document["refresh_token"]
    assert requests.post(token_url, data=form, timeout=10).json()["access_token"] == document["access_token"]
    bearer = {**JSON, "Authorization": f"Bearer {document['access_token']}"}
    assert table(snow, "GET", "cmdb_ci", auth=None, headers=bearer).status_code == 200
    as_json = requests.post(token_url, json=form, timeout=10)
    assert as_json.status_code == 401 and as_json.json() == {
        "error": "server_error",
        "error_description": "access_denied",
    }
    assert requests.post(token_url, data={**form, "client_secret": "nope"}, timeout=10).status_code == 401
    control(snow, "expire-tokens")
    expired = table(snow, "GET", "cmdb_ci", auth=None, headers=bearer)
    assert expired.status_code == 401 and expired.json()["error"]["message"] == "User Not Authenticated"
    refreshed = requests.post(
        token_url,
        data={
            "grant_type": "refresh_token",
            "client_id": CLIENT[0],
            "client_secret": CLIENT[1],
            "refresh_token": document["refresh_token"],
        },
        timeout=10,
    )
    assert refreshed.status_code == 200 and refreshed.json()["access_token"] != document["access_token"]
    new_bearer = {**JSON, "Authorization": f"Bearer {refreshed.json()['access_token']}"}
    assert table(snow, "GET", "cmdb_ci", auth=None, headers=new_bearer).status_code == 200
    credentials = {"grant_type": "client_credentials", "client_id": CLIENT[0], "client_secret": CLIENT[1]}
    client_token = requests.post(token_url, data=credentials, timeout=10)
    assert client_token.status_code == 200 and "refresh_token" not in client_token.json()
    control(snow, "oauth", client_credentials=False)
    disabled = requests.post(token_url, data=credentials, timeout=10)
    assert disabled.status_code == 401 and disabled.json()["error_description"] == "access_denied"
    control(snow, "oauth", token_ttl_seconds=1)
    control(snow, "expire-tokens")
    short = requests.post(token_url, data=form, timeout=10).json()
    assert short["expires_in"] <= 1
    time.sleep(1.1)
    stale = {**JSON, "Authorization": f"Bearer {short['access_token']}"}
    assert table(snow, "GET", "cmdb_ci", auth=None, headers=stale).status_code == 401


# ----------------------------------------------------------------------------- faults and limits
def test_rate_limit_throttle_and_injected_status(snow: ServiceNowSimulator) -> None:
    control(snow, "faults", rate_limit={"limit": 2, "window_sec": 3600})
    first = table(snow, "GET", "cmdb_ci")
    assert first.status_code == 200 and first.headers["X-RateLimit-Limit"] == "2"
    assert "X-RateLimit-Reset" in first.headers and "X-RateLimit-Rule" in first.headers
    assert table(snow, "GET", "cmdb_ci").status_code == 200
    limited = table(snow, "GET", "cmdb_ci")
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1
    assert limited.json()["error"]["message"] == "Rate limit exceeded"
    assert limited.json()["error"]["detail"] == "Rate limit of 2 requests per hour for Table API exceeded"
    control(snow, "faults", rate_limit=None, throttle={"count": 1})
    throttled = table(snow, "GET", "cmdb_ci")
    assert throttled.status_code == 429 and "X-RateLimit-Limit" not in throttled.headers
    assert table(snow, "GET", "cmdb_ci").status_code == 200
    control(snow, "faults", status={"family": "ire", "code": 503, "count": 2})
    assert table(snow, "GET", "cmdb_ci").status_code == 200
    for _ in range(2):
        response = requests.post(
            f"{snow.url}/api/now/identifyreconcile", json={"items": []}, auth=AUTH, headers=JSON, timeout=10
        )
        assert response.status_code == 503
    assert ire(snow, {"items": []})["items"] == []
    stats = control(snow, "stats", method="GET")
    assert stats["by_status"]["429"] == 2 and stats["by_status"]["503"] == 2


# ----------------------------------------------------------------------------- persistence and CLI
def test_data_persists_across_restart(tmp_path: Path) -> None:
    data = tmp_path / "sn" / "cmdb.sqlite3"
    first = ServiceNowSimulator(port=0, data_path=str(data)).start()
    try:
        sys_id = ire(first, {"items": [server("persist", "PER-1")]})["items"][0]["sysId"]
        control(first, "discovery-sources", values=["Qualys", "Custom Feed"])
    finally:
        first.stop()
    second = ServiceNowSimulator(port=0, data_path=str(data)).start()
    try:
        assert rows(second, "cmdb_ci_linux_server", "name=persist")[0]["sys_id"] == sys_id
        again = ire(second, {"items": [server("persist", "PER-1")]}, data_source="Custom Feed")["items"][0]
        assert again["operation"] == "NO_CHANGE" and again["sysId"] == sys_id
        created = table(second, "POST", "cmdb_ci_printer", json={"name": "new"}).json()["result"]["sys_id"]
        assert created != sys_id
    finally:
        second.stop()


def test_cli_prints_url_persists_and_stops_on_sigterm(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    data = tmp_path / "cli.sqlite3"
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulators.servicenow", "--host", "127.0.0.1", "--port", "0", "--data", str(data)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("ServiceNow simulator listening on http://127.0.0.1:")
        url = line.rsplit(" ", 1)[1]
        created = requests.post(
            f"{url}/api/now/table/cmdb_ci_ups", json={"name": "ups1"}, auth=AUTH, headers=JSON, timeout=10
        )
        assert created.status_code == 201
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    restarted = ServiceNowSimulator(port=0, data_path=str(data)).start()
    try:
        assert [r["name"] for r in rows(restarted, "cmdb_ci_hardware")] == ["ups1"]
    finally:
        restarted.stop()
