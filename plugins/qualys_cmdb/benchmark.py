"""``qcmdb bench`` / ``make bench``: the whole Qualys → CMDB pipeline measured against the limits of the machine.

For each estate size: a fresh staging database on the embedded PostgreSQL, the two simulators as subprocesses
(``qcmdb sim …``, fixed seed, a software-heavy estate shape), and the real DAG ``qualys_to_cmdb__bench`` run by
``dag.test()`` in a child process (so its peak RSS is the tasks' own). Three passes: the full first sync, a pass
after 1 % of the estate changed, and a pass with nothing changed. The *yardstick* runs on the same stored
responses and rows: a bare streaming JSON parse doing nothing with the values (in as many processes as the parse
task's mapped instances), plus a bare COPY of the staged rows into unlogged tables. Figures are printed as one table
and written as JSON under ``bench/results/``; nothing is asserted (the test suite's smoke run checks the counts only).

Product code never imports the simulators: they are started through the ``qcmdb sim`` command.
"""

from __future__ import annotations

import gzip
import io
import json
import math
import os
import platform
import resource
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, get_args

SHAPE = "software=120,ports=8,interfaces=2,volumes=3,cloud=0.1"
PAGE_SIZE = 300
IRE_BATCH = 500
STAGING_DB = "qcmdb_bench"
AIRFLOW_DB = "airflow_bench"
DAG_ID = "qualys_to_cmdb__bench"
SIM_USER, SIM_PASSWORD = "bench", "bench-Passw0rd"  # the simulators' throwaway accounts, not real secrets
SN_USER, SN_PASSWORD = "sn_bench", "sn-bench-Passw0rd"

CONFIG = """
sources:
  - {{name: bench, pod: US1, api: csam, connection_id: qualys_bench}}
schedules:
  - name: bench
    source: bench
    interval: manual
    download_assets_since: 2000-01-01T00:00:00Z
    auto_approve: true
properties:
  download_batch_size: {page_size}
  download_processors: {processors}
  max_transaction_lifetime_minutes: 60
  ire_batch_size: {ire_batch}
  cmdb_connection_id: servicenow_bench
"""
# The latency runs play the model this many times its own speed (ratios to the limit at the same scale). Below 1 the
# API time shrinks and the CPU work (parse, stage, the load's batches, the simulators' own work) does not, so a
# ratio measured below 1 is never better than at scale 1. At 0.1 a 2-core machine's CPU, not the APIs, sets the pace
# of 50,000 assets in page groups (1.32x at 0.1 where scale 1 gave 1.04x; docs/benchmarks.md); 0.3 leaves the CPU
# room and keeps a make bench near an hour.
LATENCY_SCALE = 0.3
LATENCY_SWEEP = (1, 2, 4)  # ire_concurrency values measured under the model
PAGE_GROUPS = 10  # the page-group run under the model: its pages_per_run cuts the first sync into about this many runs
CHAIN_PARALLELISM = 4  # the scheduler's task slots for the page-group run: two runs' steps side by side
ESTIMATE_ASSETS = 100_000  # the hours-to-first-sync table
#: Which first syncs of the latency assets a bench runs: one run, page groups, or both.
LatencyRuns = Literal["one", "groups", "both"]


# ---------------------------------------------------------------------------------------------- child processes
def _run_dag_child() -> None:
    """In a child process: run the bench DAG once with ``dag.test(use_executor=True)``; print its figures.

    The tasks run as in production: the LocalExecutor hands each task to a worker process, which talks to the
    execution API server the bench started, so the parse task's mapped instances run side by side. A task's
    seconds are the span from its first instance's start to its last one's end; the peak RSS is that of the
    largest task process (the executor's workers and their tasks are this process's children).
    """
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models import TaskInstance
    from airflow.utils.session import create_session

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    if bag.import_errors:
        raise SystemExit(f"the DAG folder does not import: {bag.import_errors}")
    started = time.perf_counter()
    run = bag.get_dag(DAG_ID).test(use_executor=True)
    wall = time.perf_counter() - started
    spans: dict[str, tuple[datetime, datetime]] = {}
    with create_session() as session:
        for ti in session.query(TaskInstance).filter(TaskInstance.dag_id == DAG_ID, TaskInstance.run_id == run.run_id):
            if ti.start_date and ti.end_date:
                first, last = spans.get(ti.task_id, (ti.start_date, ti.end_date))
                spans[ti.task_id] = (min(first, ti.start_date), max(last, ti.end_date))
    print(
        json.dumps(
            {
                "run_id": run.run_id,
                "state": str(run.state),
                "wall_s": round(wall, 2),
                "tasks_s": {k: round((end - start).total_seconds(), 2) for k, (start, end) in spans.items()},
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024),
            }
        )
    )


def _run_chain_child() -> None:
    """In a child process: a first sync in page groups, run by Airflow's own scheduler (LocalExecutor), as in
    production: one run is triggered, each run's ``continue_sync`` starts the next, and up to two runs of the DAG are
    active at once. Waits until every run of the chain has ended; prints the wall time from the trigger to the last
    run's end, the number of runs, and each task's span over all of them."""
    import signal

    from airflow.models import DagRun, TaskInstance
    from airflow.utils.session import create_session

    airflow = str(Path(sys.executable).with_name("airflow"))
    env = dict(os.environ)
    for args in (["dags", "reserialize"], ["dags", "unpause", DAG_ID]):
        subprocess.run([airflow, *args], env=env, check=True, capture_output=True)
    with create_session() as session:
        before = {r.run_id for r in session.query(DagRun).filter(DagRun.dag_id == DAG_ID)}
    log = (Path(env["AIRFLOW_HOME"]) / "scheduler.log").open("ab")
    scheduler = subprocess.Popen(
        [airflow, "scheduler"], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        started = time.perf_counter()
        subprocess.run([airflow, "dags", "trigger", DAG_ID], env=env, check=True, capture_output=True)
        while True:
            if scheduler.poll() is not None:
                raise SystemExit(f"the scheduler exited ({scheduler.returncode}); see {log.name}")
            with create_session() as session:
                runs = [r for r in session.query(DagRun).filter(DagRun.dag_id == DAG_ID) if r.run_id not in before]
                if runs and all(str(r.state) in ("success", "failed") for r in runs):
                    break
            time.sleep(2)  # the bench's own polling, not a test: nothing depends on its timing
        wall = time.perf_counter() - started
        spans: dict[str, tuple[datetime, datetime]] = {}
        with create_session() as session:
            ids = [r.run_id for r in runs]
            states = {r.run_id: str(r.state) for r in runs}
            for ti in session.query(TaskInstance).filter(TaskInstance.dag_id == DAG_ID, TaskInstance.run_id.in_(ids)):
                if ti.start_date and ti.end_date:
                    first, last = spans.get(ti.task_id, (ti.start_date, ti.end_date))
                    spans[ti.task_id] = (min(first, ti.start_date), max(last, ti.end_date))
    finally:
        os.killpg(scheduler.pid, signal.SIGTERM)
        scheduler.wait(timeout=120)
    load_start = spans["load"][0] if "load" in spans else None
    front = min(start for start, _ in spans.values()) if spans else None
    print(
        json.dumps(
            {
                "run_ids": ids,
                "runs": len(ids),
                "state": "success" if all(v == "success" for v in states.values()) else "failed",
                "wall_s": round(wall, 2),
                "tasks_s": {k: round((end - start).total_seconds(), 2) for k, (start, end) in spans.items()},
                "before_first_load_s": round((load_start - front).total_seconds(), 2) if load_start and front else None,
            }
        )
    )


def _parse_share(queue_ids: list[int], decoder: str = "ijson") -> tuple[int, int]:
    """In a yardstick worker: parse these stored responses, doing nothing with the values: ``ijson`` streams the
    JSON events; ``msgspec`` decodes each whole page into Python objects (the fastest decoder the project uses).

    Returns the JSON events (ijson) or the assets decoded (msgspec), and the response bytes read.
    """
    import ijson
    import msgspec
    from sqlalchemy import text

    from qualys_cmdb.staging.database import get_engine
    from qualys_cmdb.staging.schema import SCHEMA

    engine = get_engine()
    engine.dispose(close=False)  # a forked worker: the parent's pooled connections are not its own
    counted = raw = 0
    with engine.connect() as conn:
        for queue_id in queue_ids:
            payload = conn.execute(
                text(f'SELECT payload FROM "{SCHEMA}".sync_queue WHERE id = :i'),
                {"i": queue_id},
            ).scalar_one()
            with gzip.GzipFile(fileobj=io.BytesIO(payload)) as body:
                if decoder == "msgspec":
                    data = body.read()
                    page = msgspec.json.decode(data)
                    assets = ((page or {}).get("assetListData") or {}).get("asset") if isinstance(page, dict) else None
                    counted += len(assets) if isinstance(assets, list) else 0
                    raw += len(data)
                    continue
                for _ in ijson.parse(body):
                    counted += 1
                raw += body.tell()
    return counted, raw


def _decode_share(queue_ids: list[int]) -> tuple[int, int]:
    """:func:`_parse_share` with msgspec (a picklable function for the process pool)."""
    return _parse_share(queue_ids, "msgspec")


def _yardstick_child(run_id: str, processors: int) -> None:
    """In a child process: a bare streaming parse of the run's stored responses and a bare COPY of the staged rows.

    The responses are parsed by as many worker processes as the pipeline's parse task has mapped instances
    (``processors``), each a share of them: the same work on the same cores.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from sqlalchemy import text

    from qualys_cmdb.staging.database import get_engine
    from qualys_cmdb.staging.schema import SCHEMA, metadata

    engine = get_engine()
    with engine.connect() as conn:
        ids = list(
            conn.execute(
                text(
                    f"SELECT id FROM \"{SCHEMA}\".sync_queue WHERE run_id = :r AND direction = 'download' ORDER BY id"
                ),
                {"r": run_id},
            ).scalars()
        )
    engine.dispose()
    workers = max(1, min(processors, len(ids)))
    shares = [ids[n::workers] for n in range(workers)]
    started = time.perf_counter()
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        counted = list(pool.map(_parse_share, shares))
    events = sum(e for e, _ in counted)
    raw = sum(r for _, r in counted)
    parse_s = time.perf_counter() - started
    started = time.perf_counter()
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        decoded = sum(n for n, _ in pool.map(_decode_share, shares))
    msgspec_s = time.perf_counter() - started
    tables = [t for t in metadata.sorted_tables if t.name.startswith("staged_")]
    copy_s = 0.0
    rows = 0
    raw_conn = engine.raw_connection()
    try:
        cursor = raw_conn.cursor()
        cursor.execute("DROP SCHEMA IF EXISTS bench_yardstick CASCADE; CREATE SCHEMA bench_yardstick")
        for table in tables:
            target = f'bench_yardstick."{table.name}"'
            cursor.execute(f'CREATE UNLOGGED TABLE {target} (LIKE "{SCHEMA}"."{table.name}" INCLUDING DEFAULTS)')
            with tempfile.TemporaryFile() as spool:
                with cursor.copy(f'COPY "{SCHEMA}"."{table.name}" TO STDOUT') as out:
                    for chunk in out:
                        spool.write(chunk)
                spool.seek(0)
                begun = time.perf_counter()
                with cursor.copy(f"COPY {target} FROM STDIN") as into:
                    while chunk := spool.read(1 << 20):
                        into.write(chunk)
                copy_s += time.perf_counter() - begun
            rows += int(cursor.execute(f"SELECT count(*) FROM {target}").fetchone()[0])
        cursor.execute("DROP SCHEMA bench_yardstick CASCADE")
        raw_conn.commit()
    finally:
        raw_conn.close()
    print(
        json.dumps(
            {
                "records": len(ids),
                "parse_workers": workers,
                "json_events": events,
                "response_bytes": raw,
                "parse_s": round(parse_s, 2),
                "msgspec_assets": decoded,
                "msgspec_s": round(msgspec_s, 2),
                "copy_rows": rows,
                "copy_s": round(copy_s, 2),
            }
        )
    )


def _overview_child() -> None:
    """In a child process: the Overview page rendered cold, and what it cost before its figures were stored.

    Cold: a fresh interpreter with Airflow imported (as in the API server that mounts the plugin), a fresh engine,
    nothing of the page cached. ``cold_s`` is the first ``GET /`` through the plugin's app (every report, as a
    viewer who kept the default); ``warm_s`` the second. ``live_s`` counts the same reports the way the page did
    before (:func:`~qualys_cmdb.ui.reports.build_report` each, in one fresh process), ``recount_s`` what the Refresh
    button (and a run that changed everything) spends counting the figures again.
    """
    import importlib

    for loaded in ("airflow.configuration", "airflow.sdk"):  # loaded in the API server before any page
        importlib.import_module(loaded)
    from fastapi.testclient import TestClient

    from qualys_cmdb.ui import app as ui

    class _Viewer:
        def get_name(self) -> str:
            return "bench"

        def get_id(self) -> str:
            return "bench"

    application = ui.create_app()
    application.dependency_overrides[ui.current_user] = _Viewer
    client = TestClient(application, root_path=ui.PREFIX)
    begun = time.perf_counter()
    first = client.get("/", headers={"Accept": "text/html"})
    cold = time.perf_counter() - begun
    begun = time.perf_counter()
    second = client.get("/", headers={"Accept": "text/html"})
    warm = time.perf_counter() - begun
    counted_now = "Figures counted now" in first.text

    from qualys_cmdb.staging.database import get_engine
    from qualys_cmdb.ui import report_figures
    from qualys_cmdb.ui.reports import REPORTS, build_report

    engine = get_engine()
    begun = time.perf_counter()
    for report_id in REPORTS:
        build_report(engine, report_id, base_url=ui.PREFIX, limit=12)
    live = time.perf_counter() - begun
    recount = report_figures.refresh(engine, by="the benchmark", force=True)
    print(
        json.dumps(
            {
                "status": [first.status_code, second.status_code],
                "reports": first.text.count('class="card" id="report-'),
                "figures_stored": not counted_now,
                "cold_s": round(cold, 3),
                "warm_s": round(warm, 3),
                "live_s": round(live, 2),
                "recount_s": round(recount.seconds, 2),
                "recounted": len(recount.counted),
            }
        )
    )


# ---------------------------------------------------------------------------------------------- orchestration
class Bench:
    """One benchmark run over several estate sizes."""

    def __init__(
        self,
        *,
        sizes: list[int],
        seed: int,
        shape: str,
        dags: Path,
        out: Path,
        processors: int,
        latency_assets: int = 0,
        sweep_assets: int = 0,
        latency_scale: float = LATENCY_SCALE,
        latency_runs: LatencyRuns = "groups",
    ) -> None:
        self.sizes = sizes
        self.latency_runs = latency_runs  # the first syncs of latency_assets: one run, page groups, or both
        self.latency_assets = latency_assets
        self.sweep_assets = sweep_assets
        self.latency_scale = latency_scale
        self.seed = seed
        self.shape = shape
        self.dags = dags.resolve()
        self.out = out
        self.processors = processors
        self.qcmdb = str(Path(sys.executable).with_name("qcmdb"))
        self.airflow = str(Path(sys.executable).with_name("airflow"))
        self.work = Path(tempfile.mkdtemp(prefix="qcmdb-bench-"))
        self.api_port = _free_port()
        self.jwt_secret = secrets.token_urlsafe(32)
        self.api: subprocess.Popen[bytes] | None = None

    def _env(self, qualys_url: str, cmdb_url: str) -> dict[str, str]:
        from qualys_cmdb.staging.database import embedded_url

        staging = embedded_url(STAGING_DB)
        env = dict(os.environ)
        env.update(
            AIRFLOW_HOME=str(self.work / "airflow"),
            AIRFLOW__CORE__DAGS_FOLDER=str(self.dags),
            AIRFLOW__CORE__LOAD_EXAMPLES="False",
            AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=embedded_url(AIRFLOW_DB).render_as_string(hide_password=False),
            AIRFLOW__LOGGING__LOGGING_LEVEL="WARNING",
            AIRFLOW__CORE__EXECUTOR="LocalExecutor",
            AIRFLOW__CORE__PARALLELISM=str(max(2, self.processors)),
            AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{self.api_port}/execution/",
            AIRFLOW__API_AUTH__JWT_SECRET=self.jwt_secret,
            QUALYS_CMDB_CONFIG=str(self.work / "qualys_cmdb.yaml"),
            AIRFLOW_CONN_QUALYS_CMDB_STAGING=json.dumps(
                {"conn_type": "postgres", "host": staging.query["host"], "login": "postgres", "schema": STAGING_DB}
            ),
            AIRFLOW_CONN_QUALYS_BENCH=json.dumps(
                {
                    "conn_type": "qualys",
                    "host": qualys_url,
                    "login": SIM_USER,
                    "password": SIM_PASSWORD,
                    "extra": {"gateway_url": qualys_url},
                }
            ),
            AIRFLOW_CONN_SERVICENOW_BENCH=json.dumps(
                {"conn_type": "servicenow", "host": cmdb_url, "login": SN_USER, "password": SN_PASSWORD}
            ),
        )
        return env

    def _start(self, args: list[str]) -> tuple[subprocess.Popen[str], str]:
        proc = subprocess.Popen(
            [self.qcmdb, "sim", *args, "--host", "127.0.0.1", "--port", "0"], stdout=subprocess.PIPE, text=True
        )
        line = proc.stdout.readline() if proc.stdout else ""
        if "http://" not in line:
            proc.terminate()
            raise SystemExit(f"a simulator did not start: {line!r}")
        return proc, line.strip().rsplit(" ", 1)[-1]

    def _child(self, env: dict[str, str], *args: str) -> dict[str, Any]:
        result = subprocess.run(
            [sys.executable, "-m", "qualys_cmdb.benchmark", *args], env=env, capture_output=True, text=True
        )
        if result.returncode != 0:
            raise SystemExit(
                f"benchmark step {args} failed (task logs: {self.work / 'airflow' / 'logs'}):\n"
                f"{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
            )
        figures = dict(json.loads(result.stdout.strip().splitlines()[-1]))
        if figures.get("state", "success") != "success":
            held = ", ".join(f"{code} {n}" for code, n in _outcomes(failed_by_code=True).items())
            why = f" (its summary fails a run whose assets were held or refused: {held})" if held else ""
            print(
                f"  the DAG run ended {figures['state']}{why}; task logs: {self.work / 'airflow' / 'logs'}", flush=True
            )
        return figures

    def _config(self, concurrency: int | None = None, pages_per_run: int | None = None) -> None:
        text = CONFIG.format(page_size=PAGE_SIZE, processors=self.processors, ire_batch=IRE_BATCH)
        if pages_per_run:
            text = text.replace(
                "    auto_approve: true\n", f"    auto_approve: true\n    pages_per_run: {pages_per_run}\n"
            )
        if concurrency is not None:
            text += f"  ire_concurrency: {concurrency}\n"
        (self.work / "qualys_cmdb.yaml").write_text(text)

    def run(self) -> dict[str, Any]:
        from qualys_cmdb.staging.database import embedded_server

        self._config()
        begun = time.perf_counter()
        server = embedded_server()
        server.psql(f"DROP DATABASE IF EXISTS {AIRFLOW_DB} WITH (FORCE);")
        results = []
        latency: dict[str, Any] | None = None
        try:
            for size in self.sizes:
                results.append(self._size(size, server))
            if self.latency_assets or self.sweep_assets:
                latency = self._latency(server)
        finally:
            if self.api is not None:
                self.api.terminate()
                self.api.wait(timeout=30)
        states = [state for r in results for state in r["states"].values()]
        states += [r["state"] for r in (latency or {}).get("runs", [])]
        if all(state == "success" for state in states):
            shutil.rmtree(self.work, ignore_errors=True)
        else:
            print(f"a DAG run did not succeed: its task logs are kept under {self.work / 'airflow' / 'logs'}")
        report = {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "system": platform.platform()},
            "seed": self.seed,
            "shape": self.shape,
            "page_size": PAGE_SIZE,
            "ire_batch_size": IRE_BATCH,
            "sizes": results,
            "wall_s": round(time.perf_counter() - begun, 1),
        }
        if latency is not None:
            report["latency"] = latency
        if len(results) >= 2:
            small, large = results[0], results[-1]
            report["memory_ratio"] = round(large["memory"]["peak_rss_mb"] / max(1, small["memory"]["peak_rss_mb"]), 2)
        return report

    def _size(self, size: int, server: Any) -> dict[str, Any]:
        """One estate size: fresh staging database and simulators, then the three measured passes."""
        server.psql(f"DROP DATABASE IF EXISTS {STAGING_DB} WITH (FORCE);")
        qualys, qualys_url = self._start(
            [
                "qualys",
                "--assets",
                str(size),
                "--seed",
                str(self.seed),
                *(["--shape", self.shape] if self.shape else []),
                "--user",
                SIM_USER,
                "--password",
                SIM_PASSWORD,
            ]
        )
        cmdb, cmdb_url = self._start(["servicenow", "--user", SN_USER, "--password", SN_PASSWORD])
        try:
            env = self._env(qualys_url, cmdb_url)
            if self.api is None:
                subprocess.run([self.airflow, "db", "migrate"], env=env, check=True, capture_output=True)
                self.api = self._start_execution_api(env)
            return self._measure(size, env, qualys_url, {"qualys": qualys.pid, "servicenow": cmdb.pid})
        finally:
            for proc in (qualys, cmdb):
                proc.terminate()
                proc.wait(timeout=30)

    def _latency(self, server: Any) -> dict[str, Any]:
        """First syncs under the simulators' latency model: ``sweep_assets`` with each ire_concurrency of
        :data:`LATENCY_SWEEP`, then ``latency_assets`` with the product's default; each against its API-bound limit.
        """
        from qualys_cmdb import bench_latency
        from qualys_cmdb.config import Properties

        profile = bench_latency.profile_from({"scale": self.latency_scale})
        path = self.work / "latency-profile.json"
        path.write_text(json.dumps(profile.to_json()))
        plan: list[tuple[int, int | None, int | None]] = [
            (self.sweep_assets, n, None) for n in LATENCY_SWEEP if self.sweep_assets
        ]
        if self.latency_assets and self.latency_runs in ("one", "both"):
            plan.append((self.latency_assets, None, None))
        if self.latency_assets and self.latency_runs in ("groups", "both"):
            groups = math.ceil(math.ceil(self.latency_assets / PAGE_SIZE) / PAGE_GROUPS)
            plan.append((self.latency_assets, None, groups))  # the same first sync in page groups
        runs = []
        try:
            for assets, concurrency, pages_per_run in plan:
                self._config(concurrency, pages_per_run)
                chosen = concurrency or int(Properties().ire_concurrency)
                runs.append(self._latency_run(server, assets, chosen, path, profile, pages_per_run))
        finally:
            self._config()
        return {
            "scale": profile.scale,
            "semaphore": profile.servicenow.semaphore,
            "profile": profile.to_json(),
            "runs": runs,
            "estimate_assets": ESTIMATE_ASSETS,
            "hours": bench_latency.hours_table(profile, ESTIMATE_ASSETS, LATENCY_SWEEP, PAGE_GROUPS),
        }

    def _latency_run(
        self,
        server: Any,
        assets: int,
        concurrency: int,
        profile_path: Path,
        profile: Any,
        pages_per_run: int | None = None,
    ) -> dict[str, Any]:
        from qualys_cmdb import bench_latency

        server.psql(f"DROP DATABASE IF EXISTS {STAGING_DB} WITH (FORCE);")
        latency = ["--latency-profile", str(profile_path)]
        qualys, qualys_url = self._start(
            [
                "qualys",
                "--assets",
                str(assets),
                "--seed",
                str(self.seed),
                *(["--shape", self.shape] if self.shape else []),
                "--user",
                SIM_USER,
                "--password",
                SIM_PASSWORD,
                *latency,
            ]
        )
        cmdb, cmdb_url = self._start(["servicenow", "--user", SN_USER, "--password", SN_PASSWORD, *latency])
        try:
            env = self._env(qualys_url, cmdb_url)
            how = f"in page groups of {pages_per_run} pages, by the scheduler" if pages_per_run else "first full sync"
            print(f"[{assets:,} assets, latency model, ire_concurrency {concurrency}] {how} …", flush=True)
            if pages_per_run:
                first = self._child({**env, "AIRFLOW__CORE__PARALLELISM": str(CHAIN_PARALLELISM)}, "_run_chain")
            else:
                first = self._child(env, "_run_dag")
            qualys_stats = _get(f"{qualys_url}/sim/control/stats")
            cmdb_stats = _get(f"{cmdb_url}/sim/control/stats")
            cis = int(_get(f"{cmdb_url}/sim/control/cmdb")["tables"].get("sys_object_source", 0))
        finally:
            for proc in (qualys, cmdb):
                proc.terminate()
                proc.wait(timeout=30)
        bound = bench_latency.bound_of(profile, qualys_stats, cmdb_stats, concurrency)
        wall = float(first["wall_s"])
        return {
            "assets": assets,
            "concurrency": concurrency,
            "pages_per_run": pages_per_run,
            "runs": first.get("runs", 1),
            "before_first_load_s": first.get("before_first_load_s"),
            "outcomes": _outcomes(),
            "cis": cis,  # identities the CMDB holds (one per Qualys asset written)
            "state": first["state"],
            "wall_s": wall,
            "tasks_s": first["tasks_s"],
            "load_s": first["tasks_s"].get("load", 0.0),
            "qualys_bound_s": round(bound.qualys_s, 1),
            "cmdb_bound_s": round(bound.cmdb_s, 1),
            "instance_cmdb_bound_s": round(bound.instance_cmdb_s, 1),
            "limit_s": round(bound.limit_s, 1),
            "ratio": round(wall / bound.limit_s, 2) if bound.limit_s else None,
            "instance_ratio": round(wall / bound.instance_limit_s, 2) if bound.instance_limit_s else None,
            "modelled": {"qualys": qualys_stats.get("modelled"), "servicenow": cmdb_stats.get("modelled")},
        }

    def _start_execution_api(self, env: dict[str, str]) -> subprocess.Popen[bytes]:
        """Airflow's execution API (only that app) on 127.0.0.1, which the executor's task processes report to."""
        log = (self.work / "execution-api.log").open("wb")
        proc = subprocess.Popen(
            [self.airflow, "api-server", "--apps", "execution", "-H", "127.0.0.1", "-p", str(self.api_port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        health = f"http://127.0.0.1:{self.api_port}/execution/health"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"the execution API server exited ({proc.returncode}); see {log.name}")
            try:
                with urllib.request.urlopen(health, timeout=2):  # http://127.0.0.1, the server started here
                    return proc
            except OSError:
                time.sleep(0.5)
        proc.terminate()
        raise SystemExit(f"the execution API server did not answer {health} within 120 s; see {log.name}")

    def _measure(self, size: int, env: dict[str, str], qualys_url: str, simulators: dict[str, int]) -> dict[str, Any]:
        from qualys_cmdb.staging.database import embedded_url, get_engine

        engine = get_engine(embedded_url(STAGING_DB))
        print(f"[{size:,} assets] first full sync …", flush=True)
        begun = time.perf_counter()
        cpu_before = _cpu_seconds(simulators)
        first = self._child(env, "_run_dag")
        cpu_first = {name: round(s - cpu_before[name], 1) for name, s in _cpu_seconds(simulators).items()}
        figures = _figures(engine, first["run_id"])
        identity = _identity(engine, figures["load"])
        print(f"[{size:,} assets] yardstick …", flush=True)
        yard = self._child(env, "_yardstick", first["run_id"], str(self.processors))
        changed = max(1, size // 100)
        _post(f"{qualys_url}/sim/control/advance", {"seconds": 1, "modify": changed})
        print(f"[{size:,} assets] 1 % changed ({changed:,} assets) …", flush=True)
        second = self._child(env, "_run_dag")
        incremental = _figures(engine, second["run_id"])
        print(f"[{size:,} assets] nothing changed …", flush=True)
        third = self._child(env, "_run_dag")
        unchanged = _figures(engine, third["run_id"])
        cleanup = _cleanup(engine, size)
        print(f"[{size:,} assets] the Overview, cold …", flush=True)
        overview = self._child(env, "_overview")
        tasks = first["tasks_s"]
        parse_stage = sum(v for k, v in tasks.items() if k in ("parse", "stage"))
        yard_s = yard["parse_s"] + yard["copy_s"]
        fetch = figures["run"]
        return {
            "assets": size,
            "fetch": {
                "api_calls": fetch["api_calls"],
                "minimum_calls": math.ceil(size / PAGE_SIZE) + 1,
                "pages": fetch["pages"],
                "bytes": fetch["bytes"],
                "seconds": tasks.get("fetch", 0.0),
            },
            "parse_stage": {
                "seconds": round(parse_stage, 2),
                "parse_s": tasks.get("parse", 0.0),
                "stage_s": tasks.get("stage", 0.0),
                "assets_per_s": round(size / parse_stage) if parse_stage else None,
                "rows": figures["rows"],
                "rows_per_s": round(figures["rows"] / parse_stage) if parse_stage else None,
                "mb_per_s": round(fetch["bytes"] / 1e6 / parse_stage, 1) if parse_stage else None,
            },
            "yardstick": {
                **yard,
                "seconds": round(yard_s, 2),
                "ratio": round(parse_stage / yard_s, 2) if yard_s else None,
                # the stronger yardstick: a bare msgspec decode of each page into Python objects + the bare COPY
                "msgspec_seconds": round(yard["msgspec_s"] + yard["copy_s"], 2),
                "msgspec_ratio": round(parse_stage / (yard["msgspec_s"] + yard["copy_s"]), 2)
                if yard["msgspec_s"] + yard["copy_s"]
                else None,
            },
            "classify": {
                "seconds": tasks.get("classify", 0.0),
                "assets_per_s": round(size / tasks["classify"]) if tasks.get("classify") else None,
            },
            "load": {
                "seconds": tasks.get("load", 0.0),
                "assets_per_s": round(figures["load"].get("sent", 0) / tasks["load"]) if tasks.get("load") else None,
                "sent": figures["load"].get("sent", 0),
                "loaded": figures["load"].get("loaded", 0),
                "cmdb_calls": figures["load"].get("cmdb_calls", 0),
                "calls_per_1000": _per_1000(figures["load"]),
            },
            "incremental": {
                "changed": changed,
                "fetched": incremental["run"]["assets_fetched"],
                "seconds": second["wall_s"],
                "cmdb_calls": incremental["load"].get("cmdb_calls", 0),
                "max_calls": math.ceil(changed / IRE_BATCH),
                "sent": incremental["load"].get("sent", 0),
            },
            "unchanged": {"seconds": third["wall_s"], "cmdb_calls": unchanged["load"].get("cmdb_calls", 0)},
            # overview_figures (beside classify and load) and the summary count the Overview's figures: what each
            # costs in each pass, and the page cold
            "overview": {
                **overview,
                "figures_s": [run["tasks_s"].get("overview_figures", 0.0) for run in (first, second, third)],
                "summary_s": [run["tasks_s"].get("summary", 0.0) for run in (first, second, third)],
            },
            "identity": identity,
            "memory": {"peak_rss_mb": first["peak_rss_mb"], "passes_mb": [second["peak_rss_mb"], third["peak_rss_mb"]]},
            "states": {"first": first["state"], "incremental": second["state"], "unchanged": third["state"]},
            "wall_s": first["wall_s"],
            "simulators_cpu_s": cpu_first,
            "cleanup": cleanup,
            "size_wall_s": round(time.perf_counter() - begun, 1),
        }


def _cleanup(engine: Any, size: int) -> dict[str, Any]:
    """HK-3 on the bench's own records: the queue cleanup with a retention of 0 days after the passes (then a plain
    VACUUM, which autovacuum would do later), and the staging database's size before and after."""
    from qualys_cmdb.staging.cleanup import Retention, clean_queue, database_size, vacuum

    before = database_size(engine)
    begun = time.perf_counter()
    result = clean_queue(engine, Retention.none())
    seconds = time.perf_counter() - begun
    vacuum(engine)
    after = database_size(engine)
    figures = {
        "before_mb": round(before / 1e6),
        "after_mb": round(after / 1e6),
        "queue_records": result.queue_success + result.queue_error,
        "response_mb": round(result.payload_bytes / 1e6),
        "stored_response_mb": round(result.stored_bytes / 1e6, 1),
        "app_log": result.app_log,
        "seconds": round(seconds, 2),
    }
    print(
        f"[{size:,} assets] staging DB size before/after cleanup: {figures['before_mb']:,} MB → "
        f"{figures['after_mb']:,} MB ({figures['queue_records']:,} queue records with "
        f"{figures['stored_response_mb']:,} MB of stored responses ({figures['response_mb']:,} MB uncompressed), "
        f"{figures['app_log']:,} log entries removed in {seconds:.1f} s)",
        flush=True,
    )
    return figures


def _outcomes(failed_by_code: bool = False) -> dict[str, int]:
    """The bench schedule's assets by classification state (loaded, failed, …) in the staging database; with
    ``failed_by_code``, its failed assets by their short code (``SHARED_IDENTIFIER``, the CMDB's error code …)."""
    from sqlalchemy import text

    from qualys_cmdb.staging.database import embedded_url, get_engine

    key, where = ("coalesce(failure_code, '?')", "WHERE state = 'failed'") if failed_by_code else ("state", "")
    sql = f"SELECT {key}, count(*) FROM qcmdb.asset_classification {where} GROUP BY 1 ORDER BY 2 DESC, 1"
    with get_engine(embedded_url(STAGING_DB)).connect() as conn:
        return {str(name): int(n) for name, n in conn.execute(text(sql))}


def _free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """The CPU seconds (user + system) each process, and its children, has used so far."""
    import psutil

    used = {}
    for name, pid in pids.items():
        proc = psutil.Process(pid)
        times = proc.cpu_times()
        used[name] = times.user + times.system + times.children_user + times.children_system
    return used


def _per_1000(load: dict[str, Any]) -> float | None:
    sent = load.get("sent") or 0
    return round(load.get("cmdb_calls", 0) * 1000 / sent, 1) if sent else None


def _get(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=30) as answer:  # http://127.0.0.1, a simulator started here  # noqa: S310
        return dict(json.loads(answer.read()))


def _post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(  # noqa: S310 - http://127.0.0.1, the local simulator
        url, data=json.dumps(body).encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - the local simulator
        return dict(json.loads(response.read()))


def _figures(engine: Any, run_id: str) -> dict[str, Any]:
    """What the run stored: its sync_run row, the staged row count and its load's counts (app log)."""
    from sqlalchemy import func, select

    from qualys_cmdb.staging.schema import app_log, metadata, sync_run

    with engine.connect() as conn:
        run = dict(conn.execute(select(sync_run).where(sync_run.c.run_id == run_id)).mappings().one())
        rows = sum(
            conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in metadata.sorted_tables
            if t.name.startswith("staged_")
        )
        load = conn.execute(
            select(app_log.c.details)
            .where(app_log.c.run_id == run_id, app_log.c.component == "load")
            .order_by(app_log.c.id.desc())
            .limit(1)
        ).scalar()
    return {"run": run, "rows": int(rows), "load": load or {}}


def _identity(engine: Any, load: dict[str, Any]) -> dict[str, int]:
    """BY-10 after the first sync: CIs that two Qualys assets were loaded as (false merges), assets held instead
    (SHARED_CI, SHARED_IDENTIFIER), and class switches."""
    from sqlalchemy import text

    with engine.connect() as conn:
        merged = conn.execute(
            text(
                "SELECT count(*) FROM (SELECT cmdb_sys_id FROM \"qcmdb\".asset_classification WHERE state = 'loaded' "
                "GROUP BY cmdb_sys_id HAVING count(DISTINCT (source, asset_id)) > 1) x"
            )
        ).scalar_one()
        held = dict(
            conn.execute(
                text(
                    'SELECT failure_code, count(*) FROM "qcmdb".asset_classification '
                    "WHERE failure_code IN ('SHARED_CI', 'SHARED_IDENTIFIER') GROUP BY 1"
                )
            ).all()
        )
    return {
        "merged_cis": int(merged),
        "held_shared_ci": int(held.get("SHARED_CI", 0)),
        "held_shared_identifier": int(held.get("SHARED_IDENTIFIER", 0)),
        "class_switches": int((load.get("operations") or {}).get("UPDATE_WITH_SWITCH", 0)),
    }


def render(report: dict[str, Any]) -> str:
    """The table ``make bench`` prints."""
    sizes = report["sizes"]
    head = f"{'':34}" + "".join(f"{s['assets']:>16,} assets" for s in sizes)

    def line(label: str, values: list[str]) -> str:
        return f"{label:34}" + "".join(f" {v:>22}" for v in values)  # a value wider than its column stays apart

    out = [
        f"Benchmark {report['date']} · {report['machine']['cpus']} CPUs · seed {report['seed']} · {report['shape']}",
        head,
        line(
            "fetch: API calls (API minimum)",
            [f"{s['fetch']['api_calls']} ({s['fetch']['minimum_calls']})" for s in sizes],
        ),
        line(
            "fetch: MB received, seconds",
            [f"{s['fetch']['bytes'] / 1e6:.0f} MB, {s['fetch']['seconds']:.1f} s" for s in sizes],
        ),
        line("parse + stage: seconds", [f"{s['parse_stage']['seconds']:.1f} s" for s in sizes]),
        line("parse + stage: assets/s", [f"{s['parse_stage']['assets_per_s']:,}" for s in sizes]),
        line("parse + stage: rows/s", [f"{s['parse_stage']['rows_per_s']:,}" for s in sizes]),
        line("parse + stage: MB/s of response", [f"{s['parse_stage']['mb_per_s']}" for s in sizes]),
        line(
            "yardstick: bare parse + COPY",
            [f"{s['yardstick']['parse_s']:.1f} + {s['yardstick']['copy_s']:.1f} s" for s in sizes],
        ),
        line("pipeline ÷ yardstick (target ≤ 2)", [f"{s['yardstick']['ratio']}" for s in sizes]),
        line(
            "yardstick 2: msgspec decode + COPY",
            [f"{s['yardstick']['msgspec_s']:.1f} + {s['yardstick']['copy_s']:.1f} s" for s in sizes],
        ),
        line("pipeline ÷ yardstick 2 (target ≤ 3)", [f"{s['yardstick']['msgspec_ratio']}" for s in sizes]),
        line(
            "classify: seconds, assets/s",
            [f"{s['classify']['seconds']:.1f} s, {s['classify']['assets_per_s']:,}/s" for s in sizes],
        ),
        line(
            "load: seconds, assets/s",
            [f"{s['load']['seconds']:.1f} s, {s['load']['assets_per_s'] or 0:,}/s" for s in sizes],
        ),
        line("load: CMDB calls / 1,000 assets", [f"{s['load']['calls_per_1000']}" for s in sizes]),
        line("1 % changed: seconds", [f"{s['incremental']['seconds']:.1f} s" for s in sizes]),
        line(
            "1 % changed: CMDB calls (max)",
            [f"{s['incremental']['cmdb_calls']} ({s['incremental']['max_calls']})" for s in sizes],
        ),
        line("unchanged pass: CMDB calls (0)", [f"{s['unchanged']['cmdb_calls']}" for s in sizes]),
        line(
            "CIs holding 2 assets (0); held",
            [
                f"{s['identity']['merged_cis']}; {s['identity']['held_shared_ci']} + "
                f"{s['identity']['held_shared_identifier']}"
                for s in sizes
                if "identity" in s
            ],
        ),
        line(
            "class switches in the first sync", [f"{s['identity']['class_switches']}" for s in sizes if "identity" in s]
        ),
        line(
            "simulators' CPU in the first sync",
            [
                f"Qualys {s['simulators_cpu_s']['qualys']:.0f} s, SN {s['simulators_cpu_s']['servicenow']:.0f} s"
                for s in sizes
            ],
        ),
        line(
            "Overview cold (live before; ≤ 0.5 s)",
            [f"{s['overview']['cold_s']:.2f} s ({s['overview']['live_s']:.1f} s)" for s in sizes if "overview" in s],
        ),
        line(
            "figures: recount; figures steps; summary steps",
            [
                f"{s['overview']['recount_s']:.1f} s; "
                + "/".join(f"{x:.1f}" for x in s["overview"].get("figures_s", ()))
                + "; "
                + "/".join(f"{x:.1f}" for x in s["overview"]["summary_s"])
                for s in sizes
                if "overview" in s
            ],
        ),
        line(
            "staging DB before/after cleanup",
            [f"{s['cleanup']['before_mb']:,} → {s['cleanup']['after_mb']:,} MB" for s in sizes if "cleanup" in s],
        ),
        line("whole size (3 passes + yardstick)", [f"{s['size_wall_s']:.0f} s" for s in sizes]),
        line("peak RSS of the task process", [f"{s['memory']['peak_rss_mb']} MB" for s in sizes]),
    ]
    if "memory_ratio" in report:
        out.append(line("memory: largest ÷ smallest (≤ 1.25)", [f"{report['memory_ratio']}"]))
    if "latency" in report:
        from qualys_cmdb import bench_latency

        out.extend(bench_latency.render(report["latency"]))
    minutes, seconds = divmod(round(report["wall_s"]), 60)
    out.append(f"whole benchmark: {minutes} min {seconds:02d} s")
    return "\n".join(out)


def main(argv: list[str]) -> int:
    """``qcmdb bench`` (see :mod:`qualys_cmdb.cli`)."""
    import argparse

    parser = argparse.ArgumentParser(prog="qcmdb bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--assets", nargs="+", type=int, default=None, help="estate sizes (default $BENCH_ASSETS)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--shape", default=SHAPE)
    parser.add_argument("--dags", default="dags", help="the DAG folder (default ./dags)")
    parser.add_argument("--out", default="bench/results")
    parser.add_argument("--processors", type=int, default=2)
    parser.add_argument(
        "--latency-assets",
        type=int,
        default=int(os.environ.get("BENCH_LATENCY_ASSETS", "50000")),
        help="a first sync of this many assets under the simulators' latency model (0: none)",
    )
    parser.add_argument(
        "--latency-sweep-assets",
        type=int,
        default=int(os.environ.get("BENCH_LATENCY_SWEEP_ASSETS", "5000")),
        help=f"first syncs of this many assets under the model with ire_concurrency {LATENCY_SWEEP} (0: none)",
    )
    parser.add_argument("--latency-scale", type=float, default=LATENCY_SCALE, help="the model's time scale")
    parser.add_argument(
        "--latency-runs",
        choices=get_args(LatencyRuns),
        default="groups",
        help="the first sync of --latency-assets in page groups (default: the product's way, the target's), "
        "as one run, or both (one run adds about 35 minutes at the default scale)",
    )
    args = parser.parse_args(argv)
    sizes = args.assets or [int(s) for s in os.environ.get("BENCH_ASSETS", "5000 50000").replace(",", " ").split()]
    bench = Bench(
        sizes=sizes,
        seed=args.seed,
        shape=args.shape,
        dags=Path(args.dags),
        out=Path(args.out),
        processors=args.processors,
        latency_assets=args.latency_assets,
        sweep_assets=args.latency_sweep_assets,
        latency_scale=args.latency_scale,
        latency_runs=args.latency_runs,
    )
    report = bench.run()
    print(render(report))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"bench-{report['date'].replace(':', '')}.json"
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    (out / "latest.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"written to {path}")
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["_run_dag"]:
        _run_dag_child()
    elif sys.argv[1:2] == ["_run_chain"]:
        _run_chain_child()
    elif sys.argv[1:2] == ["_overview"]:
        _overview_child()
    elif sys.argv[1:2] == ["_yardstick"]:
        _yardstick_child(sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit(main(sys.argv[1:]))
