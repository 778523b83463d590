"""The simulators' latency profile (``--latency-profile``, ``/sim/control/latency``, ``modelled`` stats).

Real HTTP against simulators started here.  Nothing depends on wall time: the assertions are on counts and on
the recorded modelled seconds (deterministic functions of each request).  A request is held in its modelled
wait by a large modelled time; the test waits for the stats to show it in flight (polling, generous timeout),
and lets it go by clearing the profile, which ends every modelled wait in progress.
"""

from __future__ import annotations

import functools
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from simulators.latency import LatencyProfile
from simulators.pacing import FifoSemaphore
from simulators.qualys import server as qualys_server
from simulators.qualys.server import QualysSimulator
from simulators.servicenow import server as servicenow_server
from simulators.servicenow import table_api
from simulators.servicenow.server import ServiceNowSimulator

Q_USER, Q_PASSWORD = "qualys_demo", "demo-Passw0rd"
SN_AUTH = ("sn_integration", "sn-Passw0rd")
SN_JSON = {"Accept": "application/json", "Content-Type": "application/json"}
FO_HEADERS = {"X-Requested-With": "pytest"}
HOLD_S = 600.0  # a modelled time no test waits out: clearing the profile lets the request go
#: A Qualys profile whose every modelled time is 0 (for the limit tests).
QUALYS_FREE = {
    "csam_request_s": 0,
    "csam_per_asset_s": 0,
    "csam_per_software_row_s": 0,
    "csam_per_detail_row_s": 0,
    "qps_request_s": 0,
    "qps_per_asset_s": 0,
}


@pytest.fixture(scope="module")
def qualys() -> Iterator[QualysSimulator]:
    simulator = QualysSimulator(host="127.0.0.1", port=0, assets=40, seed=7).start()
    try:
        yield simulator
    finally:
        simulator.stop()


@pytest.fixture(scope="module")
def snow() -> Iterator[ServiceNowSimulator]:
    simulator = ServiceNowSimulator(host="127.0.0.1", port=0).start()
    try:
        yield simulator
    finally:
        simulator.stop()


@pytest.fixture(autouse=True)
def _clean(request: pytest.FixtureRequest) -> Iterator[None]:
    """Each test starts without a profile and with zeroed stats, and leaves no profile behind."""
    sims = [request.getfixturevalue(name) for name in ("qualys", "snow") if name in request.fixturenames]
    for sim in sims:
        requests.delete(sim.url + "/sim/control/latency", timeout=10).raise_for_status()
        requests.delete(sim.url + "/sim/control/stats", timeout=10).raise_for_status()
    yield
    for sim in sims:
        requests.delete(sim.url + "/sim/control/latency", timeout=10)
        requests.delete(sim.url + "/sim/control/faults", timeout=10)


# ----------------------------------------------------------------------------- helpers
def set_profile(sim: Any, document: dict[str, Any] | None) -> Any:
    response = requests.post(sim.url + "/sim/control/latency", data=json.dumps(document), timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def modelled(sim: Any, family: str) -> dict[str, Any]:
    stats = requests.get(sim.url + "/sim/control/stats", timeout=10).json()
    return stats["modelled"].get(family, {})  # type: ignore[no-any-return]


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Poll ``condition`` until it holds (fails after a generous timeout, never a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


class InThread:
    """Send one request in a background thread; ``result()`` joins it."""

    def __init__(self, send: Callable[[], requests.Response]) -> None:
        self._response: requests.Response | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(send,), daemon=True)
        self._thread.start()

    def _run(self, send: Callable[[], requests.Response]) -> None:
        try:
            self._response = send()
        except BaseException as exc:  # re-raised in result()
            self._error = exc

    def result(self) -> requests.Response:
        self._thread.join(timeout=60)
        assert not self._thread.is_alive(), "the request did not finish"
        if self._error is not None:
            raise self._error
        assert self._response is not None
        return self._response


def jwt(sim: QualysSimulator) -> str:
    response = requests.post(
        sim.url + "/auth", data={"username": Q_USER, "password": Q_PASSWORD, "token": "true"}, timeout=10
    )
    assert response.status_code == 201, response.text
    return response.text


def csam_search(sim: QualysSimulator, token: str, **params: Any) -> requests.Response:
    return requests.post(
        sim.url + "/rest/2.0/search/am/asset",
        params=params,
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )


def fo_list(sim: QualysSimulator) -> requests.Response:
    return requests.get(
        sim.url + "/api/2.0/fo/asset/ip/",
        params={"action": "list"},
        headers=FO_HEADERS,
        auth=(Q_USER, Q_PASSWORD),
        timeout=60,
    )


def ire_payload() -> dict[str, Any]:
    """Two servers with three related software instances each, and a file system on the first (dependent)."""
    items: list[dict[str, Any]] = [
        {
            "className": "cmdb_ci_linux_server",
            "values": {"name": f"lat{n}", "serial_number": f"LAT-{n}"},
            "related": [{"className": "cmdb_software_instance", "values": {"name": f"pkg{k}"}} for k in range(3)],
        }
        for n in range(2)
    ]
    items.append({"className": "cmdb_ci_file_system", "values": {"name": "/", "mount_point": "/"}})
    return {"items": items, "relations": [{"parent": 0, "child": 2, "type": "Contains::Contained by"}]}


def ire_post(sim: ServiceNowSimulator, payload: dict[str, Any] | None = None, **headers: str) -> requests.Response:
    return requests.post(
        sim.url + "/api/now/identifyreconcile",
        params={"sysparm_data_source": "Qualys"},
        json=payload or ire_payload(),
        auth=SN_AUTH,
        headers={**SN_JSON, **headers},
        timeout=60,
    )


def table_get(sim: ServiceNowSimulator, session: str | None = None, limit: int = 5) -> requests.Response:
    headers = dict(SN_JSON)
    if session is not None:
        headers["Cookie"] = f"JSESSIONID={session}"
    return requests.get(
        sim.url + "/api/now/table/cmdb_ci", params={"sysparm_limit": limit}, auth=SN_AUTH, headers=headers, timeout=60
    )


# ----------------------------------------------------------------------------- the profile itself
@pytest.mark.parametrize("name", ["qualys", "snow"])
def test_the_profile_from_the_control_endpoint_round_trips(name: str, request: pytest.FixtureRequest) -> None:
    sim = request.getfixturevalue(name)
    url = sim.url + "/sim/control/latency"
    assert requests.get(url, timeout=10).json() is None  # none by default
    document = {"scale": 0.5, "qualys": {"concurrency": 3}, "servicenow": {"semaphore": 2, "queue": 7}}
    expected = LatencyProfile.from_json(document).to_json()
    assert set_profile(sim, document) == expected
    assert requests.get(url, timeout=10).json() == expected
    assert LatencyProfile.from_json(requests.get(url, timeout=10).json()) == LatencyProfile.from_json(document)
    assert set_profile(sim, {}) == LatencyProfile().to_json()  # {} = the defaults
    bad = requests.post(url, json={"servicenow": {"semaphores": 2}}, timeout=10)
    assert bad.status_code == 400 and "semaphores" in bad.json()["error"]
    assert requests.get(url, timeout=10).json() == LatencyProfile().to_json()  # a bad document changes nothing
    assert set_profile(sim, None) is None
    assert requests.get(url, timeout=10).json() is None
    set_profile(sim, {})
    assert requests.delete(url, timeout=10).json() is None


@pytest.mark.parametrize("module", [qualys_server, servicenow_server], ids=["qualys", "servicenow"])
def test_a_bad_latency_profile_on_the_command_line_exits_with_a_clear_message(
    module: Any, capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    with pytest.raises(SystemExit) as exited:
        module.main(["--port", "0", "--latency-profile", '{"qualys": {"concurency": 2}}'])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "--latency-profile" in err and "unknown qualys setting(s) ['concurency']" in err
    with pytest.raises(SystemExit):
        module.main(["--port", "0", "--latency-profile", str(tmp_path / "missing.json")])
    assert "cannot read" in capsys.readouterr().err
    profile = tmp_path / "profile.json"
    profile.write_text('{"scale": 0.25, "servicenow": {"semaphore": 8}}', encoding="utf-8")
    args = module.build_parser().parse_args(["--latency-profile", str(profile)])
    assert args.latency_profile == LatencyProfile.from_json({"scale": 0.25, "servicenow": {"semaphore": 8}})
    assert module.build_parser().parse_args(["--latency-profile", "default"]).latency_profile == LatencyProfile()
    assert module.build_parser().parse_args([]).latency_profile is None


def test_the_constructor_takes_a_profile() -> None:
    profile = LatencyProfile.from_json({"scale": 0.001})
    with ServiceNowSimulator(port=0, latency=profile) as snow, QualysSimulator(port=0, assets=5, latency=profile) as q:
        for sim in (snow, q):
            assert requests.get(sim.url + "/sim/control/latency", timeout=10).json() == profile.to_json()
        snow.stop()  # the profile outlives a restart, and still paces
        snow.start()
        assert requests.get(snow.url + "/sim/control/latency", timeout=10).json() == profile.to_json()
        assert table_get(snow, limit=1).status_code == 200
        assert modelled(snow, "table")["modelled_s"] == pytest.approx(profile.servicenow.table_s(0) * 0.001)


# ----------------------------------------------------------------------------- Qualys: modelled seconds
def test_a_csam_page_is_charged_csam_page_s_of_what_it_carries(qualys: QualysSimulator) -> None:
    profile = LatencyProfile.from_json({"scale": 1e-6})
    set_profile(qualys, profile.to_json())
    token = jwt(qualys)
    expected = 0.0
    for params in ({"pageSize": 7}, {"pageSize": 5, "lastSeenAssetId": 0, "excludeFields": "softwareListData"}):
        page = csam_search(qualys, token, **params)
        assert page.status_code == 200
        assets = page.json()["assetListData"]["asset"]
        software = sum(len((a.get("softwareListData") or {}).get("software") or []) for a in assets)
        details = sum(
            len((a.get(key) or {}).get(inner) or [])
            for a in assets
            for key, inner in (
                ("openPortListData", "openPort"),
                ("volumeListData", "volume"),
                ("networkInterfaceListData", "networkInterface"),
            )
        )
        assert len(assets) == params["pageSize"] and details > 0
        assert (software > 0) == ("excludeFields" not in params)
        expected += profile.qualys.csam_page_s(len(assets), software, details) * profile.scale
    csam = modelled(qualys, "csam")
    assert csam["requests"] == 2 and csam["rejected"] == 0
    assert csam["modelled_s"] == pytest.approx(expected, rel=1e-9)
    assert csam["server_s"] >= csam["modelled_s"]  # never answered before the modelled time
    assert csam["peak_in_flight"] == 1 and csam["in_flight"] == 0
    auth = modelled(qualys, "auth")  # the gateway's other requests: csam_request_s
    assert auth["requests"] == 1 and auth["modelled_s"] == pytest.approx(profile.qualys.csam_request_s * 1e-6)


def test_qps_hostasset_pages_and_fo_calls_are_charged_on_the_api_server(qualys: QualysSimulator) -> None:
    profile = LatencyProfile.from_json({"scale": 1e-6})
    set_profile(qualys, profile.to_json())
    body = '{"ServiceRequest": {"preferences": {"limitResults": 4}}}'
    page = requests.post(
        qualys.url + "/qps/rest/2.0/search/am/hostasset",
        data=body,
        headers={"Content-Type": "application/json", "Accept": "application/json"},
        auth=(Q_USER, Q_PASSWORD),
        timeout=60,
    )
    assert page.status_code == 200
    hosts = page.json()["ServiceResponse"]["count"]
    assert hosts == 4
    count = requests.post(
        qualys.url + "/qps/rest/2.0/count/am/hostasset",
        data=body,
        headers={"Content-Type": "application/json", "Accept": "application/json"},
        auth=(Q_USER, Q_PASSWORD),
        timeout=60,
    )
    assert count.status_code == 200
    qps = modelled(qualys, "qps")
    model = profile.qualys
    assert qps["requests"] == 2
    assert qps["modelled_s"] == pytest.approx((model.qps_page_s(hosts) + model.qps_request_s) * 1e-6, rel=1e-9)
    assert fo_list(qualys).status_code == 200
    assert modelled(qualys, "fo")["modelled_s"] == pytest.approx(model.qps_request_s * 1e-6, rel=1e-9)


def test_without_a_profile_requests_are_counted_but_not_modelled(qualys: QualysSimulator) -> None:
    token = jwt(qualys)
    assert csam_search(qualys, token, pageSize=3).status_code == 200
    csam = modelled(qualys, "csam")
    assert (csam["requests"], csam["modelled_s"], csam["peak_in_flight"]) == (1, 0.0, 1)
    headers = csam_search(qualys, token, pageSize=3).headers
    assert "X-RateLimit-Limit" not in headers  # no gateway limit without a profile (or a fault)


# ----------------------------------------------------------------------------- Qualys: the subscription's limits
def test_the_gateway_answers_429_once_rate_limit_calls_were_made_in_the_window(qualys: QualysSimulator) -> None:
    set_profile(qualys, {"qualys": {**QUALYS_FREE, "rate_limit": 3, "rate_window_s": 3600, "concurrency": 2}})
    token = jwt(qualys)
    remaining = []
    for _ in range(3):
        page = csam_search(qualys, token, pageSize=2)
        assert page.status_code == 200
        assert page.headers["X-RateLimit-Limit"] == "3" and page.headers["X-RateLimit-Window-Sec"] == "3600"
        assert page.headers["X-ConcurrencyLimit-Limit"] == "2"
        remaining.append(page.headers["X-RateLimit-Remaining"])
    assert remaining == ["2", "1", "0"]
    refused = csam_search(qualys, token, pageSize=2)
    assert refused.status_code == 429
    assert refused.json()["error"] == "Too Many Requests"
    assert refused.headers["X-RateLimit-Remaining"] == "0" and int(refused.headers["X-RateLimit-ToWait-Sec"]) > 0
    count = requests.post(
        qualys.url + "/rest/2.0/count/am/asset", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert count.status_code == 200  # only the search endpoint is limited
    csam = modelled(qualys, "csam")
    assert (csam["requests"], csam["rejected"]) == (4, 1)  # three pages and the count; the 429 is not worked on
    set_profile(qualys, {"qualys": {**QUALYS_FREE, "rate_limit": 3}})  # a new profile: a fresh window
    assert csam_search(qualys, token, pageSize=2).status_code == 200


@pytest.mark.parametrize("api", ["csam", "fo"])
def test_the_concurrency_gate_refuses_a_call_over_the_limit(qualys: QualysSimulator, api: str) -> None:
    # One call is held by a long modelled time; the other, over the concurrency limit of 1, is refused at once
    # (whichever of the two reaches the gate second): 429 on the gateway, 409 CODE 1960 on FO.
    token = jwt(qualys)  # before the profile: /auth is charged csam_request_s too
    set_profile(
        qualys,
        {"qualys": {**QUALYS_FREE, "csam_request_s": HOLD_S, "qps_request_s": HOLD_S, "concurrency": 1}},
    )

    def call() -> requests.Response:
        return csam_search(qualys, token, pageSize=2) if api == "csam" else fo_list(qualys)

    first = InThread(call)
    wait_for(lambda: modelled(qualys, api).get("in_flight") == 1, "the first call in flight")
    second = InThread(call)
    wait_for(lambda: modelled(qualys, api).get("rejected") == 1, "a call refused")
    set_profile(qualys, None)  # lets the held call go
    responses = sorted((first.result(), second.result()), key=lambda r: r.status_code)
    ok, refused = responses
    assert ok.status_code == 200
    if api == "csam":
        assert refused.status_code == 429 and refused.json()["status"] == 429
        assert refused.headers["X-ConcurrencyLimit-Limit"] == "1"
    else:
        assert refused.status_code == 409 and "<CODE>1960</CODE>" in refused.text
        assert refused.headers["X-Concurrency-Limit-Limit"] == "1"
    counters = modelled(qualys, api)
    assert (counters["requests"], counters["rejected"]) == (1, 1)
    assert counters["modelled_s"] == pytest.approx(HOLD_S)  # the modelled time is recorded, not waited out


# ----------------------------------------------------------------------------- ServiceNow: modelled seconds
def test_ire_and_table_requests_are_charged_by_their_content(snow: ServiceNowSimulator) -> None:
    profile = LatencyProfile.from_json({"scale": 1e-6})
    set_profile(snow, profile.to_json())
    response = ire_post(snow)
    assert response.status_code == 200, response.text
    model = profile.servicenow
    ire = modelled(snow, "ire")
    assert ire["requests"] == 1
    # two main CIs, six related entries, one dependent item (the file system)
    assert ire["modelled_s"] == pytest.approx(model.ire_s(2, 6, 1) * 1e-6, rel=1e-9)
    assert ire["server_s"] >= ire["modelled_s"]
    rows = table_get(snow, limit=2).json()["result"]
    assert len(rows) == 2
    table = modelled(snow, "table")
    assert table["requests"] == 1 and table["modelled_s"] == pytest.approx(model.table_s(2) * 1e-6, rel=1e-9)


def test_replies_set_a_session_cookie_when_the_request_has_none(snow: ServiceNowSimulator) -> None:
    fresh = table_get(snow)
    cookie = fresh.cookies.get("JSESSIONID")
    assert cookie and len(cookie) == 32
    assert "JSESSIONID" not in table_get(snow, session=cookie).cookies  # the session is kept, not replaced
    assert table_get(snow).cookies.get("JSESSIONID") != cookie  # each cookie-less request: a new session


# ----------------------------------------------------------------------------- ServiceNow: the API_INT semaphore
def test_with_semaphore_1_and_queue_0_a_second_ire_request_gets_429(snow: ServiceNowSimulator) -> None:
    document = {"servicenow": {"request_s": HOLD_S, "semaphore": 1, "queue": 0}}
    set_profile(snow, document)
    first = InThread(lambda: ire_post(snow))
    wait_for(lambda: modelled(snow, "ire").get("in_flight") == 1, "the first IRE request in flight")
    second = ire_post(snow)  # no cookie: another session; answered at once
    assert second.status_code == 429
    assert second.json() == {
        "error": {"message": "Too Many Requests", "detail": second.json()["error"]["detail"]},
        "status": "failure",
    }
    assert not any(name.lower().startswith("x-ratelimit") for name in second.headers)
    set_profile(snow, None)
    assert first.result().status_code == 200
    ire = modelled(snow, "ire")
    assert (ire["requests"], ire["rejected"], ire["peak_in_flight"]) == (1, 1, 1)
    assert ire["modelled_s"] == pytest.approx(LatencyProfile.from_json(document).servicenow.ire_s(2, 6, 1))


def test_the_semaphore_queue_holds_waiters_and_refuses_beyond_it(snow: ServiceNowSimulator) -> None:
    set_profile(snow, {"servicenow": {"request_s": HOLD_S, "semaphore": 1, "queue": 1}})
    first = InThread(lambda: table_get(snow))
    wait_for(lambda: modelled(snow, "table").get("in_flight") == 1, "the first request in flight")
    queued = InThread(lambda: table_get(snow))
    wait_for(lambda: modelled(snow, "table").get("waiting") == 1, "the second request queued")
    assert table_get(snow).status_code == 429  # the queue is full
    set_profile(snow, None)
    assert (first.result().status_code, queued.result().status_code) == (200, 200)
    table = modelled(snow, "table")
    assert (table["requests"], table["rejected"], table["peak_in_flight"], table["waiting"]) == (2, 1, 1, 0)


def test_requests_of_one_session_are_worked_on_one_at_a_time(snow: ServiceNowSimulator) -> None:
    set_profile(snow, {"servicenow": {"request_s": HOLD_S, "semaphore": 4}})
    first = InThread(lambda: table_get(snow, session="SESSION-A"))
    wait_for(lambda: modelled(snow, "table").get("in_flight") == 1, "the first request in flight")
    second = InThread(lambda: table_get(snow, session="SESSION-A"))
    wait_for(lambda: modelled(snow, "table").get("waiting") == 1, "the same-session request waiting")
    assert modelled(snow, "table")["peak_in_flight"] == 1
    set_profile(snow, None)
    assert (first.result().status_code, second.result().status_code) == (200, 200)
    assert modelled(snow, "table")["peak_in_flight"] == 1  # never overlapped

    requests.delete(snow.url + "/sim/control/stats", timeout=10).raise_for_status()
    set_profile(snow, {"servicenow": {"request_s": HOLD_S, "semaphore": 4}})
    first = InThread(lambda: table_get(snow, session="SESSION-A"))
    second = InThread(lambda: table_get(snow, session="SESSION-B"))
    wait_for(lambda: modelled(snow, "table").get("in_flight") == 2, "two sessions in flight at once")
    set_profile(snow, None)
    assert (first.result().status_code, second.result().status_code) == (200, 200)
    table = modelled(snow, "table")
    assert (table["requests"], table["peak_in_flight"]) == (2, 2)


def test_without_a_profile_one_session_is_not_serialised(
    snow: ServiceNowSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Held inside the Table API until both are there (not by a profile): two same-session requests at once.
    both_in = threading.Barrier(2, timeout=30)
    real = table_api.handle

    def held(inst: Any, req: Any, user: Any) -> Any:
        both_in.wait()
        return real(inst, req, user)

    monkeypatch.setattr(table_api, "handle", held)
    first = InThread(lambda: table_get(snow, session="SESSION-A"))
    second = InThread(lambda: table_get(snow, session="SESSION-A"))
    assert (first.result().status_code, second.result().status_code) == (200, 200)
    assert modelled(snow, "table")["peak_in_flight"] == 2


# ----------------------------------------------------------------------------- the gate in isolation
def test_the_fifo_semaphore_serves_waiters_in_arrival_order() -> None:
    semaphore = FifoSemaphore(1, 2)
    assert semaphore.acquire()
    order: list[int] = []

    def waiters(count: int) -> bool:
        return len(semaphore._waiters) == count

    def take(n: int) -> None:
        assert semaphore.acquire()
        order.append(n)
        semaphore.release()

    threads = []
    for n in range(2):
        thread = threading.Thread(target=take, args=(n,))
        thread.start()
        threads.append(thread)
        wait_for(functools.partial(waiters, n + 1), f"waiter {n} queued")
    assert not semaphore.acquire()  # two waiting: the queue is full
    semaphore.release()
    for thread in threads:
        thread.join(timeout=30)
    assert order == [0, 1]
    assert semaphore.acquire()  # all given back
