"""The Qualys hook against the running simulator: paging, 204, JWT refresh, 409/429/5xx handling, connection test.

Real HTTP to the simulator on 127.0.0.1; nothing is mocked. Waits use tiny server-requested delays (1 s).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from qualys_cmdb.config import DetailFlags
from qualys_cmdb.hooks.qualys import QualysHook, RetryPolicy
from qualys_cmdb.hooks.qualys_protocol import QualysRequestError
from qualys_cmdb.intake.csam import parse_csam_page
from qualys_cmdb.intake.hostasset import parse_hostasset_page

from tests.conftest import SimHandle

SINCE = datetime(2000, 1, 1, tzinfo=UTC)
FAST = RetryPolicy(max_attempts=5, backoff_s=0.01, backoff_max_s=0.05)


def _hook(sim: SimHandle, **kw: object) -> QualysHook:
    return QualysHook(sim.conn_id, retry=kw.pop("retry", FAST), **kw)  # type: ignore[arg-type]


def _csam_ids(hook: QualysHook, page_size: int = 7) -> tuple[list[int], int]:
    """Page through the whole estate; returns the asset ids read and the number of pages."""
    cursor, ids, pages = 0, [], 0
    until = datetime.now(UTC)
    while True:
        page = hook.csam_page(
            cursor=cursor, page_size=page_size, since=SINCE, until=until, qql=[], tag=None, details={}
        )
        pages += 1
        ids += [r.asset["asset_id"] for r in parse_csam_page(page.body(), "s", DetailFlags())]
        if not page.envelope.has_more:
            return ids, pages
        cursor = int(page.envelope.next_cursor or 0)


def test_csam_paging_returns_every_asset_once(qualys_sim: SimHandle) -> None:
    hook = _hook(qualys_sim)
    ids, pages = _csam_ids(hook)
    expected = sorted(a["assetId"] for a in qualys_sim.estate()["assets"])
    assert ids == expected
    assert pages == -(-len(expected) // 7)
    assert hook.api_calls == pages + 1  # one /auth call, then one call per page


def test_hostasset_paging_returns_every_asset_once(qualys_sim: SimHandle) -> None:
    hook = _hook(qualys_sim)
    cursor, ids = 0, []
    until = datetime.now(UTC)
    while True:
        page = hook.hostasset_page(cursor=cursor, page_size=9, since=SINCE, until=until, tag=None)
        ids += [r.asset["asset_id"] for r in parse_hostasset_page(page.body(), "s", DetailFlags())]
        if not page.envelope.has_more:
            break
        cursor = int(page.envelope.next_cursor or 0)
    assert ids == sorted(a["assetId"] for a in qualys_sim.estate()["assets"])


def test_an_empty_window_ends_with_http_204(qualys_sim: SimHandle) -> None:
    now = datetime.now(UTC)
    page = _hook(qualys_sim).csam_page(cursor=0, page_size=10, since=now, until=now, qql=[], tag=None, details={})
    assert page.status == 204 and page.envelope.count == 0 and page.envelope.has_more is False


def test_an_expired_jwt_is_refreshed_once(qualys_sim: SimHandle) -> None:
    hook = _hook(qualys_sim)
    _csam_ids(hook, page_size=300)
    qualys_sim.control("expire-tokens")
    ids, _ = _csam_ids(hook, page_size=300)
    assert len(ids) == qualys_sim.estate()["count"]
    stats = qualys_sim.control("stats", method="GET")
    assert stats["by_endpoint"]["/auth"] == 2


def test_429_is_waited_out_as_the_headers_say(qualys_sim: SimHandle) -> None:
    qualys_sim.control("faults", gateway_rate_limit={"limit": 1, "window_sec": 2, "to_wait_sec": 1})
    _csam_ids(_hook(qualys_sim), page_size=300)  # another client of the subscription spends the window
    waits: list[float] = []
    hook = _hook(qualys_sim, sleep=lambda s: (waits.append(s), __import__("time").sleep(s)))
    ids, _ = _csam_ids(hook, page_size=300)
    assert len(ids) == qualys_sim.estate()["count"]
    assert waits and all(w >= 0.9 for w in waits)
    # blocked at most once per wait: after waiting what Qualys asked, the next call goes through (BY-5)
    blocked = qualys_sim.control("stats", method="GET")["by_endpoint_status"]["/rest/2.0/search/am/asset"]["429"]
    assert blocked == len(waits)


def test_5xx_and_missing_has_more_are_retried(qualys_sim: SimHandle) -> None:
    qualys_sim.control("faults", status={"family": "csam", "code": 503, "count": 2}, missing_has_more=1)
    hook = _hook(qualys_sim)
    ids, pages = _csam_ids(hook, page_size=300)
    assert len(ids) == qualys_sim.estate()["count"]
    assert hook.api_calls == 1 + pages + 3  # auth + pages + two 503s + one page without hasMore


def test_a_bad_request_is_not_retried(qualys_sim: SimHandle) -> None:
    hook = _hook(qualys_sim)
    with pytest.raises(QualysRequestError, match="HTTP 400"):
        hook.csam_page(
            cursor=0,
            page_size=10,
            since=SINCE,
            until=datetime.now(UTC),
            qql=[{"field": "no.such.field", "operator": "EQUALS", "value": "x"}],
            tag=None,
            details={},
        )
    assert hook.api_calls == 2  # auth + the one rejected call


@pytest.mark.parametrize(
    ("state", "password", "expected"),
    [
        ("active", "sim-Passw0rd", "Connection OK"),
        ("active", "wrong-password", "Wrong credentials"),
        ("expired", "sim-Passw0rd", "Subscription expired"),
        ("no_api", "sim-Passw0rd", "Access denied: the user has no API access"),
        ("no_asset_inventory", "sim-Passw0rd", "Access denied"),
    ],
)
def test_connection_test_tells_the_failures_apart(
    qualys_sim: SimHandle, monkeypatch: pytest.MonkeyPatch, state: str, password: str, expected: str
) -> None:
    import json

    qualys_sim.control("accounts", username="qualys_test", password="sim-Passw0rd", state=state)
    monkeypatch.setenv(
        "AIRFLOW_CONN_QUALYS_TEST",
        json.dumps(
            {
                "conn_type": "qualys",
                "host": qualys_sim.url,
                "login": "qualys_test",
                "password": password,
                "extra": {"gateway_url": qualys_sim.url},
            }
        ),
    )
    ok, message = QualysHook("qualys_test", retry=FAST).test_connection()
    assert message.startswith(expected), message
    assert ok is (expected == "Connection OK")
    assert password not in message


def test_connection_test_reports_an_unreachable_server(monkeypatch: pytest.MonkeyPatch) -> None:
    import json
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv(
        "AIRFLOW_CONN_QUALYS_DOWN",
        json.dumps(
            {
                "conn_type": "qualys",
                "host": f"http://127.0.0.1:{port}",
                "login": "u",
                "password": "secret-pw",
                "extra": {"gateway_url": f"http://127.0.0.1:{port}"},
            }
        ),
    )
    ok, message = QualysHook("qualys_down", retry=FAST).test_connection()
    assert not ok and message.startswith("Server unreachable") and "Connection refused" in message
    assert "secret-pw" not in message


def test_an_fo_409_is_waited_out_for_the_seconds_qualys_asks(qualys_sim: SimHandle) -> None:
    qualys_sim.control("faults", fo_rate_limit={"limit": 1, "window_sec": 2, "concurrency": 2})
    assert _hook(qualys_sim).test_connection()[0]  # another client of the subscription spends the window
    waits: list[float] = []
    hook = _hook(qualys_sim, sleep=lambda s: (waits.append(s), __import__("time").sleep(s)))
    assert hook.test_connection()[0]  # its FO call is blocked (409, CODE 1965) until the window passes
    stats = qualys_sim.control("stats", method="GET")
    assert stats["by_endpoint_status"]["/api/2.0/fo/asset/ip"]["409"] >= 1
    assert waits and 0 < max(waits) <= 3


def test_only_the_fields_the_schedule_needs_are_requested(qualys_sim: SimHandle) -> None:
    hook = _hook(qualys_sim)
    now = datetime.now(UTC)
    lean = hook.csam_page(cursor=0, page_size=300, since=SINCE, until=now, qql=[], tag=None, details={})
    full = hook.csam_page(
        cursor=0, page_size=300, since=SINCE, until=now, qql=[], tag=None, details={"software": True, "ports": True}
    )
    lean_assets = list(parse_csam_page(lean.body(), "s", DetailFlags()))
    assert all(r.software == [] and "open_port" not in r.children for r in lean_assets)
    assert sum(len(r.software) for r in parse_csam_page(full.body(), "s", DetailFlags())) > 0
    assert lean.raw_bytes < full.raw_bytes


def test_the_connection_type_is_registered_with_airflow(airflow_db: None) -> None:
    from airflow.providers_manager import ProvidersManager

    pm = ProvidersManager()
    assert "qualys-cmdb-sync" in pm.providers
    assert pm.hooks["qualys"].hook_class_name == "qualys_cmdb.hooks.qualys.QualysHook"


def test_the_airflow_test_button_runs_the_connection_test(
    qualys_sim: SimHandle, airflow_db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """POST /api/v2/connections/test on Airflow's real API app (what the UI's Test button calls)."""
    import json

    from fastapi.testclient import TestClient

    monkeypatch.setenv("AIRFLOW__CORE__TEST_CONNECTION", "Enabled")
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "True")
    from airflow.api_fastapi.app import create_app

    client = TestClient(create_app())
    body = {
        "connection_id": "qualys_ui",
        "conn_type": "qualys",
        "host": qualys_sim.url,
        "login": "qualys_test",
        "extra": json.dumps({"gateway_url": qualys_sim.url}),
    }
    ok = client.post("/api/v2/connections/test", json={**body, "password": "sim-Passw0rd"})
    assert ok.status_code == 200, ok.text
    assert ok.json()["status"] is True and ok.json()["message"].startswith("Connection OK")
    bad = client.post("/api/v2/connections/test", json={**body, "password": "nope"}).json()
    assert bad["status"] is False and bad["message"].startswith("Wrong credentials")
    # the connection form: relabelled fields and the POD / gateway / TLS extras (declarative, Airflow 3.2+)
    (meta,) = [h for h in client.get("/ui/connections/hook_meta").json() if h["connection_type"] == "qualys"]
    assert set(meta["extra_fields"]) == {"pod", "gateway_url", "api", "verify"}
    assert "US3" in meta["extra_fields"]["pod"]["schema"]["enum"]


def test_qps_rejects_wrong_credentials_at_http_200(qualys_sim: SimHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from qualys_cmdb.hooks.qualys_protocol import QualysAuthError

    monkeypatch.setenv(
        "AIRFLOW_CONN_QUALYS_TEST",
        json.dumps({"conn_type": "qualys", "host": qualys_sim.url, "login": "qualys_test", "password": "not-it"}),
    )
    hook = QualysHook("qualys_test", retry=FAST)
    with pytest.raises(QualysAuthError, match="rejected the username or password") as err:
        hook.hostasset_page(cursor=0, page_size=10, since=SINCE, until=datetime.now(UTC), tag=None)
    assert "not-it" not in str(err.value)
    assert hook.api_calls == 1  # an authentication failure is not retried


def test_a_response_that_breaks_off_mid_transfer_is_fetched_again(qualys_sim: SimHandle) -> None:
    qualys_sim.control("faults", disconnect={"family": "csam", "count": 1})
    hook = _hook(qualys_sim)
    ids, pages = _csam_ids(hook, page_size=300)
    assert ids == sorted(a["assetId"] for a in qualys_sim.estate()["assets"])
    assert hook.api_calls == 1 + pages + 1  # auth, the broken transfer, then the pages


@pytest.mark.parametrize(
    ("state", "expected"),
    [("active", "Connection OK: API access and asset management (hostasset)"), ("no_asset_inventory", "Access denied")],
)
def test_the_connection_test_checks_the_api_the_source_reads(
    qualys_sim: SimHandle, monkeypatch: pytest.MonkeyPatch, state: str, expected: str
) -> None:
    import json

    qualys_sim.control("accounts", username="qualys_test", password="sim-Passw0rd", state=state)
    monkeypatch.setenv(
        "AIRFLOW_CONN_QUALYS_QPS",
        json.dumps(
            {
                "conn_type": "qualys",
                "host": qualys_sim.url,
                "login": "qualys_test",
                "password": "sim-Passw0rd",
                "extra": {"api": "hostasset"},
            }
        ),
    )
    ok, message = QualysHook("qualys_qps", retry=FAST).test_connection()
    assert message.startswith(expected), message
    assert ok is (state == "active")


def test_a_slow_server_hits_the_api_timeout_and_says_so(qualys_sim: SimHandle) -> None:
    from qualys_cmdb.hooks.qualys_protocol import QualysUnreachable

    qualys_sim.control("faults", latency_ms=1500)
    hook = _hook(qualys_sim, timeout_ms=1000, retry=RetryPolicy(max_attempts=2, backoff_s=0.01))
    with pytest.raises(QualysUnreachable, match=r"timed out after 1 s"):
        hook.hostasset_page(cursor=0, page_size=10, since=SINCE, until=datetime.now(UTC), tag=None)
    assert hook.api_calls == 2  # retried once, then a clear error


# ---------------------------------------------------------------------------------------------- rate windows (BY-5)
def _window_passes(sim: SimHandle, fault: str, limit: dict[str, object], waits: list[float]):  # type: ignore[no-untyped-def]
    """A sleep recorder under which the simulator's rate window passes at once: it starts a fresh window (what waiting
    the old one out would give), so the test never really waits."""

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        sim.control("faults", **{fault: limit})

    return sleep


@pytest.mark.parametrize("to_wait_header", ["0", "absent"])
def test_a_spent_fo_window_without_a_wait_is_waited_out_not_run_into(
    qualys_sim: SimHandle, to_wait_header: str
) -> None:
    """``X-RateLimit-Remaining: 0`` with ``ToWait-Sec`` 0 or absent: wait the window (``Window-Sec``), get no 409."""
    limit = {"limit": 2, "window_sec": 30, "concurrency": 2, "towait_only_when_blocked": to_wait_header == "absent"}
    qualys_sim.control("faults", fo_rate_limit=limit)
    waits: list[float] = []
    hook = _hook(qualys_sim, sleep=_window_passes(qualys_sim, "fo_rate_limit", limit, waits))
    for _ in range(3):
        hook.ips_in_subscription(["10.0.0.1"])
    assert len(waits) == 1 and 25 < waits[0] <= 30  # the window's length, before the third call
    statuses = qualys_sim.control("stats", method="GET")["by_endpoint_status"]["/api/2.0/fo/asset/ip"]
    assert "409" not in statuses and hook.api_calls == 3


def test_a_spent_gateway_window_without_a_wait_is_waited_out_not_run_into(qualys_sim: SimHandle) -> None:
    limit = {"limit": 2, "window_sec": 20}
    qualys_sim.control("faults", gateway_rate_limit=limit)
    waits: list[float] = []
    hook = _hook(qualys_sim, sleep=_window_passes(qualys_sim, "gateway_rate_limit", limit, waits))
    ids, _ = _csam_ids(hook, page_size=10)
    assert ids == sorted(a["assetId"] for a in qualys_sim.estate()["assets"])
    assert waits and all(15 < w <= 20 for w in waits)  # the window's length, each time it was spent
    statuses = qualys_sim.control("stats", method="GET")["by_endpoint_status"]["/rest/2.0/search/am/asset"]
    assert "429" not in statuses


def test_a_spent_window_longer_than_the_wait_limit_ends_the_run_cleanly(qualys_sim: SimHandle) -> None:
    from qualys_cmdb.hooks.qualys_protocol import QualysRateLimited

    qualys_sim.control("faults", fo_rate_limit={"limit": 1, "window_sec": 3600, "concurrency": 2})
    waits: list[float] = []
    hook = _hook(qualys_sim, sleep=waits.append)  # waits longer than 900 s end the run
    hook.ips_in_subscription(["10.0.0.1"])
    with pytest.raises(QualysRateLimited, match=r"spent for another 3\d\d\d s.*the next one resumes"):
        hook.ips_in_subscription(["10.0.0.1"])
    assert waits == [] and hook.api_calls == 1  # the blocked call is not even sent
    assert "409" not in qualys_sim.control("stats", method="GET")["by_endpoint_status"]["/api/2.0/fo/asset/ip"]


def test_a_spent_window_of_unknown_length_is_taken_as_an_hour(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only ``X-RateLimit-Remaining: 0``: no wait, no window length. An hour is the safe guess (reference §7)."""
    import json

    from qualys_cmdb.hooks.qualys_protocol import QualysRateLimited

    from tests.integration.slow_http import DribblingServer, http_response

    spent = http_response("200 OK", {"X-RateLimit-Remaining": "0", "Content-Length": "0"})
    with DribblingServer(spent) as server:
        monkeypatch.setenv(
            "AIRFLOW_CONN_QUALYS_SPENT",
            json.dumps({"conn_type": "qualys", "host": server.url, "login": "u", "password": "p"}),
        )
        hook = QualysHook("qualys_spent", retry=FAST, sleep=lambda s: pytest.fail(f"waited {s} s"))
        hook.fo("/api/2.0/fo/asset/ip/", {"action": "list"})
        with pytest.raises(QualysRateLimited, match=r"spent for another 3600 s"):
            hook.fo("/api/2.0/fo/asset/ip/", {"action": "list"})
        assert server.requests == 1


# ---------------------------------------------------------------------------------------------- API timeout (PR-4)
#: 2,400 bytes at 4 bytes per 0.1 s: a minute of dribbling, with every socket read answered well within 1 s
FILLER = "x" * 2400


@pytest.fixture
def slow_qualys(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Start a dribbling server as the Qualys connection ``qualys_slow``: ``slow_qualys(response, dribble_from)``."""
    import json

    from tests.integration.slow_http import DribblingServer

    servers: list[DribblingServer] = []

    def start(response: bytes, dribble_from: int) -> DribblingServer:
        server = DribblingServer(response, dribble_from=dribble_from).__enter__()
        servers.append(server)
        monkeypatch.setenv(
            "AIRFLOW_CONN_QUALYS_SLOW",
            json.dumps({"conn_type": "qualys", "host": server.url, "login": "u", "password": "p"}),
        )
        return server

    yield start
    for server in servers:
        server.stop()


def _slow_hook(waits: list[float]) -> QualysHook:
    return QualysHook("qualys_slow", timeout_ms=1000, retry=RetryPolicy(max_attempts=2), sleep=waits.append)


def test_response_headers_dribbled_for_a_minute_end_at_the_api_timeout(slow_qualys) -> None:  # type: ignore[no-untyped-def]
    from qualys_cmdb.hooks.qualys_protocol import QualysUnreachable

    from tests.integration.slow_http import http_response

    server = slow_qualys(http_response("200 OK", {"Content-Type": "text/xml", "X-Filler": FILLER}), 0)
    waits: list[float] = []
    with pytest.raises(QualysUnreachable) as err:
        _slow_hook(waits).hostasset_page(cursor=0, page_size=10, since=SINCE, until=datetime.now(UTC), tag=None)
    message = str(err.value)
    assert "POST /qps/rest/2.0/search/am/hostasset timed out after 1 s, the limit for the whole exchange" in message
    assert "the response headers were not complete" in message and "raise properties.api_timeout_ms" in message
    assert server.requests == 2 and len(waits) == 1 and not server.answered.is_set()  # retried per the policy


@pytest.mark.parametrize(
    ("call", "length"),
    [("hostasset_page", True), ("hostasset_page", False), ("tags", True)],
    ids=["streamed-page", "streamed-page-read-until-close", "whole-body"],
)
def test_a_response_body_dribbled_for_a_minute_ends_at_the_api_timeout(slow_qualys, call: str, length: bool) -> None:  # type: ignore[no-untyped-def]
    """A body that keeps coming is cut at the deadline, also one read until the connection closes (whose cut end
    must not pass for a complete body); a streamed page is retried like one that broke off."""
    from qualys_cmdb.hooks.qualys_protocol import QualysUnreachable

    from tests.integration.slow_http import http_response

    body = f"<ServiceResponse><!-- {FILLER} --></ServiceResponse>".encode()
    headers = {"Content-Type": "text/xml", **({"Content-Length": str(len(body))} if length else {})}
    response = http_response("200 OK", headers, body)
    server = slow_qualys(response, len(response) - len(body) + 20)
    waits: list[float] = []
    hook = _slow_hook(waits)
    with pytest.raises(QualysUnreachable) as err:
        if call == "tags":
            list(hook.tags())
        else:
            hook.hostasset_page(cursor=0, page_size=10, since=SINCE, until=datetime.now(UTC), tag=None)
    message = str(err.value)
    assert "timed out after 1 s, the limit for the whole exchange" in message
    assert "bytes of the response body had arrived" in message and "raise properties.api_timeout_ms" in message
    assert server.requests == 2 and not server.answered.is_set()
