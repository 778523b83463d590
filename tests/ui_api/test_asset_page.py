"""The asset detail page and the Overview's stored figures, through Airflow's real API server app (in-process
TestClient, real auth manager, real staging Postgres, a real DAG run, real loads and IRE previews against the
ServiceNow simulator).

The estate: one DAG run of schedule ``t`` (40 assets waiting for approval); asset ``loaded`` approved by alice and
loaded into the CMDB, whose CI someone then changed in the CMDB (``ram``); asset ``matched`` pending, for which a CI
with its serial number and name but other values was created in the CMDB before the IRE preview ran (IRE would
UPDATE it); asset ``refused`` approved and refused by the CMDB (failed)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from html import unescape
from typing import Any

import pytest
import requests
from sqlalchemy import select, text

from tests.ui_api.estate import SN_AUTH, logged_in_client, waiting_run

PASSWORDS = {"admin": "admin-pw", "viewer": "viewer-pw", "runner": "runner-pw"}
OLD_RAM = "1"


def _classification(engine: Any, state: str) -> list[dict[str, Any]]:
    from qualys_cmdb.staging.schema import asset_classification as c

    with engine.connect() as conn:
        rows = conn.execute(select(c).where(c.c.state == state).order_by(c.c.asset_id)).mappings()
        return [dict(r) for r in rows]


@pytest.fixture(scope="module")
def ui(airflow_db: None, engine: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from qualys_cmdb.approval.decisions import Selection, decide
    from qualys_cmdb.classify.mappings import load_mappings
    from qualys_cmdb.hooks.servicenow import ServiceNowHook
    from qualys_cmdb.load.ire import load_approved, preview_pending

    from simulators.servicenow import classes

    with waiting_run(engine, tmp_path_factory.mktemp("asset-page"), PASSWORDS) as started:
        cmdb = started.cmdb
        pending = [  # assets with a serial number and memory, of a class that has a ram field
            r
            for r in _classification(engine, "pending")
            if {"serial_number", "ram"} <= set(r["payload"] or {}) and "ram" in classes.all_fields(r["target_class"])
        ]
        loaded, matched, refused = pending[0], pending[1], pending[2]
        mappings = load_mappings()
        hook = ServiceNowHook("servicenow_default")
        try:
            decide(engine, Selection("t", asset_ids=(loaded["asset_id"],)), "approved", "alice")
            assert load_approved(engine, hook, mappings, "t").loaded == 1
            (ci,) = _classification(engine, "loaded")
            # someone changes the loaded CI in the CMDB
            requests.patch(
                f"{cmdb.url}/api/now/table/{ci['cmdb_class']}/{ci['cmdb_sys_id']}",
                json={"ram": OLD_RAM},
                auth=SN_AUTH,
                timeout=30,
            ).raise_for_status()
            # a CI IRE will identify the matched asset with (its serial number and name), holding other values
            created = requests.post(
                f"{cmdb.url}/api/now/table/{matched['target_class']}",
                json={
                    "name": matched["payload"]["name"],
                    "serial_number": matched["payload"]["serial_number"],
                    "ram": OLD_RAM,
                },
                auth=SN_AUTH,
                timeout=30,
            )
            created.raise_for_status()
            assert preview_pending(engine, hook, mappings, "t") > 1
            # the CMDB refuses the next load (Qualys is not one of its discovery sources)
            decide(engine, Selection("t", asset_ids=(refused["asset_id"],)), "approved", "bob")
            requests.post(
                f"{cmdb.url}/sim/control/discovery-sources", json={"values": ["ServiceNow"]}, timeout=30
            ).raise_for_status()
            assert load_approved(engine, hook, mappings, "t").failed == 1
        finally:
            hook.close()
        client = logged_in_client(PASSWORDS)
        client.assets = {  # type: ignore[attr-defined]
            "loaded": loaded["asset_id"],
            "matched": matched["asset_id"],
            "refused": refused["asset_id"],
        }
        client.ci = ci  # type: ignore[attr-defined]
        client.created = created.json()["result"]["sys_id"]  # type: ignore[attr-defined]
        client.run_id = started.run.run_id  # type: ignore[attr-defined]
        yield client


def _html(ui: Any, user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {ui.tokens[user]}", "Accept": "text/html"}


def _csrf(ui: Any, user: str) -> str:
    match = re.search(r'name="csrf_token" value="([0-9a-f]+)"', ui.get("/qualys-cmdb/", headers=_html(ui, user)).text)
    assert match
    return match.group(1)


def _page(ui: Any, asset: str, user: str = "viewer") -> str:
    response = ui.get(f"/qualys-cmdb/assets/sim/{ui.assets[asset]}", headers=_html(ui, user))
    assert response.status_code == 200, response.text[:800]
    return unescape(response.text)


def _section(html: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}".*?(?=<(?:section|div class="schedule") id=|\Z)', html, re.S)
    assert match, element_id
    return match.group(0)


def _diff(html: str) -> dict[str, tuple[str, str, bool]]:
    """field -> (would send, CMDB now, changes) of the schedule's comparison table."""
    rows = re.findall(r'<tr class="(changes)?" data-field="([^"]+)">(.*?)</tr>', html, re.S)
    out = {}
    for changes, name, cells in rows:
        tds = [re.sub(r"<[^>]+>", "", td).strip() for td in re.findall(r"<td>(.*?)</td>", cells, re.S)]
        out[name] = (tds[1], tds[2], bool(changes))
    return out


def test_a_viewer_sees_the_staged_data_payload_preview_and_what_would_change(ui: Any, engine: Any) -> None:
    from qualys_cmdb.classify.mappings import load_mappings
    from qualys_cmdb.load.payload import truncate
    from qualys_cmdb.staging.schema import STAGED_CHILDREN, asset_classification, staged_software

    asset_id = ui.assets["matched"]
    html = _page(ui, "matched")
    key = {"source": "sim", "asset_id": asset_id}
    install = STAGED_CHILDREN["software_install"]
    with engine.connect() as conn:
        row = dict(
            conn.execute(
                select(asset_classification).where(
                    asset_classification.c.asset_id == asset_id, asset_classification.c.schedule == "t"
                )
            )
            .mappings()
            .one()
        )
        os_name = conn.execute(select(STAGED_CHILDREN["os"].c.os_name).filter_by(**key)).scalar_one()
        software = set(
            conn.execute(
                select(staged_software.c.name)
                .select_from(install.join(staged_software, staged_software.c.software_key == install.c.software_key))
                .where(install.c.source == "sim", install.c.asset_id == asset_id)
            ).scalars()
        )
        ports = set(conn.execute(select(STAGED_CHILDREN["open_port"].c.port).filter_by(**key)).scalars())
        tags = set(conn.execute(select(STAGED_CHILDREN["tag"].c.tag_name).filter_by(**key)).scalars())
        ips = set(conn.execute(select(STAGED_CHILDREN["ip_address"].c.ip_address).filter_by(**key)).scalars())
    # staged data: asset fields, OS, hardware, software, ports, interfaces / IPs, tags
    staged = _section(html, "staged")
    assert row["payload"]["name"] in html and os_name in _section(html, "os")
    assert software and all(name in _section(html, "software") for name in software if name)
    assert all(f"<td>{port}</td>" in _section(html, "open-port") for port in ports)
    assert all(ip in _section(html, "ip-address") for ip in ips)
    assert all(tag in _section(html, "tags") for tag in tags)
    assert "Network interfaces" in staged and "Cloud metadata" in staged
    # per schedule: the payload as pretty JSON, what IRE would do and the CI it matched
    schedule = _section(html, "schedule-t")
    payload = re.search(r'<pre class="payload">(.*?)</pre>', schedule, re.S)
    sent, _ = truncate(dict(row["payload"]), load_mappings().field_lengths)
    assert payload and json.loads(payload.group(1)) == sent  # as a load sends it: cut to the field lengths (CM-8)
    assert "\n  " in payload.group(1)  # indented
    assert row["preview_operation"] == "UPDATE" and row["preview_sys_id"] == ui.created
    assert re.search(r'class="preview">UPDATE', schedule)
    assert ui.created in re.search(r'class="matched">(.*?)</td>', schedule, re.S).group(1)  # type: ignore[union-attr]
    # the fields that would change: the payload against the CI read from the CMDB now
    diff = _diff(schedule)
    assert set(diff) == set(row["payload"])
    assert diff["ram"] == (str(row["payload"]["ram"]), OLD_RAM, True)
    assert diff["serial_number"][2] is False and diff["name"][2] is False  # what IRE matched it by
    changed = {f for f, (_, _, changes) in diff.items() if changes}
    assert f'<strong class="change-count">{len(changed)}</strong>' in schedule


def test_a_loaded_asset_compares_with_its_ci_and_shows_its_history(ui: Any, engine: Any) -> None:
    from qualys_cmdb.staging import store

    asset_id = ui.assets["loaded"]
    log = store.AppLog(engine, "sim", "t", "manual__history")
    log.warning("load", f"1 detail row of sim/{asset_id} was not sent: no name")
    log.info("stale", "CI reinstated", source="sim", asset_id=asset_id, sys_id=ui.ci["cmdb_sys_id"])
    log.warning("load", f"sim/{asset_id}7 and sim/{asset_id}0 refused")  # other assets, whose ids begin alike
    html = _page(ui, "loaded")
    schedule = _section(html, "schedule-t")
    assert ui.ci["cmdb_sys_id"] in schedule and "loaded" in schedule
    diff = _diff(schedule)
    assert diff["ram"][1:] == (OLD_RAM, True)
    assert sum(changes for _, _, changes in diff.values()) == 1  # what the load sent, but for what changed since
    history = _section(html, "history")
    events = re.findall(r'<tr class="event ([a-z]+)">(.*?)</tr>', history, re.S)
    kinds = [k for k, _ in events]
    assert {"approved", "loaded", "classified", "log"} <= set(kinds)
    approved = next(cells for k, cells in events if k == "approved")
    assert "alice" in approved
    logged = [re.sub(r"<[^>]+>", "", cells) for k, cells in events if k == "log"]
    assert any(f"sim/{asset_id} was not sent" in entry for entry in logged)
    assert any("CI reinstated" in entry for entry in logged)
    assert not any("refused" in entry for entry in logged)
    # the refused asset: its reason, and the CMDB's whole answer
    refused = _section(_page(ui, "refused"), "schedule-t")
    assert "failed" in refused and "Reason" in refused


def test_every_asset_list_links_the_name_to_the_asset_page(ui: Any) -> None:
    for path, asset in (("/assets", "loaded"), ("/approvals", "matched"), ("/failed", "refused")):
        html = ui.get(f"/qualys-cmdb{path}", headers=_html(ui, "viewer")).text
        link = f'href="/qualys-cmdb/assets/sim/{ui.assets[asset]}#schedule-t"'
        assert link in html, path
        target = ui.get(f"/qualys-cmdb/assets/sim/{ui.assets[asset]}", headers=_html(ui, "viewer"))
        assert target.status_code == 200 and 'id="schedule-t"' in target.text


def test_an_unreachable_cmdb_is_said_on_the_page(ui: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]  # nothing listens there once the socket is closed
    monkeypatch.setenv(
        "AIRFLOW_CONN_SERVICENOW_DEFAULT",
        json.dumps({"conn_type": "servicenow", "host": f"http://127.0.0.1:{closed}", "login": "x", "password": "y"}),
    )
    html = _page(ui, "matched")
    schedule = _section(html, "schedule-t")
    assert "the CMDB could not be read" in schedule and "cannot reach" in schedule
    assert '<pre class="payload">' in schedule and "UPDATE" in schedule  # the rest of the page is there
    diff = _diff(schedule)
    assert diff and not any(changes for _, _, changes in diff.values())
    monkeypatch.setenv("AIRFLOW_CONN_SERVICENOW_DEFAULT", json.dumps({"conn_type": "http"}))  # no host at all
    assert "the CMDB could not be read" in _page(ui, "matched")


def test_an_unknown_asset_is_a_404_within_the_layout_and_the_page_needs_a_user(ui: Any) -> None:
    for path in (
        "/assets/sim/999999999",
        "/assets/nope/1",
        "/assets/sim/not-a-number",
        "/assets/sim/²",
        f"/assets/sim/{'9' * 5000}",
    ):
        response = ui.get(f"/qualys-cmdb{path}", headers=_html(ui, "viewer"))
        assert response.status_code == 404, path
        assert "Asset not found" in response.text and 'href="/qualys-cmdb/approvals"' in response.text  # the nav
    assert ui.get(f"/qualys-cmdb/assets/sim/{ui.assets['loaded']}").status_code == 401


def test_the_overview_reads_the_figures_of_the_run_and_of_decisions(ui: Any, engine: Any) -> None:
    def totals(user: str = "viewer") -> tuple[dict[str, int], str]:
        html = ui.get("/qualys-cmdb/", headers=_html(ui, user)).text
        found = dict(re.findall(r'id="report-([a-z_]+)" data-total="(\d+)"', html))
        return {k: int(v) for k, v in found.items()}, unescape(html)

    def live(state: str) -> int:
        with engine.connect() as conn:
            query = text("SELECT count(*) FROM qcmdb.asset_classification WHERE state = :s")
            return int(conn.execute(query, {"s": state}).scalar_one())

    shown, html = totals()
    assert "Figures as of" in html and "Refresh" in html
    # the fixture's loads and previews came after the run: pending / approved / synced as the run left them,
    # until a decision or Refresh counts them again
    token = _csrf(ui, "runner")
    pending = [r["asset_id"] for r in _classification(engine, "pending")][-2:]
    response = ui.post(
        "/qualys-cmdb/approvals/decide",
        data={"action": "approved:selected", "assets": [f"sim|{a}|t" for a in pending], "csrf_token": token},
        headers={**_html(ui, "runner"), "Origin": "http://testserver"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text[:500]
    shown, html = totals()
    assert shown["pending"] == live("pending") and shown["approved"] == live("approved")
    assert shown["synced"] == live("loaded") and shown["failed"] == live("failed")
    assert "decisions in the UI" in html
    # Refresh counts everything again, for any signed-in user (it changes no data)
    refreshed = ui.post(
        "/qualys-cmdb/overview/refresh",
        data={"csrf_token": _csrf(ui, "viewer")},
        headers={**_html(ui, "viewer"), "Origin": "http://testserver"},
        follow_redirects=False,
    )
    assert refreshed.status_code == 303 and "Figures+recomputed" in refreshed.headers["location"]
    assert "unchanged+since" in refreshed.headers["location"]
    shown, html = totals()
    assert "viewer (Refresh)" in html
    everything = ui.post(
        "/qualys-cmdb/overview/refresh",
        data={"csrf_token": _csrf(ui, "viewer"), "everything": "1", "source": "sim"},
        headers={**_html(ui, "viewer"), "Origin": "http://testserver"},
        follow_redirects=False,
    )
    assert everything.status_code == 303 and "+0+unchanged" in everything.headers["location"]
    assert everything.headers["location"].startswith("/qualys-cmdb/?source=sim&")
    with engine.connect() as conn:
        staged = conn.execute(text("SELECT count(*) FROM qcmdb.staged_asset")).scalar_one()
    assert shown["asset_categories"] == shown["os_distribution"] == staged
    assert ui.post("/qualys-cmdb/overview/refresh", headers=_html(ui, "viewer")).status_code == 403  # no token
