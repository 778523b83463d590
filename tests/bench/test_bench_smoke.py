"""A small run of the benchmark (`qcmdb bench`), so that it keeps working: real DAG runs, real simulators, real
Postgres. It checks what the figures count, never how fast anything was."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

ASSETS = 350  # two pages: the yardstick parses them in two processes, as the parse task does


def test_the_benchmark_runs_and_counts_right(airflow_db: None, tmp_path: Path) -> None:
    qcmdb = str(Path(sys.executable).with_name("qcmdb"))
    result = subprocess.run(
        [
            qcmdb,
            "bench",
            "--assets",
            str(ASSETS),
            "--dags",
            str(REPO / "dags"),
            "--out",
            str(tmp_path),
            *("--latency-assets", str(ASSETS), "--latency-sweep-assets", "0", "--latency-scale", "0.01"),
            *("--latency-runs", "both"),
        ],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "pipeline ÷ yardstick" in result.stdout  # the table is printed
    report = json.loads((tmp_path / "latest.json").read_text())
    (size,) = report["sizes"]
    assert size["states"] == {"first": "success", "incremental": "success", "unchanged": "success"}
    assert size["fetch"]["api_calls"] == size["fetch"]["minimum_calls"] == math.ceil(ASSETS / 300) + 1
    assert size["yardstick"]["copy_rows"] == size["parse_stage"]["rows"] > ASSETS * 10
    # the yardstick read every stored response, each page in one of two worker processes
    assert size["yardstick"]["records"] == size["fetch"]["pages"] == 2
    assert size["yardstick"]["parse_workers"] == 2
    assert size["yardstick"]["response_bytes"] == size["fetch"]["bytes"]
    # the stronger yardstick decoded every asset of every page with msgspec
    assert size["yardstick"]["msgspec_assets"] == ASSETS and size["yardstick"]["msgspec_ratio"] is not None
    assert "pipeline ÷ yardstick 2" in result.stdout
    load = size["load"]
    assert load["sent"] > 0 and load["loaded"] <= load["sent"]
    assert size["incremental"]["fetched"] == size["incremental"]["changed"] == max(1, ASSETS // 100)
    assert size["incremental"]["cmdb_calls"] <= size["incremental"]["max_calls"]
    assert size["unchanged"]["cmdb_calls"] == 0
    assert size["identity"]["merged_cis"] == 0  # BY-10: no CI holds two Qualys assets
    assert "CIs holding 2 assets" in result.stdout
    assert size["memory"]["peak_rss_mb"] > 50  # the task processes (the executor's children) were measured
    # the simulators' own CPU is reported (both served the first sync), and the run's whole time
    assert set(size["simulators_cpu_s"]) == {"qualys", "servicenow"}
    assert all(seconds > 0 for seconds in size["simulators_cpu_s"].values())
    assert report["wall_s"] >= size["size_wall_s"] > 0
    assert "simulators' CPU in the first sync" in result.stdout and "whole benchmark:" in result.stdout
    # the Overview rendered cold from the figures the runs' overview_figures and summary steps stored (its time is
    # printed, not checked)
    overview = size["overview"]
    assert overview["status"] == [200, 200] and overview["reports"] == 17
    assert overview["figures_stored"] is True  # nothing was counted for the page: the summary step had done it
    assert overview["recounted"] > 0 and len(overview["summary_s"]) == 3
    assert len(overview["figures_s"]) == 3 and overview["figures_s"][0] > 0  # the first pass ran overview_figures
    assert "Overview cold" in result.stdout
    # a first sync under the simulators' latency model, against the API-bound limit of what it asked for
    latency = report["latency"]
    run, grouped = latency["runs"]
    assert run["state"] == "success" and run["assets"] == ASSETS and run["concurrency"] == 2  # the default
    assert run["runs"] == 1 and run["outcomes"].get("loaded", 0) == run["cis"] > 0
    modelled = run["modelled"]
    assert modelled["qualys"]["csam"]["requests"] == size["fetch"]["api_calls"] - 1  # every page, not /auth
    assert modelled["servicenow"]["ire"]["requests"] == load["cmdb_calls"]
    assert run["qualys_bound_s"] > 0 and run["cmdb_bound_s"] > 0 and run["ratio"] is not None
    assert run["limit_s"] == max(run["qualys_bound_s"], run["cmdb_bound_s"])
    # the same first sync in page groups of 1 page (2 pages: 2 runs, then a third finding nothing new), run by
    # Airflow's scheduler: each run started the next, and every asset was written once
    assert grouped["state"] == "success" and grouped["pages_per_run"] == 1 and grouped["runs"] == 3
    assert grouped["modelled"]["qualys"]["csam"]["requests"] == 3  # each page once, and the last run's empty window
    assert sum(grouped["outcomes"].values()) == ASSETS and not grouped["outcomes"].get("approved")
    assert grouped["outcomes"].get("loaded", 0) == grouped["cis"] == run["cis"]
    assert grouped["before_first_load_s"] is not None and grouped["ratio"] is not None
    assert "page groups of 1 pages: 3 runs by the scheduler" in result.stdout
    verdict = "met" if grouped["ratio"] <= 1.15 else "not met"  # printed either way; the test never judges timing
    assert f"target ÷ limit ≤ 1.15: {verdict}" in result.stdout
    # the hours-to-first-sync table: the vendor app's architecture and this product's with 1, 2 and 4 connections
    hours = latency["hours"]
    assert len(hours) == 7 and hours[0]["architecture"].startswith("vendor app")
    grouped_hours = [row for row in hours if "page groups" in row["architecture"]]
    assert len(grouped_hours) == 3  # page groups never take longer than one run, and never less than either side
    for one, cut in zip(hours[1:4], grouped_hours, strict=True):
        assert max(one["fetch_h"], one["cmdb_h"]) <= cut["whole_h"] <= one["whole_h"]
    assert all(row["whole_h"] > 0 for row in hours)
    assert "Under the latency model" in result.stdout and "Hours to a first sync" in result.stdout
