"""What `make e2e` checks after each scenario: the staging database and the CMDB simulator against the estate.

The expected figures come from the Qualys simulator's estate (``/sim/control/estate``): each e2e schedule syncs one
operating-system category of it. Staging is read with SQL (the staging database of the e2e's embedded PostgreSQL);
the CMDB is the ServiceNow simulator's SQLite file, opened read-only, where each table is a view of its name.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import requests
from e2e_config import Slice
from e2e_env import HOME
from sqlalchemy import Engine, create_engine, text

CMDB_FILE = HOME / "servicenow.sqlite3"
#: A CI (or CMDB row) the sync writes more than once shows up as two rows with the same identity here.
DUPLICATES = {
    "main CIs (sys_object_source)": "SELECT name, id FROM sys_object_source GROUP BY 1, 2 HAVING count(*) > 1",
    "CIs matched by two sources": "SELECT target_sys_id FROM sys_object_source GROUP BY 1 HAVING count(*) > 1",
    "network adapters": "SELECT cmdb_ci, name, mac_address FROM cmdb_ci_network_adapter GROUP BY 1, 2, 3 "
    "HAVING count(*) > 1",
    "IP addresses": "SELECT r.parent, r.type, i.ip_address FROM cmdb_ci_ip_address i JOIN cmdb_rel_ci r "
    "ON r.child = i.sys_id GROUP BY 1, 2, 3 HAVING count(*) > 1",
    "file systems": "SELECT computer, mount_point, name FROM cmdb_ci_file_system GROUP BY 1, 2, 3 HAVING count(*) > 1",
    "serial numbers": "SELECT cmdb_ci, serial_number, serial_number_type FROM cmdb_serial_number GROUP BY 1, 2, 3 "
    "HAVING count(*) > 1",
    "software instances": "SELECT installed_on, name, software FROM cmdb_software_instance GROUP BY 1, 2, 3 "
    "HAVING count(*) > 1",
    "software packages": "SELECT key FROM cmdb_ci_spkg GROUP BY 1 HAVING count(*) > 1",
    "relations": "SELECT parent, child, type FROM cmdb_rel_ci GROUP BY 1, 2, 3 HAVING count(*) > 1",
}


@dataclass
class Outcome:
    """A check's findings: facts for the report, problems that fail the scenario."""

    facts: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def expect(self, ok: bool, fact: str, problem: str) -> None:
        (self.facts if ok else self.problems).append(fact if ok else problem)

    def merge(self, other: Outcome) -> Outcome:
        self.facts += other.facts
        self.problems += other.problems
        return self


class Estate:
    """The Qualys simulator's assets (what the schedules must end up with)."""

    def __init__(self, qualys_url: str) -> None:
        response = requests.get(f"{qualys_url}/sim/control/estate", timeout=60)
        response.raise_for_status()
        self.assets: list[dict[str, Any]] = response.json()["assets"]

    def ids(self, s: Slice, since: datetime | None = None, until: datetime | None = None) -> set[int]:
        """The asset ids of a slice, optionally only those modified in (since, until]."""
        return {
            int(a["assetId"])
            for a in self.assets
            if a["os_category1"] == s.os_category
            and (since is None or since < _modified(a))
            and (until is None or _modified(a) <= until)
        }


def _modified(asset: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(str(asset["lastModifiedDate"]).replace("Z", "+00:00"))


def staging_engine() -> Engine:
    """The e2e's staging database (the embedded PostgreSQL's ``qualys_cmdb``)."""
    from qualys_cmdb.staging.database import embedded_url
    from qualys_cmdb.staging.schema import SCHEMA

    return create_engine(embedded_url(), pool_pre_ping=True, connect_args={"options": f"-c search_path={SCHEMA}"})


def sync_runs(engine: Engine, schedule: str, run_ids: Iterable[str]) -> list[dict[str, Any]]:
    """The staging record of each of the runs (status, counts, fetch windows)."""
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT * FROM sync_run WHERE schedule = :s AND run_id = ANY(:r) ORDER BY started_at"),
            {"s": schedule, "r": list(run_ids)},
        )
        return [dict(r) for r in rows.mappings()]


def classification(engine: Engine, schedule: str) -> dict[int, tuple[str, str | None]]:
    """Each asset of the schedule: (state, the CI it was loaded into)."""
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT asset_id, state, cmdb_sys_id FROM asset_classification WHERE schedule = :s"), {"s": schedule}
        )
        return {int(a): (str(st), sys_id) for a, st, sys_id in rows}


def decisions(engine: Engine, schedule: str) -> dict[tuple[str, str], int]:
    """The schedule's approval decisions by (decision, who decided)."""
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT decision, decided_by, count(*) FROM approval_decision WHERE schedule = :s GROUP BY 1, 2"),
            {"s": schedule},
        )
        return {(str(d), str(w)): int(n) for d, w, n in rows}


def cmdb(sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
    """Rows of the CMDB simulator's database (read-only)."""
    with sqlite3.connect(f"file:{CMDB_FILE}?mode=ro", uri=True, timeout=30) as conn:
        return list(conn.execute(sql, tuple(params)))


def object_sources(asset_ids: Iterable[int]) -> dict[int, list[str]]:
    """The CIs the CMDB holds for each Qualys asset id (``sys_object_source``: source native key → CI)."""
    found: dict[int, list[str]] = {}
    for native_key, target in cmdb("SELECT id, target_sys_id FROM sys_object_source"):
        if native_key.isdigit():
            found.setdefault(int(native_key), []).append(str(target))
    wanted = set(asset_ids)
    return {a: cis for a, cis in found.items() if a in wanted}


def duplicates() -> dict[str, int]:
    """Per kind of CMDB row, how many identities are held by more than one row (all zero: nothing duplicated)."""
    return {kind: len(cmdb(sql)) for kind, sql in DUPLICATES.items()}


def slice_synced(engine: Engine, s: Slice, expected: set[int]) -> Outcome:
    """Every asset of the slice staged and loaded, each into a CI of its own that the CMDB holds exactly once."""
    out = Outcome()
    states = classification(engine, s.schedule)
    loaded = {a: ci for a, (state, ci) in states.items() if state == "loaded"}
    by_state: dict[str, int] = {}
    for state, _ in states.values():
        by_state[state] = by_state.get(state, 0) + 1
    out.expect(
        set(states) == expected and set(loaded) == expected,
        f"staging: {len(loaded)}/{len(expected)} {s.os_category} assets of {s.schedule} loaded",
        f"staging of {s.schedule}: expected {len(expected)} loaded assets, states {by_state}"
        f" (missing {sorted(expected - set(loaded))[:10]}, unexpected {sorted(set(states) - expected)[:10]})",
    )
    sources = object_sources(expected)
    cis = [ci for a in sorted(sources) for ci in sources[a]]
    exactly_once = set(sources) == expected and len(cis) == len(expected) == len(set(cis))
    out.expect(
        exactly_once,
        f"CMDB: {len(set(cis))} CIs for the {len(expected)} assets, one each",
        f"CMDB: {len(cis)} CI source record(s) ({len(set(cis))} distinct CIs) for {len(expected)} assets",
    )
    same = all(sources.get(a) == [ci] for a, ci in loaded.items())
    out.expect(same, "staging's CI of each asset is the CMDB's", "staging and the CMDB disagree on assets' CIs")
    return out


def no_duplicates() -> Outcome:
    out = Outcome()
    found = {kind: n for kind, n in duplicates().items() if n}
    out.expect(
        not found,
        f"CMDB: no duplicate among {', '.join(DUPLICATES)}",
        f"CMDB duplicates (identities held by several rows): {found}",
    )
    return out


def cmdb_counts(cmdb_url: str) -> dict[str, Any]:
    """The simulator's own summary: CIs by class and the side tables' row counts."""
    response = requests.get(f"{cmdb_url}/sim/control/cmdb", timeout=60)
    response.raise_for_status()
    return dict(response.json())


def ire_calls(cmdb_url: str) -> int:
    """How many IRE calls the CMDB simulator answered so far."""
    response = requests.get(f"{cmdb_url}/sim/control/stats", timeout=30)
    response.raise_for_status()
    stats = response.json()
    by_endpoint = stats.get("by_endpoint") or stats.get("endpoints") or {}
    return int(sum(n for name, n in by_endpoint.items() if "identifyreconcile" in name or name == "ire"))


def set_cmdb_latency(cmdb_url: str, ms: int) -> None:
    """Make the CMDB simulator answer every request ``ms`` later (0: at once)."""
    requests.post(f"{cmdb_url}/sim/control/faults", json={"latency_ms": ms}, timeout=30).raise_for_status()
