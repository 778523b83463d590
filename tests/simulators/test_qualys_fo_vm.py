"""Real-HTTP tests of the Qualys simulator's CMDB -> Qualys direction.

FO ``asset/ip`` add/list/update, ``asset/group`` list/edit/add/delete, QPS tag update/create/delete,
per-endpoint FO limits, and ``/sim/control/scan`` turning added IPs into searchable hosts.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from lxml import etree

from simulators.qualys.server import QualysSimulator

AUTH = ("qualys_demo", "demo-Passw0rd")
FO_HEADERS = {"X-Requested-With": "pytest"}
IP_PATH = "/api/2.0/fo/asset/ip/"
GROUP_PATH = "/api/2.0/fo/asset/group/"


@pytest.fixture(scope="module")
def vm_sim() -> Iterator[QualysSimulator]:
    """A private simulator for this module (its VM state changes)."""
    simulator = QualysSimulator(host="127.0.0.1", port=0, assets=150, seed=5).start()
    try:
        yield simulator
    finally:
        simulator.stop()


@pytest.fixture(autouse=True)
def _reset_state(vm_sim: QualysSimulator) -> Iterator[None]:
    yield
    requests.delete(vm_sim.url + "/sim/control/faults", timeout=10)
    requests.post(vm_sim.url + "/sim/control/vm/reset", timeout=10)


# ----------------------------------------------------------------------------- helpers
def control(sim: QualysSimulator, path: str, method: str = "POST", **body: Any) -> Any:
    response = requests.request(method, f"{sim.url}/sim/control/{path}", json=body or None, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def fo(
    sim: QualysSimulator, path: str, method: str = "POST", headers: dict[str, str] | None = None, **params: Any
) -> requests.Response:
    url = sim.url + path
    hdrs = FO_HEADERS if headers is None else headers
    if method == "GET":
        return requests.get(url, params=params, auth=AUTH, headers=hdrs, timeout=30)
    return requests.post(url, data=params, auth=AUTH, headers=hdrs, timeout=30)


def simple(response: requests.Response) -> tuple[str | None, str | None]:
    root = etree.fromstring(response.content)
    assert root.tag == "SIMPLE_RETURN"
    return root.findtext("RESPONSE/CODE"), root.findtext("RESPONSE/TEXT")


def listed_ips(response: requests.Response, base: str = "RESPONSE/IP_SET") -> set[str]:
    assert response.status_code == 200, response.text
    root = etree.fromstring(response.content)
    found = set(root.xpath(f"{base}/IP/text()"))
    for ip_range in root.xpath(f"{base}/IP_RANGE/text()"):
        low, high = (int(ipaddress.IPv4Address(p)) for p in ip_range.split("-"))
        found |= {str(ipaddress.IPv4Address(n)) for n in range(low, high + 1)}
    return found


def vm_state(sim: QualysSimulator) -> dict[str, Any]:
    return control(sim, "vm", method="GET")  # type: ignore[no-any-return]


def added(sim: QualysSimulator) -> dict[str, dict[str, Any]]:
    return {entry["ip"]: entry for entry in vm_state(sim)["added_ips"]}


def qps(sim: QualysSimulator, path: str, body: str = "", method: str = "POST") -> etree._Element:
    response = requests.request(
        method, sim.url + path, data=body, auth=AUTH, headers={"Content-Type": "text/xml"}, timeout=30
    )
    assert response.status_code == 200, response.text
    return etree.fromstring(response.content)


def criteria(*items: tuple[str, str, str]) -> str:
    crit = "".join(f'<Criteria field="{f}" operator="{o}">{v}</Criteria>' for f, o, v in items)
    return f"<ServiceRequest><filters>{crit}</filters></ServiceRequest>"


# ----------------------------------------------------------------------------- asset/ip add and list
def test_add_ips_sets_tracking_and_modules_and_list_includes_them(vm_sim: QualysSimulator) -> None:
    response = fo(
        vm_sim,
        IP_PATH,
        action="add",
        ips="192.168.50.10, 192.168.50.20-192.168.50.22",
        enable_vm="1",
        tracking_method="DNS",
        owner="cmdb",
        ud1="CI0042",
        comment="from CMDB",
    )
    assert response.status_code == 200, response.text
    assert simple(response) == (None, "IPs successfully added to Vulnerability Management")
    for header in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-Concurrency-Limit-Limit"):
        assert header in response.headers
    pc_only = fo(vm_sim, IP_PATH, action="add", ips="192.168.60.1", enable_vm="0", enable_pc="1")
    assert pc_only.status_code == 200 and simple(pc_only)[0] is None

    state = added(vm_sim)
    assert set(state) == {"192.168.50.10", "192.168.50.20", "192.168.50.21", "192.168.50.22", "192.168.60.1"}
    assert state["192.168.50.21"]["tracking_method"] == "DNS"
    assert state["192.168.50.21"]["enable_vm"] is True and state["192.168.50.21"]["enable_pc"] is False
    assert state["192.168.50.10"]["owner"] == "cmdb" and state["192.168.50.10"]["ud1"] == "CI0042"
    assert state["192.168.60.1"]["tracking_method"] == "IP" and state["192.168.60.1"]["enable_pc"] is True
    assert not any(entry["scanned"] for entry in state.values())

    # re-adding keeps the tracking method and may enable another module
    again = fo(vm_sim, IP_PATH, action="add", ips="192.168.50.10", enable_pc="1", tracking_method="NETBIOS")
    assert again.status_code == 200
    assert added(vm_sim)["192.168.50.10"]["tracking_method"] == "DNS"
    assert added(vm_sim)["192.168.50.10"]["enable_pc"] is True

    everything = listed_ips(fo(vm_sim, IP_PATH, method="GET", action="list"))
    assert set(state) <= everything
    assert listed_ips(fo(vm_sim, IP_PATH, action="list", ips="192.168.0.0/16")) == set(state)
    dns = listed_ips(fo(vm_sim, IP_PATH, action="list", ips="192.168.0.0-192.168.255.255", tracking_method="DNS"))
    assert dns == {"192.168.50.10", "192.168.50.20", "192.168.50.21", "192.168.50.22"}
    compliance = listed_ips(fo(vm_sim, IP_PATH, action="list", ips="192.168.0.0/16", compliance_enabled="1"))
    assert compliance == {"192.168.60.1", "192.168.50.10"}


def test_add_refusals(vm_sim: QualysSimulator) -> None:
    no_header = fo(vm_sim, IP_PATH, headers={}, action="add", ips="192.168.1.1", enable_vm="1")
    assert no_header.status_code == 400 and b"X-Requested-With" in no_header.content
    by_get = fo(vm_sim, IP_PATH, method="GET", action="add", ips="192.168.1.1", enable_vm="1")
    assert by_get.status_code == 400 and simple(by_get)[0] == "1908"
    for action in ("update", "edit", "delete"):
        path = IP_PATH if action == "update" else GROUP_PATH
        assert simple(fo(vm_sim, path, method="GET", action=action, ips="10.0.0.1", id="1"))[0] == "1908"
    missing = fo(vm_sim, IP_PATH, action="add", enable_vm="1")
    assert missing.status_code == 400 and simple(missing)[0] == "1903"
    bad_tracking = fo(vm_sim, IP_PATH, action="add", ips="192.168.1.1", enable_vm="1", tracking_method="EC2")
    assert bad_tracking.status_code == 400 and simple(bad_tracking)[0] == "1905"
    no_module = fo(vm_sim, IP_PATH, action="add", ips="192.168.1.1", enable_vm="0", enable_pc="0")
    assert no_module.status_code == 400 and simple(no_module)[0] == "1922"
    no_flags = fo(vm_sim, IP_PATH, action="add", ips="192.168.1.1")
    assert no_flags.status_code == 400 and simple(no_flags)[0] == "1922"
    bad_syntax = fo(vm_sim, IP_PATH, action="add", ips="192.168.1.300", enable_vm="1")
    assert bad_syntax.status_code == 400 and simple(bad_syntax) == (
        "1905",
        "Parameter ips has invalid value: 192.168.1.300",
    )
    unknown = fo(vm_sim, IP_PATH, action="add", ips="192.168.1.1", enable_vm="1", bogus="x")
    assert unknown.status_code == 400 and simple(unknown)[0] == "1901"
    too_many = fo(vm_sim, IP_PATH, action="add", ips="172.16.0.0-172.17.0.0", enable_vm="1")
    assert too_many.status_code == 400 and simple(too_many)[0] == "1905"
    for reserved in ("127.0.0.1", "224.0.0.5", "0.1.2.3", "255.255.255.255", "239.255.255.250-240.0.0.2"):
        refused = fo(vm_sim, IP_PATH, action="add", ips=f"192.168.70.1,{reserved}", enable_vm="1")
        code, message = simple(refused)
        assert refused.status_code == 400 and code == "1905"
        assert reserved.split("-")[0] in (message or "")
    assert added(vm_sim) == {}
    assert listed_ips(fo(vm_sim, IP_PATH, action="list", ips="192.168.0.0/16")) == set()


def test_update_requires_known_ips(vm_sim: QualysSimulator) -> None:
    assert fo(vm_sim, IP_PATH, action="add", ips="192.168.90.1", enable_vm="1").status_code == 200
    unknown = fo(vm_sim, IP_PATH, action="update", ips="192.168.90.1,192.168.90.2", tracking_method="DNS")
    assert unknown.status_code == 400 and simple(unknown) == ("1905", "IP(s) do not exist.")
    assert added(vm_sim)["192.168.90.1"]["tracking_method"] == "IP"
    ok = fo(vm_sim, IP_PATH, action="update", ips="192.168.90.1", tracking_method="NETBIOS", ud2="rack 7")
    assert ok.status_code == 200 and simple(ok)[0] is None
    entry = added(vm_sim)["192.168.90.1"]
    assert entry["tracking_method"] == "NETBIOS" and entry["ud2"] == "rack 7"
    assert fo(vm_sim, IP_PATH, action="update", tracking_method="IP").status_code == 400


# ----------------------------------------------------------------------------- asset/group
def test_group_list_paging_follows_warning_url(vm_sim: QualysSimulator) -> None:
    expected = [g["id"] for g in vm_state(vm_sim)["asset_groups"]]
    assert len(expected) >= 10 and expected == sorted(expected)
    assert all(10_000 <= gid < 10_000_000 for gid in expected)
    seen: list[int] = []
    params: dict[str, str] = {"action": "list", "truncation_limit": "3"}
    pages = 0
    while True:
        response = fo(vm_sim, GROUP_PATH, method="GET", **params)
        assert response.status_code == 200, response.text
        assert "X-RateLimit-Remaining" in response.headers
        assert b"<!DOCTYPE ASSET_GROUP_LIST_OUTPUT" in response.content
        root = etree.fromstring(response.content)
        ids = [int(x) for x in root.xpath("RESPONSE/ASSET_GROUP_LIST/ASSET_GROUP/ID/text()")]
        assert ids == sorted(ids) and 0 < len(ids) <= 3
        seen.extend(ids)
        pages += 1
        warning = root.find("RESPONSE/WARNING")
        if warning is None:
            break
        assert warning.findtext("CODE") == "1980"
        url = urlsplit(warning.findtext("URL") or "")
        query = parse_qs(url.query)
        assert url.path == GROUP_PATH and query["truncation_limit"] == ["3"] and query["action"] == ["list"]
        params = {key: values[0] for key, values in query.items()}
    assert seen == expected and pages == -(-len(expected) // 3)

    root = etree.fromstring(fo(vm_sim, GROUP_PATH, action="list").content)
    groups = {g.findtext("TITLE"): g for g in root.xpath("RESPONSE/ASSET_GROUP_LIST/ASSET_GROUP")}
    assert {"All", "Datacenter HQ", "Workstations", "PCI Zone"} <= set(groups)
    hq = groups["Datacenter HQ"]
    for element in ("OWNER_USER_ID", "OWNER_USER_NAME", "UNIT_ID", "LAST_UPDATE", "NETWORK_ID", "BUSINESS_IMPACT"):
        assert hq.find(element) is not None, element
    assert hq.xpath("IP_SET/IP | IP_SET/IP_RANGE")
    assert any(g.find("IP_SET") is None for g in groups.values()), "some groups are empty"
    estate = {a["address"] for a in control(vm_sim, "estate", method="GET")["assets"]}
    all_ips = listed_ips(
        fo(vm_sim, GROUP_PATH, action="list", title="All"), "RESPONSE/ASSET_GROUP_LIST/ASSET_GROUP/IP_SET"
    )
    assert all_ips == estate

    empty = etree.fromstring(fo(vm_sim, GROUP_PATH, action="list", ids="1").content)
    assert empty.find("RESPONSE/DATETIME") is not None and empty.find("RESPONSE/ASSET_GROUP_LIST") is None
    assert simple(fo(vm_sim, GROUP_PATH, action="list", output_format="csv"))[0] == "1905"
    assert simple(fo(vm_sim, GROUP_PATH, action="list", bogus="1"))[0] == "1901"


def test_group_edit_checks_subscription_and_persists(vm_sim: QualysSimulator) -> None:
    groups = {g["title"]: g for g in vm_state(vm_sim)["asset_groups"]}
    target = groups["New Acquisitions"]
    assert target["ips"] == []
    refused = fo(vm_sim, GROUP_PATH, action="edit", id=str(target["id"]), add_ips="192.168.99.1")
    code, message = simple(refused)
    assert refused.status_code == 400 and code == "1905" and "192.168.99.1" in (message or "")
    assert {g["title"]: g for g in vm_state(vm_sim)["asset_groups"]}["New Acquisitions"]["ips"] == []

    estate_ip = control(vm_sim, "estate", method="GET")["assets"][0]["address"]
    assert fo(vm_sim, IP_PATH, action="add", ips="192.168.99.1", enable_vm="1").status_code == 200
    ok = fo(
        vm_sim,
        GROUP_PATH,
        action="edit",
        id=str(target["id"]),
        add_ips=f"192.168.99.1,{estate_ip}",
        set_comments="Acme Corp",
        set_business_impact="high",
    )
    assert ok.status_code == 200 and simple(ok) == (None, "Asset Group Updated Successfully")
    after = {g["title"]: g for g in vm_state(vm_sim)["asset_groups"]}["New Acquisitions"]
    assert set(after["ips"]) == {"192.168.99.1", estate_ip}
    assert after["last_update"] > target["last_update"]
    root = etree.fromstring(fo(vm_sim, GROUP_PATH, action="list", ids=str(target["id"])).content)
    group = root.find("RESPONSE/ASSET_GROUP_LIST/ASSET_GROUP")
    assert group is not None and group.findtext("COMMENTS") == "Acme Corp"
    assert group.findtext("BUSINESS_IMPACT") == "High"
    assert listed_ips(
        fo(vm_sim, GROUP_PATH, action="list", ids=str(target["id"])), "RESPONSE/ASSET_GROUP_LIST/ASSET_GROUP/IP_SET"
    ) == {
        "192.168.99.1",
        estate_ip,
    }

    both = fo(vm_sim, GROUP_PATH, action="edit", id=str(target["id"]), set_ips=estate_ip, add_ips=estate_ip)
    assert both.status_code == 400 and simple(both)[0] == "1904"
    assert simple(fo(vm_sim, GROUP_PATH, action="edit", add_ips=estate_ip))[0] == "1903"
    assert simple(fo(vm_sim, GROUP_PATH, action="edit", id="999", add_ips=estate_ip))[0] == "1905"
    assert simple(fo(vm_sim, GROUP_PATH, action="edit", id=str(groups["All"]["id"]), set_title="x"))[0] == "1905"


def test_group_add_and_delete(vm_sim: QualysSimulator) -> None:
    estate_ip = control(vm_sim, "estate", method="GET")["assets"][1]["address"]
    created = fo(vm_sim, GROUP_PATH, action="add", title="CMDB: Payments", ips=estate_ip, comments="synced")
    root = etree.fromstring(created.content)
    assert created.status_code == 200 and root.findtext("RESPONSE/TEXT") == "Asset Group successfully added."
    assert root.findtext("RESPONSE/ITEM_LIST/ITEM/KEY") == "ID"
    new_id = int(root.findtext("RESPONSE/ITEM_LIST/ITEM/VALUE") or "0")
    groups = {g["id"]: g for g in vm_state(vm_sim)["asset_groups"]}
    assert groups[new_id]["title"] == "CMDB: Payments" and groups[new_id]["ips"] == [estate_ip]
    assert new_id == max(groups)
    duplicate = fo(vm_sim, GROUP_PATH, action="add", title="cmdb: payments")
    assert duplicate.status_code == 400 and simple(duplicate)[0] == "1905"
    assert simple(fo(vm_sim, GROUP_PATH, action="add", title="Other", ips="192.168.111.1"))[0] == "1905"
    assert simple(fo(vm_sim, GROUP_PATH, action="add", ips=estate_ip))[0] == "1903"
    deleted = fo(vm_sim, GROUP_PATH, action="delete", id=str(new_id))
    assert deleted.status_code == 200 and simple(deleted)[0] is None
    assert new_id not in {g["id"] for g in vm_state(vm_sim)["asset_groups"]}
    assert simple(fo(vm_sim, GROUP_PATH, action="delete", id=str(new_id)))[0] == "1905"


# ----------------------------------------------------------------------------- tags
def test_tag_update_persists_and_validates_network_ranges(vm_sim: QualysSimulator) -> None:
    found = qps(vm_sim, "/qps/rest/2.0/search/am/tag", criteria(("name", "EQUALS", "Net: AWS VPC")))
    tag_id = found.findtext("data/Tag/id")
    assert found.findtext("data/Tag/ruleType") == "NETWORK_RANGE" and tag_id
    old_modified = found.findtext("data/Tag/modified")
    new_rule = "10.100.0.0/15, 172.31.0.0-172.31.255.255,192.168.7.7"
    body = (
        f"<ServiceRequest><data><Tag><ruleText>{new_rule}</ruleText><color>#112233</color></Tag></data>"
        "</ServiceRequest>"
    )
    updated = qps(vm_sim, f"/qps/rest/2.0/update/am/tag/{tag_id}", body)
    assert updated.findtext("responseCode") == "SUCCESS" and updated.findtext("count") == "1"
    assert updated.findtext("data/Tag/ruleText") == new_rule and updated.findtext("data/Tag/color") == "#112233"
    assert updated.findtext("data/Tag/modified") != old_modified
    again = qps(vm_sim, "/qps/rest/2.0/search/am/tag", criteria(("id", "EQUALS", tag_id)))
    assert again.findtext("data/Tag/ruleText") == new_rule
    assert qps(vm_sim, f"/qps/rest/2.0/get/am/tag/{tag_id}", method="GET").findtext("data/Tag/ruleText") == new_rule
    assert {t["id"]: t for t in vm_state(vm_sim)["tags"]}[int(tag_id)]["ruleText"] == new_rule

    for bad in ("10.0.0.0/33", "10.1.1.1-10.1.1.0", "10.0.0.1,,10.0.0.2", "corp-network", ""):
        body = f"<ServiceRequest><data><Tag><ruleText>{bad}</ruleText></Tag></data></ServiceRequest>"
        refused = qps(vm_sim, f"/qps/rest/2.0/update/am/tag/{tag_id}", body)
        assert refused.findtext("responseCode") == "INVALID_REQUEST", bad
        assert refused.findtext("responseErrorDetails/errorMessage")
    assert qps(vm_sim, f"/qps/rest/2.0/get/am/tag/{tag_id}", method="GET").findtext("data/Tag/ruleText") == new_rule

    json_update = requests.post(
        f"{vm_sim.url}/qps/rest/2.0/update/am/tag/{tag_id}",
        json={"ServiceRequest": {"data": {"Tag": {"name": "Net: AWS VPC (prod)", "criticalityScore": 4}}}},
        auth=AUTH,
        headers={"Accept": "application/json"},
        timeout=30,
    ).json()["ServiceResponse"]
    assert json_update["responseCode"] == "SUCCESS" and json_update["data"][0]["Tag"]["name"] == "Net: AWS VPC (prod)"

    missing = qps(vm_sim, "/qps/rest/2.0/update/am/tag/1", body)
    assert missing.findtext("responseCode") == "NOT_FOUND"
    wrong_method = requests.get(f"{vm_sim.url}/qps/rest/2.0/update/am/tag/{tag_id}", auth=AUTH, timeout=30)
    assert wrong_method.status_code == 405
    assert etree.fromstring(wrong_method.content).findtext("responseCode") == "INVALID_REQUEST"


def test_tag_create_and_delete(vm_sim: QualysSimulator) -> None:
    body = (
        "<ServiceRequest><data><Tag><name>CMDB: Branch Office</name><ruleType>NETWORK_RANGE</ruleType>"
        "<ruleText>192.168.102.0/24</ruleText></Tag></data></ServiceRequest>"
    )
    created = qps(vm_sim, "/qps/rest/2.0/create/am/tag", body)
    assert created.findtext("responseCode") == "SUCCESS"
    tag_id = created.findtext("data/Tag/id")
    found = qps(vm_sim, "/qps/rest/2.0/search/am/tag", criteria(("name", "EQUALS", "CMDB: Branch Office")))
    assert found.findtext("data/Tag/id") == tag_id
    assert found.findtext("data/Tag/ruleText") == "192.168.102.0/24"
    bad = body.replace("192.168.102.0/24", "not-a-range")
    assert qps(vm_sim, "/qps/rest/2.0/create/am/tag", bad).findtext("responseCode") == "INVALID_REQUEST"
    deleted = qps(vm_sim, f"/qps/rest/2.0/delete/am/tag/{tag_id}")
    assert deleted.findtext("responseCode") == "SUCCESS"
    assert qps(vm_sim, f"/qps/rest/2.0/get/am/tag/{tag_id}", method="GET").findtext("responseCode") == "NOT_FOUND"
    assert qps(vm_sim, f"/qps/rest/2.0/delete/am/tag/{tag_id}").findtext("responseCode") == "NOT_FOUND"


# ----------------------------------------------------------------------------- limits
def test_rate_limit_per_endpoint(vm_sim: QualysSimulator) -> None:
    control(vm_sim, "faults", fo_rate_limit={"limit": 2, "window_sec": 2, "concurrency": 5})
    calls = [fo(vm_sim, IP_PATH, action="add", ips=f"192.168.120.{n}", enable_vm="1") for n in range(1, 4)]
    assert [r.status_code for r in calls] == [200, 200, 409]
    blocked = calls[-1]
    root = etree.fromstring(blocked.content)
    assert root.findtext("RESPONSE/CODE") == "1965"
    assert root.findtext("RESPONSE/ITEM_LIST/ITEM/KEY") == "SECONDS_TO_WAIT"
    wait = int(root.findtext("RESPONSE/ITEM_LIST/ITEM/VALUE") or "0")
    assert 0 < wait <= 2 and blocked.headers["X-RateLimit-ToWait-Sec"] == str(wait)
    assert blocked.headers["X-RateLimit-Remaining"] == "0"
    assert "192.168.120.3" not in added(vm_sim)
    # asset/group has its own counter
    groups = [fo(vm_sim, GROUP_PATH, action="list", truncation_limit="1") for _ in range(3)]
    assert [r.status_code for r in groups] == [200, 200, 409]
    assert groups[0].headers["X-RateLimit-Remaining"] == "1"
    time.sleep(wait + 0.2)
    assert fo(vm_sim, IP_PATH, action="list", ips="192.168.120.1").status_code == 200


def test_concurrency_limit_counts_in_flight_calls_per_endpoint(vm_sim: QualysSimulator) -> None:
    control(vm_sim, "faults", fo_rate_limit={"limit": 100, "window_sec": 60, "concurrency": 1}, latency_ms=700)
    results: dict[str, requests.Response] = {}

    def call(name: str, path: str, **params: str) -> None:
        results[name] = fo(vm_sim, path, **params)

    threads = [
        threading.Thread(
            target=call, args=("first", IP_PATH), kwargs={"action": "add", "ips": "192.168.130.1", "enable_vm": "1"}
        ),
        threading.Thread(
            target=call, args=("second", IP_PATH), kwargs={"action": "add", "ips": "192.168.130.2", "enable_vm": "1"}
        ),
        threading.Thread(target=call, args=("group", GROUP_PATH), kwargs={"action": "list", "ids": "1"}),
    ]
    threads[0].start()
    time.sleep(0.2)
    threads[1].start()
    threads[2].start()
    for thread in threads:
        thread.join()
    assert results["first"].status_code == 200
    second = results["second"]
    assert second.status_code == 409 and simple(second)[0] == "1960"
    assert b"SECONDS_TO_WAIT" in second.content
    assert second.headers["X-Concurrency-Limit-Running"] == "1"
    assert results["group"].status_code == 200
    assert set(added(vm_sim)) == {"192.168.130.1"}


# ----------------------------------------------------------------------------- scan
def test_scan_turns_added_ips_into_searchable_hosts(vm_sim: QualysSimulator) -> None:
    before = control(vm_sim, "estate", method="GET")
    max_id = max(a["assetId"] for a in before["assets"])
    assert fo(vm_sim, IP_PATH, action="add", ips="192.168.140.5", enable_vm="1").status_code == 200
    assert (
        fo(vm_sim, IP_PATH, action="add", ips="192.168.140.6", enable_vm="1", tracking_method="DNS").status_code == 200
    )
    scan = control(vm_sim, "scan", ips=["192.168.140.5", "192.168.140.9"])
    assert [s["ip"] for s in scan["scanned"]] == ["192.168.140.5"] and scan["ignored"] == ["192.168.140.9"]
    asset_id, host_id = scan["scanned"][0]["assetId"], scan["scanned"][0]["hostId"]
    assert asset_id > max_id

    hosts = qps(vm_sim, "/qps/rest/2.0/search/am/hostasset", criteria(("address", "EQUALS", "192.168.140.5")))
    assert hosts.findtext("count") == "1"
    assert hosts.findtext("data/HostAsset/id") == str(asset_id)
    assert hosts.findtext("data/HostAsset/qwebHostId") == str(host_id)
    assert hosts.findtext("data/HostAsset/trackingMethod") == "IP"
    by_host = qps(vm_sim, "/qps/rest/2.0/search/am/hostasset", criteria(("qwebHostId", "IN", f"{host_id},1")))
    assert by_host.findtext("data/HostAsset/address") == "192.168.140.5"
    assert (
        qps(vm_sim, f"/qps/rest/2.0/get/am/hostasset/{asset_id}", method="GET").findtext("data/HostAsset/address")
        == "192.168.140.5"
    )

    rest = control(vm_sim, "scan")
    assert [s["ip"] for s in rest["scanned"]] == ["192.168.140.6"]
    dns_host = qps(vm_sim, "/qps/rest/2.0/search/am/hostasset", criteria(("address", "IN", "192.168.140.6,10.0.0.0")))
    assert dns_host.findtext("data/HostAsset/trackingMethod") == "DNSNAME"
    assert control(vm_sim, "scan", ips=["192.168.140.5"])["ignored"] == ["192.168.140.5"]

    after = control(vm_sim, "estate", method="GET")
    assert after["count"] == before["count"] + 2
    ids = [a["assetId"] for a in after["assets"]]
    assert ids == sorted(ids)
    assert {a["address"] for a in after["assets"][-2:]} == {"192.168.140.5", "192.168.140.6"}
    assert all(entry["scanned"] for entry in added(vm_sim).values())
    assert {"192.168.140.5", "192.168.140.6"} <= listed_ips(fo(vm_sim, IP_PATH, action="list", ips="192.168.140.0/24"))

    jwt = requests.post(
        vm_sim.url + "/auth", data={"username": AUTH[0], "password": AUTH[1], "token": "true"}, timeout=10
    ).text
    csam = requests.get(
        f"{vm_sim.url}/rest/2.0/get/am/asset",
        params={"assetId": asset_id},
        headers={"Authorization": f"Bearer {jwt}"},
        timeout=30,
    )
    assert csam.status_code == 200 and b"192.168.140.5" in csam.content

    control(vm_sim, "vm/reset")
    assert control(vm_sim, "estate", method="GET")["count"] == before["count"]
    assert vm_state(vm_sim)["added_ips"] == []
