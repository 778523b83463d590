"""Parallel IRE batches (``properties.ire_concurrency``) into the ServiceNow simulator: real Postgres, real HTTP.

Nothing here waits on time. Where a test needs requests to overlap, the simulator's IRE handler is wrapped in a
barrier (:class:`Held`): each IRE request is held inside the simulator until ``parties`` of them are there at
once, so a load that did not keep that many batches in flight could not finish (the barrier's timeout is only a
safety net that turns such a bug into a failure instead of a hang).
"""

from __future__ import annotations

import threading
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import pytest
from qualys_cmdb.approval.decisions import auto_approve, counts
from qualys_cmdb.classify.mappings import load_mappings
from qualys_cmdb.config import ConfigError, parse_config
from qualys_cmdb.hooks.servicenow import ServiceNowHook, ServiceNowUnreachable, SnRetryPolicy
from qualys_cmdb.load.ire import load_approved
from qualys_cmdb.staging.schema import asset_classification
from sqlalchemy import Engine, select, text

from tests.classify.test_classify import run, stage
from tests.conftest import REPO, start_sim, write_config
from tests.integration.test_servicenow_hook import Sn
from tests.load.test_ire_load import cmdb as cmdb  # the fixture

MAPPINGS = load_mappings(REPO / "include" / "mappings")
SERVER = {"os_category_1": "Linux", "os_category_2": "Server"}
IRE_POST = "POST /api/now/identifyreconcile"


class Held:
    """Holds every IRE request inside the simulator until ``parties`` of them are there (a cyclic barrier), and
    notes the ``JSESSIONID`` cookie each one carried (None: the first request of an HTTP session). With
    ``first_only``, only the first ``parties`` requests are held (for a load whose number of batches is not a
    multiple of ``parties``)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, parties: int, first_only: bool = False) -> None:
        from simulators.servicenow import ire

        self.barrier = threading.Barrier(parties, timeout=60)
        self.sessions: list[str | None] = []
        self._lock = threading.Lock()
        real = ire.handle

        def held(inst: Any, req: Any, user: Any) -> Any:
            with self._lock:
                self.sessions.append(_session_cookie(req.header("Cookie")))
                hold = not first_only or len(self.sessions) <= parties
            if hold:
                self.barrier.wait()
            return real(inst, req, user)

        monkeypatch.setattr(ire, "handle", held)


def _session_cookie(header: str | None) -> str | None:
    cookies: SimpleCookie = SimpleCookie()
    cookies.load(header or "")
    morsel = cookies.get("JSESSIONID")
    return morsel.value if morsel is not None else None


def _hook(attempts: int = 3) -> ServiceNowHook:
    return ServiceNowHook("sn_load", retry=SnRetryPolicy(max_attempts=attempts, backoff_s=0.01), sleep=lambda s: None)


def _servers(staging: Engine, n: int) -> list[int]:
    """``n`` Linux servers staged, classified and approved for schedule t."""
    ids = [stage(staging, os=SERVER) for _ in range(n)]
    run(staging)
    auto_approve(staging, "t")
    return ids


def _cis(cmdb: Sn) -> int:
    """Linux server CIs in the simulated CMDB."""
    return int(cmdb.control("cmdb", method="GET")["cmdb_ci"]["by_class"].get("cmdb_ci_linux_server", 0))


def _loaded_sys_ids(staging: Engine) -> list[str]:
    with staging.connect() as conn:
        return list(
            conn.execute(
                select(asset_classification.c.cmdb_sys_id).where(asset_classification.c.state == "loaded")
            ).scalars()
        )


def test_batches_go_out_in_parallel_each_on_its_own_session_and_each_asset_once(
    staging: Engine, cmdb: Sn, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = _servers(staging, 12)
    held = Held(monkeypatch, 3)  # no IRE request is answered before three are in the simulator at once
    hook = _hook(attempts=1)  # a broken barrier must fail the load, not be retried
    try:
        result = load_approved(staging, hook, MAPPINGS, "t", batch_size=2, concurrency=3)
    finally:
        hook.close()
    assert (result.sent, result.loaded, result.failed) == (12, 12, 0)
    assert (result.batches, result.calls, result.peak_in_flight) == (6, 6, 3)  # one IRE call per batch
    assert result.operations == {"INSERT": 12}
    stats = cmdb.control("stats", method="GET")
    assert stats["by_method_endpoint"][IRE_POST] == 6
    assert stats["modelled"]["ire"]["peak_in_flight"] >= 3  # the simulator had three IRE requests at once
    # each CI once, each asset once
    sys_ids = _loaded_sys_ids(staging)
    assert _cis(cmdb) == 12 and len(set(sys_ids)) == 12
    assert counts(staging, "t") == {"loaded": 12}
    with staging.connect() as conn:
        assert set(conn.execute(select(asset_classification.c.asset_id)).scalars()) == set(ids)
    # one HTTP session per worker: three new sessions, then each worker's own cookie (none shared)
    first, second = held.sessions[:3], held.sessions[3:]
    assert first == [None, None, None]
    assert None not in second and len(set(second)) == 3


def test_one_batch_at_a_time_sends_as_many_calls_as_before_on_one_session(
    staging: Engine, cmdb: Sn, monkeypatch: pytest.MonkeyPatch
) -> None:
    _servers(staging, 5)
    held = Held(monkeypatch, 1)
    hook = _hook()
    try:
        result = load_approved(staging, hook, MAPPINGS, "t", batch_size=2, concurrency=1)
    finally:
        hook.close()
    assert (result.loaded, result.batches, result.calls, result.peak_in_flight) == (5, 3, 3, 1)
    assert held.sessions[0] is None and held.sessions[1] is not None and len(set(held.sessions[1:])) == 1
    assert cmdb.control("stats", method="GET")["by_method_endpoint"][IRE_POST] == 3
    assert _cis(cmdb) == 5


def test_a_free_connection_takes_the_waiting_batch_before_the_answer_before_it_is_recorded(
    staging: Engine, cmdb: Sn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One connection: the second batch goes out as soon as the first is answered, while the first's outcomes are
    still being stored (the connection never waits for this thread). Recording the first batch here waits until the
    simulator has the second request: a load that recorded before it sent on could not finish."""
    from qualys_cmdb.load import ire as load_ire

    from simulators.servicenow import ire

    _servers(staging, 4)
    second_request = threading.Event()
    arrived = 0
    real_handle, real_record = ire.handle, load_ire._record_batch

    def handle(inst: Any, req: Any, user: Any) -> Any:
        nonlocal arrived
        arrived += 1  # one connection: the simulator's requests come one at a time
        if arrived == 2:
            second_request.set()
        return real_handle(inst, req, user)

    recorded_while_second_in_flight: list[bool] = []

    def record(*args: Any, **kwargs: Any) -> Any:
        if not recorded_while_second_in_flight:
            recorded_while_second_in_flight.append(second_request.wait(timeout=60))  # the timeout: a safety net
        return real_record(*args, **kwargs)

    monkeypatch.setattr(ire, "handle", handle)
    monkeypatch.setattr(load_ire, "_record_batch", record)
    hook = _hook()
    try:
        result = load_approved(staging, hook, MAPPINGS, "t", batch_size=2, concurrency=1)
    finally:
        hook.close()
    assert recorded_while_second_in_flight == [True]
    assert (result.loaded, result.batches, result.calls, result.peak_in_flight) == (4, 2, 2, 1)
    assert counts(staging, "t") == {"loaded": 4} and _cis(cmdb) == 4


def test_a_parallel_batch_that_fails_records_nothing_of_its_own_and_a_rerun_sends_it_once(
    staging: Engine, cmdb: Sn
) -> None:
    _servers(staging, 6)
    cmdb.control("faults", status={"family": "ire", "code": 500, "count": 1})  # one of the three batches
    hook = _hook(attempts=1)  # no retry: that batch's request fails
    with pytest.raises(ServiceNowUnreachable, match="HTTP 500"):
        load_approved(staging, hook, MAPPINGS, "t", batch_size=2, concurrency=3)
    # the two other batches were in flight: they were recorded before the load failed; the failed one stays approved
    assert counts(staging, "t") == {"loaded": 4, "approved": 2}
    assert _cis(cmdb) == 4 and len(set(_loaded_sys_ids(staging))) == 4
    rerun = load_approved(staging, hook, MAPPINGS, "t", batch_size=2, concurrency=3)
    hook.close()
    assert (rerun.sent, rerun.batches, rerun.calls, rerun.operations) == (2, 1, 1, {"INSERT": 2})
    assert counts(staging, "t") == {"loaded": 6}
    assert _cis(cmdb) == 6 and len(set(_loaded_sys_ids(staging))) == 6  # no duplicate CI


@pytest.mark.parametrize("answer", ["drop", 504])
def test_an_answer_lost_after_commit_on_a_parallel_batch_writes_no_ci_twice(
    staging: Engine, cmdb: Sn, answer: object
) -> None:
    _servers(staging, 6)
    cmdb.control("faults", after_commit={"family": "ire", "count": 1, "answer": answer})
    hook = _hook()
    try:
        result = load_approved(staging, hook, MAPPINGS, "t", batch_size=2, concurrency=3)
    finally:
        hook.close()
    # the batch whose answer was lost went again (IRE is idempotent): found by the Qualys asset id, not inserted
    assert (result.loaded, result.batches, result.calls) == (6, 3, 4)
    assert result.operations.get("INSERT") == 4 and sum(result.operations.values()) == 6
    assert set(result.operations) <= {"INSERT", "UPDATE", "NO_CHANGE"}
    assert counts(staging, "t") == {"loaded": 6}
    assert _cis(cmdb) == 6 and len(set(_loaded_sys_ids(staging))) == 6


def test_the_lifetime_stops_new_batches_and_records_those_in_flight(
    staging: Engine, cmdb: Sn, monkeypatch: pytest.MonkeyPatch
) -> None:
    from qualys_cmdb.lifetime import Lifetime

    _servers(staging, 10)
    Held(monkeypatch, 3)  # the three batches sent are in the simulator at once
    looks = iter([0.0] + [0.0] * 2 + [3600.0] * 100)  # created; two looks within the lifetime; then over
    lifetime = Lifetime(10, clock=lambda: next(looks))
    hook = _hook()
    try:
        result = load_approved(staging, hook, MAPPINGS, "t", batch_size=2, concurrency=3, lifetime=lifetime)
    finally:
        hook.close()
    # the first batch needs no look; the 2nd and 3rd were within the lifetime; the 4th was never sent
    assert (result.batches, result.loaded, result.calls, result.peak_in_flight) == (3, 6, 3, 3)
    assert result.stopped_reason == "max transaction lifetime of 10 min reached after 3 batch(es), 6 asset(s) sent"
    assert counts(staging, "t") == {"loaded": 6, "approved": 4}


# ---------------------------------------------------------------------------------------------- the setting
_CONFIG = "sources: [{name: s, pod: US1, connection_id: c}]\nproperties:\n"


def test_ire_concurrency_is_two_by_default_and_from_1_to_16() -> None:
    assert parse_config(_CONFIG + "  ire_batch_size: 200\n").properties.ire_concurrency == 2
    for ok in (1, 16):
        assert parse_config(_CONFIG + f"  ire_concurrency: {ok}\n").properties.ire_concurrency == ok
    for bad in ("0", "17", "2.5", "true", "'3'", "many"):
        with pytest.raises(ConfigError) as refused:
            parse_config(_CONFIG + f"  ire_concurrency: {bad}\n")
        assert len(refused.value.problems) == 1
        problem = refused.value.problems[0]
        assert problem.startswith("properties.ire_concurrency: must be a whole number from 1 to 16 (IRE batches in ")
        assert "1 sends one batch at a time" in problem


def test_config_validate_reads_the_setting_and_says_when_it_is_not_used(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from qualys_cmdb.cli import main

    path = tmp_path / "qualys_cmdb.yaml"
    path.write_text(_CONFIG + "  ire_concurrency: 4\n")
    assert main(["config", "validate", str(path)]) == 0
    assert "warning" not in capsys.readouterr().out
    path.write_text(_CONFIG + "  ire_concurrency: 4\n  insertion_method: transform_map\n")
    assert main(["config", "validate", str(path)]) == 0
    assert "warning: properties.ire_concurrency: not used, as the CMDB is written through the transform map" in (
        capsys.readouterr().out
    )
    path.write_text(_CONFIG + "  ire_concurrency: 0\n")
    assert main(["config", "validate", str(path)]) == 1
    assert "properties.ire_concurrency: must be a whole number from 1 to 16" in capsys.readouterr().err


def test_the_load_task_sends_ire_concurrency_batches_at_once(
    airflow_db: None, staging: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import requests

    from tests.faults.harness import run_dag, start_cmdb

    sim = start_sim(monkeypatch, assets=24, seed=3)
    cmdb = start_cmdb(monkeypatch)
    Held(monkeypatch, 3, first_only=True)  # the first three IRE requests are answered once all three are there
    try:
        path = write_config(tmp_path, monkeypatch, batch=10, schedule_extra="    auto_approve: true")
        path.write_text(path.read_text() + "  ire_batch_size: 4\n  ire_concurrency: 3\n")
        run_dag()
        with staging.connect() as conn:
            details = (
                conn.execute(
                    text(
                        "SELECT details FROM qcmdb.app_log WHERE component = 'load' "
                        "AND details ->> 'peak_in_flight' IS NOT NULL ORDER BY id"
                    )
                )
                .scalars()
                .first()
            )
            by_class = dict(
                conn.execute(
                    text(
                        "SELECT cmdb_class, count(DISTINCT cmdb_sys_id) FROM qcmdb.asset_classification "
                        "WHERE state = 'loaded' GROUP BY 1"
                    )
                ).all()
            )
            loaded = conn.execute(
                text("SELECT count(*) FROM qcmdb.asset_classification WHERE state = 'loaded'")
            ).scalar_one()
        assert details["peak_in_flight"] == 3 and details["batches"] == details["cmdb_calls"] >= 3
        assert sum(by_class.values()) == loaded > 0  # no two assets hold one CI
        in_cmdb = requests.get(f"{cmdb.url}/sim/control/cmdb", timeout=30).json()["cmdb_ci"]["by_class"]
        assert {c: in_cmdb.get(c) for c in by_class} == by_class  # each CI once
    finally:
        sim.sim.stop()
        cmdb.stop()
