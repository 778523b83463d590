"""Odd values laid over simulated assets (``/sim/control/overrides``): a NUL in a user name or a software name, as real
estates have them, in CSAM JSON and QPS HostAsset XML/JSON, until dropped."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from lxml import etree

from simulators.qualys.csam_asset import TOP_LEVEL_KEYS
from simulators.qualys.server import QualysSimulator
from tests.simulators.test_qualys_simulator import AUTH, control, csam, token

ODD_USER = "ACME\\adm\u0000in"
ODD_SOFTWARE = "7-Zip\u0000 23.01"


@pytest.fixture
def odd_sim() -> Iterator[QualysSimulator]:
    """A private simulator: overrides change its estate."""
    simulator = QualysSimulator(host="127.0.0.1", port=0, assets=60, seed=5).start()
    try:
        yield simulator
    finally:
        simulator.stop()


def _with_software(sim: QualysSimulator) -> dict[str, Any]:
    """An asset of the estate with a name (``dnsName`` present) and at least three software rows."""
    assets = control(sim, "estate", method="GET")["assets"]
    return next(a for a in assets if a["software"] >= 3 and a["has_name"])  # type: ignore[no-any-return]


def _override(sim: QualysSimulator, **document: Any) -> requests.Response:
    return requests.post(f"{sim.url}/sim/control/overrides", json=document, timeout=10)


def _csam_asset(sim: QualysSimulator, asset_id: int, **params: Any) -> dict[str, Any]:
    page = csam(sim, token(sim), "/rest/2.0/get/am/asset", assetId=asset_id, **params)
    assert page.status_code == 200, page.text
    return page.json()["assetListData"]["asset"][0]  # type: ignore[no-any-return]


def _hostasset(sim: QualysSimulator, asset_id: int, accept: str = "application/xml") -> requests.Response:
    path = f"{sim.url}/qps/rest/2.0/get/am/hostasset/{asset_id}"
    return requests.get(path, auth=AUTH, headers={"Accept": accept}, timeout=30)


def test_an_override_shows_in_csam_json_in_the_vendors_key_order_until_dropped(odd_sim: QualysSimulator) -> None:
    asset = _with_software(odd_sim)
    before = _csam_asset(odd_sim, asset["assetId"])
    answer = _override(
        odd_sim,
        assetId=asset["assetId"],
        fields={"lastLoggedOnUser": ODD_USER, "dnsName": "db\u0000.corp"},
        software={"2": {"fullName": ODD_SOFTWARE, "installPath": "C:\\odd\u0000"}},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["fields"]["lastLoggedOnUser"] == ODD_USER

    for _ in range(2):  # it stays
        after = _csam_asset(odd_sim, asset["assetId"])
        assert (after["lastLoggedOnUser"], after["dnsName"]) == (ODD_USER, "db\u0000.corp")
        rows = after["softwareListData"]["software"]
        assert (rows[2]["fullName"], rows[2]["installPath"]) == (ODD_SOFTWARE, "C:\\odd\u0000")
        assert list(rows[2]) == list(before["softwareListData"]["software"][2])  # the row's own key order
        assert rows[:2] == before["softwareListData"]["software"][:2]
        assert list(after) == list(before) == [k for k in TOP_LEVEL_KEYS if k in after]
        assert after["lastModifiedDate"] == answer.json()["lastModifiedDate"] > before["lastModifiedDate"]
    raw = csam(odd_sim, token(odd_sim), "/rest/2.0/get/am/asset", assetId=asset["assetId"]).content
    assert b'"lastLoggedOnUser":"ACME\\\\adm\\u0000in"' in raw  # JSON writes the NUL as an escape
    only_name = _csam_asset(odd_sim, asset["assetId"], includeFields="assetName")
    assert set(only_name) == {"assetId", "lastModifiedDate", "assetName"}  # includeFields still rules

    cleared = requests.delete(f"{odd_sim.url}/sim/control/overrides", timeout=10).json()
    assert cleared["cleared"] == [asset["assetId"]]
    back = _csam_asset(odd_sim, asset["assetId"])
    assert back["lastLoggedOnUser"] == before["lastLoggedOnUser"]
    assert back["softwareListData"]["software"][2]["fullName"] == before["softwareListData"]["software"][2]["fullName"]


def test_an_override_shows_in_qps_hostasset_xml_as_a_character_reference_and_in_json_as_an_escape(
    odd_sim: QualysSimulator,
) -> None:
    asset = _with_software(odd_sim)
    software = _override(odd_sim, assetId=asset["assetId"], software={"0": {"fullName": ODD_SOFTWARE}})
    assert software.status_code == 200, software.text
    assert _override(odd_sim, assetId=asset["assetId"], fields={"lastLoggedOnUser": ODD_USER}).status_code == 200

    xml = _hostasset(odd_sim, asset["assetId"]).content
    assert b"<lastLoggedOnUser>ACME\\adm&#0;in</lastLoggedOnUser>" in xml
    assert b"<name>7-Zip&#0; 23.01</name>" in xml
    with pytest.raises(etree.XMLSyntaxError):  # XML 1.0 has no NUL, not even as a reference
        etree.fromstring(xml)

    host = _hostasset(odd_sim, asset["assetId"], accept="application/json").json()
    data = host["ServiceResponse"]["data"]
    data = data[0] if isinstance(data, list) else data
    found = data["HostAsset"]
    assert found["lastLoggedOnUser"] == ODD_USER
    assert found["software"]["list"][0]["HostAssetSoftware"]["name"] == ODD_SOFTWARE
    overrides = control(odd_sim, "overrides", method="GET")["overrides"]
    assert overrides == [
        {
            "assetId": asset["assetId"],
            "fields": {"lastLoggedOnUser": ODD_USER},
            "software": {"0": {"fullName": ODD_SOFTWARE}},
        }
    ]


def test_an_override_is_a_change_an_incremental_search_finds(odd_sim: QualysSimulator) -> None:
    asset = _with_software(odd_sim)
    latest = max(a["lastModifiedDate"] for a in control(odd_sim, "estate", method="GET")["assets"])
    assert _override(odd_sim, assetId=asset["assetId"], fields={"assetName": "odd\u0000"}).status_code == 200
    page = csam(odd_sim, token(odd_sim), assetLastUpdated=latest).json()
    assert [a["assetId"] for a in page["assetListData"]["asset"]] == [asset["assetId"]]
    assert page["assetListData"]["asset"][0]["assetName"] == "odd\u0000"


def test_other_assets_render_exactly_as_before(odd_sim: QualysSimulator) -> None:
    assets = control(odd_sim, "estate", method="GET")["assets"]
    others = [a["assetId"] for a in assets[1:]]
    jwt = token(odd_sim)
    before = csam(odd_sim, jwt, pageSize=300, lastSeenAssetId=assets[0]["assetId"]).content
    before_xml = _hostasset(odd_sim, others[0]).content
    assert _override(odd_sim, assetId=assets[0]["assetId"], fields={"assetName": "\u0000"}).status_code == 200
    assert csam(odd_sim, jwt, pageSize=300, lastSeenAssetId=assets[0]["assetId"]).content == before
    assert _hostasset(odd_sim, others[0]).content == before_xml
    assert json.loads(before)["count"] == len(others)


@pytest.mark.parametrize(
    ("document", "status", "message"),
    [
        ({"fields": {"assetName": "x"}}, 400, "assetId must be an integer"),
        ({"assetId": 1, "fields": {"assetName": "x"}}, 404, "no asset 1"),
        ({"assetId": "{id}", "fields": {"assetId": 5}}, 400, "cannot override assetId"),
        ({"assetId": "{id}", "fields": {"noSuchField": 5}}, 400, "cannot override noSuchField"),
        ({"assetId": "{id}", "fields": ["assetName"]}, 400, "fields must be an object"),
        ({"assetId": "{id}", "software": {"first": {"fullName": "x"}}}, 400, "a row position"),
        ({"assetId": "{id}", "software": {"99999": {"fullName": "x"}}}, 400, "no row 99999"),
        ({"assetId": "{id}"}, 400, "give fields, software or both"),
    ],
)
def test_an_override_the_simulator_cannot_apply_is_refused_and_nothing_changes(
    odd_sim: QualysSimulator, document: dict[str, Any], status: int, message: str
) -> None:
    asset_id = _with_software(odd_sim)["assetId"]
    body = {k: asset_id if v == "{id}" else v for k, v in document.items()}
    refused = _override(odd_sim, **body)
    assert refused.status_code == status and message in refused.json()["error"], refused.text
    assert control(odd_sim, "overrides", method="GET") == {"overrides": []}
