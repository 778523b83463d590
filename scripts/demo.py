"""`make demo`: the main job end to end on the embedded default.

Starts the embedded PostgreSQL (Airflow metadata + staging) and the two simulators, runs the demo schedule's DAG
with `airflow dags test`, prints the summary and writes it to .qcmdb/demo-summary.json; changes a few assets and
runs it again. A second schedule on the same source, whose class override disagrees, shows its assets held as
conflicts (its run fails on purpose, saying so). The same estate is read through the Asset Management API (QPS
hostasset, schedule demo_qps): its records carry OS names but no CSAM category, and every asset gets a class; the
classes are compared with the CSAM ones (its assets wait for a decision: the CMDB has their CIs already). Then the
CMDB → Qualys direction: CIs imported from an acquired company's inventory are pushed into Qualys and its "New
Acquisitions" asset group (twice, to show the second run skips them), Qualys scans some of them and the host-id
updater records their host ids. Everything started here is
stopped here (the embedded PostgreSQL keeps running so the result can be queried; `make clean` stops it).
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
import urllib.request
from typing import Any

from demo_env import BIN, HOME, SN_PASSWORD, SN_USER, airflow_env, run, start_simulators

CHANGED = 5


def _post_json(url: str, body: dict[str, object], auth: tuple[str, str] | None = None) -> dict[str, Any]:
    return _call("POST", url, body, auth)


def _call(method: str, url: str, body: dict[str, object] | None, auth: tuple[str, str] | None) -> dict[str, Any]:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if auth:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    request = urllib.request.Request(  # noqa: S310 - http://127.0.0.1, the local simulator
        url, data=json.dumps(body).encode() if body is not None else None, method=method, headers=headers
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - the local simulator
        return dict(json.loads(response.read()))


# CIs of an acquired company's inventory (discovery source ImportSet), as a CMDB admin would have imported them.
ACQUIRED = [(f"acq-srv-{n:02d}", f"172.16.4.{10 + n}") for n in range(1, 9)] + [
    ("acq-srv-09", "172.16.4.256"),  # a typo in the imported inventory: not an address
    ("acq-srv-10", "127.0.1.1"),  # a host that reported its loopback address: Qualys refuses it
]


def add_acquired_cis(cmdb_url: str, known: list[str]) -> None:
    """Create the acquired company's CIs (once) through the Table API; two of them have addresses Qualys has."""
    cis = ACQUIRED + [(f"acq-srv-{11 + n}", address) for n, address in enumerate(known[:2])]
    auth = (SN_USER, SN_PASSWORD)
    existing = _call(
        "GET",
        f"{cmdb_url}/api/now/table/cmdb_ci_computer?sysparm_query=nameSTARTSWITHacq-srv-&sysparm_fields=name",
        None,
        auth,
    )["result"]
    have = {row["name"] for row in existing}
    for name, address in cis:
        if name not in have:
            _post_json(
                f"{cmdb_url}/api/now/table/cmdb_ci_computer",
                {"name": name, "ip_address": address, "operational_status": "1", "discovery_source": "ImportSet"},
                auth,
            )
    print(f"{len(cis)} CIs of the acquired company's inventory are in the CMDB (discovery source ImportSet)")


def main() -> int:
    env = airflow_env()
    sims: list[subprocess.Popen[str]] = []
    try:
        url, cmdb_url = start_simulators(env, sims)
        run([str(BIN / "airflow"), "db", "migrate"], env, quiet=True)
        run([str(BIN / "qcmdb"), "db", "upgrade"], env)
        run([str(BIN / "qcmdb"), "test-connection", "demo"], env)
        started = time.monotonic()
        run([str(BIN / "airflow"), "dags", "test", "qualys_to_cmdb__demo"], env, quiet=True)
        print(f"DAG run finished in {time.monotonic() - started:.1f} s")
        run([str(BIN / "qcmdb"), "summary", "--schedule", "demo", "--json", str(HOME / "demo-summary.json")], env)
        # The estate changes a little: the next run fetches, classifies and writes only those assets.
        changed = _post_json(f"{url}/sim/control/advance", {"seconds": 0, "modify": CHANGED})["modified"]
        print(f"\n{len(changed)} assets changed in Qualys; running the DAG again")
        run([str(BIN / "airflow"), "dags", "test", "qualys_to_cmdb__demo"], env, quiet=True)
        run(
            [
                str(BIN / "qcmdb"),
                "summary",
                "--schedule",
                "demo",
                "--json",
                str(HOME / "demo-summary-incremental.json"),
            ],
            env,
        )
        shared_source(env)
        qps_source(env)
        reverse(env, url, cmdb_url)
    finally:
        for proc in sims:
            proc.terminate()
            proc.wait(timeout=15)
    return 0


def shared_source(env: dict[str, str]) -> None:
    """A second schedule on the demo source whose class override disagrees with the demo schedule's classes: its
    run reports the held conflicts (its summary step fails on purpose), and no CI switches class."""
    print("\nA second schedule on the same source: linux_servers (its class override disagrees)")
    command = [str(BIN / "airflow"), "dags", "test", "qualys_to_cmdb__linux_servers"]
    print(f"$ {' '.join(command)}", flush=True)
    result = subprocess.run(command, env=env, text=True, capture_output=True)
    if result.returncode == 0 or "CLASS_CONFLICT" not in result.stdout + result.stderr:
        print(result.stdout[-4000:], result.stderr[-4000:], sep="\n")
        raise SystemExit("demo failed: linux_servers was expected to report its held class conflicts")
    print("the run reported its held class conflicts (its summary step failed, as it should); the first three:")
    run(
        [
            str(BIN / "qcmdb"),
            "assets",
            "list",
            "--schedule",
            "linux_servers",
            "--code",
            "CLASS_CONFLICT",
            "--limit",
            "3",
        ],
        env,
    )
    run(
        [
            str(BIN / "qcmdb"),
            "summary",
            "--schedule",
            "linux_servers",
            "--json",
            str(HOME / "demo-summary-linux-servers.json"),
        ],
        env,
    )


def qps_source(env: dict[str, str]) -> None:
    """The demo estate through the Asset Management API (QPS hostasset): its records carry an OS name without CSAM's
    categories; stage derives them (include/mappings/os_names.yaml) and every asset gets a class. Its assets wait for
    a decision (the demo schedule wrote their CIs already); their classes are compared with the CSAM ones."""
    print("\nThe same estate through the Asset Management API (QPS hostasset): source and schedule demo_qps")
    started = time.monotonic()
    run([str(BIN / "airflow"), "dags", "test", "qualys_to_cmdb__demo_qps"], env, quiet=True)
    print(f"DAG run finished in {time.monotonic() - started:.1f} s")
    run(
        [str(BIN / "qcmdb"), "summary", "--schedule", "demo_qps", "--json", str(HOME / "demo-summary-qps.json")],
        env,
    )
    from qualys_cmdb.staging.database import embedded_url, get_engine
    from qualys_cmdb.staging.schema import SCHEMA
    from sqlalchemy import text

    by_class = (
        f'SELECT coalesce(target_class, state), count(*) FROM "{SCHEMA}".asset_classification '  # noqa: S608
        "WHERE schedule = 'demo_qps' GROUP BY 1 ORDER BY 2 DESC, 1"
    )
    side_by_side = f"""
        SELECT c.target_class, q.target_class, count(*) FROM "{SCHEMA}".asset_classification c
        JOIN "{SCHEMA}".asset_classification q ON q.asset_id = c.asset_id AND q.schedule = 'demo_qps'
        WHERE c.schedule = 'demo' GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2
    """  # noqa: S608
    with get_engine(embedded_url("qualys_cmdb")).connect() as conn:
        qps = dict(conn.execute(text(by_class)).all())
        pairs = conn.execute(text(side_by_side)).all()
    same = sum(n for csam, qps_class, n in pairs if csam == qps_class)
    print("classes through QPS hostasset: " + ", ".join(f"{cls} {n}" for cls, n in qps.items()))
    print(
        f"against CSAM, asset by asset: {same} in the same class, {sum(n for *_, n in pairs) - same} in another "
        "(CSAM's hardware categories tell devices apart that an OS name cannot):"
    )
    for csam, qps_class, n in pairs:
        if csam != qps_class:
            print(f"  {n:3d}  {csam} (CSAM) -> {qps_class} (QPS)")


def reverse(env: dict[str, str], url: str, cmdb_url: str) -> None:
    """The CMDB → Qualys schedule, run twice, then Qualys scans some addresses and the host-id updater runs."""
    print("\nCMDB → Qualys")
    estate = _call("GET", f"{url}/sim/control/estate", None, None)
    add_acquired_cis(cmdb_url, [a["address"] for a in estate["assets"]])
    run([str(BIN / "airflow"), "dags", "test", "qualys_asset_groups"], env, quiet=True)
    started = time.monotonic()
    run([str(BIN / "airflow"), "dags", "test", "cmdb_to_qualys__acquisitions"], env, quiet=True)
    print(f"DAG run finished in {time.monotonic() - started:.1f} s")
    summary = HOME / "demo-reverse-summary.json"
    run([str(BIN / "qcmdb"), "summary", "--schedule", "acquisitions", "--json", str(summary)], env)
    print("\nRunning the CMDB → Qualys schedule again: every address is known to Qualys now")
    run([str(BIN / "airflow"), "dags", "test", "cmdb_to_qualys__acquisitions"], env, quiet=True)
    run(
        [str(BIN / "qcmdb"), "summary", "--schedule", "acquisitions", "--json", str(HOME / "demo-reverse-again.json")],
        env,
    )
    added = [item["ip"] for item in _call("GET", f"{url}/sim/control/vm", None, None)["added_ips"]]
    scanned = _post_json(f"{url}/sim/control/scan", {"ips": added[:5]})["scanned"]
    print(f"\nQualys scanned {len(scanned)} of the {len(added)} added addresses; the host-id updater records them")
    run([str(BIN / "airflow"), "dags", "test", "qualys_host_id_updater"], env, quiet=True)
    run([str(BIN / "qcmdb"), "summary", "--schedule", "acquisitions"], env)


if __name__ == "__main__":
    sys.exit(main())
