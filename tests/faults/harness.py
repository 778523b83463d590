"""The fault-injection tests' harness: run the DAG, start a CMDB simulator, empty staging, and what a run leaves
behind as comparable values (staging row for row, the CMDB's CIs).

Fault-injection tests run the same estate cleanly and under the fault, then compare these snapshots. Columns that
only say *when* or *by which run* something happened are left out; everything that says *what* is kept.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from qualys_cmdb.staging.schema import STAGED_CHILDREN, asset_classification, metadata, staged_asset, staged_software
from sqlalchemy import Engine, Table, select, text

from tests.conftest import REPO

DAG_ID = "qualys_to_cmdb__t"


def run_dag(expect: str = "success", **kw: object):  # type: ignore[no-untyped-def]
    """One ``dag.test()`` run of schedule ``t``; a run that lost or had refused work ends ``failed``."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {}, bag.import_errors
    dag_run = bag.get_dag(DAG_ID).test(**kw)
    assert str(dag_run.state) == expect, dag_run.state
    return dag_run


def start_cmdb(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """A ServiceNow simulator on 127.0.0.1 as the connection ``servicenow_default``; the caller stops it."""
    from simulators.servicenow.server import ServiceNowSimulator

    sim = ServiceNowSimulator(host="127.0.0.1", port=0).start()
    monkeypatch.setenv(
        "AIRFLOW_CONN_SERVICENOW_DEFAULT",
        json.dumps({"conn_type": "servicenow", "host": sim.url, "login": "sn_integration", "password": "sn-Passw0rd"}),
    )
    return sim


def empty_staging(engine: Engine) -> None:
    """Every staging table emptied (between the clean run and the run under the fault)."""
    names = ", ".join(f'"{t.schema}"."{t.name}"' for t in metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY"))


_RUN_COLUMNS = {
    "queue_id",
    "first_seen_run",
    "last_seen_run",
    "changed_run",
    "staged_at",
    "changed_at",
    "first_seen",
    "last_seen",
}
_CLASSIFICATION_COLUMNS = (
    "source",
    "asset_id",
    "schedule",
    "target_class",
    "matched_by",
    "payload_hash",
    "state",
    "reason",
    "failure_code",
    "cmdb_class",
    "last_operation",
)


def _rows(engine: Engine, table: Table, columns: list[str]) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        rows = conn.execute(select(*(table.c[c] for c in columns))).all()
    return sorted((tuple(r) for r in rows), key=repr)


def staging_snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every staged table's rows (without run bookkeeping), sorted; and each asset's classification outcome."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    for table in (staged_asset, staged_software, *STAGED_CHILDREN.values()):
        out[table.name] = _rows(engine, table, [c.name for c in table.columns if c.name not in _RUN_COLUMNS])
    out[asset_classification.name] = _rows(engine, asset_classification, list(_CLASSIFICATION_COLUMNS))
    return out


def assert_same_staging(actual: dict[str, list[Any]], expected: dict[str, list[Any]]) -> None:
    """Row for row; on a difference, say which table and how many rows differ."""
    assert actual.keys() == expected.keys()
    for name in expected:
        missing = [r for r in expected[name] if r not in set(actual[name])]
        extra = [r for r in actual[name] if r not in set(expected[name])]
        assert len(actual[name]) == len(expected[name]) and not missing and not extra, (
            f"{name}: {len(actual[name])} rows, a clean run has {len(expected[name])}; "
            f"{len(missing)} missing (e.g. {missing[:2]}), {len(extra)} extra (e.g. {extra[:2]})"
        )


def cmdb_snapshot(url: str) -> dict[str, Any]:
    """The simulated CMDB: every CI (class, name, serial, address) and the row count of each related table."""
    response = requests.get(
        f"{url}/api/now/table/cmdb_ci",
        params={"sysparm_fields": "sys_class_name,name,serial_number,ip_address", "sysparm_limit": "100000"},
        auth=("sn_integration", "sn-Passw0rd"),
        headers={"Accept": "application/json"},
        timeout=60,
    )
    response.raise_for_status()
    cis = sorted(
        (r.get("sys_class_name"), r.get("name"), r.get("serial_number"), r.get("ip_address"))
        for r in response.json()["result"]
    )
    tables = requests.get(f"{url}/sim/control/cmdb", timeout=30).json()["tables"]
    # Import-set rows are the transport, not the CMDB's content: a resend that changed nothing still adds one.
    transport = ("sys_import_set", "u_qualys_computer_import")
    return {"cis": cis, "tables": {k: v for k, v in tables.items() if k not in transport}}
