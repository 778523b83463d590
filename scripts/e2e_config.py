"""The configuration `make e2e` runs with (.qcmdb/e2e/qualys_cmdb.yaml): one schedule per scenario.

Each Qualys → CMDB schedule takes its own slice of the simulated estate (one operating-system category), so the
scenarios never share an asset and each one's expected counts follow from the simulator's estate alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Slice:
    """A Qualys → CMDB schedule of the e2e and the slice of the estate it syncs."""

    schedule: str
    os_category: str  # the simulator's operatingSystem.category1
    approval: str = "auto"  # auto | hitl (Airflow's Required actions) | plugin (the plugin's Approve assets page)
    interval: str = "manual"
    software: bool = False
    pages_per_run: int | None = None  # page groups: each run fetches this many pages, then starts the next run

    @property
    def dag_id(self) -> str:
        return f"qualys_to_cmdb__{self.schedule}"


INTAKE = Slice("e2e_intake", "Windows", software=True)  # a: parse spread over the workers as they are free
HITL = Slice("e2e_hitl", "Mac", approval="hitl")  # b: answered through Airflow's REST API
REVIEW = Slice("e2e_review", "Unix", approval="plugin")  # b: answered through the plugin's endpoint
BACKFILL = Slice("e2e_backfill", "Embedded", interval="0 0 1 * *")  # c: monthly, backfilled
KILLED = Slice("e2e_kill", "Linux", software=True)  # d: a worker killed mid-load
GROUPS = Slice("e2e_groups", "Network Operating System", pages_per_run=2)  # f: a first sync in page groups
SLICES = (INTAKE, HITL, REVIEW, BACKFILL, KILLED, GROUPS)
REVERSE = "e2e_acquisitions"  # e: CMDB → Qualys
REVERSE_DAG = f"cmdb_to_qualys__{REVERSE}"
HOUSEKEEPING_DAGS = ("qualys_asset_tags", "qualys_asset_groups", "qualys_host_id_updater")
ASSET_GROUP = "New Acquisitions"  # an asset group of the simulator

PAGE_SIZE = 25  # assets per Qualys call: several pages per slice ...
PARSERS = 4  # ... parsed by this many mapped `parse` task instances
IRE_BATCH = 10  # CIs per IRE call: a load makes many calls, so a worker can be killed between two of them


def _schedule(s: Slice) -> str:
    approval = {
        "auto": "    auto_approve: true\n",
        "hitl": "    auto_approve: false\n    batch_approval: true\n    approval_wait_minutes: 30\n",
        "plugin": "    auto_approve: false\n    approval_wait_minutes: 30\n    approval_poll_seconds: 2\n",
    }[s.approval]
    return (
        f"  - name: {s.schedule}\n"
        "    source: demo\n"
        f"    interval: '{s.interval}'\n"
        "    download_assets_since: 2020-01-01T00:00:00Z\n"
        f"    qql_filter: operatingSystem.category1:`{s.os_category}`\n"
        "    details: {ports: true, volumes: true, interfaces: true, "
        f"software: {str(s.software).lower()}, processors: true}}\n"
        + approval
        + (f"    pages_per_run: {s.pages_per_run}\n" if s.pages_per_run else "")
    )


def write_config(path: Path) -> Path:
    """Write the e2e configuration to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "# Written by scripts/e2e.py for `make e2e` (rewritten on every run).\n"
        "sources:\n"
        "  - name: demo\n"
        "    pod: US1\n"
        "    api: csam\n"
        "    connection_id: qualys_demo\n"
        "    qualys_to_cmdb: true\n"
        "    cmdb_to_qualys: true\n"
        "schedules:\n" + "".join(_schedule(s) for s in SLICES) + f"  - name: {REVERSE}\n"
        "    source: demo\n"
        "    direction: cmdb_to_qualys\n"
        "    interval: manual\n"
        "    table: cmdb_ci_computer\n"
        "    query: operational_status=1^discovery_source=ImportSet\n"
        "    tracking_method: IP\n"
        f"    asset_group: {ASSET_GROUP}\n"
        "properties:\n"
        f"  download_batch_size: {PAGE_SIZE}\n"
        f"  download_processors: {PARSERS}\n"
        "  upload_batch_size: 10\n"
        "  max_transaction_lifetime_minutes: 10\n"
        "  api_timeout_ms: 60000\n"
        "  insertion_method: ire\n"
        "  allow_asset_group_sync: true\n"
        "  cmdb_connection_id: servicenow_demo\n"
        f"  ire_batch_size: {IRE_BATCH}\n"
        "  task_timeout_minutes: 10\n"
    )
    return path
