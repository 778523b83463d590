"""The plugin's pages in a real browser against real Airflow servers (scheduler, triggerer, LocalExecutor), real
Postgres and both simulators over HTTP: log in, open each page, approve assets and watch the waiting run go on,
retry a failed asset, re-queue an Error record, check the overview's numbers. Screenshots land in artifacts/.

The data come from real DAG runs triggered through Airflow's REST API:

* ``refused`` (source ``lab``, auto-approval) runs while the CMDB lacks the "Qualys" discovery source, so the CMDB
  refuses every asset (failed, with its message), and while one Qualys page comes back truncated (an Error record);
* ``push`` (CMDB → Qualys) pushes three lab CIs into Qualys (upload items);
* ``review`` (source ``sim``, manual approval) waits, deferred, for people's decisions in the approval page.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
from sqlalchemy import func, select, text

from tests.ui.conftest import AirflowUI, login, screenshot

SN_AUTH = ("sn_integration", "sn-Passw0rd")


@pytest.fixture(scope="module")
def sims() -> Iterator[tuple[Any, Any]]:
    from simulators.qualys.server import QualysSimulator
    from simulators.servicenow.server import ServiceNowSimulator

    qualys = QualysSimulator(
        host="127.0.0.1", port=0, assets=30, seed=11, username="qualys_ui", password="ui-Passw0rd"
    ).start()
    cmdb = ServiceNowSimulator(host="127.0.0.1", port=0).start()
    yield qualys, cmdb
    qualys.stop()
    cmdb.stop()


@pytest.fixture(scope="module")
def setup(
    sims: tuple[Any, Any], ui_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory, engine: Any
) -> dict[str, Any]:
    qualys, cmdb = sims
    path = tmp_path_factory.mktemp("ui-config") / "qualys_cmdb.yaml"
    path.write_text(
        """
sources:
  - {name: sim, pod: US1, connection_id: qualys_ui, cmdb_to_qualys: true}
  - {name: lab, pod: US1, connection_id: qualys_ui}
schedules:
  - name: review
    source: sim
    interval: manual
    download_assets_since: 2000-01-01T00:00:00Z
    auto_approve: false
    approval_wait_minutes: 30
    approval_poll_seconds: 2
  - name: refused
    source: lab
    interval: manual
    download_assets_since: 2000-01-01T00:00:00Z
    auto_approve: true
  - name: push
    source: sim
    direction: cmdb_to_qualys
    table: cmdb_ci_computer
    query: nameSTARTSWITHlab-
properties:
  download_batch_size: 10
  upload_batch_size: 5
  cmdb_connection_id: servicenow_ui
"""
    )
    ui_env.update(
        QUALYS_CMDB_CONFIG=str(path),
        AIRFLOW_CONN_QUALYS_UI=json.dumps(
            {
                "conn_type": "qualys",
                "host": qualys.url,
                "login": "qualys_ui",
                "password": "ui-Passw0rd",
                "extra": {"gateway_url": qualys.url},
            }
        ),
        AIRFLOW_CONN_SERVICENOW_UI=json.dumps(
            {"conn_type": "servicenow", "host": cmdb.url, "login": SN_AUTH[0], "password": SN_AUTH[1]}
        ),
    )
    with engine.begin() as conn:  # the module starts from an empty staging database
        names = ", ".join(
            f'"qcmdb"."{t}"'
            for t in conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'qcmdb'")).scalars()
            if t != "alembic_version"
        )
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY"))
    return {"qualys": qualys, "cmdb": cmdb, "config": path}


def _headers(ui: AirflowUI, user: str = "admin") -> dict[str, str]:
    return {"Authorization": f"Bearer {ui.token(user)}"}


def _trigger(ui: AirflowUI, dag_id: str) -> str:
    ui.wait_for_dags(dag_id)
    base = f"{ui.url}/api/v2/dags/{dag_id}"
    assert requests.patch(base, json={"is_paused": False}, headers=_headers(ui), timeout=30).ok
    response = requests.post(f"{base}/dagRuns", json={"logical_date": None}, headers=_headers(ui), timeout=30)
    assert response.ok, response.text
    return str(response.json()["dag_run_id"])


def _run_state(ui: AirflowUI, dag_id: str, run_id: str) -> str:
    response = requests.get(f"{ui.url}/api/v2/dags/{dag_id}/dagRuns/{run_id}", headers=_headers(ui), timeout=30)
    return str(response.json()["state"])


def _wait_run(ui: AirflowUI, dag_id: str, run_id: str, timeout: float = 240) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = _run_state(ui, dag_id, run_id)
        if state in ("success", "failed"):
            return state
        time.sleep(2)
    pytest.fail(f"{dag_id} {run_id} still {state} after {timeout} s\n{ui.log('scheduler')}")


def _wait_task(ui: AirflowUI, dag_id: str, run_id: str, task_id: str, state: str, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    seen = None
    while time.monotonic() < deadline:
        response = requests.get(
            f"{ui.url}/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}", headers=_headers(ui), timeout=30
        )
        if response.ok:
            seen = response.json().get("state")
            if seen == state:
                return
            if seen in ("failed", "upstream_failed"):
                pytest.fail(f"{task_id} {seen}\n{ui.log('scheduler')}")
        time.sleep(2)
    pytest.fail(f"{task_id} of {run_id} is {seen}, not {state}, after {timeout} s")


@pytest.fixture(scope="module")
def data(setup: dict[str, Any], airflow_ui: AirflowUI) -> dict[str, Any]:
    """The two background runs (refused, push); returns their run ids."""
    qualys, cmdb = setup["qualys"], setup["cmdb"]
    requests.post(f"{cmdb.url}/sim/control/discovery-sources", json={"values": ["ServiceNow"]}, timeout=30)
    requests.post(f"{qualys.url}/sim/control/faults", json={"truncate": {"family": "csam", "count": 1}}, timeout=30)
    refused = _trigger(airflow_ui, "qualys_to_cmdb__refused")
    _wait_run(airflow_ui, "qualys_to_cmdb__refused", refused)
    requests.delete(f"{qualys.url}/sim/control/faults", timeout=30)
    requests.post(f"{cmdb.url}/sim/control/discovery-sources", json={"values": ["ServiceNow", "Qualys"]}, timeout=30)
    for n in range(1, 4):
        requests.post(
            f"{cmdb.url}/api/now/table/cmdb_ci_computer",
            json={"name": f"lab-{n:02d}", "ip_address": f"10.250.0.{n}"},
            auth=SN_AUTH,
            timeout=30,
        ).raise_for_status()
    push = _trigger(airflow_ui, "cmdb_to_qualys__push")
    assert _wait_run(airflow_ui, "cmdb_to_qualys__push", push) == "success", airflow_ui.log("scheduler")
    return {"refused": refused, "push": push}


def _flash(page: Any) -> str:
    return str(page.locator(".flash").first.inner_text())


def test_every_page_renders_for_a_logged_in_user(airflow_ui: AirflowUI, data: dict[str, Any], page: Any) -> None:
    from playwright.sync_api import expect

    login(page, airflow_ui, "viewer", "/qualys-cmdb/")
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    screenshot(page, "overview")
    for path, heading, shot in [
        ("/qualys-cmdb/failed", "Failed assets", "failed-assets"),
        ("/qualys-cmdb/queue", "Sync queue", "sync-queue"),
        ("/qualys-cmdb/uploads", "Upload items", "upload-items"),
        ("/qualys-cmdb/log", "Application log", "application-log"),
        ("/qualys-cmdb/sources", "Sources and schedules", "sources-and-schedules"),
        ("/qualys-cmdb/assets", "Assets", "assets"),
    ]:
        page.goto(f"{airflow_ui.url}{path}")
        expect(page.get_by_role("heading", name=re.compile(heading))).to_be_visible()
        screenshot(page, shot)
    # the upload items of the CMDB → Qualys run, with Qualys's answer
    page.goto(f"{airflow_ui.url}/qualys-cmdb/uploads?status=Success")
    expect(page.get_by_role("cell", name="10.250.0.1", exact=True)).to_be_visible()
    # a raw response can be read
    page.goto(f"{airflow_ui.url}/qualys-cmdb/queue?direction=download")
    page.get_by_role("link", name="view", exact=True).first.click()
    expect(page.locator("pre").last).to_contain_text("assetId")
    # the plugin's pages are in Airflow's own menu
    response = requests.get(f"{airflow_ui.url}/api/v2/plugins", headers=_headers(airflow_ui, "viewer"), timeout=30)
    plugin = next(p for p in response.json()["plugins"] if p["name"] == "qualys_cmdb")
    assert {v["href"] for v in plugin["external_views"]} >= {"/qualys-cmdb/", "/qualys-cmdb/approvals"}


def test_approving_in_the_page_lets_the_waiting_run_continue(
    airflow_ui: AirflowUI, data: dict[str, Any], page: Any, browser: Any, engine: Any
) -> None:
    from playwright.sync_api import expect

    run_id = _trigger(airflow_ui, "qualys_to_cmdb__review")
    _wait_task(airflow_ui, "qualys_to_cmdb__review", run_id, "approve_or_wait", "deferred")
    # The waiting step links to Approve assets filtered to its run (its "Approve assets" link in Airflow's UI).
    approvals = f"/qualys-cmdb/approvals?{urlencode({'run': run_id, 'schedule': 'review'})}"
    links = requests.get(
        f"{airflow_ui.url}/api/v2/dags/qualys_to_cmdb__review/dagRuns/{run_id}/taskInstances/approve_or_wait/links",
        headers=_headers(airflow_ui),
        timeout=30,
    )
    assert links.json()["extra_links"] == {"Approve assets": approvals}, links.text

    # A viewer sees the pending assets but may not decide: boxes and buttons are disabled, and the server says no
    # (in the page's layout, with a way back) to a page whose buttons were enabled.
    viewer = browser.new_context(viewport={"width": 1400, "height": 900})
    viewer_page = viewer.new_page()
    login(viewer_page, airflow_ui, "viewer", approvals)
    boxes = viewer_page.locator("tbody input[name=assets]")
    assert boxes.count() > 3 and boxes.first.is_disabled()
    buttons = viewer_page.locator("#decide button[name=action], #all-of-a-run button")
    assert buttons.count() == 6 and all(buttons.nth(n).is_disabled() for n in range(6))
    this_page = viewer_page.locator("button[value='approved:page']")
    this_page.evaluate("button => { button.disabled = false }")
    this_page.click()
    expect(viewer_page.get_by_role("heading", name="403")).to_be_visible()
    expect(viewer_page.get_by_text("may not run qualys_to_cmdb__review")).to_be_visible()
    expect(viewer_page.locator("header nav")).to_contain_text("Approve assets")
    viewer_page.locator("#back").click()
    expect(viewer_page.locator(".waiting-run")).to_contain_text(f"Run {run_id} is waiting for")
    viewer.close()

    # Sources & schedules says the run waits for approval (not "complete"), with how many and a link
    login(page, airflow_ui, "operator", "/qualys-cmdb/sources")
    review = page.locator("#schedule-review")
    expect(review.locator(".last-run")).to_contain_text("waiting for approval")
    expect(review.locator(".approval")).to_contain_text("asset by asset, in Approve assets")
    expect(review.locator(".runs")).to_contain_text("active")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1400  # fits the window
    screenshot(page, "sources-and-schedules")
    review.get_by_role("link", name="waiting for approval").click()

    rows = page.locator("tbody input[name=assets]")
    pending = rows.count()
    assert pending > 3
    expect(page.locator(".waiting-run")).to_contain_text(f"Run {run_id} is waiting for {pending} asset(s)")
    assert page.locator("#all-of-a-run select[name=run_key]").input_value() == f"review|{run_id}"  # the waiting run
    screenshot(page, "approve-assets")
    for n in range(3):
        rows.nth(n).check()
    page.get_by_role("button", name="Approve selected").click()
    expect(page.locator(".flash")).to_contain_text("3 asset(s) approved")
    assert page.locator("tbody input[name=assets]").count() == pending - 3
    assert _run_state(airflow_ui, "qualys_to_cmdb__review", run_id) == "running"  # others still undecided

    page.get_by_role("button", name="Reject all of the run…").click()  # asks first, with the count
    expect(page.locator("#question")).to_have_text(f"Reject {pending - 3} assets of run {run_id} (schedule review)?")
    assert _run_state(airflow_ui, "qualys_to_cmdb__review", run_id) == "running"
    page.get_by_role("button", name=f"Reject {pending - 3} assets").click()
    expect(page.locator(".flash")).to_contain_text(f"{pending - 3} asset(s) of run {run_id} rejected")
    assert _wait_run(airflow_ui, "qualys_to_cmdb__review", run_id) == "success"
    from qualys_cmdb.staging.schema import asset_classification as c

    with engine.connect() as conn:
        states = dict(
            conn.execute(select(c.c.state, func.count()).where(c.c.schedule == "review").group_by(c.c.state)).all()
        )
        who = set(conn.execute(select(c.c.decided_by).where(c.c.schedule == "review")).scalars())
    assert states == {"loaded": 3, "rejected": pending - 3}
    assert who == {"operator"}


def test_an_error_record_is_requeued(airflow_ui: AirflowUI, data: dict[str, Any], page: Any, engine: Any) -> None:
    from playwright.sync_api import expect

    login(page, airflow_ui, "operator", "/qualys-cmdb/queue?status=Error")
    boxes = page.locator("tbody input[name=ids]")
    assert boxes.count() == 1, "the truncated page is an Error record"
    record = int(boxes.first.get_attribute("value") or 0)
    boxes.first.check()
    expect(page.get_by_role("button", name="Refetch selected")).to_be_enabled()  # next to Re-queue (below)
    page.get_by_role("button", name="Re-queue selected").click()
    expect(page.locator(".flash")).to_contain_text("1 record(s) re-queued")
    from qualys_cmdb.staging.schema import sync_queue

    with engine.connect() as conn:
        status, notes = conn.execute(
            select(sync_queue.c.status, sync_queue.c.notes).where(sync_queue.c.id == record)
        ).one()
    assert status == "Queued" and "re-queued by operator" in notes


def test_a_failed_asset_is_retried_after_the_fix(
    airflow_ui: AirflowUI, data: dict[str, Any], page: Any, engine: Any
) -> None:
    """Runs after the Error record was re-queued (above): the next run sends the retried asset, parses the
    re-queued page's stored response, still truncated, and says so by failing; the run after it downloads that
    page again by itself, and everything is staged and loaded."""
    from playwright.sync_api import expect
    from qualys_cmdb.staging.schema import approval_decision, sync_queue
    from qualys_cmdb.staging.schema import asset_classification as c

    # The CMDB's refusals: a short reason each (code, class, message), the whole answer behind an expander, and a
    # page no wider than the window.
    login(page, airflow_ui, "operator", "/qualys-cmdb/failed?schedule=refused&code=INVALID_INPUT_DATA")
    reasons = page.locator("tbody td.reason")
    refused = reasons.count()
    assert refused > 3
    for n in range(refused):
        short = str(reasons.nth(n).evaluate("td => td.firstChild.textContent"))
        assert short.startswith("INVALID_INPUT_DATA cmdb_ci_") and len(short) <= 200, short
    answer = reasons.first.locator("details")
    expect(answer.locator("pre")).to_be_hidden()
    answer.locator("summary").click()
    expect(answer.locator("pre")).to_contain_text(re.compile(r"\(payload item \d+\): INVALID_INPUT_DATA: In payload"))
    assert page.evaluate("document.documentElement.scrollWidth") <= 1400
    when = page.locator("tbody .when").first.evaluate("e => getComputedStyle(e).whiteSpace")
    run = page.locator("tbody .run").first.evaluate("e => getComputedStyle(e).whiteSpace")
    assert (when, run) == ("nowrap", "nowrap")
    names = page.locator("tbody tr td:nth-child(2)")
    assert all(names.nth(n).inner_text().strip() for n in range(names.count()))  # DNS name or IP when nameless
    screenshot(page, "failed-assets")
    # Retry everything matching the filter: the count, then a confirmation (cancelled here: one is retried below)
    page.get_by_role("button", name=f"Retry everything matching this filter ({refused})…").click()
    question = f"Retry {refused} assets matching schedule refused, code INVALID_INPUT_DATA?"
    expect(page.locator("#question")).to_contain_text(question)
    page.get_by_role("link", name="Cancel").click()
    expect(page.locator("tbody td.reason")).to_have_count(refused)

    page.goto(f"{airflow_ui.url}/qualys-cmdb/failed?schedule=refused")
    expect(page.locator("tbody")).to_contain_text("invalid data source")
    # Sources lab and sim read one Qualys subscription: an asset the review schedule already loaded from sim is the
    # same machine, and the CMDB would match the lab copy to its CI (held as SHARED_CI). Retry one that is not.
    with engine.connect() as conn:
        taken = {
            str(a)
            for a in conn.execute(
                text("SELECT asset_id FROM qcmdb.asset_classification WHERE source = 'sim' AND cmdb_sys_id IS NOT NULL")
            ).scalars()
        }
    boxes = page.locator("tbody input[name=assets]")
    choice = next(
        i for i in range(boxes.count()) if (boxes.nth(i).get_attribute("value") or "").split("|")[1] not in taken
    )
    boxes.nth(choice).check()
    page.get_by_role("button", name="Retry selected").click()
    expect(page.locator(".flash")).to_contain_text("1 asset(s) will be sent again")

    with engine.connect() as conn:
        retried = conn.execute(
            select(approval_decision.c.decided_by).where(approval_decision.c.decision == "retried")
        ).scalars()
        assert list(retried) == ["operator"]
    run_id = _trigger(airflow_ui, "qualys_to_cmdb__refused")  # the CMDB knows "Qualys" again
    assert _wait_run(airflow_ui, "qualys_to_cmdb__refused", run_id) == "failed"  # the re-queued page, truncated
    with engine.connect() as conn:
        loaded = conn.execute(select(func.count()).where(c.c.schedule == "refused", c.c.state == "loaded")).scalar_one()
        (page_id, page_assets) = conn.execute(
            select(sync_queue.c.id, sync_queue.c.record_count).where(
                sync_queue.c.schedule == "refused", sync_queue.c.status == "Error"
            )
        ).one()
    assert loaded == 1

    run_id = _trigger(airflow_ui, "qualys_to_cmdb__refused")  # downloads the page again, by itself
    state = _wait_run(airflow_ui, "qualys_to_cmdb__refused", run_id)
    with engine.connect() as conn:
        status, notes = conn.execute(
            select(sync_queue.c.status, sync_queue.c.notes).where(sync_queue.c.id == page_id)
        ).one()
        outcomes = dict(
            conn.execute(
                text(
                    "SELECT coalesce(failure_code, state), count(*) FROM qcmdb.asset_classification l "
                    "WHERE l.schedule = 'refused' AND l.classified_run = :run GROUP BY 1"
                ),
                {"run": run_id},
            ).all()
        )
        held = conn.execute(
            text(
                "SELECT count(*) FROM qcmdb.asset_classification l WHERE l.schedule = 'refused' "
                "AND l.classified_run = :run AND l.asset_id = ANY(:taken)"
            ),
            {"run": run_id, "taken": [int(a) for a in taken]},
        ).scalar_one()
    assert status == "Success" and "automatic download 1 of 3" in notes
    # the page's assets are new to the lab schedule; those the review schedule loaded from sim are the same
    # machines, held as SHARED_CI (so the run reports them); the others are loaded
    assert outcomes == {k: v for k, v in {"loaded": page_assets - held, "SHARED_CI": held}.items() if v}
    assert state == ("failed" if held else "success")


def test_the_overview_shows_every_report_with_the_staged_numbers(
    airflow_ui: AirflowUI, data: dict[str, Any], page: Any, engine: Any
) -> None:
    from playwright.sync_api import expect

    login(page, airflow_ui, "viewer", "/qualys-cmdb/")
    cards = page.locator("section.card")
    assert cards.count() == 17
    with engine.connect() as conn:
        sql = {
            "asset_categories": "SELECT count(*) FROM qcmdb.staged_asset",
            "os_distribution": "SELECT count(*) FROM qcmdb.staged_asset",
            "failed": "SELECT count(*) FROM qcmdb.asset_classification WHERE state = 'failed'",
            "synced": "SELECT count(*) FROM qcmdb.asset_classification WHERE state = 'loaded'",
            "pending": "SELECT count(*) FROM qcmdb.asset_classification WHERE state = 'pending'",
            "tag_distribution": "SELECT count(DISTINCT (source, asset_id)) FROM qcmdb.staged_tag",
        }
        expected = {report: conn.execute(text(query)).scalar_one() for report, query in sql.items()}
    for report, number in expected.items():
        card = page.locator(f"#report-{report}")
        assert int(card.get_attribute("data-total") or -1) == number, report
        expect(card.locator(".total")).to_contain_text(f"{number:,}")
    screenshot(page, "overview-reports")
    # a bar opens the list behind it, with as many rows as the bar says
    bar = page.locator("#report-asset_categories svg a").first
    label = str(bar.locator("title").text_content())
    bar.click()
    expect(page.get_by_role("heading", name=re.compile("Assets"))).to_be_visible()
    count = int(re.sub(r"\D", "", page.locator("h1 .muted").inner_text()))
    said = re.search(r": ([\d,]+) ", label)
    assert said and int(said.group(1).replace(",", "")) == count, (label, count)


# ---------------------------------------------------------------------------------------------- operator actions
def test_refetch_downloads_an_error_page_again(
    airflow_ui: AirflowUI, data: dict[str, Any], page: Any, engine: Any
) -> None:
    """A page that ended in Error (here: marked so after the fact) is downloaded from Qualys again by Refetch, next
    to Re-queue in the Sync queue page; a new error then replaces the success message."""
    from playwright.sync_api import expect
    from qualys_cmdb.staging.schema import sync_queue
    from sqlalchemy import update

    with engine.begin() as conn:
        record = conn.execute(
            select(sync_queue.c.id)
            .where(sync_queue.c.schedule == "refused", sync_queue.c.direction == "download")
            .order_by(sync_queue.c.id)
            .limit(1)
        ).scalar_one()
        conn.execute(
            update(sync_queue).where(sync_queue.c.id == record).values(status="Error", notes="could not be parsed")
        )
    login(page, airflow_ui, "operator", "/qualys-cmdb/queue?status=Error")
    page.locator(f"tbody input[name=ids][value='{record}']").check()
    page.get_by_role("button", name="Refetch selected").click()
    expect(page.locator(".flash")).to_contain_text(
        f"1 of 1 record(s) downloaded again and queued: queue record {record}: downloaded again by operator"
    )
    with engine.connect() as conn:
        status, notes = conn.execute(
            select(sync_queue.c.status, sync_queue.c.notes).where(sync_queue.c.id == record)
        ).one()
    assert status == "Queued" and "downloaded again by operator" in notes
    page.get_by_role("button", name="Refetch selected").click()  # nothing selected now: an error, alone
    expect(page.locator(".flash.error")).to_have_text("select at least one record first")
    expect(page.locator(".flash")).to_have_count(1)


def test_sources_and_schedules_trigger_a_run(
    airflow_ui: AirflowUI, data: dict[str, Any], page: Any, browser: Any
) -> None:
    from playwright.sync_api import expect

    viewer = browser.new_context(viewport={"width": 1400, "height": 900})
    viewer_page = viewer.new_page()
    login(viewer_page, airflow_ui, "viewer", "/qualys-cmdb/sources")
    buttons = viewer_page.locator("main button")
    assert buttons.count() >= 5 and all(buttons.nth(n).is_disabled() for n in range(buttons.count()))
    viewer.close()

    login(page, airflow_ui, "operator", "/qualys-cmdb/sources")
    expect(page.locator("#schedule-refused .approval")).to_have_text("automatic")
    expect(page.locator("#schedule-push .filter")).to_contain_text("table cmdb_ci_computer")
    expect(page.locator("#schedule-push .filter")).to_contain_text("nameSTARTSWITHlab-")
    page.locator("#schedule-push").get_by_role("button", name="Trigger").click()
    message = str(page.locator(".flash").inner_text())
    found = re.fullmatch(r"cmdb_to_qualys__push: run (manual__\S+) triggered", message)
    assert found, message
    run = requests.get(
        f"{airflow_ui.url}/api/v2/dags/cmdb_to_qualys__push/dagRuns/{found.group(1)}",
        headers=_headers(airflow_ui),
        timeout=30,
    ).json()
    assert (run["triggering_user_name"], run["run_type"]) == ("operator", "manual")
    assert _wait_run(airflow_ui, "cmdb_to_qualys__push", found.group(1)) == "success"


def test_records_and_log_details_are_readable(airflow_ui: AirflowUI, data: dict[str, Any], page: Any) -> None:
    from playwright.sync_api import expect

    login(page, airflow_ui, "viewer", "/qualys-cmdb/queue")
    for cell in ("tbody td.when", "tbody .run"):
        assert page.locator(cell).first.evaluate("e => getComputedStyle(e).whiteSpace") == "nowrap", cell
    assert page.evaluate("document.documentElement.scrollWidth") <= 1400  # one-line dates, yet no wider than the window
    page.goto(f"{airflow_ui.url}/qualys-cmdb/queue?direction=download")
    page.get_by_role("link", name="view", exact=True).first.click()
    response = page.locator("#response").inner_text()
    assert response.startswith('{\n  "') and '\n    "' in response  # indented JSON
    json.loads(response)
    page.goto(f"{airflow_ui.url}/qualys-cmdb/log?level=warning")
    entry = page.locator("tbody details").first
    entry.locator("summary").click()
    expect(entry.locator("dl.kv dt").first).to_be_visible()  # details as key / value
    screenshot(page, "application-log")
