"""Issue 21: simulators that fail closed - what they do not implement must never look like success.

Real-HTTP tests (simulators on 127.0.0.1:0, ``requests``), one or more per item of the issue:

1. ServiceNow encoded queries: every operator of reference §1.3 is either evaluated or fails closed (no row,
   counted in the control stats), never dropped so that every row comes back.
2. A one-record QPS JSON search answers ``data`` as a list, and every CSAM/QPS response shape of the
   reference (§3.3, §4.3) holds.
3. The OAuth token endpoint takes client credentials as HTTP Basic (RFC 6749 ``client_secret_basic``).
4. Asset-group ids are never reused.
5. A tag can be created with ``children/set/TagSimple``.
6. Endpoints the simulators do not implement answer the "not served" shape, never a 200, and the READMEs
   list them under "Not simulated".
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pytest
import requests
from lxml import etree

from simulators.qualys.server import QualysSimulator
from simulators.servicenow.server import ServiceNowSimulator

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT.parent / "shared" / "reference"

SN_USER, SN_PASSWORD = "sn_integration", "sn-Passw0rd"
SN_AUTH = (SN_USER, SN_PASSWORD)
# a secret with the characters RFC 6749 2.3.1 makes clients form-urlencode before base64
SN_CLIENT = ("qcmdb_client", "s3cret:+/ &%x")
SN_JSON = {"Accept": "application/json", "Content-Type": "application/json"}

Q_AUTH = ("qualys_demo", "demo-Passw0rd")
Q_FO = {"X-Requested-With": "pytest"}
Q_JSON = {"Content-Type": "application/json", "Accept": "application/json"}
GROUP_PATH = "/api/2.0/fo/asset/group/"
FAIL_CLOSED = None  # expected result of a query the simulator cannot evaluate


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def snow() -> Iterator[ServiceNowSimulator]:
    simulator = ServiceNowSimulator(host="127.0.0.1", port=0, oauth_client_secret=SN_CLIENT[1]).start()
    try:
        yield simulator
    finally:
        simulator.stop()


@pytest.fixture(scope="module")
def qualys() -> Iterator[QualysSimulator]:
    simulator = QualysSimulator(host="127.0.0.1", port=0, assets=30, seed=21).start()
    try:
        yield simulator
    finally:
        simulator.stop()


@pytest.fixture(autouse=True)
def _clean_qualys_vm(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "qualys" in request.fixturenames:
        requests.post(request.getfixturevalue("qualys").url + "/sim/control/vm/reset", timeout=10)


def sn_control(sim: ServiceNowSimulator, path: str, method: str = "POST", **body: Any) -> Any:
    response = requests.request(method, f"{sim.url}/sim/control/{path}", json=body or None, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def q_control(sim: QualysSimulator, path: str, method: str = "POST", **body: Any) -> Any:
    response = requests.request(method, f"{sim.url}/sim/control/{path}", json=body or None, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


# ============================================================================= 1. encoded queries
# Reference servicenow-api.md §1.3 "Operators:" - every operator it lists, in its order.
SECTION_1_3_OPERATORS = (
    "=",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "LIKE",
    "NOT LIKE",
    "STARTSWITH",
    "ENDSWITH",
    "IN",
    "NOT IN",
    "ISEMPTY",
    "ISNOTEMPTY",
    "EMPTYSTRING",
    "ANYTHING",
    "BETWEEN",
    "SAMEAS",
    "NSAMEAS",
    "DYNAMIC",
    "RELATIVEGT",  # "relative date ops (RELATIVEGT@...)"
    "VALCHANGES",
    "CHANGESFROM",
    "CHANGESTO",
)


@pytest.fixture(scope="module")
def computers(snow: ServiceNowSimulator) -> dict[str, Any]:
    """Four computers whose fields make every operator's answer distinct; returns the clock and user sys_id."""
    sn_control(snow, "reset")
    me = sn_control(snow, "users", username=SN_USER)["sys_id"]
    hp = requests.get(
        f"{snow.url}/api/now/table/core_company",
        params={"sysparm_query": "name=HP"},
        auth=SN_AUTH,
        headers=SN_JSON,
        timeout=10,
    ).json()["result"][0]["sys_id"]
    now = datetime.now(UTC).replace(microsecond=0)
    records = [
        {
            "name": "alpha",
            "os": "Linux",
            "ram": 1024,
            "short_description": "alpha",
            "company": me,
            "first_discovered": stamp(now - timedelta(minutes=30)),
            "last_discovered": stamp(now - timedelta(minutes=30, seconds=5)),
        },
        {
            "name": "beta",
            "os": "Windows",
            "ram": 4096,
            "short_description": "beta",
            "manufacturer": hp,
            "first_discovered": stamp(now - timedelta(hours=2)),
            "last_discovered": stamp(now - timedelta(hours=2)),
        },
        {
            "name": "gamma",
            "ram": 16384,
            "short_description": "other",
            "first_discovered": stamp(now + timedelta(hours=2)),
            "last_discovered": stamp(now - timedelta(days=40)),
        },
        {"name": "delta", "os": "Linux", "ram": 512},
    ]
    for record in records:
        created = requests.post(
            f"{snow.url}/api/now/table/cmdb_ci_computer", json=record, auth=SN_AUTH, headers=SN_JSON, timeout=10
        )
        assert created.status_code == 201, created.text
    return {"now": now, "me": me}


def query(sim: ServiceNowSimulator, text: str, version: str = "") -> requests.Response:
    return requests.get(
        f"{sim.url}/api/now/{version}table/cmdb_ci_computer",
        params={"sysparm_query": text, "sysparm_fields": "name"},
        auth=SN_AUTH,
        headers=SN_JSON,
        timeout=10,
    )


ALL = {"alpha", "beta", "gamma", "delta"}
# operator -> [(encoded query, the names it selects, or FAIL_CLOSED)]
OPERATOR_CASES: dict[str, list[tuple[str, set[str] | None]]] = {
    "=": [("os=Linux", {"alpha", "delta"})],
    "!=": [("os!=Linux", {"beta"})],  # empty values never match !=
    "<": [("ram<4096", {"alpha", "delta"})],
    "<=": [("ram<=4096", {"alpha", "beta", "delta"})],
    ">": [("ram>4096", {"gamma"})],
    ">=": [("ram>=4096", {"beta", "gamma"})],
    "LIKE": [("nameLIKEamm", {"gamma"})],
    "NOT LIKE": [("nameNOT LIKEt", {"alpha", "gamma"})],
    "STARTSWITH": [("nameSTARTSWITHde", {"delta"})],
    "ENDSWITH": [("nameENDSWITHta", {"beta", "delta"})],
    "IN": [("nameINalpha,beta", {"alpha", "beta"})],
    "NOT IN": [("nameNOT INalpha,beta", {"gamma", "delta"})],
    "ISEMPTY": [("osISEMPTY", {"gamma"})],
    "ISNOTEMPTY": [("osISNOTEMPTY", {"alpha", "beta", "delta"})],
    "EMPTYSTRING": [("osEMPTYSTRING", set())],  # empty values are stored as NULL, never as ""
    "ANYTHING": [("osANYTHING", ALL)],
    "BETWEEN": [("ramBETWEEN1000@5000", {"alpha", "beta"}), ("ramBETWEEN1000", FAIL_CLOSED)],
    "SAMEAS": [
        ("short_descriptionSAMEASname", {"alpha", "beta"}),
        ("first_discoveredSAMEASlast_discovered@day", {"alpha", "beta"}),
        ("first_discoveredSAMEASlast_discovered@hour", FAIL_CLOSED),
    ],
    "NSAMEAS": [("short_descriptionNSAMEASname", {"gamma"})],
    "DYNAMIC": [
        ("companyDYNAMIC90d1921e5f510100a9ad2572f2b477fe", {"alpha"}),  # "Me"
        ("companyDYNAMIC54635e965f510100a9ad2572f2b4774c", {"alpha"}),  # "Me" as the operator page shows it
        ("companyDYNAMICffffffffffffffffffffffffffffffff", FAIL_CLOSED),  # an option the simulator does not know
    ],
    "RELATIVEGT": [
        ("first_discoveredRELATIVEGT@hour@ago@1", {"alpha", "gamma"}),
        ("first_discoveredRELATIVEGT@hour@ahead@1", {"gamma"}),
        ("first_discoveredRELATIVEGT@minute@ago@45", {"alpha", "gamma"}),
        ("last_discoveredRELATIVEGT@dayofweek@ago@30", {"alpha", "beta"}),
        ("last_discoveredRELATIVEGT@month@ago@2", {"alpha", "beta", "gamma"}),
        ("sys_updated_onRELATIVEGT@hour@ago@1", ALL),
        ("first_discoveredRELATIVEGT@fortnight@ago@1", FAIL_CLOSED),
        ("nameRELATIVEGT@hour@ago@1", FAIL_CLOSED),  # not a date-time field
    ],
    "RELATIVELT": [
        ("first_discoveredRELATIVELT@hour@ago@1", {"beta"}),
        ("sys_updated_onRELATIVELT@hour@ago@1", set()),  # the example: it used to answer every row
        ("last_discoveredRELATIVELT@week@ago@2", {"gamma"}),
    ],
    "RELATIVEGE": [("first_discoveredRELATIVEGE@hour@ago@1", FAIL_CLOSED)],
    "RELATIVEEE": [("first_discoveredRELATIVEEE@dayofweek@ago@0", FAIL_CLOSED)],
    "VALCHANGES": [("osVALCHANGES", FAIL_CLOSED)],  # rules only: a query has no previous value
    "CHANGESFROM": [("osCHANGESFROMLinux", FAIL_CLOSED)],
    "CHANGESTO": [("osCHANGESTOLinux", FAIL_CLOSED)],
    "DATEPART": [("first_discoveredDATEPARTMonday@javascript:gs.datePart('dayofweek','monday','EE')", FAIL_CLOSED)],
    "IN_HIERARCHY": [("companyIN_HIERARCHYabc@def", FAIL_CLOSED)],  # not read as IN "_HIERARCHY..."
    "unknown operator": [("nameFOOBARalpha", FAIL_CLOSED), ("os=Linux^ORnameFOOBARalpha", FAIL_CLOSED)],
    "javascript:": [("first_discovered<javascript:gs.daysAgoStart(0)", FAIL_CLOSED)],
    "RLQUERY": [("os=Linux^RLQUERYcmdb_rel_ci.parent,>=1^ENDRLQUERY", FAIL_CLOSED)],
    "dot-walk": [("manufacturer.name=HP", {"beta"})],
    "unknown field": [("no_such_field=1^name=alpha", {"alpha"})],  # §1.3: invalid field names are dropped
}


def test_every_section_1_3_operator_is_walked() -> None:
    missing = [op for op in SECTION_1_3_OPERATORS if op not in OPERATOR_CASES]
    assert missing == []


def test_section_1_3_operator_list_matches_the_reference_text() -> None:
    reference = REFERENCE / "servicenow-api.md"
    if not reference.exists():
        pytest.skip(f"{reference} is not present in this checkout")
    section = reference.read_text(encoding="utf-8").split("### 1.3", 1)[1].split("### 1.4", 1)[0]
    bullet = section.split("- Operators:", 1)[1].split("\n- ", 1)[0]
    operators = []
    for token in re.findall(r"`([^`]+)`", bullet):
        token = token.split("@", 1)[0]  # RELATIVEGT@... -> RELATIVEGT
        if re.fullmatch(r"[A-Z<>=! ]+", token):
            operators.append(token)
    assert tuple(operators) == SECTION_1_3_OPERATORS


@pytest.mark.parametrize(
    ("operator", "encoded", "expected"),
    [(op, encoded, expected) for op, cases in OPERATOR_CASES.items() for encoded, expected in cases],
)
def test_operator_is_evaluated_or_fails_closed(
    snow: ServiceNowSimulator, computers: dict[str, Any], operator: str, encoded: str, expected: set[str] | None
) -> None:
    requests.delete(f"{snow.url}/sim/control/stats", timeout=10)
    response = query(snow, encoded)
    assert response.status_code == 200, response.text
    names = {row["name"] for row in response.json()["result"]}
    unsupported = sn_control(snow, "stats", method="GET")["unsupported_queries"]
    if expected is FAIL_CLOSED:
        assert names == set(), f"{operator}: {encoded} must fail closed"
        assert response.headers["X-Total-Count"] == "0"
        assert unsupported and all(key.startswith("cmdb_ci_computer: ") for key in unsupported)
    else:
        assert names == expected, f"{operator}: {encoded}"
        assert unsupported == {}


def test_a_query_that_fails_closed_looks_like_an_empty_result_in_v1_and_v2(
    snow: ServiceNowSimulator, computers: dict[str, Any]
) -> None:
    v1 = query(snow, "osVALCHANGES", version="v1/")
    assert v1.status_code == 404 and v1.json()["error"]["message"] == "No Record found"
    v2 = query(snow, "osVALCHANGES", version="v2/")
    assert v2.status_code == 200 and v2.json() == {"result": []}
    stats = sn_control(snow, "stats", method="GET")["unsupported_queries"]
    assert stats.get("cmdb_ci_computer: operator VALCHANGES", 0) >= 2


# ============================================================================= 2. QPS / CSAM shapes
def qps(
    sim: QualysSimulator, path: str, body: str | dict[str, Any] = "", json_out: bool = False, method: str = "POST"
) -> requests.Response:
    headers = Q_JSON if json_out else {"Content-Type": "text/xml"}
    kwargs: dict[str, Any] = {"json": body} if isinstance(body, dict) else {"data": body}
    return requests.request(method, sim.url + path, auth=Q_AUTH, headers=headers, timeout=30, **kwargs)


def xml_request(*criteria: tuple[str, str, str], limit: int | None = None) -> str:
    prefs = f"<preferences><limitResults>{limit}</limitResults></preferences>" if limit else ""
    crit = "".join(f'<Criteria field="{f}" operator="{o}">{v}</Criteria>' for f, o, v in criteria)
    return f"<ServiceRequest>{prefs}<filters>{crit}</filters></ServiceRequest>"


def json_request(*criteria: tuple[str, str, str], limit: int | None = None) -> dict[str, Any]:
    request: dict[str, Any] = {
        "filters": {"Criteria": [{"field": f, "operator": o, "value": v} for f, o, v in criteria]}
    }
    if limit:
        request["preferences"] = {"limitResults": limit}
    return {"ServiceRequest": request}


def asset_ids(sim: QualysSimulator) -> list[int]:
    return [a["assetId"] for a in q_control(sim, "estate", method="GET")["assets"]]


def test_one_record_qps_json_search_answers_data_as_a_list(qualys: QualysSimulator) -> None:
    first = asset_ids(qualys)[0]
    found = qps(qualys, "/qps/rest/2.0/search/am/hostasset", json_request(("id", "EQUALS", str(first))), True)
    document = found.json()["ServiceResponse"]
    assert document["count"] == 1
    assert isinstance(document["data"], list) and len(document["data"]) == 1
    assert document["data"][0]["HostAsset"]["id"] == first


def _xml_search_page(sim: QualysSimulator, ids: list[int]) -> None:
    root = etree.fromstring(qps(sim, "/qps/rest/2.0/search/am/hostasset", xml_request(limit=3)).content)
    assert [c.tag for c in root] == ["responseCode", "count", "hasMoreRecords", "lastId", "data"]
    schema = root.get("{http://www.w3.org/2001/XMLSchema-instance}noNamespaceSchemaLocation")
    assert schema and schema.endswith("/qps/xsd/2.0/am/hostasset.xsd")
    page = [int(i) for i in root.xpath("data/HostAsset/id/text()")]
    assert root.findtext("responseCode") == "SUCCESS" and root.findtext("count") == "3" and page == ids[:3]
    assert root.findtext("hasMoreRecords") == "true" and root.findtext("lastId") == str(ids[2])


def _xml_single_record(sim: QualysSimulator, ids: list[int]) -> None:
    body = xml_request(("id", "EQUALS", str(ids[4])))
    data = etree.fromstring(qps(sim, "/qps/rest/2.0/search/am/hostasset", body).content).find("data")
    assert data is not None and [c.tag for c in data] == ["HostAsset"]  # one element, no list wrapper


def _xml_last_page(sim: QualysSimulator, ids: list[int]) -> None:
    body = xml_request(("id", "GREATER", str(ids[-3])))
    root = etree.fromstring(qps(sim, "/qps/rest/2.0/search/am/hostasset", body).content)
    assert root.findtext("hasMoreRecords") == "false" and root.findtext("count") == "2"
    assert root.findtext("lastId") == str(ids[-1])


def _xml_zero_matches(sim: QualysSimulator, ids: list[int]) -> None:
    body = xml_request(("name", "EQUALS", "no-such-host"))
    root = etree.fromstring(qps(sim, "/qps/rest/2.0/search/am/hostasset", body).content)
    assert [c.tag for c in root] == ["responseCode", "count"] and root.findtext("count") == "0"


def _json_search_page(sim: QualysSimulator, ids: list[int]) -> None:
    document = qps(sim, "/qps/rest/2.0/search/am/hostasset", json_request(limit=3), True).json()["ServiceResponse"]
    assert list(document) == ["responseCode", "count", "hasMoreRecords", "lastId", "data"]
    assert document["responseCode"] == "SUCCESS" and document["count"] == 3
    assert document["hasMoreRecords"] == "true" and document["lastId"] == ids[2]
    assert isinstance(document["data"], list) and [d["HostAsset"]["id"] for d in document["data"]] == ids[:3]
    tag_lists = [d["HostAsset"]["tags"]["list"] for d in document["data"]]
    assert all(isinstance(tags, list) for tags in tag_lists)
    assert {frozenset(item["TagSimple"]) for tags in tag_lists for item in tags} == {frozenset({"id", "name"})}


def _json_zero_matches(sim: QualysSimulator, ids: list[int]) -> None:
    body = json_request(("name", "EQUALS", "no-such-host"))
    document = qps(sim, "/qps/rest/2.0/search/am/hostasset", body, True).json()
    assert document == {"ServiceResponse": {"responseCode": "SUCCESS", "count": 0}}


def _json_get_and_tag_search(sim: QualysSimulator, ids: list[int]) -> None:
    got = qps(sim, f"/qps/rest/2.0/get/am/hostasset/{ids[1]}", json_out=True, method="GET").json()["ServiceResponse"]
    assert got["count"] == 1 and [d["HostAsset"]["id"] for d in got["data"]] == [ids[1]]
    tag = qps(sim, "/qps/rest/2.0/search/am/tag", json_request(("name", "EQUALS", "Cloud Agent")), True).json()
    assert isinstance(tag["ServiceResponse"]["data"], list) and tag["ServiceResponse"]["data"][0]["Tag"]["name"]


def _qps_count_only(sim: QualysSimulator, ids: list[int]) -> None:
    root = etree.fromstring(qps(sim, "/qps/rest/2.0/count/am/hostasset", xml_request()).content)
    assert [c.tag for c in root] == ["responseCode", "count"] and root.findtext("count") == str(len(ids))


def _qps_error_at_http_200(sim: QualysSimulator, ids: list[int]) -> None:
    response = qps(sim, "/qps/rest/2.0/search/am/hostasset", xml_request(("qwebHostId", "IN", "abc123")))
    root = etree.fromstring(response.content)
    assert response.status_code == 200 and root.findtext("responseCode") == "INVALID_REQUEST"
    assert [c.tag for c in root.find("responseErrorDetails")] == ["errorMessage", "errorResolution"]
    assert not [h for h in response.headers if h.lower().startswith("x-ratelimit")]  # none on QPS


def _jwt(sim: QualysSimulator) -> dict[str, str]:
    token = requests.post(
        sim.url + "/auth", data={"username": Q_AUTH[0], "password": Q_AUTH[1], "token": "true"}, timeout=10
    )
    assert token.status_code == 201
    return {"Authorization": f"Bearer {token.text}"}


def _csam_pages(sim: QualysSimulator, ids: list[int]) -> None:
    headers = _jwt(sim)
    url = sim.url + "/rest/2.0/search/am/asset"
    seen: list[int] = []
    cursor = 0
    while True:
        params = {"pageSize": 7, "lastSeenAssetId": cursor, "includeFields": "assetName"}
        response = requests.post(url, params=params, headers=headers, timeout=30)
        if response.status_code == 204:
            assert response.content == b""  # an empty page: 204 without a body
            break
        document = response.json()
        assert list(document) == [
            "responseMessage",
            "count",
            "responseCode",
            "lastSeenAssetId",
            "hasMore",
            "assetListData",
        ]
        page = [a["assetId"] for a in document["assetListData"]["asset"]]
        assert document["responseCode"] == "SUCCESS" and document["count"] == len(page)
        assert page == sorted(page) and document["lastSeenAssetId"] == page[-1] == max(page)
        assert document["hasMore"] in (0, 1) and type(document["hasMore"]) is int
        seen.extend(page)
        cursor = document["lastSeenAssetId"]
        if document["hasMore"] == 0:
            break
    assert seen == ids


def _csam_count(sim: QualysSimulator, ids: list[int]) -> None:
    count = requests.post(sim.url + "/rest/2.0/count/am/asset", headers=_jwt(sim), timeout=30).json()
    assert count == {"responseMessage": "Valid API Access", "count": len(ids), "responseCode": "SUCCESS"}


def _csam_beyond_the_end(sim: QualysSimulator, ids: list[int]) -> None:
    params = {"pageSize": 5, "lastSeenAssetId": ids[-1]}
    response = requests.post(sim.url + "/rest/2.0/search/am/asset", params=params, headers=_jwt(sim), timeout=30)
    assert response.status_code == 204 and response.content == b""


RESPONSE_SHAPES = {
    "qps xml page (responseCode, count, hasMoreRecords, lastId, data)": _xml_search_page,
    "qps xml single record (one element)": _xml_single_record,
    "qps xml last page (hasMoreRecords false)": _xml_last_page,
    "qps xml zero matches (responseCode + count only)": _xml_zero_matches,
    "qps json page (data list of {HostAsset}, nested list/TagSimple)": _json_search_page,
    "qps json zero matches": _json_zero_matches,
    "qps json get and tag search (data list)": _json_get_and_tag_search,
    "qps count (count only)": _qps_count_only,
    "qps error at HTTP 200 (responseErrorDetails), no rate headers": _qps_error_at_http_200,
    "csam pages (count, hasMore int, lastSeenAssetId, assetListData.asset)": _csam_pages,
    "csam count": _csam_count,
    "csam empty page (204)": _csam_beyond_the_end,
}


@pytest.mark.parametrize("shape", list(RESPONSE_SHAPES))
def test_reference_response_shape(qualys: QualysSimulator, shape: str) -> None:
    RESPONSE_SHAPES[shape](qualys, asset_ids(qualys))


# ============================================================================= 3. OAuth client_secret_basic
def _basic(client_id: str, secret: str) -> dict[str, str]:
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def test_oauth_token_endpoint_takes_client_credentials_as_http_basic(snow: ServiceNowSimulator) -> None:
    token_url = f"{snow.url}/oauth_token.do"
    password = {"grant_type": "password", "username": SN_USER, "password": SN_PASSWORD}
    basic = requests.post(token_url, data=password, headers=_basic(*SN_CLIENT), timeout=10)
    assert basic.status_code == 200, basic.text
    bearer = {**SN_JSON, "Authorization": f"Bearer {basic.json()['access_token']}"}
    assert requests.get(f"{snow.url}/api/now/table/cmdb_ci", headers=bearer, timeout=10).status_code == 200

    body = {**password, "client_id": SN_CLIENT[0], "client_secret": SN_CLIENT[1]}
    assert requests.post(token_url, data=body, timeout=10).status_code == 200  # client_secret_post still works
    same_in_both = requests.post(token_url, data=body, headers=_basic(*SN_CLIENT), timeout=10)
    assert same_in_both.status_code == 200

    credentials = {"grant_type": "client_credentials"}
    client = requests.post(token_url, data=credentials, headers=_basic(*SN_CLIENT), timeout=10)
    assert client.status_code == 200 and client.json()["token_type"] == "Bearer"

    denied = {"error": "server_error", "error_description": "access_denied"}
    wrong = requests.post(token_url, data=password, headers=_basic(SN_CLIENT[0], "nope"), timeout=10)
    assert wrong.status_code == 401 and wrong.json() == denied
    unencoded = base64.b64encode(f"{SN_CLIENT[0]}:{SN_CLIENT[1]}".encode()).decode()  # "+" decodes to " "
    raw = requests.post(token_url, data=password, headers={"Authorization": f"Basic {unencoded}"}, timeout=10)
    assert raw.status_code == 401
    conflict = {**password, "client_id": "someone_else"}
    mixed = requests.post(token_url, data=conflict, headers=_basic(*SN_CLIENT), timeout=10)
    assert mixed.status_code == 401 and mixed.json() == denied
    garbage = requests.post(token_url, data=password, headers={"Authorization": "Basic !!"}, timeout=10)
    assert garbage.status_code == 401


# ============================================================================= 4. asset-group ids
def _fo(sim: QualysSimulator, **params: str) -> etree._Element:
    response = requests.post(sim.url + GROUP_PATH, data=params, auth=Q_AUTH, headers=Q_FO, timeout=30)
    assert response.status_code == 200, response.text
    return etree.fromstring(response.content)


def _add_group(sim: QualysSimulator, title: str) -> int:
    root = _fo(sim, action="add", title=title)
    assert root.findtext("RESPONSE/ITEM_LIST/ITEM/KEY") == "ID"
    return int(root.findtext("RESPONSE/ITEM_LIST/ITEM/VALUE") or "0")


def test_asset_group_ids_are_never_reused(qualys: QualysSimulator) -> None:
    first = _add_group(qualys, "CMDB: first")
    _fo(qualys, action="delete", id=str(first))
    second = _add_group(qualys, "CMDB: second")
    assert second > first  # the deleted group's id (the highest one) is not handed out again
    _fo(qualys, action="delete", id=str(second))
    q_control(qualys, "vm/reset")
    third = _add_group(qualys, "CMDB: third")
    assert third > second
    listed = [int(i) for i in _fo(qualys, action="list").xpath("RESPONSE/ASSET_GROUP_LIST/ASSET_GROUP/ID/text()")]
    assert third in listed and first not in listed and second not in listed


# ============================================================================= 5. tag children
def test_create_tag_with_children_set_tag_simple(qualys: QualysSimulator) -> None:
    body = (
        "<ServiceRequest><data><Tag><name>CMDB parent</name><ruleType>STATIC</ruleType>"
        "<criticalityScore>2</criticalityScore><children><set>"
        "<TagSimple><name>CMDB child 1</name></TagSimple><TagSimple><name>CMDB child 2</name></TagSimple>"
        "</set></children></Tag></data></ServiceRequest>"
    )
    created = etree.fromstring(qps(qualys, "/qps/rest/2.0/create/am/tag", body).content)
    assert created.findtext("responseCode") == "SUCCESS", etree.tostring(created)
    parent = created.findtext("data/Tag/id")
    children = dict(
        zip(
            created.xpath("data/Tag/children/list/TagSimple/name/text()"),
            created.xpath("data/Tag/children/list/TagSimple/id/text()"),
            strict=True,
        )
    )
    assert set(children) == {"CMDB child 1", "CMDB child 2"}
    for name, child_id in children.items():
        got = etree.fromstring(qps(qualys, f"/qps/rest/2.0/get/am/tag/{child_id}", method="GET").content)
        assert got.findtext("data/Tag/name") == name and got.findtext("data/Tag/parentTagId") == parent

    as_json = {
        "ServiceRequest": {
            "data": {"Tag": {"name": "CMDB json parent", "children": {"set": {"TagSimple": [{"name": "CMDB j1"}]}}}}
        }
    }
    document = qps(qualys, "/qps/rest/2.0/create/am/tag", as_json, True).json()["ServiceResponse"]
    assert document["responseCode"] == "SUCCESS"
    listed = document["data"][0]["Tag"]["children"]["list"]
    assert [item["TagSimple"]["name"] for item in listed] == ["CMDB j1"]

    # what the simulator does not simulate is refused, not half-applied
    by_id = body.replace(
        "<TagSimple><name>CMDB child 1</name></TagSimple>", f"<TagSimple><id>{parent}</id></TagSimple>"
    )
    by_id = by_id.replace("CMDB parent", "CMDB parent 2")
    refused = etree.fromstring(qps(qualys, "/qps/rest/2.0/create/am/tag", by_id).content)
    assert refused.findtext("responseCode") == "INVALID_REQUEST"
    found = qps(qualys, "/qps/rest/2.0/search/am/tag", xml_request(("name", "EQUALS", "CMDB parent 2")))
    assert etree.fromstring(found.content).findtext("count") == "0"
    update = "<ServiceRequest><data><Tag><children><remove><TagSimple><id>1</id></TagSimple></remove></children>"
    update += "</Tag></data></ServiceRequest>"
    updated = etree.fromstring(qps(qualys, f"/qps/rest/2.0/update/am/tag/{parent}", update).content)
    assert updated.findtext("responseCode") == "INVALID_REQUEST"


# ============================================================================= 6. not simulated
SN_NOT_SIMULATED = (
    ("POST", "/api/now/v1/batch", "Batch API"),
    ("POST", "/api/now/batch", "Batch API"),
    ("GET", "/api/now/attachment", "Attachment API"),
    ("POST", "/api/now/attachment/file?table_name=cmdb_ci&table_sys_id=x&file_name=a.txt", "Attachment API"),
    ("GET", "/api/now/v1/attachment/0123456789abcdef0123456789abcdef/file", "Attachment API"),
)


@pytest.mark.parametrize(("method", "path", "api"), SN_NOT_SIMULATED)
def test_servicenow_endpoints_it_does_not_serve_answer_400(
    snow: ServiceNowSimulator, method: str, path: str, api: str
) -> None:
    for auth in (SN_AUTH, None):
        response = requests.request(method, snow.url + path, auth=auth, headers=SN_JSON, data=b"{}", timeout=10)
        assert response.status_code == 400, response.text
        assert response.json() == {
            "error": {"message": "Requested URI does not represent any resource", "detail": None},
            "status": "failure",
        }
    readme = (ROOT / "simulators" / "servicenow" / "README.md").read_text(encoding="utf-8")
    not_simulated = readme.split("## Not simulated", 1)[1]
    assert api in not_simulated


def test_qualys_endpoints_it_does_not_serve_never_answer_200(qualys: QualysSimulator) -> None:
    about = requests.get(qualys.url + "/msp/about.php", auth=Q_AUTH, headers=Q_FO, timeout=10)
    assert about.status_code == 404 and about.headers["Content-Type"].startswith("text/html")
    for method, path in (
        ("GET", "/api/2.0/fo/asset/host/?action=list"),
        ("POST", "/api/2.0/fo/asset/host/?action=list"),
        ("GET", "/api/2.0/fo/asset/host/vm/detection/?action=list"),
        ("POST", "/api/2.0/fo/asset/host/vm/detection/?action=list"),
        ("GET", "/api/3.0/fo/asset/host/?action=list"),
    ):
        response = requests.request(method, qualys.url + path, auth=Q_AUTH, headers=Q_FO, timeout=10)
        assert response.status_code == 404, path
        root = etree.fromstring(response.content)
        assert root.tag == "SIMPLE_RETURN" and root.findtext("RESPONSE/TEXT"), path
        assert not root.xpath("//HOST_LIST | //HOST")
    readme = (ROOT / "simulators" / "qualys" / "README.md").read_text(encoding="utf-8")
    not_simulated = readme.split("## Not simulated", 1)[1]
    for listed in ("/msp/about.php", "/api/2.0/fo/asset/host/", "/api/2.0/fo/asset/host/vm/detection/"):
        assert listed in not_simulated
