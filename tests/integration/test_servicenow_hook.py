"""The ServiceNow hook against the running simulator: Table API paging, IRE items, OAuth, 429/5xx, connection test.

Real HTTP to the ServiceNow simulator on 127.0.0.1; nothing is mocked.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests
from qualys_cmdb.hooks.servicenow import ServiceNowHook, SnRetryPolicy

FAST = SnRetryPolicy(max_attempts=4, backoff_s=0.01)


class Sn:
    def __init__(self, sim) -> None:  # type: ignore[no-untyped-def]
        self.sim, self.url = sim, sim.url

    def control(self, path: str, method: str = "POST", **body: object) -> dict:  # type: ignore[type-arg]
        response = requests.request(method, f"{self.url}/sim/control/{path}", json=body or None, timeout=30)
        response.raise_for_status()
        return response.json() if response.content else {}


def start_servicenow(monkeypatch: pytest.MonkeyPatch, conn_id: str) -> Sn:
    """A ServiceNow simulator on 127.0.0.1 (stop it with ``.sim.stop()``), reachable with basic auth as the Airflow
    connection ``conn_id``."""
    from simulators.servicenow.server import ServiceNowSimulator

    sim = ServiceNowSimulator(host="127.0.0.1", port=0).start()
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{conn_id.upper()}",
        json.dumps({"conn_type": "servicenow", "host": sim.url, "login": "sn_integration", "password": "sn-Passw0rd"}),
    )
    return Sn(sim)


@pytest.fixture
def servicenow(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sn]:
    started = start_servicenow(monkeypatch, "sn_basic")
    sim = started.sim
    monkeypatch.setenv(
        "AIRFLOW_CONN_SN_OAUTH",
        json.dumps(
            {
                "conn_type": "servicenow",
                "host": sim.url,
                "login": "sn_integration",
                "password": "sn-Passw0rd",
                "extra": {"auth": "oauth_password", "client_id": "qcmdb_client", "client_secret": "client-s3cret"},
            }
        ),
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_SN_CLIENT",
        json.dumps(
            {
                "conn_type": "servicenow",
                "host": sim.url,
                "extra": {
                    "auth": "oauth_client_credentials",
                    "client_id": "qcmdb_client",
                    "client_secret": "client-s3cret",
                },
            }
        ),
    )
    yield started
    sim.stop()


def _server(i: int) -> dict:  # type: ignore[type-arg]
    return {
        "className": "cmdb_ci_linux_server",
        "values": {"name": f"srv-{i}", "serial_number": f"SN-{i}"},
        "sys_object_source_info": {"source_name": "Qualys", "source_native_key": str(i)},
    }


def test_ire_items_are_checked_one_by_one(servicenow: Sn) -> None:
    hook = ServiceNowHook("sn_basic", retry=FAST)
    items = [_server(1), _server(2), {"className": "cmdb_ci_linux_server", "values": {"os": "no identity"}}]
    outcomes = hook.identify_reconcile(items, "Qualys")
    assert [o.operation for o in outcomes[:2]] == ["INSERT", "INSERT"] and all(o.ok for o in outcomes[:2])
    assert not outcomes[2].ok and "MISSING_MATCHING_ATTRIBUTES" in outcomes[2].message
    again = hook.identify_reconcile(items[:2], "Qualys")
    assert [o.operation for o in again] == ["NO_CHANGE", "NO_CHANGE"]
    assert [o.sys_id for o in again] == [o.sys_id for o in outcomes[:2]]
    bad_source = hook.identify_reconcile([_server(3)], "Nobody")
    assert "INVALID_INPUT_DATA" in bad_source[0].message


def test_every_item_gets_its_outcome_from_the_reply(servicenow: Sn) -> None:
    """Outcomes come in payload order, related items' errors on the item that carries them."""
    hook = ServiceNowHook("sn_basic", retry=FAST)
    (first,) = hook.identify_reconcile([_server(60)], "Qualys")
    items = [
        _server(60),  # already there
        _server(61),
        {"className": "cmdb_ci_linux_server", "values": {"os": "no identity"}},
        {**_server(62), "related": [{"className": "cmdb_ci_spkg", "values": {"name": "p"}}]},  # no key
        {**_server(63), "related": [{"className": "cmdb_ci_spkg", "values": {"name": "p", "key": "p_|_1"}}]},
    ]
    outcomes = hook.identify_reconcile(items, "Qualys")
    assert [o.index for o in outcomes] == [0, 1, 2, 3, 4]
    assert outcomes[0].operation == "NO_CHANGE" and outcomes[0].sys_id == first.sys_id
    assert outcomes[1].operation == "INSERT" and outcomes[1].ok and outcomes[4].ok
    assert not outcomes[2].ok and "MISSING_MATCHING_ATTRIBUTES" in outcomes[2].message
    assert not outcomes[3].ok and "cmdb_ci_spkg" in outcomes[3].message


def test_the_dry_run_commits_nothing(servicenow: Sn) -> None:
    hook = ServiceNowHook("sn_basic", retry=FAST)
    (preview,) = hook.identify_reconcile([_server(7)], "Qualys", mode="query")
    assert preview.operation == "INSERT"
    assert list(hook.table_query("cmdb_ci_linux_server", "name=srv-7")) == []


def test_table_query_pages_through_every_row(servicenow: Sn) -> None:
    hook = ServiceNowHook("sn_basic", retry=FAST)
    hook.identify_reconcile([_server(i) for i in range(25)], "Qualys")
    rows = list(hook.table_query("cmdb_ci_server", "nameSTARTSWITHsrv-", ["name", "sys_class_name"], page_size=7))
    assert sorted(r["name"] for r in rows) == sorted(f"srv-{i}" for i in range(25))
    assert {r["sys_class_name"] for r in rows} == {"cmdb_ci_linux_server"}


@pytest.mark.parametrize("conn_id", ["sn_oauth", "sn_client"])
def test_oauth_grants_and_token_refresh(servicenow: Sn, conn_id: str) -> None:
    hook = ServiceNowHook(conn_id, retry=FAST)
    assert hook.test_connection()[0]
    servicenow.control("expire-tokens")
    ok, message = hook.test_connection()
    assert ok, message


def test_threads_share_one_token_and_every_call_of_theirs_is_counted(servicenow: Sn) -> None:
    """The load's parallel IRE batches use one hook from several threads: each sends on a session of its own, one
    OAuth token serves them all (got once, renewed once when it expires), and ``calls`` counts every request."""
    import threading

    hook = ServiceNowHook("sn_oauth", retry=FAST)
    errors: list[BaseException] = []

    def in_threads(round_: int, threads: int = 4, each: int = 3) -> None:
        start = threading.Barrier(threads, timeout=60)

        def work(i: int) -> None:
            try:
                start.wait()
                for k in range(each):
                    (outcome,) = hook.identify_reconcile([_server(1000 * round_ + 10 * i + k)], "Qualys")
                    assert outcome.ok
            except BaseException as exc:  # reported by the test thread
                errors.append(exc)

        workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        assert errors == []

    in_threads(1)
    stats = servicenow.control("stats", method="GET")
    assert stats["by_endpoint"]["/oauth_token.do"] == 1  # one token for the four threads
    assert hook.calls == stats["total"] == 1 + 4 * 3
    servicenow.control("expire-tokens")
    in_threads(2)
    stats = servicenow.control("stats", method="GET")
    assert hook.calls == stats["total"]  # the 401s and the renewal included
    assert stats["by_endpoint"]["/oauth_token.do"] == 2  # renewed once, not once per thread
    assert len(list(hook.table_query("cmdb_ci_linux_server", "nameSTARTSWITHsrv-", ["name"]))) == 2 * 4 * 3
    hook.close()


def test_429_and_5xx_are_retried(servicenow: Sn) -> None:
    waits: list[float] = []
    hook = ServiceNowHook("sn_basic", retry=FAST, sleep=waits.append)
    servicenow.control("faults", status={"family": "ire", "code": 503, "count": 1}, throttle={"count": 1})
    (outcome,) = hook.identify_reconcile([_server(40)], "Qualys")
    assert outcome.ok and len(waits) == 2


def test_connection_test_reasons(servicenow: Sn, monkeypatch: pytest.MonkeyPatch) -> None:
    assert ServiceNowHook("sn_basic", retry=FAST).test_connection() == (
        True,
        f"Connection OK: {servicenow.url} answers, and 'Qualys' is a discovery source",
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_SN_BAD",
        json.dumps({"conn_type": "servicenow", "host": servicenow.url, "login": "sn_integration", "password": "nope"}),
    )
    ok, message = ServiceNowHook("sn_bad", retry=FAST).test_connection()
    assert not ok and message.startswith("Wrong credentials") and "nope" not in message
    servicenow.control("discovery-sources", values=["ServiceNow"])
    ok, message = ServiceNowHook("sn_basic", retry=FAST).test_connection()
    assert not ok and "'Qualys' is not a discovery_source choice" in message


# ---------------------------------------------------------------------------------------------- API timeout, TLS
def test_the_hook_follows_the_api_timeout_property() -> None:
    from qualys_cmdb.config import Properties

    hook = ServiceNowHook.for_properties(Properties(api_timeout_ms=2500, cmdb_connection_id="sn_prod"))
    assert hook.timeout_s == 2.5 and hook.servicenow_conn_id == "sn_prod"


@pytest.mark.parametrize("phase", ["headers", "body"])
def test_an_answer_dribbled_for_a_minute_ends_at_the_api_timeout(monkeypatch: pytest.MonkeyPatch, phase: str) -> None:
    """Headers or a body sent four bytes at a time (each socket read well within the timeout) are cut at the
    deadline of the whole exchange, and the error says so and which setting to raise."""
    from qualys_cmdb.hooks.servicenow import ServiceNowUnreachable

    from tests.integration.slow_http import DribblingServer, http_response

    filler = " " * 2400  # a minute at 4 bytes per 0.1 s
    if phase == "headers":
        response, dribble_from = http_response("200 OK", {"Content-Type": "application/json", "X-Filler": filler}), 0
    else:
        body = f'{{"result": []{filler}}}'.encode()
        response = http_response("200 OK", {"Content-Type": "application/json", "Content-Length": str(len(body))}, body)
        dribble_from = len(response) - len(body) + 10
    with DribblingServer(response, dribble_from=dribble_from) as server:
        monkeypatch.setenv(
            "AIRFLOW_CONN_SN_SLOW",
            json.dumps({"conn_type": "servicenow", "host": server.url, "login": "u", "password": "p"}),
        )
        waits: list[float] = []
        hook = ServiceNowHook("sn_slow", timeout_s=1, retry=SnRetryPolicy(max_attempts=2), sleep=waits.append)
        with pytest.raises(ServiceNowUnreachable) as err:
            list(hook.table_query("cmdb_ci_server"))
        assert server.requests == 2 and len(waits) == 1 and not server.answered.is_set()  # retried per the policy
    message = str(err.value)
    assert "GET /api/now/table/cmdb_ci_server timed out after 1 s, the limit for the whole exchange" in message
    progress = "the response headers were not complete" if phase == "headers" else "bytes of the response body"
    assert progress in message and "raise properties.api_timeout_ms (now 1000 ms)" in message


def test_a_ca_bundle_path_in_the_connection_is_trusted(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    bundle = tmp_path / "corporate-ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    for value, expected in [(str(bundle), str(bundle)), ("false", False), (True, True)]:
        monkeypatch.setenv(
            "AIRFLOW_CONN_SN_TLS",
            json.dumps(
                {"conn_type": "servicenow", "host": "https://example.service-now.com", "extra": {"verify": value}}
            ),
        )
        hook = ServiceNowHook("sn_tls")
        hook._load()  # reads the connection and builds the session; no request is sent
        assert hook._session is not None and hook._session.verify == expected
