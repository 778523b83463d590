"""`make e2e`: the production topology (scripts/topology.py) run natively, and the product proven through it.

1. Builds the package's wheel and installs it, after requirements.txt, into .qcmdb/e2e-venv (scripts/e2e_install.py).
2. Starts every service of the topology from that virtualenv, bound to 127.0.0.1, each in a process group of its
   own: the embedded PostgreSQL, Redis, the two simulators, ``airflow db migrate`` + ``qcmdb db upgrade``, the
   api-server, scheduler, dag-processor, triggerer and two Celery workers (CeleryExecutor; scripts/e2e_topology.py).
3. Runs the scenarios of scripts/e2e_scenarios.py through the real scheduler, with a configuration of its own
   (.qcmdb/e2e/qualys_cmdb.yaml, scripts/e2e_config.py), checking staging and the CMDB after each.
4. Prints a report (each scenario's facts or problems, the task instances each worker ran), stops everything it
   started, and exits non-zero if anything failed. Component output: .qcmdb/e2e-logs/.
"""

from __future__ import annotations

import os
import signal
import sys
import time
import traceback
from pathlib import Path
from types import FrameType

import e2e_checks as checks
import e2e_topology as topo
from e2e_airflow import AirflowApi, Budget, TaskTry
from e2e_config import HOUSEKEEPING_DAGS, REVERSE_DAG, SLICES
from e2e_env import LOGS, REPO
from e2e_install import VENV, Install, InstallError, declared_dependencies, install, pip_check
from e2e_scenarios import E2E, SCENARIOS, Scenario

DAGS_TIMEOUT_S = 240
BUDGET_S = 25 * 60  # the whole e2e, install included: every wait ends by then


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM stops everything as Ctrl-C does


def _rel(path: Path | str) -> str:
    return os.path.relpath(path, REPO)


def wheel_facts(stack: topo.Stack, inst: Install) -> list[str]:
    """Where ``qualys_cmdb`` comes from in the services' environment, and what the wheel ships on its own."""
    where = stack.run("python", "-c", "import qualys_cmdb; print(qualys_cmdb.__file__)").stdout.strip()
    if not where.startswith(str(VENV)):
        raise topo.TopologyError(f"qualys_cmdb is imported from {where}, not from the wheel in {VENV}")
    facts = [f"wheel {inst.wheel.name}: {inst.action}; qualys_cmdb imported from {_rel(where)}"]
    bare = {k: v for k, v in stack.env.items() if k not in ("QUALYS_CMDB_CONFIG", "QUALYS_CMDB_MAPPINGS")}
    for what in ("mappings", "config"):
        saved, stack.env = stack.env, bare
        try:
            result = stack.run("qcmdb", what, "validate")
        finally:
            stack.env = saved
        shipped = "yes" if result.returncode == 0 else "NO (" + (result.stdout + result.stderr).strip()[-160:] + ")"
        facts.append(f"wheel ships default {what} (no QUALYS_CMDB_{what.upper()}): {shipped}")
    facts.append(
        "the services run with QUALYS_CMDB_CONFIG=.qcmdb/e2e/qualys_cmdb.yaml, QUALYS_CMDB_MAPPINGS=include/mappings"
    )
    facts.append(f"wheel declares: {', '.join(declared_dependencies(inst.wheel))}; pip check: {pip_check(inst.bin)}")
    return facts


def listening_sockets(stack: topo.Stack) -> tuple[list[str], list[str]]:
    """The TCP sockets the started process groups listen on: (all, those not on 127.0.0.1)."""
    import psutil

    groups = {proc.pid: name for name, proc in stack.procs.items()}
    found, exposed = [], []
    for proc in psutil.process_iter(["pid"]):
        try:
            owner = groups.get(os.getpgid(proc.pid))
            conns = proc.net_connections(kind="inet") if owner else []
        except (psutil.Error, ProcessLookupError):
            continue
        for conn in conns:
            if conn.status == psutil.CONN_LISTEN:
                address = f"{conn.laddr.ip}:{conn.laddr.port} ({owner})"
                found.append(address)
                if conn.laddr.ip not in ("127.0.0.1", "::1"):
                    exposed.append(address)
    return sorted(set(found)), sorted(set(exposed))


def run_scenario(e2e: E2E, scenario: Scenario) -> tuple[bool, list[str], float]:
    """Run one scenario: (passed, report lines, seconds)."""
    started = time.monotonic()
    print(f"\n== {scenario.letter}. {scenario.title}", flush=True)
    dead = [name for name, proc in e2e.stack.procs.items() if proc.poll() is not None]
    if dead:
        return False, [f"! not run: {', '.join(dead)} exited (see {_rel(LOGS)}/)"], 0.0
    try:
        e2e.estate = checks.Estate(e2e.stack.qualys_url)  # as it is now (scanned addresses become assets)
        outcome = scenario.run(e2e)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # a scenario's failure is reported; the next scenarios still run
        (LOGS / "e2e-runner.log").open("a").write(traceback.format_exc())
        return False, [f"! {type(exc).__name__}: {exc}"], time.monotonic() - started
    lines = [f"- {fact}" for fact in outcome.facts] + [f"! {problem}" for problem in outcome.problems]
    for line in lines:
        print(f"   {line}", flush=True)
    return not outcome.problems, lines, time.monotonic() - started


def placements(e2e: E2E) -> list[str]:
    """For every run the scenarios made: which worker ran which task instance (every try of retried ones)."""
    lines = []
    for dag_id, run_id in dict.fromkeys(e2e.runs):
        try:
            tries = e2e.api.task_tries(dag_id, run_id) + e2e.extra_tries.get((dag_id, run_id), [])
        except Exception as exc:  # the api-server may be what failed
            lines.append(f"  {dag_id} {run_id}: task instances unavailable ({exc})")
            continue
        lines.append(f"  {dag_id}  {run_id}")
        by_host: dict[str, list[TaskTry]] = {}
        for t in sorted(tries, key=lambda t: (t.task_id, t.map_index, t.try_number)):
            by_host.setdefault(t.hostname or "(not run)", []).append(t)
        for host, ts in sorted(by_host.items()):
            names = [
                t.label + (f" (try {t.try_number}, {t.state})" if t.try_number > 1 or t.state != "success" else "")
                for t in ts
            ]
            lines.append(f"      {host}: {', '.join(names)}")
    return lines


def main() -> int:
    started = time.monotonic()
    Budget.start(BUDGET_S)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _terminate)
    topo.fresh_state()
    print(f"== install: wheel + .qcmdb/e2e-venv (log: {_rel(LOGS / 'install.log')})", flush=True)
    try:
        inst = install(LOGS / "install.log")
    except InstallError as exc:
        print(f"\nFAILED: the install: {exc}")
        return 1
    installed = time.monotonic()
    stack = topo.start(inst.bin)
    header: list[str] = []
    results: list[tuple[Scenario, bool, list[str], float]] = []
    e2e: E2E | None = None
    try:
        print("== topology (scripts/topology.py), natively on 127.0.0.1", flush=True)
        topo.start_services(stack)
        header += wheel_facts(stack, inst)
        sockets, exposed = listening_sockets(stack)
        if exposed:
            raise topo.TopologyError(f"listening beyond 127.0.0.1: {exposed}")
        header.append(f"started: {', '.join(stack.started)}; workers {', '.join(stack.workers.values())}")
        header.append(f"not started: {', '.join(stack.skipped) or 'nothing'}")
        header.append(f"listening (all on 127.0.0.1; PostgreSQL on a unix socket only): {', '.join(sockets)}")
        header.append(f"ready {time.monotonic() - installed:.0f} s after the install")
        for line in header:
            print(f"   {line}", flush=True)
        api = AirflowApi(stack.api_url, topo.admin_password())
        api.login()
        dags = [s.dag_id for s in SLICES] + [REVERSE_DAG, *HOUSEKEEPING_DAGS]
        api.wait_for_dags(dags, DAGS_TIMEOUT_S)
        e2e = E2E(stack, api, checks.Estate(stack.qualys_url), checks.staging_engine())
        for scenario in SCENARIOS:
            results.append((scenario, *run_scenario(e2e, scenario)))
    except KeyboardInterrupt:
        header.append("! interrupted")
    except Exception as exc:
        (LOGS / "e2e-runner.log").open("a").write(traceback.format_exc())
        header.append(f"! {type(exc).__name__}: {exc}")
    finally:
        table = placements(e2e) if e2e else []
        print("\n== stopping everything started here", flush=True)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        stack.stop()
    return report(header, results, table, time.monotonic() - started)


def report(
    header: list[str], results: list[tuple[Scenario, bool, list[str], float]], table: list[str], wall: float
) -> int:
    """Print the report; the exit status (0: every scenario passed)."""
    print("\n" + "=" * 40 + " make e2e report " + "=" * 40)
    for line in header:
        print(line)
    for scenario, passed, lines, seconds in sorted(results, key=lambda r: r[0].letter):
        print(f"\n[{'PASS' if passed else 'FAIL'}] {scenario.letter}. {scenario.title} ({seconds:.0f} s)")
        for line in lines:
            print(f"       {line}")
    missing = [s for s in SCENARIOS if s not in {r[0] for r in results}]
    for scenario in missing:
        print(f"\n[NOT RUN] {scenario.letter}. {scenario.title}")
    if table:
        print("\nTask instances by worker hostname:")
        print("\n".join(table))
    n_passed = sum(1 for r in results if r[1])
    ok = n_passed == len(SCENARIOS) and not any(line.startswith("!") for line in header)
    print(
        f"\n{'PASSED' if ok else 'FAILED'}: {n_passed}/{len(SCENARIOS)} scenarios passed; wall time {wall:.0f} s; "
        f"component logs in {_rel(LOGS)}/"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
