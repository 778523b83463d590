"""The scenarios `make e2e` proves through the real scheduler and the Celery workers (never ``dag.test()``).

a. an intake run end to end, its mapped ``parse`` task instances spread over the workers as they are free;
b. runs waiting for approval, answered through Airflow's REST API (HITL) and through the plugin's endpoint;
c. ``airflow backfill create`` over two past intervals;
d. a worker killed with SIGKILL mid-load, the load retried on the other worker, nothing lost or duplicated;
e. the CMDB → Qualys DAG and the housekeeping DAGs;
f. a first sync in page groups: one run triggered, each run starting the next, two runs at a time, every asset once.

Each scenario returns an :class:`~e2e_checks.Outcome` (facts for the report, problems that fail it) and records the
runs it made, whose task instances the report places on the workers.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import e2e_checks as checks
from e2e_airflow import AirflowApi, TaskTry, wait_for
from e2e_config import (
    BACKFILL,
    GROUPS,
    HITL,
    HOUSEKEEPING_DAGS,
    INTAKE,
    KILLED,
    PAGE_SIZE,
    PARSERS,
    REVERSE,
    REVERSE_DAG,
    REVIEW,
    Slice,
)
from e2e_env import add_acquired_cis
from e2e_spread import idle_while_waiting
from e2e_topology import Stack
from sqlalchemy import Engine

RUN_TIMEOUT_S = 480  # one DAG run, start to end (a retry after a killed worker included)
BACKFILL_FROM, BACKFILL_TO = "2025-06-01", "2025-07-01"  # two monthly intervals: June and July 2025
CMDB_LATENCY_MS = 1500  # while a worker is killed mid-load: each IRE call of the load takes this long


@dataclass
class E2E:
    """What the scenarios share: the running stack, the REST API, the estate, staging, and the runs made."""

    stack: Stack
    api: AirflowApi
    estate: checks.Estate
    staging: Engine
    runs: list[tuple[str, str]] = field(default_factory=list)  # (dag id, run id), in the order they were made
    extra_tries: dict[tuple[str, str], list[TaskTry]] = field(default_factory=dict)  # retried tasks' earlier tries

    def trigger(self, dag_id: str) -> str:
        run_id = self.api.trigger(dag_id)
        self.runs.append((dag_id, run_id))
        return run_id

    def worker_hosts(self) -> set[str]:
        return set(self.stack.workers.values())


@dataclass(frozen=True)
class Scenario:
    letter: str
    title: str
    run: Callable[[E2E], checks.Outcome]


# ------------------------------------------------------------------------------------------------------------ a
def intake_over_the_workers(e2e: E2E) -> checks.Outcome:
    """a. A triggered intake run end to end through load, ``parse`` mapped over the workers as they are free."""
    out = checks.Outcome()
    run_id = e2e.trigger(INTAKE.dag_id)
    e2e.api.wait_run(INTAKE.dag_id, run_id, RUN_TIMEOUT_S)
    out.facts.append(f"{INTAKE.dag_id} run {run_id}: success")
    parses = [t for t in e2e.api.task_tries(INTAKE.dag_id, run_id) if t.task_id == "parse"]
    hosts = {t.hostname for t in parses}
    # which worker takes a task is timing; a task waiting for its worker while the other one ran nothing is a fault
    idle = _idle_while_a_parse_waited(e2e, parses)
    out.expect(
        len(parses) >= 2 and idle is None,
        f"parse: {len(parses)} mapped task instances on {', '.join(sorted(hosts))}"
        + ("" if hosts == e2e.worker_hosts() else "; the other worker was busy whenever one of them waited"),
        f"parse: {len(parses)} mapped task instance(s) on {sorted(hosts)} (workers {sorted(e2e.worker_hosts())}, "
        f"PARSERS={PARSERS}): {idle or 'expected several'}",
    )
    return out.merge(_run_record(e2e, INTAKE, run_id)).merge(_slice_synced(e2e, INTAKE)).merge(checks.no_duplicates())


def _idle_while_a_parse_waited(e2e: E2E, parses: list[TaskTry]) -> str | None:
    """What was wrong if a ``parse`` instance waited for its worker while the other one was idle; None if none."""
    moments = [t.started for t in parses if t.started is not None]
    if not parses or len(moments) < len(parses):
        return "no parse instance, or one with no start time"
    idle: str | None = idle_while_waiting(parses, e2e.api.tasks_started_by(max(moments)), e2e.worker_hosts())
    return idle


def _run_record(e2e: E2E, s: Slice, run_id: str) -> checks.Outcome:
    out = checks.Outcome()
    expected = e2e.estate.ids(s)
    (run,) = checks.sync_runs(e2e.staging, s.schedule, [run_id]) or [{}]
    out.expect(
        str(run.get("status", "")).startswith("complete") and run.get("assets_fetched") == len(expected),
        f"staging run record: {run.get('status')}, {run.get('assets_fetched')} assets fetched in "
        f"{run.get('pages')} pages",
        f"staging run record of {run_id}: {run or 'missing'} (expected {len(expected)} assets fetched)",
    )
    return out


def _slice_synced(e2e: E2E, s: Slice) -> checks.Outcome:
    return checks.slice_synced(e2e.staging, s, e2e.estate.ids(s))


# ------------------------------------------------------------------------------------------------------------ b
def approvals(e2e: E2E) -> checks.Outcome:
    """b. Two runs wait for approval: one answered through Airflow's HITL REST API, one through the plugin."""
    hitl_run = e2e.trigger(HITL.dag_id)
    review_run = e2e.trigger(REVIEW.dag_id)
    out = _answer_hitl(e2e, hitl_run)
    return out.merge(_answer_in_plugin(e2e, review_run))


def _pending(e2e: E2E, s: Slice) -> int:
    return sum(1 for state, _ in checks.classification(e2e.staging, s.schedule).values() if state == "pending")


def _answer_hitl(e2e: E2E, run_id: str) -> checks.Outcome:
    out = checks.Outcome()
    waiting = e2e.api.wait_task(HITL.dag_id, run_id, "approve_batch", {"awaiting_input"}, RUN_TIMEOUT_S)
    expected = len(e2e.estate.ids(HITL))
    requests_open = e2e.api.hitl_waiting(HITL.dag_id, run_id)
    subject = requests_open[0]["subject"] if requests_open else None
    out.expect(
        len(requests_open) == 1 and _pending(e2e, HITL) == expected,
        f"{HITL.dag_id}: approve_batch awaiting_input (on {waiting.hostname}), {expected} assets pending, "
        f"asking {subject!r}",
        f"{HITL.dag_id}: {len(requests_open)} open HITL request(s), {_pending(e2e, HITL)}/{expected} pending",
    )
    answer = e2e.api.answer_hitl(HITL.dag_id, run_id, "approve_batch", "Approve")
    responder = (answer.get("responded_by_user") or answer.get("responded_by") or {}).get("name")
    out.facts.append(f"answered Approve through PATCH …/hitlDetails as {responder}")
    e2e.api.wait_run(HITL.dag_id, run_id, RUN_TIMEOUT_S)
    out.facts.append(f"{HITL.dag_id} run {run_id}: success")
    decided = checks.decisions(e2e.staging, HITL.schedule)
    out.expect(
        decided.get(("approved", "admin")) == expected,
        f"staging: {expected} approval decisions recorded for admin",
        f"staging decisions of {HITL.schedule}: {decided} (expected {expected} approved by admin)",
    )
    return out.merge(_slice_synced(e2e, HITL))


def _answer_in_plugin(e2e: E2E, run_id: str) -> checks.Outcome:
    out = checks.Outcome()
    deferred = e2e.api.wait_task(REVIEW.dag_id, run_id, "approve_or_wait", {"deferred"}, RUN_TIMEOUT_S)
    expected = len(e2e.estate.ids(REVIEW))
    out.expect(
        _pending(e2e, REVIEW) == expected,
        f"{REVIEW.dag_id}: approve_or_wait deferred (trigger in the triggerer), {expected} assets pending",
        f"{REVIEW.dag_id}: {_pending(e2e, REVIEW)}/{expected} assets pending while deferred ({deferred})",
    )
    said = e2e.api.approve_run_in_plugin(REVIEW.schedule, run_id)
    out.facts.append(f"plugin: POST /qualys-cmdb/approvals/decide (CSRF token, confirmed): {' → '.join(said)}")
    e2e.api.wait_run(REVIEW.dag_id, run_id, RUN_TIMEOUT_S)
    out.facts.append(f"{REVIEW.dag_id} run {run_id}: success")
    decided = checks.decisions(e2e.staging, REVIEW.schedule)
    out.expect(
        decided.get(("approved", "admin")) == expected,
        f"staging: {expected} approval decisions recorded for admin",
        f"staging decisions of {REVIEW.schedule}: {decided} (expected {expected} approved by admin)",
    )
    return out.merge(_slice_synced(e2e, REVIEW))


# ------------------------------------------------------------------------------------------------------------ c
def backfill_two_intervals(e2e: E2E) -> checks.Outcome:
    """c. ``airflow backfill create`` over June and July 2025 of a monthly schedule: both runs succeed, each
    fetching exactly the assets modified in its own interval."""
    out = checks.Outcome()
    dag_id = BACKFILL.dag_id
    e2e.api.unpause(dag_id)  # the scheduler runs backfills of unpaused DAGs only (and the latest interval too)
    cmd = ("airflow", "backfill", "create", "--dag-id", dag_id, "--from-date", BACKFILL_FROM, "--to-date", BACKFILL_TO)
    created = e2e.stack.run(*cmd)
    if created.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {created.returncode}: {created.stderr[-2000:]}")
    out.facts.append(f"$ {' '.join(cmd)}")
    backfills = wait_for(
        f"the backfill runs of {dag_id}", lambda: e2e.api.runs(dag_id, "backfill") or None, 120, interval=2
    )
    for run in backfills:
        e2e.runs.append((dag_id, run["dag_run_id"]))
        e2e.api.wait_run(dag_id, run["dag_run_id"], RUN_TIMEOUT_S)
    out.expect(
        len(backfills) == 2,
        f"2 backfill runs, both success: {', '.join(r['dag_run_id'] for r in backfills)}",
        f"{len(backfills)} backfill runs: {[r['dag_run_id'] for r in backfills]} (expected 2)",
    )
    out.merge(_backfill_windows(e2e, [r["dag_run_id"] for r in backfills]))
    for run in e2e.api.runs(dag_id, "scheduled"):  # unpausing also scheduled the latest interval: it must pass too
        e2e.runs.append((dag_id, run["dag_run_id"]))
        e2e.api.wait_run(dag_id, run["dag_run_id"], RUN_TIMEOUT_S)
        out.facts.append(f"the scheduled run of the latest interval ({run['dag_run_id']}): success")
    return out


def _backfill_windows(e2e: E2E, run_ids: list[str]) -> checks.Outcome:
    out = checks.Outcome()
    total = 0
    for record in checks.sync_runs(e2e.staging, BACKFILL.schedule, run_ids):
        (window,) = record["windows"]
        since, until = datetime.fromisoformat(window["since"]), datetime.fromisoformat(window["until"])
        expected = len(e2e.estate.ids(BACKFILL, since, until))
        total += expected
        out.expect(
            record["assets_fetched"] == expected and str(record["status"]).startswith("complete"),
            f"{record['run_id']}: window {since:%Y-%m-%d} → {until:%Y-%m-%d}, {expected} assets fetched "
            f"({record['status']})",
            f"{record['run_id']}: window {since} → {until} fetched {record['assets_fetched']}, expected {expected} "
            f"({record['status']})",
        )
    out.expect(total > 0, "", "the backfilled windows held no modified asset: the check proves nothing")
    out.facts = [f for f in out.facts if f]
    return out


# ------------------------------------------------------------------------------------------------------------ d
def worker_killed_mid_load(e2e: E2E) -> checks.Outcome:
    """d. SIGKILL to the process group of the worker running ``load`` once it has written part of the CMDB; the
    scheduler fails the silent task instance, its retry runs on the other worker, nothing is lost or duplicated."""
    out = checks.Outcome()
    stack, dag_id = e2e.stack, KILLED.dag_id
    expected = e2e.estate.ids(KILLED)
    calls_before = checks.ire_calls(stack.cmdb_url)
    checks.set_cmdb_latency(stack.cmdb_url, CMDB_LATENCY_MS)
    run_id = e2e.trigger(dag_id)
    load = e2e.api.wait_task(dag_id, run_id, "load", {"running"}, RUN_TIMEOUT_S)
    wait_for(
        "the load's first IRE call to be answered",
        lambda: checks.ire_calls(stack.cmdb_url) > calls_before,
        120,
        interval=0.2,
    )
    still = e2e.api.wait_task(dag_id, run_id, "load", {"running"}, 5)
    victim = next(name for name, host in stack.workers.items() if host == still.hostname)
    written = len(checks.object_sources(expected))
    stack.kill_group(victim)
    checks.set_cmdb_latency(stack.cmdb_url, 0)
    out.facts.append(
        f"load running on {load.hostname} (try {still.try_number}); after {written}/{len(expected)} CIs were "
        f"written, SIGKILL to the process group of {victim}"
    )
    e2e.api.wait_run(dag_id, run_id, RUN_TIMEOUT_S)
    tries = e2e.api.tries_of(dag_id, run_id, "load")
    e2e.extra_tries[(dag_id, run_id)] = tries[:-1]
    out.expect(
        len(tries) >= 2 and tries[0].hostname == still.hostname and tries[-1].hostname != still.hostname,
        "load tries: " + ", ".join(f"try {t.try_number} on {t.hostname} ({t.state})" for t in tries),
        f"load tries: {tries} (expected the retry on the other worker)",
    )
    out.facts.append(f"{dag_id} run {run_id}: success")
    return out.merge(_run_record(e2e, KILLED, run_id)).merge(_slice_synced(e2e, KILLED)).merge(checks.no_duplicates())


# ------------------------------------------------------------------------------------------------------------ e
def reverse_and_housekeeping(e2e: E2E) -> checks.Outcome:
    """e. Asset tags and groups, CMDB → Qualys (into an asset group), then the host-id updater once Qualys has
    scanned some of the added addresses."""
    out = checks.Outcome()
    stack = e2e.stack
    add_acquired_cis(stack.cmdb_url, [str(a["address"]) for a in e2e.estate.assets])
    for dag_id in HOUSEKEEPING_DAGS[:2]:
        _run_to_success(e2e, dag_id, out)
    _run_to_success(e2e, REVERSE_DAG, out)
    summary = _summary(stack, REVERSE)
    addresses = summary.get("addresses", {})
    out.expect(
        addresses.get("added", 0) > 0 and addresses.get("queued", 1) == 0,
        f"CMDB → Qualys: addresses {addresses} (into the asset group)",
        f"CMDB → Qualys summary: {summary}",
    )
    added = [item["ip"] for item in _get(f"{stack.qualys_url}/sim/control/vm")["added_ips"]]
    scanned = _post(f"{stack.qualys_url}/sim/control/scan", {"ips": added[:3]})["scanned"]
    _run_to_success(e2e, HOUSEKEEPING_DAGS[2], out)
    with_host_id = _summary(stack, REVERSE).get("with_host_id", 0)
    out.expect(
        with_host_id >= len(scanned) > 0,
        f"Qualys scanned {len(scanned)} added addresses; the host-id updater recorded {with_host_id} host ids",
        f"host-id updater: {with_host_id} host ids recorded, {len(scanned)} addresses scanned",
    )
    for dag_id in HOUSEKEEPING_DAGS:  # unpausing may have scheduled their latest interval too
        for run in e2e.api.runs(dag_id, "scheduled"):
            e2e.runs.append((dag_id, run["dag_run_id"]))
            e2e.api.wait_run(dag_id, run["dag_run_id"], RUN_TIMEOUT_S)
            out.facts.append(f"{dag_id} scheduled run {run['dag_run_id']}: success")
    return out


# ------------------------------------------------------------------------------------------------------------ f
def page_groups(e2e: E2E) -> checks.Outcome:
    """f. One run of a schedule with ``pages_per_run`` triggered: each run's ``continue_sync`` starts the next as soon
    as its page group is stored, the scheduler runs them (up to two at once), and the chain ends by itself with
    every asset of the slice written once. How long the runs overlapped is reported, not checked."""
    out = checks.Outcome()
    dag_id = GROUPS.dag_id
    first = e2e.trigger(dag_id)
    group = GROUPS.pages_per_run or 1
    pages = -(-len(e2e.estate.ids(GROUPS)) // PAGE_SIZE)
    # a run per group; when the last group is full, its run hands over once more and the next run finds nothing new
    expected_runs = -(-pages // group) + (pages % group == 0)

    def ended() -> list[dict[str, Any]] | None:
        runs = e2e.api.runs(dag_id)
        done = len(runs) >= expected_runs and all(r["state"] in ("success", "failed") for r in runs)
        return runs if done else None

    runs = wait_for(f"the page-group runs of {dag_id}", ended, RUN_TIMEOUT_S * expected_runs, interval=2)
    for run in runs:
        if run["dag_run_id"] != first:
            e2e.runs.append((dag_id, run["dag_run_id"]))
    states = [r["state"] for r in runs]
    out.expect(
        len(runs) == expected_runs and set(states) == {"success"},
        f"{len(runs)} runs from one trigger ({pages} pages, {GROUPS.pages_per_run} a run), all success: "
        + ", ".join(r["dag_run_id"] for r in runs),
        f"page groups: {len(runs)} runs {states} (expected {expected_runs}, all success)",
    )
    hand_overs = [
        next((t.state for t in e2e.api.task_tries(dag_id, r["dag_run_id"]) if t.task_id == "continue_sync"), None)
        for r in runs
    ]
    out.expect(
        hand_overs == ["success"] * (len(runs) - 1) + ["skipped"],
        "continue_sync started the next run from each run but the last, which found the end",
        f"continue_sync of the runs in order: {hand_overs} (expected success for all but the last, then skipped)",
    )
    overlap = _overlap_s(runs)
    out.facts.append(f"runs overlapped for {overlap:.1f} s in all (one loading while the next fetched)")
    return out.merge(_slice_synced(e2e, GROUPS)).merge(checks.no_duplicates())


def _overlap_s(runs: list[dict[str, Any]]) -> float:
    """Seconds during which two of ``runs`` were running at once."""
    spans = sorted(
        (datetime.fromisoformat(r["start_date"]), datetime.fromisoformat(r["end_date"]))
        for r in runs
        if r.get("start_date") and r.get("end_date")
    )
    return sum(max(0.0, (min(a[1], b[1]) - b[0]).total_seconds()) for a, b in itertools.pairwise(spans))


def _run_to_success(e2e: E2E, dag_id: str, out: checks.Outcome) -> None:
    run_id = e2e.trigger(dag_id)
    e2e.api.wait_run(dag_id, run_id, RUN_TIMEOUT_S)
    out.facts.append(f"{dag_id} run {run_id}: success")


def _summary(stack: Stack, schedule: str) -> dict[str, Any]:
    """``qcmdb summary --json`` of the wheel's CLI."""
    path = stack.workdir / f"summary-{schedule}.json"
    result = stack.run("qcmdb", "summary", "--schedule", schedule, "--json", str(path))
    if result.returncode != 0:
        raise RuntimeError(f"qcmdb summary --schedule {schedule} exited {result.returncode}: {result.stderr[-2000:]}")
    return dict(json.loads(path.read_text()))


def _get(url: str) -> dict[str, Any]:
    import requests

    response = requests.get(url, timeout=60)
    response.raise_for_status()
    return dict(response.json())


def _post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    import requests

    response = requests.post(url, json=body, timeout=60)
    response.raise_for_status()
    return dict(response.json())


#: In this order: d last, since it leaves one worker.
SCENARIOS = (
    Scenario("a", "intake run end to end, parse over the workers as they are free", intake_over_the_workers),
    Scenario("b", "approval: Airflow HITL REST API and the plugin's endpoint", approvals),
    Scenario("c", "airflow backfill create over two past intervals", backfill_two_intervals),
    Scenario("e", "CMDB → Qualys and housekeeping DAGs", reverse_and_housekeeping),
    Scenario("f", "a first sync in page groups: each run starts the next, every asset once", page_groups),
    Scenario("d", "worker SIGKILLed mid-load, retried on the other worker", worker_killed_mid_load),
)
