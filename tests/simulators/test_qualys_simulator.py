"""Real-HTTP tests of the Qualys simulator (``simulators.qualys``).

Each test talks to a simulator started on 127.0.0.1:0 in a background thread, with ``requests``.
"""

from __future__ import annotations

import ipaddress
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from lxml import etree

from simulators.qualys.hardware import HARDWARE_PAIRS
from simulators.qualys.server import QualysSimulator

USER = "qualys_demo"
PASSWORD = "demo-Passw0rd"
AUTH = (USER, PASSWORD)
FO_HEADERS = {"X-Requested-With": "pytest"}
XML_HEADERS = {"Content-Type": "text/xml"}
JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}
ROOT = Path(__file__).resolve().parents[2]


# ----------------------------------------------------------------------------- helpers
def control(sim: QualysSimulator, path: str, method: str = "POST", **body: Any) -> Any:
    response = requests.request(method, f"{sim.url}/sim/control/{path}", json=body or None, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def token(sim: QualysSimulator, user: str = USER, password: str = PASSWORD) -> str:
    response = requests.post(
        f"{sim.url}/auth", data={"username": user, "password": password, "token": "true"}, timeout=10
    )
    assert response.status_code == 201, response.text
    return response.text


def csam(
    sim: QualysSimulator, jwt: str, path: str = "/rest/2.0/search/am/asset", body: Any = None, **params: Any
) -> requests.Response:
    return requests.post(
        sim.url + path, params=params, json=body, headers={"Authorization": f"Bearer {jwt}"}, timeout=60
    )


def qps_xml(
    sim: QualysSimulator, body: str, path: str = "/qps/rest/2.0/search/am/hostasset", auth: tuple[str, str] = AUTH
) -> requests.Response:
    return requests.post(sim.url + path, data=body, auth=auth, headers=XML_HEADERS, timeout=60)


def service_request(*criteria: tuple[str, str, str], limit: int | None = None) -> str:
    prefs = f"<preferences><limitResults>{limit}</limitResults></preferences>" if limit else ""
    crit = "".join(f'<Criteria field="{f}" operator="{o}">{v}</Criteria>' for f, o, v in criteria)
    return f"<ServiceRequest>{prefs}<filters>{crit}</filters></ServiceRequest>"


def estate(sim: QualysSimulator) -> dict[str, Any]:
    return control(sim, "estate", method="GET")  # type: ignore[no-any-return]


# ----------------------------------------------------------------------------- estate
def test_estate_uses_every_seed_hardware_pair_and_a_realistic_mix(sim: QualysSimulator) -> None:
    doc = estate(sim)
    assets = doc["assets"]
    assert doc["count"] == len(assets) == 200
    pairs = {(a["hardware_category1"], a["hardware_category2"]) for a in assets}
    assert len(HARDWARE_PAIRS) == 87
    assert pairs == set(HARDWARE_PAIRS)
    ids = [a["assetId"] for a in assets]
    assert ids == sorted(ids) and len(set(ids)) == len(ids) and ids[0] > 10_000_000
    assert any(b - a > 1 for a, b in itertools.pairwise(ids)), "ids must have gaps"
    assert {"Windows", "Linux", "Unix", "Mac", "Network Operating System"} <= set(doc["by_os_category1"])
    assert {a["cloud_provider"] for a in assets} >= {"aws", "azure", "gcp", None}
    assert any(not a["has_serial"] for a in assets) and any(not a["has_name"] for a in assets)
    assert max(a["software"] for a in assets) > 150 and min(a["software"] for a in assets) == 0
    assert doc["software_rows"] == sum(a["software"] for a in assets)


def test_large_estate_starts_instantly() -> None:
    started = time.monotonic()
    big = QualysSimulator(assets=10_000, seed=3).start()
    try:
        assert time.monotonic() - started < 1.0
        jwt = token(big)
        response = csam(big, jwt, pageSize=300, lastSeenAssetId=0)
        assert response.status_code == 200 and response.json()["count"] == 300
    finally:
        big.stop()


# ----------------------------------------------------------------------------- QPS
def test_qps_paging_with_last_id_returns_every_asset_once(sim: QualysSimulator) -> None:
    expected = [a["assetId"] for a in estate(sim)["assets"]]
    seen: list[int] = []
    last_id = 0
    while True:
        response = qps_xml(sim, service_request(("id", "GREATER", str(last_id)), limit=37))
        assert response.status_code == 200
        assert "X-RateLimit-Limit" not in response.headers
        root = etree.fromstring(response.content)
        assert root.findtext("responseCode") == "SUCCESS"
        ids = [int(x) for x in root.xpath("data/HostAsset/id/text()")]
        assert int(root.findtext("count")) == len(ids)
        seen.extend(ids)
        assert int(root.findtext("lastId")) == ids[-1]
        if root.findtext("hasMoreRecords") == "false":
            break
        last_id = ids[-1]
    assert seen == expected


def test_qps_host_asset_elements_and_schema_location(sim: QualysSimulator) -> None:
    response = qps_xml(sim, service_request(limit=200))
    root = etree.fromstring(response.content)
    xsi = "{http://www.w3.org/2001/XMLSchema-instance}noNamespaceSchemaLocation"
    assert root.get(xsi).endswith("/qps/xsd/2.0/am/hostasset.xsd")
    hosts = root.findall("data/HostAsset")
    assert len(hosts) == 200
    first = [child.tag for child in hosts[0]]
    assert first[:7] == ["id", "name", "created", "modified", "type", "tags", "sourceInfo"]
    assert first.index("openPort") < first.index("software") < first.index("networkInterface")
    sources = {el.tag for el in root.xpath("data/HostAsset/sourceInfo/list/*")}
    assert sources == {"AssetSource", "Ec2AssetSourceSimple", "AzureAssetSourceSimple", "GcpAssetSourceSimple"}
    assert root.xpath("data/HostAsset/vuln/list[not(*)]"), "empty <list/> containers expected"
    assert root.xpath("data/HostAsset/agentInfo/agentId")


#: The elements of a real HostAsset (reference/qualys-api.md §3.4), lists included. Nothing of CSAM's catalog (OS and
#: hardware categories, lifecycle, publisher): a QPS source has the OS name and must derive the rest (issue 22).
HOSTASSET_ELEMENTS = {
    "id", "name", "created", "modified", "type", "tags", "sourceInfo", "qwebHostId", "lastComplianceScan",
    "lastVulnScan", "lastSystemBoot", "lastLoggedOnUser", "fqdn", "os", "dnsHostName", "agentInfo", "netbiosName",
    "networkGuid", "address", "trackingMethod", "manufacturer", "model", "totalMemory", "timezone", "biosDescription",
    "openPort", "software", "vuln", "processor", "volume", "account", "networkInterface", "isDockerHost",
}  # fmt: skip


def test_qps_host_assets_carry_the_os_name_and_no_csam_category(sim: QualysSimulator) -> None:
    root = etree.fromstring(qps_xml(sim, service_request(limit=200)).content)
    hosts = root.findall("data/HostAsset")
    assert {child.tag for host in hosts for child in host} <= HOSTASSET_ELEMENTS
    csam_only = {"operatingSystem", "hardware", "category", "category1", "category2", "lifecycle", "osName", "fullName"}
    assert {el.tag for el in root.iter()} & csam_only == set()
    by_id = {a["assetId"]: a for a in estate(sim)["assets"]}
    os_names = {int(h.findtext("id") or 0): h.findtext("os") for h in hosts}
    # the OS a device runs fits its hardware: firewalls a firewall OS, controllers industrial firmware
    for asset_id, os_name in os_names.items():
        pair = (by_id[asset_id]["hardware_category1"], by_id[asset_id]["hardware_category2"])
        if pair == ("Network Security Device", "Firewall Device"):
            assert os_name in ("FortiOS 7.2.5", "Palo Alto Networks PAN-OS 10.2.4")
        if pair == ("Networking Device", "Server Load Balancer"):
            assert os_name == "F5 Networks Big-IP 16.1.3"
        if pair[0] == "Industrial Control System (ICS)" and by_id[asset_id]["os_category1"] == "Embedded":
            assert os_name == "Siemens Simatic S7"
        if by_id[asset_id]["os_category1"] == "Unidentified":
            assert os_name == "Unknown"


def test_qps_zero_match_shape_xml_and_json(sim: QualysSimulator) -> None:
    body = service_request(("name", "EQUALS", "no-such-host"))
    root = etree.fromstring(qps_xml(sim, body).content)
    assert [c.tag for c in root] == ["responseCode", "count"]
    assert root.findtext("count") == "0"
    payload = {
        "ServiceRequest": {"filters": {"Criteria": [{"field": "name", "operator": "EQUALS", "value": "no-such-host"}]}}
    }
    response = requests.post(
        sim.url + "/qps/rest/2.0/search/am/hostasset", json=payload, auth=AUTH, headers=JSON_HEADERS, timeout=10
    )
    assert response.json() == {"ServiceResponse": {"responseCode": "SUCCESS", "count": 0}}


def test_qps_single_record_json_data_is_still_a_list(sim: QualysSimulator) -> None:
    asset_id = estate(sim)["assets"][10]["assetId"]
    payload: dict[str, Any] = {
        "ServiceRequest": {"filters": {"Criteria": [{"field": "id", "operator": "EQUALS", "value": str(asset_id)}]}}
    }
    url = sim.url + "/qps/rest/2.0/search/am/hostasset"
    single = requests.post(url, json=payload, auth=AUTH, headers=JSON_HEADERS, timeout=10).json()["ServiceResponse"]
    assert single["count"] == 1 and single["hasMoreRecords"] == "false"
    # reference 3.3, JSON form: "data":[{"HostAsset":{...}}, ...] - a list, one record included
    assert isinstance(single["data"], list) and [d["HostAsset"]["id"] for d in single["data"]] == [asset_id]
    payload["ServiceRequest"]["preferences"] = {"limitResults": 2}
    payload["ServiceRequest"]["filters"]["Criteria"] = []
    many = requests.post(url, json=payload, auth=AUTH, headers=JSON_HEADERS, timeout=10).json()["ServiceResponse"]
    assert isinstance(many["data"], list) and many["hasMoreRecords"] == "true"


def test_qps_errors_come_back_at_http_200(sim: QualysSimulator) -> None:
    bad_login = qps_xml(sim, service_request(), auth=(USER, "wrong"))
    assert bad_login.status_code == 200
    root = etree.fromstring(bad_login.content)
    assert root.findtext("responseCode") == "INVALID_CREDENTIALS"
    assert root.findtext("responseErrorDetails/errorMessage") == "Authentication failed"
    assert root.findtext("responseErrorDetails/errorResolution") == "Verify both, user and password credentials."

    wrong_type = etree.fromstring(qps_xml(sim, service_request(("qwebHostId", "IN", "abc123"))).content)
    assert wrong_type.findtext("responseCode") == "INVALID_REQUEST"
    assert "qwebHostId" in wrong_type.findtext("responseErrorDetails/errorMessage")
    assert wrong_type.findtext("responseErrorDetails/errorResolution") == "Specify criteria value(s) as Long."

    for body in (
        service_request(limit=1001),
        service_request(("updated", "GREATER", "2024-01-01")),
        service_request(("id", "NOT_EQUALS", "1")),
        service_request(("bogus", "EQUALS", "x")),
    ):
        response = qps_xml(sim, body)
        assert response.status_code == 200
        assert etree.fromstring(response.content).findtext("responseCode") == "INVALID_REQUEST"


def test_qps_criteria_get_count_and_tags(sim: QualysSimulator) -> None:
    assets = estate(sim)["assets"]
    agents = sum(1 for a in assets if a["has_agent"])
    count = qps_xml(sim, service_request(("tagName", "EQUALS", "Cloud Agent")), path="/qps/rest/2.0/count/am/hostasset")
    assert etree.fromstring(count.content).findtext("count") == str(agents)
    # ANDed, repeated fields
    window = service_request(("id", "GREATER", str(assets[9]["assetId"])), ("id", "LESSER", str(assets[20]["assetId"])))
    ids = etree.fromstring(qps_xml(sim, window).content).xpath("data/HostAsset/id/text()")
    assert [int(i) for i in ids] == [a["assetId"] for a in assets[10:20]]
    got = requests.get(f"{sim.url}/qps/rest/2.0/get/am/hostasset/{assets[3]['assetId']}", auth=AUTH, timeout=10)
    assert etree.fromstring(got.content).xpath("data/HostAsset/name/text()") in ([], [""])  # nameless asset
    tags = etree.fromstring(
        qps_xml(
            sim, service_request(("ruleType", "EQUALS", "NETWORK_RANGE")), path="/qps/rest/2.0/search/am/tag"
        ).content
    )
    rule_texts = tags.xpath("data/Tag/ruleText/text()")
    assert "10.20.0.0-10.21.255.255" in rule_texts and any("/" in r for r in rule_texts)


def test_qps_start_from_id_offset_and_generic_asset(sim: QualysSimulator) -> None:
    ids = [a["assetId"] for a in estate(sim)["assets"]]
    prefs = "<preferences><limitResults>5</limitResults><startFromId>{}</startFromId>{}</preferences>"
    from_id = qps_xml(sim, f"<ServiceRequest>{prefs.format(ids[50], '')}</ServiceRequest>")
    assert [int(i) for i in etree.fromstring(from_id.content).xpath("data/HostAsset/id/text()")] == ids[50:55]
    offset = "<startFromOffset>3</startFromOffset>"
    from_offset = qps_xml(sim, f"<ServiceRequest>{prefs.format(ids[50], offset)}</ServiceRequest>")
    assert [int(i) for i in etree.fromstring(from_offset.content).xpath("data/HostAsset/id/text()")] == ids[52:57]
    generic = qps_xml(sim, service_request(limit=3), path="/qps/rest/2.0/search/am/asset")
    root = etree.fromstring(generic.content)
    assert [int(i) for i in root.xpath("data/Asset/id/text()")] == ids[:3] and root.findtext("lastId") == str(ids[2])


# ----------------------------------------------------------------------------- CSAM
def test_csam_paging_to_the_end_then_204(sim: QualysSimulator) -> None:
    jwt = token(sim)
    expected = [a["assetId"] for a in estate(sim)["assets"]]
    seen: list[int] = []
    last_seen = 0
    while True:
        response = csam(sim, jwt, pageSize=70, lastSeenAssetId=last_seen, excludeFields="software")
        assert response.status_code == 200
        assert response.headers["X-Powered-By"].startswith("Qualys:USPOD1:")
        page = response.json()
        assert list(page) == ["responseMessage", "count", "responseCode", "lastSeenAssetId", "hasMore", "assetListData"]
        assert page["responseCode"] == "SUCCESS" and type(page["hasMore"]) is int
        ids = [a["assetId"] for a in page["assetListData"]["asset"]]
        assert ids == sorted(ids) and page["count"] == len(ids) and page["lastSeenAssetId"] == ids[-1]
        seen.extend(ids)
        last_seen = page["lastSeenAssetId"]
        if page["hasMore"] == 0:
            break
    assert seen == expected
    after = csam(sim, jwt, pageSize=70, lastSeenAssetId=last_seen)
    assert after.status_code == 204 and after.content == b""


def test_csam_asset_schema_quirks(sim: QualysSimulator) -> None:
    jwt = token(sim)
    assets = csam(sim, jwt, pageSize=200).json()["assetListData"]["asset"]
    first = assets[0]
    assert first["lastModifiedDate"].endswith(".000Z") and len(first["lastModifiedDate"]) == 24
    software = [s for a in assets for s in (a["softwareListData"] or {}).get("software", [])]
    assert software and all(s["id"] > 2**53 for s in software)
    assert {"category1", "category2", "lifecycle", "license"} <= set(software[0])
    assert set(software[0]["license"]) == {"category", "subcategory"}
    flat = json.dumps(assets)
    assert '",,"' in flat and "Not Announced" in flat
    clouds = [a["cloudProvider"] for a in assets if a["cloudProvider"]]
    assert {k for c in clouds for k, v in c.items() if v} == {"aws", "azure", "gcp"}
    assert all(set(c) == {"aws", "azure", "gcp", "oci", "ibm", "alibaba"} for c in clouds)
    agents = [a["agent"] for a in assets if a["agent"]]
    assert agents and all(isinstance(a["lastCheckedIn"], int) for a in agents)
    v4 = [i["addressIpV4"] for a in assets for i in a["networkInterfaceListData"]["networkInterface"]]
    assert any(v and ", " in v for v in v4)
    assert any("biosSerialNumber" not in a or a["biosSerialNumber"] is None for a in assets)
    assert any(a["assetName"] == "" and "dnsName" not in a for a in assets)
    osc = assets[1]["operatingSystem"]
    assert osc["category"] == f"{osc['category1']} / {osc['category2']}"


def test_csam_include_and_exclude_fields(sim: QualysSimulator) -> None:
    jwt = token(sim)
    included = csam(sim, jwt, pageSize=20, includeFields="assetName,operatingSystem,hardware").json()
    for asset in included["assetListData"]["asset"]:
        assert set(asset) == {"assetId", "lastModifiedDate", "assetName", "operatingSystem", "hardware"}
    excluded = csam(sim, jwt, pageSize=20, excludeFields="softwareListData,openPort").json()
    for asset in excluded["assetListData"]["asset"]:
        assert "softwareListData" not in asset and "openPortListData" not in asset and "hardware" in asset
    only_software = csam(sim, jwt, pageSize=5, includeFields="software").json()["assetListData"]["asset"]
    assert all(set(a) == {"assetId", "lastModifiedDate", "softwareListData"} for a in only_software)


def test_csam_filters_count_get_and_errors(sim: QualysSimulator) -> None:
    jwt = token(sim)
    assets = estate(sim)["assets"]
    linux = sum(1 for a in assets if a["os_category1"] == "Linux")
    body = {
        "filters": [{"field": "operatingSystem.category1", "operator": "EQUALS", "value": "Linux"}],
        "operation": "AND",
    }
    assert csam(sim, jwt, "/rest/2.0/count/am/asset", body).json()["count"] == linux
    page = csam(sim, jwt, body=body, pageSize=300).json()
    assert page["count"] == linux and page["hasMore"] == 0
    qql = csam(sim, jwt, pageSize=300, filter="operatingSystem.category1:`Linux` AND hardware.category1:Computers")
    expected = sum(1 for a in assets if a["os_category1"] == "Linux" and a["hardware_category1"] == "Computers")
    assert qql.json()["count"] == expected
    bad_field = csam(sim, jwt, body={"filters": [{"field": "asset.lastSeen", "operator": "LESSER", "value": "x"}]})
    assert bad_field.status_code == 400
    assert csam(sim, jwt, pageSize=301).status_code == 400
    control(sim, "faults", clamp_page_size=True)
    clamped = csam(sim, jwt, pageSize=500).json()
    assert clamped["count"] == 100 and clamped["hasMore"] == 1
    target = assets[42]["assetId"]
    got = requests.get(
        f"{sim.url}/rest/2.0/get/am/asset",
        params={"assetID": target},
        headers={"Authorization": f"Bearer {jwt}"},
        timeout=10,
    )
    assert got.json()["assetListData"]["asset"][0]["assetId"] == target
    missing = requests.get(
        f"{sim.url}/rest/2.0/get/am/asset",
        params={"assetId": 1},
        headers={"Authorization": f"Bearer {jwt}"},
        timeout=10,
    )
    assert missing.status_code == 204


def test_gav_v1_endpoints_and_query_cap(sim: QualysSimulator) -> None:
    jwt = token(sim)
    v1 = csam(
        sim, jwt, "/am/v1/assets/host/filter/list", pageSize=300, filter="operatingSystem.category1:'Windows\u2019"
    )
    windows = sum(1 for a in estate(sim)["assets"] if a["os_category1"] == "Windows")
    assert v1.status_code == 200 and v1.json()["count"] == windows
    assert csam(sim, jwt, "/am/v1/assets/host/count").json()["count"] == 200
    control(sim, "faults", csam_query_cap=50)
    first = csam(sim, jwt, pageSize=30).json()
    second = csam(sim, jwt, pageSize=30, lastSeenAssetId=first["lastSeenAssetId"]).json()
    assert first["hasMore"] == 1 and second["count"] == 20 and second["hasMore"] == 0


def test_determinism_same_seed_same_bytes() -> None:
    first = QualysSimulator(assets=60, seed=5).start()
    second = QualysSimulator(assets=60, seed=5).start()
    other = QualysSimulator(assets=60, seed=6).start()
    try:
        bodies = []
        for sim in (first, second, other):
            page = csam(sim, token(sim), pageSize=60).content
            hosts = qps_xml(sim, service_request(limit=60)).content
            bodies.append((page, hosts))
        assert bodies[0] == bodies[1]
        assert bodies[0][0] != bodies[2][0] and bodies[0][1] != bodies[2][1]
    finally:
        for sim in (first, second, other):
            sim.stop()


def test_advance_modifies_exactly_k_assets(fresh_sim: QualysSimulator) -> None:
    jwt = token(fresh_sim)
    before = estate(fresh_sim)
    watermark = max(a["lastModifiedDate"] for a in before["assets"])
    assert csam(fresh_sim, jwt, assetLastUpdated=watermark).status_code == 204
    result = control(fresh_sim, "advance", seconds=3600, modify=7)
    modified = result["modified"]
    assert len(modified) == len(set(modified)) == 7
    page = csam(fresh_sim, jwt, pageSize=300, assetLastUpdated=watermark).json()
    assert [a["assetId"] for a in page["assetListData"]["asset"]] == sorted(modified)
    assert all(a["lastModifiedDate"] > watermark for a in page["assetListData"]["asset"])
    qps_watermark = watermark[:19] + "Z"
    hosts = etree.fromstring(qps_xml(fresh_sim, service_request(("updated", "GREATER", qps_watermark))).content)
    assert sorted(int(i) for i in hosts.xpath("data/HostAsset/id/text()")) == sorted(modified)
    after = {a["assetId"]: a for a in estate(fresh_sim)["assets"]}
    assert sum(1 for a in after.values() if a["revision"] == 1) == 7
    assert control(fresh_sim, "advance", seconds=0, modify=3)["modified"] != modified[:3]


# ----------------------------------------------------------------------------- auth and accounts
def test_jwt_expiry_and_revocation(fresh_sim: QualysSimulator) -> None:
    jwt = token(fresh_sim)
    assert jwt.count(".") == 2
    assert csam(fresh_sim, jwt, pageSize=1).status_code == 200
    missing = requests.post(fresh_sim.url + "/rest/2.0/search/am/asset", timeout=10)
    assert missing.status_code == 401 and missing.json()["message"] == "Not authenticated"
    time.sleep(2.1)
    expired = csam(fresh_sim, jwt, pageSize=1)
    assert expired.status_code == 401
    assert expired.json() == {"status": 401, "error": "Unauthorized", "message": "JWT expired"}
    fresh = token(fresh_sim)
    control(fresh_sim, "expire-tokens")
    assert csam(fresh_sim, fresh, pageSize=1).status_code == 401
    bad = requests.post(
        fresh_sim.url + "/auth", data={"username": USER, "password": "nope", "token": "true"}, timeout=10
    )
    assert bad.status_code == 401 and bad.headers["Content-Type"].startswith("application/json")


def test_account_states(fresh_sim: QualysSimulator) -> None:
    url = fresh_sim.url
    control(fresh_sim, "accounts", username="expired_user", password="pw-1", state="expired")
    control(fresh_sim, "accounts", username="no_api_user", password="pw-2", state="no_api")
    control(fresh_sim, "accounts", username="no_gav", password="pw-3", state="no_asset_inventory")
    fo_url = url + "/api/2.0/fo/asset/ip/?action=list"
    expired = requests.get(fo_url, auth=("expired_user", "pw-1"), headers=FO_HEADERS, timeout=10)
    assert expired.status_code == 200 and b"<CODE>2001</CODE>" in expired.content
    no_api = requests.get(fo_url, auth=("no_api_user", "pw-2"), headers=FO_HEADERS, timeout=10)
    assert no_api.status_code == 403 and b"<CODE>2002</CODE>" in no_api.content
    assert (
        etree.fromstring(qps_xml(fresh_sim, service_request(), auth=("expired_user", "pw-1")).content).findtext(
            "responseCode"
        )
        == "UNAUTHORIZED"
    )
    assert qps_xml(fresh_sim, service_request(), auth=("no_api_user", "pw-2")).status_code == 403
    auth_expired = requests.post(url + "/auth", data={"username": "expired_user", "password": "pw-1"}, timeout=10)
    assert auth_expired.status_code == 401 and auth_expired.json()["message"] == "Subscription expired"
    gav = csam(fresh_sim, token(fresh_sim, "no_gav", "pw-3"))
    assert gav.status_code == 403 and gav.json()["status"] == 403
    hosts = etree.fromstring(qps_xml(fresh_sim, service_request(), auth=("no_gav", "pw-3")).content)
    assert hosts.findtext("responseCode") == "UNAUTHORIZED"


# ----------------------------------------------------------------------------- FO and rate limits
def test_fo_ip_list_and_header_rules(sim: QualysSimulator) -> None:
    url = sim.url + "/api/2.0/fo/asset/ip/"
    assets = estate(sim)["assets"]
    ok = requests.post(
        url, data={"action": "list", "ips": "10.10.0.0-10.11.255.255"}, auth=AUTH, headers=FO_HEADERS, timeout=10
    )
    assert ok.status_code == 200
    for header in (
        "X-RateLimit-Limit",
        "X-RateLimit-Window-Sec",
        "X-RateLimit-Remaining",
        "X-Concurrency-Limit-Limit",
        "X-Concurrency-Limit-Running",
    ):
        assert header in ok.headers
    root = etree.fromstring(ok.content)
    listed = set(root.xpath("RESPONSE/IP_SET/IP/text()"))
    for ip_range in root.xpath("RESPONSE/IP_SET/IP_RANGE/text()"):
        low, high = (int(ipaddress.IPv4Address(p)) for p in ip_range.split("-"))
        listed |= {str(ipaddress.IPv4Address(n)) for n in range(low, high + 1)}
    assert listed == {a["address"] for a in assets if a["address"].startswith(("10.10.", "10.11."))}
    no_header = requests.get(url, params={"action": "list"}, auth=AUTH, timeout=10)
    assert no_header.status_code == 400 and b"X-Requested-With" in no_header.content
    bad_login = requests.get(url, params={"action": "list"}, auth=(USER, "x"), headers=FO_HEADERS, timeout=10)
    assert bad_login.status_code == 401 and b"SIMPLE_RETURN" in bad_login.content
    unknown = requests.get(url, params={"action": "list", "bogus": "1"}, auth=AUTH, headers=FO_HEADERS, timeout=10)
    assert unknown.status_code == 400 and b"<CODE>1901</CODE>" in unknown.content


def test_fo_rate_limit_409_with_seconds_to_wait(sim: QualysSimulator) -> None:
    control(sim, "faults", fo_rate_limit={"limit": 2, "window_sec": 120, "concurrency": 5})
    url = sim.url + "/api/2.0/fo/asset/ip/?action=list"
    codes = [requests.get(url, auth=AUTH, headers=FO_HEADERS, timeout=10) for _ in range(3)]
    assert [r.status_code for r in codes] == [200, 200, 409]
    blocked = codes[-1]
    root = etree.fromstring(blocked.content)
    assert root.findtext("RESPONSE/CODE") == "1965"
    assert root.findtext("RESPONSE/ITEM_LIST/ITEM/KEY") == "SECONDS_TO_WAIT"
    wait = int(root.findtext("RESPONSE/ITEM_LIST/ITEM/VALUE"))
    assert 0 < wait <= 120 and blocked.headers["X-RateLimit-Remaining"] == "0"
    assert blocked.headers["X-RateLimit-ToWait-Sec"] == str(wait)


def test_fo_concurrency_limit_wins(sim: QualysSimulator) -> None:
    control(sim, "faults", fo_rate_limit={"limit": 100, "window_sec": 60, "concurrency": 1}, latency_ms=400)
    url = sim.url + "/api/2.0/fo/asset/ip/?action=list"
    results: list[requests.Response] = []
    threads = [
        threading.Thread(target=lambda: results.append(requests.get(url, auth=AUTH, headers=FO_HEADERS, timeout=10)))
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
        time.sleep(0.05)
    for thread in threads:
        thread.join()
    blocked = [r for r in results if r.status_code == 409]
    assert blocked and all(b"<CODE>1960</CODE>" in r.content for r in blocked)
    assert all(r.headers["X-Concurrency-Limit-Running"] == "1" for r in blocked)


def test_gateway_429_with_full_and_empty_headers(sim: QualysSimulator) -> None:
    jwt = token(sim)
    control(sim, "faults", gateway_rate_limit={"limit": 2, "window_sec": 60, "to_wait_sec": 17})
    statuses = [csam(sim, jwt, pageSize=1) for _ in range(3)]
    assert [r.status_code for r in statuses] == [200, 200, 429]
    assert statuses[-1].headers["X-RateLimit-ToWait-Sec"] == "17"
    assert statuses[-1].headers["X-RateLimit-Remaining"] == "0"
    assert statuses[0].headers["X-RateLimit-Limit"] == "2"
    control(sim, "faults", gateway_rate_limit={"limit": 1, "window_sec": 60, "empty_headers": True})
    empty = [csam(sim, jwt, pageSize=1) for _ in range(2)]
    assert [r.status_code for r in empty] == [200, 429]
    assert empty[-1].headers["X-RateLimit-Limit"] == "" and empty[-1].headers["X-RateLimit-ToWait-Sec"] == ""


# ----------------------------------------------------------------------------- faults
def test_truncate_fault_cuts_inside_the_asset_data(sim: QualysSimulator) -> None:
    jwt = token(sim)
    control(sim, "faults", truncate={"family": "csam", "count": 1})
    cut = csam(sim, jwt, pageSize=50)
    assert cut.status_code == 200 and int(cut.headers["Content-Length"]) == len(cut.content)
    assert b'"lastSeenAssetId":' in cut.content and b'"asset":[' in cut.content
    with pytest.raises(ValueError):
        json.loads(cut.content)
    assert csam(sim, jwt, pageSize=50).json()["count"] == 50
    control(sim, "faults", truncate={"family": "qps", "count": 1, "fraction": 0.3})
    response = qps_xml(sim, service_request(limit=20))
    assert b"<lastId>" in response.content
    with pytest.raises(etree.XMLSyntaxError):
        etree.fromstring(response.content)


def test_invalid_utf8_fault(sim: QualysSimulator) -> None:
    jwt = token(sim)
    control(sim, "faults", invalid_utf8={"family": "csam", "count": 1})
    body = csam(sim, jwt, pageSize=5).content
    assert body.count(b"\xff") == 1
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")
    assert json.loads(body.replace(b"\xff", b""))["count"] == 5
    control(sim, "faults", invalid_utf8={"family": "qps", "count": 1})
    xml_body = qps_xml(sim, service_request(limit=3)).content
    assert b"<name>\xff" in xml_body
    etree.fromstring(xml_body.replace(b"\xff", b""))


def test_status_and_gateway_body_faults(sim: QualysSimulator) -> None:
    jwt = token(sim)
    control(sim, "faults", status={"family": "csam", "code": 503, "count": 2})
    assert [csam(sim, jwt, pageSize=1).status_code for _ in range(3)] == [503, 503, 200]
    control(sim, "faults", status={"family": "fo", "code": 520, "count": 1})
    fo = requests.get(sim.url + "/api/2.0/fo/asset/ip/?action=list", auth=AUTH, headers=FO_HEADERS, timeout=10)
    assert fo.status_code == 520 and fo.headers["Content-Type"] == "text/html"
    control(sim, "faults", csam_failed=1, csam_no_response_code=1, missing_has_more=1)
    failed = csam(sim, jwt, pageSize=1).json()
    assert failed["responseCode"] == "FAILED" and failed["responseMessage"]
    assert "responseCode" not in csam(sim, jwt, pageSize=1).json()
    page = csam(sim, jwt, pageSize=1).json()
    assert "hasMore" not in page and page["responseCode"] == "SUCCESS"
    assert "hasMore" in csam(sim, jwt, pageSize=1).json()
    long_get = requests.get(sim.url + "/qps/rest/portal/version?pad=" + "x" * 9000, auth=AUTH, timeout=10)
    assert long_get.status_code == 414 and b"<html>" in long_get.content


def test_stats_count_requests(sim: QualysSimulator) -> None:
    requests.delete(sim.url + "/sim/control/stats", timeout=10)
    requests.get(f"{sim.url}/qps/rest/2.0/get/am/hostasset/1", auth=AUTH, timeout=10)
    requests.get(sim.url + "/qps/rest/portal/version", auth=AUTH, timeout=10)
    stats = control(sim, "stats", method="GET")
    assert stats["by_endpoint"] == {"/qps/rest/2.0/get/am/hostasset/{id}": 1, "/qps/rest/portal/version": 1}
    assert stats["by_method_endpoint"]["GET /qps/rest/portal/version"] == 1
    assert stats["by_status"] == {"200": 2}


# ----------------------------------------------------------------------------- CLI
def test_cli_prints_url_and_stops_on_sigterm() -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulators.qualys", "--port", "0", "--assets", "30", "--seed", "2"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("Qualys simulator listening on http://127.0.0.1:")
        url = line.rsplit(" ", 1)[1]
        assert requests.get(url + "/sim/control/health", timeout=10).json()["assets"] == 30
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
