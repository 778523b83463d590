"""SRC-5, HK-5, PR-6: the ``qualys_software_catalog`` DAG pulls the catalog from the CSAM inventory (software only,
``software_catalog_page_size`` a page), stages it de-duplicated with lifecycle/license/category, writes new and changed
products to the CMDB's Software table and nothing else (delta skip), and records the last sync time, key and notes.

Real Airflow (``dag.test()``), real Postgres, real HTTP to both simulators; CMDB calls counted by the simulator.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests
from qualys_cmdb.staging.schema import software_catalog, software_catalog_sync
from sqlalchemy import select, text

from tests.conftest import REPO, SimHandle

DAG_ID = "qualys_software_catalog"
SPKG = "/api/now/table/cmdb_ci_spkg"
AUTH = ("sn_integration", "sn-Passw0rd")


def _config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, to_cmdb: bool = True, page_size: int = 7) -> Path:
    path = tmp_path / "qualys_cmdb.yaml"
    path.write_text(
        f"""
sources:
  - name: sim
    api: csam
    pod: US1
    connection_id: qualys_test
    sync_software_catalog: true
    sync_software_catalog_to_cmdb: {str(to_cmdb).lower()}
properties:
  software_catalog_page_size: {page_size}
"""
    )
    monkeypatch.setenv("QUALYS_CMDB_CONFIG", str(path))
    return path


def _run() -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {}, bag.import_errors
    dag = bag.get_dag(DAG_ID)
    assert [t.task_id for t in dag.tasks] == ["software_catalog__sim"]
    assert str(dag.test().state) == "success"


def _writes(url: str) -> dict[str, int]:
    """The CMDB write calls since the last reset, by method, then reset the counters."""
    stats = requests.get(f"{url}/sim/control/stats", timeout=10).json()
    requests.delete(f"{url}/sim/control/stats", timeout=10).raise_for_status()
    out = {"POST": 0, "PATCH": 0, "PUT": 0, "DELETE": 0}
    for key, n in stats["by_method_endpoint"].items():
        method = key.split(" ", 1)[0]
        if method in out:
            out[method] += n
    return out


def _packages(url: str) -> list[dict[str, Any]]:
    response = requests.get(
        f"{url}{SPKG}", params={"sysparm_limit": "10000"}, auth=AUTH, headers={"Accept": "application/json"}, timeout=30
    )
    response.raise_for_status()
    return list(response.json()["result"])


def _catalog(engine: Any) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(software_catalog)).mappings()]


def _sync_row(engine: Any) -> dict[str, Any]:
    with engine.connect() as conn:
        return dict(conn.execute(select(software_catalog_sync)).mappings().one())


def test_the_catalog_is_staged_written_once_and_a_rerun_writes_nothing(
    airflow_db: None, staging: Any, qualys_sim: SimHandle, cmdb: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _config(tmp_path, monkeypatch)
    # a package an asset load created earlier: the catalog updates it instead of creating a second one
    requests.post(
        f"{cmdb.url}{SPKG}", json={"name": "placeholder", "key": "placeholder_|_"}, auth=AUTH, timeout=30
    ).raise_for_status()
    _writes(cmdb.url)

    _run()
    catalog = _catalog(staging)
    assert catalog, "the simulated estate installs software"
    assert len({(r["name"], r["version"], r["publisher"], r["architecture"]) for r in catalog}) == len(catalog)
    assert any(r["lifecycle_stage"] or r["lifecycle_eol_date"] for r in catalog)
    assert any(r["license_category"] for r in catalog) and any(r["category"] for r in catalog)
    assert all(r["installs"] >= 1 for r in catalog)
    named = [r for r in catalog if r["name"]]
    first = _writes(cmdb.url)
    assert first == {"POST": len(named), "PATCH": 0, "PUT": 0, "DELETE": 0}
    packages = _packages(cmdb.url)
    assert len(packages) == len(named) + 1
    assert {p["key"] for p in packages} >= {f"{r['name']}_|_{r['version'] or ''}" for r in named}
    assert all(r["cmdb_sys_id"] and r["cmdb_hash"] == r["row_hash"] for r in named)
    sync = _sync_row(staging)
    assert sync["status"] == "complete" and sync["last_sync_at"] is not None
    assert int(sync["last_sync_key"]) > 0  # the last asset id read
    assert sync["pages"] == -(-40 // 7) and sync["products"] == len(catalog)
    assert f"{len(named)} inserted, 0 updated" in sync["notes"]
    print(f"first catalog sync: CMDB write calls {first}")

    _run()  # nothing changed in Qualys: no write call at all
    again = _writes(cmdb.url)
    assert again == {"POST": 0, "PATCH": 0, "PUT": 0, "DELETE": 0}
    assert len(_packages(cmdb.url)) == len(named) + 1
    assert {r["software_key"]: r["row_hash"] for r in _catalog(staging)} == {
        r["software_key"]: r["row_hash"] for r in catalog
    }
    assert f"0 inserted, 0 updated, {len(named)} unchanged" in _sync_row(staging)["notes"]
    print(f"unchanged catalog sync: CMDB write calls {again}")

    # a product whose catalog values changed since it was written (its hash differs) is updated, in place
    changed = named[0]
    with staging.begin() as conn:
        conn.execute(
            text("UPDATE qcmdb.software_catalog SET cmdb_hash = 'x' WHERE software_key = :k"),
            {"k": changed["software_key"]},
        )
    _run()
    assert _writes(cmdb.url) == {"POST": 0, "PATCH": 1, "PUT": 0, "DELETE": 0}
    assert len(_packages(cmdb.url)) == len(named) + 1


def test_an_existing_package_is_updated_not_duplicated_and_staging_only_writes_nothing(
    airflow_db: None, staging: Any, qualys_sim: SimHandle, cmdb: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _config(tmp_path, monkeypatch, to_cmdb=False, page_size=300)
    _writes(cmdb.url)
    _run()
    catalog = [r for r in _catalog(staging) if r["name"]]
    assert catalog and _writes(cmdb.url) == {"POST": 0, "PATCH": 0, "PUT": 0, "DELETE": 0}
    assert "not written to the CMDB" in _sync_row(staging)["notes"]
    assert _sync_row(staging)["pages"] == 1

    one = catalog[0]
    requests.post(
        f"{cmdb.url}{SPKG}",
        json={"name": one["name"], "key": f"{one['name']}_|_{one['version'] or ''}"},
        auth=AUTH,
        timeout=30,
    ).raise_for_status()
    _writes(cmdb.url)
    _config(tmp_path, monkeypatch, to_cmdb=True, page_size=300)
    from qualys_cmdb.cli import main

    assert main(["catalog", "sync"]) == 0  # by hand this time
    assert _writes(cmdb.url) == {"POST": len(catalog) - 1, "PATCH": 1, "PUT": 0, "DELETE": 0}
    assert len(_packages(cmdb.url)) == len(catalog)
    assert "1 found in the CMDB by key" in _sync_row(staging)["notes"]


def test_the_cli_shows_each_sources_last_sync(
    staging: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:  # type: ignore[no-untyped-def]
    from qualys_cmdb.cli import main

    _config(tmp_path, monkeypatch)
    with staging.begin() as conn:
        conn.execute(
            software_catalog_sync.insert().values(
                source="sim", status="complete", last_sync_key="42", notes="Qualys: 1 page(s)", sync_id="r"
            )
        )
        conn.execute(text("UPDATE qcmdb.software_catalog_sync SET last_sync_at = '2026-12-05T10:00:00Z'"))
    assert main(["catalog", "status"]) == 0
    out = capsys.readouterr().out
    assert "source sim: software catalog sync staging and CMDB" in out
    assert "last sync: 2026-12-05T10:00:00+00:00 · key: 42 · status: complete" in out
    assert "notes: Qualys: 1 page(s)" in out


def test_config_reports_the_catalog_dag_and_the_to_cmdb_setting_without_the_catalog(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from qualys_cmdb.cli import main

    path = tmp_path / "c.yaml"
    path.write_text(
        "sources:\n  - {name: a, pod: US1, connection_id: c, sync_software_catalog: true}\n"
        "  - {name: b, pod: US1, connection_id: c, sync_software_catalog_to_cmdb: true}\n"
        "properties: {software_catalog_page_size: 50}\n"
    )
    assert main(["config", "validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert "qualys_software_catalog (0 */4 * * *)" in out
    assert (
        "warning: sources[1].sync_software_catalog_to_cmdb: not used, as 'b' does not sync its software catalog" in out
    )
    assert "ignored" not in out


class _Ticks:
    """A clock for the lifetime: one minute passes per reading."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 60
        return self.now


def test_a_pass_stopped_by_the_lifetime_resumes_after_its_last_asset_and_counts_like_one_pass(
    staging: Any, qualys_sim: SimHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from qualys_cmdb.catalog.pull import pull_catalog
    from qualys_cmdb.config import load_config
    from qualys_cmdb.hooks.qualys import QualysHook
    from qualys_cmdb.lifetime import Lifetime

    config = load_config(_config(tmp_path, monkeypatch, to_cmdb=False))
    hook = QualysHook.for_source(config.source("sim"), config.properties)
    try:
        # 2 minutes, a minute a reading: the lifetime is over after the first page
        stopped = pull_catalog(staging, hook, "sim", "run-1", page_size=7, lifetime=Lifetime(2, clock=_Ticks()))
        assert not stopped.complete and stopped.stopped_reason and stopped.cursor > 0
        assert _sync_row(staging)["status"] == "stopped" and _sync_row(staging)["last_sync_key"] == str(stopped.cursor)
        resumed = pull_catalog(staging, hook, "sim", "run-2", page_size=7)
        assert resumed.complete and resumed.sync_id == "run-1"
        assert stopped.pages + resumed.pages == -(-40 // 7), (stopped, resumed)
        assert stopped.assets + resumed.assets == 40, (stopped, resumed)
        split = {r["software_key"]: r["installs"] for r in _catalog(staging)}
        whole = pull_catalog(staging, hook, "sim", "run-3", page_size=300)
        assert whole.complete and whole.pages == 1 and whole.gone == 0
        assert {r["software_key"]: r["installs"] for r in _catalog(staging)} == split
    finally:
        hook.close()
