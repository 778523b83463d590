"""The operator UI's actions on many things at once and its honesty about them, through Airflow's real API server app
(in-process TestClient, real auth manager, real staging Postgres, a real DAG run and a real load the CMDB simulator
refuses): failed assets with a short reason and the CMDB's whole answer, retry everything a filter matches, all of a
run with a confirmation, Refetch, Trigger, viewers who see disabled actions, errors in the page's layout, and the
record view's indented, streamed response."""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterator
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select, text, update

from tests.ui_api.estate import logged_in_client, waiting_run

PASSWORDS = {"admin": "admin-pw", "viewer": "viewer-pw", "runner": "runner-pw"}
REFUSED = 6


@pytest.fixture(scope="module")
def ui(airflow_db: None, engine: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Airflow's API server app with the plugin, users admin / viewer / runner (role user), one DAG run of schedule
    ``t`` whose assets wait for approval, and 6 of them approved and refused by the CMDB (invalid data source)."""
    from qualys_cmdb.approval.decisions import Selection, decide
    from qualys_cmdb.classify.mappings import load_mappings
    from qualys_cmdb.hooks.servicenow import ServiceNowHook
    from qualys_cmdb.load.ire import load_approved
    from qualys_cmdb.staging.schema import asset_classification as c

    with waiting_run(engine, tmp_path_factory.mktemp("operator-actions"), PASSWORDS) as started:
        cmdb = started.cmdb
        with engine.connect() as conn:
            pending = sorted(
                conn.execute(select(c.c.asset_id).where(c.c.state == "pending")).scalars()  # type: ignore[arg-type]
            )
        decide(engine, Selection("t", asset_ids=tuple(pending[:REFUSED])), "approved", "alice")
        requests_post(f"{cmdb.url}/sim/control/discovery-sources", {"values": ["ServiceNow"]})
        hook = ServiceNowHook("servicenow_default")
        try:
            assert load_approved(engine, hook, load_mappings(), "t").failed == REFUSED
        finally:
            hook.close()
        client = logged_in_client(PASSWORDS)
        client.run_id = started.run.run_id
        client.qualys = started.qualys
        yield client


def requests_post(url: str, body: dict[str, Any]) -> None:
    import requests

    requests.post(url, json=body, timeout=30).raise_for_status()


def _auth(ui: Any, user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {ui.tokens[user]}"}


def _html(ui: Any, user: str) -> dict[str, str]:
    return {**_auth(ui, user), "Accept": "text/html"}


def _csrf(ui: Any, user: str) -> str:
    match = re.search(
        r'name="csrf_token" value="([0-9a-f]+)"', ui.get("/qualys-cmdb/failed", headers=_auth(ui, user)).text
    )
    assert match
    return match.group(1)


def _flash(response: Any) -> dict[str, list[str]]:
    """The message a redirect carries: {"msg" | "err" | "warn": [text]}."""
    assert response.status_code == 303, response.text[:500]
    return parse_qs(urlsplit(response.headers["location"]).query)


def _states(engine: Any, schedule: str = "t") -> dict[str, int]:
    with engine.connect() as conn:
        return dict(
            conn.execute(
                text("SELECT state, count(*) FROM qcmdb.asset_classification WHERE schedule = :s GROUP BY state"),
                {"s": schedule},
            ).all()
        )


# ---------------------------------------------------------------------------------------------- failed assets
def test_failed_assets_show_a_short_reason_and_the_whole_answer_behind_an_expander(ui: Any) -> None:
    page = ui.get("/qualys-cmdb/failed", headers=_auth(ui, "runner")).text
    rows = re.findall(r'<td class="reason">(.*?)</td>', page, re.S)
    assert len(rows) == REFUSED
    for cell in rows:
        reason, _, rest = cell.partition("<details>")
        reason = unescape(reason)
        assert reason.startswith("INVALID_INPUT_DATA cmdb_ci_") and "invalid data source" in reason
        assert len(reason) <= 200 and "\n" not in reason
        assert "<summary>the whole answer</summary>" in rest
        answer = unescape(re.search(r"<pre>(.*?)</pre>", rest, re.S).group(1))  # type: ignore[union-attr]
        assert all(": INVALID_INPUT_DATA: In payload invalid data source" in line for line in answer.splitlines())
    assert any("more)" in cell.partition("<details>")[0] for cell in rows)  # an asset's related items failed too
    # every row can be selected by whom may retry; select-all and "everything matching" are offered
    assert len(re.findall(r'<input type="checkbox" name="assets"[^>]*>', page)) == REFUSED
    assert "disabled" not in "".join(re.findall(r'<input type="checkbox" name="assets"[^>]*>', page))
    assert 'aria-label="select all on this page"' in page
    assert re.search(r"Retry everything matching this filter \(6\)…", page)


def test_retry_everything_matching_a_filter_asks_with_the_count_then_retries(ui: Any, engine: Any) -> None:
    form = {"matching": "schedule=t&code=INVALID_INPUT_DATA"}
    # the same permission check as Retry selected, and CSRF
    viewer = ui.post(
        "/qualys-cmdb/failed/retry-matching",
        data={**form, "csrf_token": _csrf(ui, "viewer")},
        headers=_auth(ui, "viewer"),
        follow_redirects=False,
    )
    assert viewer.status_code == 403 and "may not run qualys_to_cmdb__t" in viewer.text
    forged = ui.post(
        "/qualys-cmdb/failed/retry-matching", data={**form, "csrf_token": "0" * 64}, headers=_auth(ui, "runner")
    )
    assert forged.status_code == 403
    # first a confirmation with the count; nothing changes yet
    asked = ui.post(
        "/qualys-cmdb/failed/retry-matching",
        data={**form, "csrf_token": _csrf(ui, "runner")},
        headers=_auth(ui, "runner"),
    )
    assert asked.status_code == 200
    question = unescape(re.search(r'<p id="question">(.*?)</p>', asked.text, re.S).group(1))  # type: ignore[union-attr]
    assert question.startswith(f"Retry {REFUSED} assets matching schedule t, code INVALID_INPUT_DATA?")
    assert 'name="confirmed" value="1"' in asked.text and _states(engine)["failed"] == REFUSED
    # confirmed: every matching asset (all pages) goes back to be sent again, and forgets the CMDB's answer
    done = ui.post(
        "/qualys-cmdb/failed/retry-matching",
        data={**form, "csrf_token": _csrf(ui, "runner"), "confirmed": "1"},
        headers=_auth(ui, "runner"),
        follow_redirects=False,
    )
    filtered = {"schedule": ["t"], "code": ["INVALID_INPUT_DATA"]}  # back to the page with its filter
    assert _flash(done) == {**filtered, "msg": [f"{REFUSED} asset(s) will be sent again by the schedule's next run"]}
    assert urlsplit(done.headers["location"]).path == "/qualys-cmdb/failed"
    assert "failed" not in _states(engine) and _states(engine)["approved"] == REFUSED
    with engine.connect() as conn:
        assert (
            conn.execute(
                text("SELECT count(*) FROM qcmdb.asset_classification WHERE failure_detail IS NOT NULL")
            ).scalar()
            == 0
        )
    # nothing matches any more: a warning, not a success
    again = ui.post(
        "/qualys-cmdb/failed/retry-matching",
        data={**form, "csrf_token": _csrf(ui, "runner"), "confirmed": "1"},
        headers=_auth(ui, "runner"),
        follow_redirects=False,
    )
    assert _flash(again) == {**filtered, "warn": ["no failed asset matches this filter: nothing to retry"]}


# ---------------------------------------------------------------------------------------------- approvals
def test_all_of_a_run_takes_the_schedule_from_the_run_and_confirms_with_the_count(ui: Any, engine: Any) -> None:
    run_id = ui.run_id
    page = ui.get("/qualys-cmdb/approvals", headers=_auth(ui, "runner")).text
    form = re.search(r'<form[^>]*id="all-of-a-run".*?</form>', page, re.S).group(0)  # type: ignore[union-attr]
    assert 'name="schedule"' not in form  # no schedule to pick: the run says which
    options = re.findall(r'<option value="([^"]*)"( selected)?>([^<]*)</option>', form)
    pending = _states(engine)["pending"]
    assert [(unescape(v), s) for v, s, _ in options] == [(f"t|{run_id}", " selected")]
    assert unescape(options[0][2]) == f"{run_id} · t · {pending} pending"

    token = _csrf(ui, "runner")
    body = {"action": "approved:run", "run_key": f"t|{run_id}", "csrf_token": token, "back": "/qualys-cmdb/approvals"}
    asked = ui.post("/qualys-cmdb/approvals/decide", data=body, headers=_auth(ui, "runner"))
    assert asked.status_code == 200
    assert f"Approve {pending} assets of run {run_id} (schedule t)?" in unescape(asked.text)
    assert _states(engine)["pending"] == pending  # nothing decided before the confirmation
    viewer = ui.post(
        "/qualys-cmdb/approvals/decide",
        data={**body, "csrf_token": _csrf(ui, "viewer"), "confirmed": "1"},
        headers=_auth(ui, "viewer"),
        follow_redirects=False,
    )
    assert viewer.status_code == 403 and _states(engine)["pending"] == pending
    done = ui.post(
        "/qualys-cmdb/approvals/decide",
        data={**body, "confirmed": "1"},
        headers=_auth(ui, "runner"),
        follow_redirects=False,
    )
    assert _flash(done) == {"msg": [f"{pending} asset(s) of run {run_id} approved"]}
    assert "pending" not in _states(engine)
    # the run has nothing left: a warning, never "0 asset(s) approved" as a success
    again = ui.post(
        "/qualys-cmdb/approvals/decide",
        data={**body, "confirmed": "1"},
        headers=_auth(ui, "runner"),
        follow_redirects=False,
    )
    assert _flash(again) == {"warn": [f"no asset of run {run_id} (t) waits for a decision: nothing to approve"]}
    none_selected = ui.post(
        "/qualys-cmdb/approvals/decide",
        data={"action": "approved:page", "page_assets": ["sim|1|t"], "csrf_token": token},
        headers=_auth(ui, "runner"),
        follow_redirects=False,
    )
    assert _flash(none_selected) == {"warn": ["0 asset(s) approved"]}


# ---------------------------------------------------------------------------------------------- permissions in the page
PAGES_WITH_ACTIONS = ["/approvals", "/failed", "/queue", "/uploads", "/sources"]


def test_a_viewer_sees_every_action_disabled(ui: Any, engine: Any) -> None:
    with engine.begin() as conn:  # an Error record and a failed asset, so that every kind of action is on a page
        conn.execute(
            text("UPDATE qcmdb.sync_queue SET status = 'Error' WHERE id = (SELECT min(id) FROM qcmdb.sync_queue)")
        )
        conn.execute(
            text(
                "UPDATE qcmdb.asset_classification SET state = 'failed', reason = 'x' "
                "WHERE asset_id = (SELECT min(asset_id) FROM qcmdb.asset_classification)"
            )
        )
    try:
        for path in PAGES_WITH_ACTIONS:
            viewer = ui.get(f"/qualys-cmdb{path}", headers=_auth(ui, "viewer")).text
            runner = ui.get(f"/qualys-cmdb{path}", headers=_auth(ui, "runner")).text
            main = viewer.split("<main>", 1)[1]
            controls = re.findall(r"<(?:button|input type=\"checkbox\")[^>]*>", main)
            actions = [c for c in controls if "Filter" not in c and "columns" not in c]
            forms = re.findall(
                r'<form method="post" action="[^"]*/(?:decide|retry|requeue|test|trigger)[^"]*".*?</form>', main, re.S
            )
            buttons = [b for f in forms for b in re.findall(r"<button[^>]*>", f)]
            assert buttons, path
            assert all("disabled" in b for b in buttons), (path, [b for b in buttons if "disabled" not in b])
            boxes = [c for c in actions if 'name="assets"' in c or 'name="ids"' in c]
            assert all("disabled" in b for b in boxes), path
            runner_buttons = [
                b
                for f in re.findall(r'<form method="post".*?</form>', runner.split("<main>", 1)[1], re.S)
                for b in re.findall(r"<button[^>]*>", f)
            ]
            if path != "/uploads":  # no CMDB → Qualys schedule here: nothing anyone could re-queue
                assert any("disabled" not in b for b in runner_buttons), path
    finally:
        with engine.begin() as conn:
            conn.execute(text("UPDATE qcmdb.sync_queue SET status = 'Success'"))


def test_a_403_is_a_page_of_the_ui_with_a_way_back(ui: Any) -> None:
    refused = ui.post(
        "/qualys-cmdb/approvals/decide",
        data={"action": "approved:selected", "assets": ["sim|1|t"], "csrf_token": _csrf(ui, "viewer")},
        headers={**_html(ui, "viewer"), "Referer": "http://testserver/qualys-cmdb/approvals?schedule=t&msg=old"},
        follow_redirects=False,
    )
    assert refused.status_code == 403
    page = refused.text
    assert "<header>" in page and ">Approve assets</a>" in page and ">Sources &amp; schedules</a>" in page
    assert "viewer · times in UTC" in page
    assert '<div class="flash error" role="alert">viewer may not run qualys_to_cmdb__t' in page
    assert '<a href="/qualys-cmdb/approvals?schedule=t" id="back">' in page  # back where it came from, no stale msg
    anonymous = ui.get("/qualys-cmdb/failed", headers={"Accept": "text/html"})
    assert anonymous.status_code == 401 and "Log in to Airflow" in anonymous.text and "<header>" in anonymous.text
    other_site = ui.post(
        "/qualys-cmdb/failed/retry",
        data={"csrf_token": _csrf(ui, "admin")},
        headers={**_html(ui, "admin"), "Referer": "https://evil.example/qualys-cmdb/failed"},
    )
    assert other_site.status_code == 403 and 'href="/qualys-cmdb/" id="back"' in other_site.text


def test_an_error_redirect_drops_the_earlier_success_message(ui: Any) -> None:
    back = "/qualys-cmdb/approvals?schedule=t&msg=3+asset%28s%29+approved&warn=old"
    response = ui.post(
        "/qualys-cmdb/approvals/decide",
        data={"action": "approved:selected", "csrf_token": _csrf(ui, "runner"), "back": back},
        headers=_auth(ui, "runner"),
        follow_redirects=False,
    )
    assert _flash(response) == {"schedule": ["t"], "err": ["select at least one asset first"]}
    shown = ui.get(response.headers["location"], headers=_auth(ui, "runner")).text
    assert 'class="flash error"' in shown and "3 asset(s) approved" not in shown


# ---------------------------------------------------------------------------------------------- sync queue
def test_the_record_view_streams_the_response_indented(ui: Any, engine: Any) -> None:
    from qualys_cmdb.staging.schema import sync_queue

    with engine.connect() as conn:
        queue_id, payload = conn.execute(
            select(sync_queue.c.id, sync_queue.c.payload).where(sync_queue.c.direction == "download").limit(1)
        ).one()
    body = gzip.decompress(payload)
    response = ui.get(f"/qualys-cmdb/queue/{queue_id}/raw", headers=_auth(ui, "viewer"))
    assert response.status_code == 200 and "content-length" not in response.headers  # streamed
    shown = unescape(re.search(r'<pre id="response">(.*?)</pre>', response.text, re.S).group(1))  # type: ignore[union-attr]
    assert shown == json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    assert '<dl class="kv"><dt>' in response.text  # the request as key / value
    download = ui.get(f"/qualys-cmdb/queue/{queue_id}/raw?download=1", headers=_auth(ui, "viewer"))
    assert download.content == body and "attachment" in download.headers["content-disposition"]


def test_refetch_downloads_an_error_page_again(ui: Any, engine: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from qualys_cmdb.staging.schema import sync_queue

    with engine.begin() as conn:
        queue_id = conn.execute(select(sync_queue.c.id).order_by(sync_queue.c.id).limit(1)).scalar_one()
        conn.execute(update(sync_queue).where(sync_queue.c.id == queue_id).values(status="Error", notes="truncated"))
    page = ui.get("/qualys-cmdb/queue?status=Error", headers=_auth(ui, "runner")).text
    assert re.search(r"<button[^>]*formaction=\"/qualys-cmdb/queue/refetch\"[^>]*>Refetch selected</button>", page)
    record = ui.get(f"/qualys-cmdb/queue/{queue_id}/raw", headers=_auth(ui, "runner")).text
    assert ">Re-queue</button>" in record and ">Refetch</button>" in record
    form = {"ids": [str(queue_id)], "csrf_token": _csrf(ui, "runner"), "back": "/qualys-cmdb/queue?status=Error"}
    assert (
        ui.post(
            "/qualys-cmdb/queue/refetch", data={**form, "csrf_token": _csrf(ui, "viewer")}, headers=_auth(ui, "viewer")
        ).status_code
        == 403
    )

    # still broken (Qualys refuses the connection's password now): the record stays Error, and the page says why
    connection = json.loads(os.environ["AIRFLOW_CONN_QUALYS_TEST"])
    monkeypatch.setenv("AIRFLOW_CONN_QUALYS_TEST", json.dumps({**connection, "password": "not-the-password"}))
    broken = ui.post("/qualys-cmdb/queue/refetch", data=form, headers=_auth(ui, "runner"), follow_redirects=False)
    (error,) = _flash(broken)["err"]
    assert error.startswith(f"0 of 1 record(s) downloaded again and queued: queue record {queue_id}: could not")
    assert "password" in error
    with engine.connect() as conn:
        assert conn.execute(select(sync_queue.c.status).where(sync_queue.c.id == queue_id)).scalar_one() == "Error"
    monkeypatch.setenv("AIRFLOW_CONN_QUALYS_TEST", json.dumps(connection))  # fixed
    fixed = ui.post("/qualys-cmdb/queue/refetch", data=form, headers=_auth(ui, "runner"), follow_redirects=False)
    (message,) = _flash(fixed)["msg"]
    assert message.startswith(
        f"1 of 1 record(s) downloaded again and queued: queue record {queue_id}: downloaded again by runner"
    )
    with engine.connect() as conn:
        status, notes = conn.execute(
            select(sync_queue.c.status, sync_queue.c.notes).where(sync_queue.c.id == queue_id)
        ).one()
    assert status == "Queued" and "downloaded again by runner" in notes
    with engine.begin() as conn:
        conn.execute(update(sync_queue).where(sync_queue.c.id == queue_id).values(status="Success"))


# ---------------------------------------------------------------------------------------------- sources & schedules
def test_sources_say_paused_or_active_and_trigger_a_run(ui: Any) -> None:
    from airflow.models.dag import DagModel
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        session.execute(update(DagModel).where(DagModel.dag_id == "qualys_to_cmdb__t").values(is_paused=True))
    page = ui.get("/qualys-cmdb/sources", headers=_auth(ui, "runner")).text
    row = re.search(r'<tr id="schedule-t">.*?</tr>', page, re.S).group(0)  # type: ignore[union-attr]
    assert '<span class="badge paused">paused</span>' in row and "no scheduled run while paused" in row
    assert "asset by asset, in Approve assets" in row and "the run does not wait" in row
    assert "every asset of the source" in row  # no QQL or tag filter
    assert re.search(r"<button\s+aria-label=\"trigger qualys_to_cmdb__t\">Trigger</button>", row)

    form = {"csrf_token": _csrf(ui, "runner")}
    assert (
        ui.post(
            "/qualys-cmdb/sources/t/trigger", data={"csrf_token": _csrf(ui, "viewer")}, headers=_auth(ui, "viewer")
        ).status_code
        == 403
    )
    assert ui.post("/qualys-cmdb/sources/t/trigger", data={}, headers=_auth(ui, "runner")).status_code == 403  # CSRF
    assert ui.post("/qualys-cmdb/sources/nope/trigger", data=form, headers=_auth(ui, "runner")).status_code == 404
    paused = ui.post("/qualys-cmdb/sources/t/trigger", data=form, headers=_auth(ui, "runner"), follow_redirects=False)
    (warning,) = _flash(paused)["warn"]
    assert re.fullmatch(
        r"qualys_to_cmdb__t: run manual__\S+ queued; the DAG is paused, so it starts once it is unpaused", warning
    )
    with create_session() as session:
        session.execute(update(DagModel).where(DagModel.dag_id == "qualys_to_cmdb__t").values(is_paused=False))
    active = ui.post("/qualys-cmdb/sources/t/trigger", data=form, headers=_auth(ui, "runner"), follow_redirects=False)
    (message,) = _flash(active)["msg"]
    run_id = re.fullmatch(r"qualys_to_cmdb__t: run (manual__\S+) triggered", message).group(1)  # type: ignore[union-attr]
    with create_session() as session:
        run = session.scalars(select(DagRun).where(DagRun.dag_id == "qualys_to_cmdb__t", DagRun.run_id == run_id)).one()
        assert (run.triggering_user_name, run.run_type, run.state) == ("runner", "manual", "queued")
        session.delete(run)
        for other in session.scalars(
            select(DagRun).where(DagRun.dag_id == "qualys_to_cmdb__t", DagRun.state == "queued")
        ):
            session.delete(other)
    row = re.search(
        r'<tr id="schedule-t">.*?</tr>', ui.get("/qualys-cmdb/sources", headers=_auth(ui, "runner")).text, re.S
    ).group(0)  # type: ignore[union-attr]
    assert '<span class="badge active">active</span>' in row and "next " in row  # hourly: its next run
