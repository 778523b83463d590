"""Measure classify and load on what `make demo` staged: assets/s and CMDB calls per 1,000 changed assets.

    DEMO_ASSETS=2000 make demo && .venv/bin/python scripts/cmdb_throughput.py

Re-classifies every staged asset of the demo schedule (as a mapping change would), then loads them all into a fresh
in-memory ServiceNow simulator, then loads again with nothing changed. Prints figures; asserts nothing.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "plugins"))
sys.path.insert(0, str(REPO))
os.environ.setdefault("QUALYS_CMDB_HOME", str(REPO / ".qcmdb"))


def main() -> int:
    from qualys_cmdb.approval.decisions import auto_approve
    from qualys_cmdb.classify.classify import classify_assets
    from qualys_cmdb.classify.mappings import load_mappings
    from qualys_cmdb.hooks.servicenow import ServiceNowHook
    from qualys_cmdb.load.ire import load_approved
    from qualys_cmdb.staging.database import get_engine
    from sqlalchemy import text

    from simulators.servicenow.server import ServiceNowSimulator

    engine, mappings = get_engine(), load_mappings()
    with engine.begin() as conn:
        conn.execute(text("UPDATE qcmdb.asset_classification SET mapping_version = '', loaded_hash = NULL"))
    started = time.perf_counter()
    result = classify_assets(engine, mappings, schedule="demo", source="demo", run_id="bench", class_override=None)
    classify_s = time.perf_counter() - started
    auto_approve(engine, "demo")
    sim = ServiceNowSimulator(host="127.0.0.1", port=0).start()
    os.environ["AIRFLOW_CONN_SN_BENCH"] = json.dumps(
        {"conn_type": "servicenow", "host": sim.url, "login": "sn_integration", "password": "sn-Passw0rd"}
    )
    try:
        hook = ServiceNowHook("sn_bench")
        started = time.perf_counter()
        loaded = load_approved(engine, hook, mappings, "demo", batch_size=200)
        load_s = time.perf_counter() - started
        rerun = load_approved(engine, hook, mappings, "demo", batch_size=200)
    finally:
        sim.stop()
    n = result.classified
    print(f"classify: {n} assets in {classify_s:.2f} s = {n / classify_s:.0f} assets/s")
    print(
        f"load:     {loaded.loaded} loaded, {loaded.failed} failed in {load_s:.1f} s = "
        f"{loaded.sent / load_s:.0f} assets/s (CMDB simulator in this process), {loaded.calls} CMDB calls = "
        f"{1000 * loaded.calls / max(loaded.sent, 1):.1f} per 1,000 changed assets"
    )
    print(f"unchanged rerun: {rerun.calls} CMDB calls")
    return 0


if __name__ == "__main__":
    sys.exit(main())
