"""The pages' readability, rendered from the app's own templates with known data: counts with thousands separators,
names falling back to the DNS name or the IP address, dates and run ids that do not wrap, log details as key / value,
Sources & schedules with filters, approval mode, paused / active, next run, "waiting for approval" and Trigger, and
disabled actions for whom may not use them."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from qualys_cmdb.config import parse_config
from qualys_cmdb.ui.actions import PendingRun
from qualys_cmdb.ui.airflow_state import DagState, WaitingRun
from qualys_cmdb.ui.app import _ENV
from qualys_cmdb.ui.listing import AssetFilters
from qualys_cmdb.ui.views import Page

WHEN = datetime(2026, 11, 22, 1, 43, 48, tzinfo=UTC)
RUN = "manual__2026-11-22T01:43:39.984621+00:00"
CONFIG = parse_config(
    """
sources:
  - {name: sim, pod: US1, connection_id: qualys_ui, cmdb_to_qualys: true}
schedules:
  - name: servers
    source: sim
    interval: 1h
    qql_filter: operatingSystem.category1:`Linux`
    tag_filter: Production
    auto_approve: false
    approval_wait_minutes: 1440
  - name: batch
    source: sim
    batch_approval: true
  - name: auto
    source: sim
    auto_approve: true
  - name: push
    source: sim
    direction: cmdb_to_qualys
    table: cmdb_ci_computer
"""
)
BASE = {"base": "/qualys-cmdb", "user": "viewer", "csrf": "t", "request_path": "/qualys-cmdb/x", "query": {}}
ASSET = {
    "source": "sim",
    "asset_id": 7,
    "schedule": "servers",
    "name": None,
    "dns_name": None,
    "netbios_name": None,
    "ip_address": "10.30.0.30",
    "target_class": "cmdb_ci_modem_network",
    "failure_code": "INVALID_INPUT_DATA",
    "reason": "INVALID_INPUT_DATA cmdb_ci_modem_network: In payload invalid data source [Qualys] exist. (+1 more)",
    "failure_detail": "cmdb_ci_modem_network (payload item 0): INVALID_INPUT_DATA: …\ncmdb_ci_ip_address (item 1): …",
    "decided_at": WHEN,
    "classified_at": WHEN,
    "classified_run": RUN,
}


def _render(template: str, **context: Any) -> str:
    return _ENV.get_template(template).render(**{**BASE, **context})


def _main(html: str) -> str:
    return html.split("<main>", 1)[1]


def test_dates_and_run_ids_do_not_wrap() -> None:
    base = _render("base.html", title="x")
    assert re.search(r"\.nowrap, td\.when, \.run \{ white-space:nowrap; \}", base)
    failed = _render(
        "failed.html",
        rows=[ASSET],
        total=1,
        page=1,
        pages=1,
        page_size=50,
        filters=AssetFilters(state="failed"),
        schedules=["servers"],
        codes=[],
        may_retry={"servers": True},
    )
    assert '<div class="when nowrap">2026-11-22 01:43:48 UTC</div>' in failed
    assert f'<div class="muted run small">{RUN}</div>' in failed
    entry = {"created_at": WHEN, "level": "warning", "component": "load", "schedule": "servers", "run_id": RUN}
    log = _render(
        "log.html",
        page=Page([{**entry, "message": "m", "details": {"sent": 1200, "errors": {"X": 2}, "note": None}}], 1, 1, 100),
        levels=[],
        schedules=[],
        runs=[],
    )
    assert '<td class="when">2026-11-22 01:43:48 UTC</td>' in log and '<div class="muted run" style' in log
    # log details as key / value, nested values as compact JSON
    assert '<dl class="kv"><dt>sent</dt><dd>1200</dd><dt>errors</dt><dd><code>{"X": 2}</code></dd>' in log
    assert '<dt>note</dt><dd><span class="muted">—</span></dd>' in log


def test_a_nameless_asset_is_shown_by_its_dns_name_or_ip_address() -> None:
    common = {"total": 3, "page": 1, "pages": 1, "page_size": 50}
    rows = [ASSET, {**ASSET, "asset_id": 8, "dns_name": "modem.example"}, {**ASSET, "asset_id": 9, "name": "m-1"}]
    failed = _render(
        "failed.html",
        rows=rows,
        filters=AssetFilters(state="failed"),
        schedules=[],
        codes=[],
        may_retry={},
        **common,
    )
    assert _name_cells(failed) == [
        '<span class="muted">10.30.0.30</span>',
        '<span class="muted">modem.example</span>',
        "m-1",
    ]
    assert 'aria-label="select 10.30.0.30"' in failed
    assets = _render("assets.html", rows=rows, active_filters={}, **common)
    assert _name_cells(assets) == _name_cells(failed)


def _name_cells(html: str) -> list[str]:
    """The name cells of a list's rows (without the link to the asset's page, if any)."""
    rows = re.findall(r"<tr>\s*(?:<td>(?:<input[^>]*>)?</td>\s*)?<td>(.*?)</td>", html.split("<tbody>", 1)[1], re.S)
    return [re.sub(r"^<a [^>]*>(.*)</a>$", r"\1", cell.strip(), flags=re.S) for cell in rows]


def test_counts_have_thousands_separators_and_sources_say_what_a_schedule_does() -> None:
    dags = {
        "qualys_to_cmdb__servers": DagState(
            "qualys_to_cmdb__servers", True, paused=False, next_run=WHEN, last_run_id=RUN, last_run_state="running"
        ),
        "qualys_to_cmdb__batch": DagState("qualys_to_cmdb__batch", True, paused=True),
        "qualys_to_cmdb__auto": DagState(
            "qualys_to_cmdb__auto", True, paused=False, last_run_id="r", last_run_state="failed"
        ),
    }
    waiting = {
        "servers": [
            {"run": WaitingRun("servers", "qualys_to_cmdb__servers", RUN, "approve_or_wait", WHEN), "pending": 12345}
        ]
    }
    page = _render(
        "sources.html",
        config=CONFIG,
        states={
            "servers": {"last_run_at": WHEN, "last_status": "complete", "last_run_id": RUN},
            "auto": {"last_run_at": WHEN, "last_status": "complete", "last_counts": {"assets_fetched": 1234567}},
        },
        counts={"servers": {"pending": 12345, "failed": 1001, "loaded": 2500000}},
        unscanned={"push": 4321},
        dags=dags,
        waiting=waiting,
        may_trigger={"servers": True, "batch": False, "auto": True, "push": True},
        may_test={"sim": False},
    )
    rows = {m.group(1): m.group(0) for m in re.finditer(r'<tr id="schedule-([a-z]+)">.*?</tr>', page, re.S)}
    servers, batch, auto, push = rows["servers"], rows["batch"], rows["auto"], rows["push"]
    # counts
    assert "12,345 pending</a>" in servers and "1,001 failed</a>" in servers and "2,500,000 loaded" in servers
    assert "assets fetched 1,234,567" in auto and "4,321 pushed, not scanned yet" in push
    # what it selects, how it is approved, whether and when it runs
    assert "QQL <code>operatingSystem.category1:`Linux`</code>" in servers and "tag <code>Production</code>" in servers
    assert "asset by asset, in Approve assets" in servers and "the run waits up to 1,440 min" in servers
    assert "the whole run, in Airflow's Required actions" in batch and "automatic" in auto
    assert '<span class="badge active">active</span>' in servers and "next 2026-11-22 01:43:48 UTC" in servers
    assert '<span class="badge paused">paused</span>' in batch
    assert "table <code>cmdb_ci_computer</code>" in push and "not in Airflow" in push
    # a run waiting for approval says so (with its count and a link), not "complete"
    assert '<span class="badge waiting">waiting for approval</span>' in servers and "12,345 pending" in servers
    assert "complete" not in servers.split('class="last-run"')[1].split("</td>")[0]
    assert "/qualys-cmdb/approvals?run=manual__2026-11-22T01%3A43%3A39.984621%2B00%3A00&amp;schedule=servers" in servers
    assert '<span class="badge failed">failed</span>' in auto and "intake complete" in auto  # Airflow's verdict first
    # Trigger: a POST form with the CSRF token, disabled for whom may not run the DAG (or a DAG Airflow lacks)
    trigger = re.compile(r'<form method="post" action="/qualys-cmdb/sources/(\w+)/trigger".*?<button ([^>]*)>', re.S)
    state = {name: "disabled" in attrs for name, attrs in trigger.findall(page)}
    assert state == {"servers": False, "batch": True, "auto": False, "push": True}
    assert re.search(r"<button disabled>Test connection</button>", page)


def test_all_of_a_run_offers_runs_with_their_schedule_and_the_waiting_one_first() -> None:
    runs = [PendingRun("auto", "r2", 3), PendingRun("servers", RUN, 1500, waiting=True)]
    waiting = [{"run": WaitingRun("servers", "qualys_to_cmdb__servers", RUN, "approve_or_wait", WHEN), "pending": 1500}]
    page = _render(
        "approvals.html",
        rows=[],
        total=1503,
        page=1,
        pages=1,
        page_size=50,
        filters=AssetFilters(state="pending"),
        columns=["name"],
        all_columns={"name": "Name"},
        schedules=["servers", "auto"],
        runs=[],
        may_decide={"servers": False, "auto": False},
        waiting=waiting,
        run_choices=runs,
        chosen_run=runs[1].key,
    )
    assert f'Run <span class="run">{RUN}</span> is waiting for 1,500 asset(s) to be decided' in page
    assert "1,503 pending" in page
    assert (
        f'<option value="servers|{RUN}" selected>{RUN} · servers · 1,500 pending · waiting for approval</option>'
        in page
    )
    assert '<option value="auto|r2" >r2 · auto · 3 pending</option>' in page
    buttons = re.findall(r"<button[^>]*>", _main(page))
    decisions = [b for b in buttons if 'name="action"' in b]
    assert len(decisions) == 6 and all("disabled" in b for b in decisions)  # a viewer may look, not decide
