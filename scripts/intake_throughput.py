"""Measure the intake: fetch from the Qualys simulator, then parse + stage throughput and peak memory.

    .venv/bin/python scripts/intake_throughput.py --assets 500 2000

For each estate size: a fresh staging database on the embedded PostgreSQL, a simulator subprocess, a fetch of the
whole estate into the sync queue (pages of 300), then — in a separate process, so its peak RSS is its own — every
queue record parsed (COPY into landing) and staged (set-based upsert). Prints one line per size and a JSON summary.
Figures, not assertions: this is a benchmark, never a test.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "plugins"))
USER, PASSWORD = "bench", "bench-Passw0rd"  # the simulator's throwaway account
DB = "qcmdb_bench"


def _engine():  # type: ignore[no-untyped-def]
    from qualys_cmdb.staging.database import get_engine

    return get_engine(_url())


def _url():  # type: ignore[no-untyped-def]
    from qualys_cmdb.staging.database import embedded_url

    return embedded_url(DB)


def _fresh_database() -> None:
    from qualys_cmdb.staging.database import embedded_server
    from qualys_cmdb.staging.migrate import upgrade

    server = embedded_server()
    server.psql(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE);")
    upgrade(_engine())


def child_parse_stage() -> None:
    """Parse every queued record, then stage them; print timings and this process's peak RSS as JSON."""
    from qualys_cmdb.config import DetailFlags
    from qualys_cmdb.intake.parse import parse_record
    from qualys_cmdb.intake.stage import stage_records
    from qualys_cmdb.staging import store

    engine = _engine()
    queue_ids = store.pending_downloads(engine, "bench")
    started = time.perf_counter()
    assets = rows = software = 0
    for queue_id in queue_ids:
        result = parse_record(engine, queue_id, DetailFlags(), "bench")
        assets, rows, software = assets + result.assets, rows + result.rows, software + result.software_rows
    parsed = time.perf_counter()
    staged = stage_records(engine, "bench", "bench-run")
    done = time.perf_counter()
    print(
        json.dumps(
            {
                "records": len(queue_ids),
                "assets": assets,
                "landing_rows": rows,
                "software_rows": software,
                "parse_s": round(parsed - started, 2),
                "stage_s": round(done - parsed, 2),
                "staged_assets": staged.assets,
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            }
        )
    )


def measure(assets: int) -> dict[str, object]:
    from qualys_cmdb.config import DetailFlags, Properties, Schedule, Source
    from qualys_cmdb.hooks.qualys import QualysHook
    from qualys_cmdb.intake.fetch import RunInfo, fetch_assets
    from qualys_cmdb.staging import store

    _fresh_database()
    sim = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "simulators.qualys",
            "--port",
            "0",
            "--assets",
            str(assets),
            "--seed",
            "3",
            "--user",
            USER,
            "--password",
            PASSWORD,
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        url = (sim.stdout.readline() if sim.stdout else "").strip().rsplit(" ", 1)[-1]
        os.environ["AIRFLOW_CONN_QUALYS_BENCH"] = json.dumps(
            {"conn_type": "qualys", "host": url, "login": USER, "password": PASSWORD, "extra": {"gateway_url": url}}
        )
        schedule = Schedule(name="bench", source="bench", details=DetailFlags())
        source = Source(name="bench", connection_id="qualys_bench", pod="US1")
        properties = Properties(download_batch_size=300, max_transaction_lifetime_minutes=60)
        engine = _engine()
        hook = QualysHook.for_source(source, properties)
        started = time.perf_counter()
        fetched = fetch_assets(
            engine,
            hook,
            schedule=schedule,
            source=source,
            properties=properties,
            run=RunInfo("bench-run"),
            app_log=store.AppLog(engine),
        )
        fetch_s = time.perf_counter() - started
        hook.close()
    finally:
        sim.terminate()
        sim.wait(timeout=15)
    child = subprocess.run(
        [sys.executable, __file__, "--child"], capture_output=True, text=True, check=True, env=dict(os.environ)
    )
    figures = json.loads(child.stdout.strip().splitlines()[-1])
    work_s = figures["parse_s"] + figures["stage_s"]
    return {
        "estate": assets,
        "pages": fetched.pages,
        "api_calls": fetched.api_calls,
        "fetch_s": round(fetch_s, 2),
        "downloaded_mb": round(fetched.bytes / 1e6, 1),
        **figures,
        "parse_stage_assets_per_s": round(figures["assets"] / work_s),
        "parse_stage_rows_per_s": round(figures["landing_rows"] / work_s),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--assets", type=int, nargs="+", default=[500, 2000])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_parse_stage()
        return 0
    results = []
    for n in args.assets:
        r = measure(n)
        results.append(r)
        print(
            f"{n:>6} assets: fetch {r['fetch_s']} s ({r['pages']} pages, {r['downloaded_mb']} MB); "
            f"parse {r['parse_s']} s + stage {r['stage_s']} s = {r['parse_stage_assets_per_s']} assets/s, "
            f"{r['parse_stage_rows_per_s']} rows/s ({r['landing_rows']} rows, {r['software_rows']} software); "
            f"peak RSS {r['peak_rss_mb']} MB",
            flush=True,
        )
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
