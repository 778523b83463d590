"""A known estate for the report and list tests, built by the real pipeline library:

* the Qualys simulator's 40 assets (source ``sim``) fetched, parsed, staged and classified with the shipped mappings;
* one bare asset of ``sim`` (an OS name no rule knows, no hardware), which classify fails for want of a class;
* one unclassified asset of a second source ``lab``, staged by hand, with a blank (spaces only) hardware
  manufacturer, an end-of-life OS, three tags (one with markup characters in its name) and two installs of catalog
  software;
* decisions: the 8 lowest pending assets approved and loaded into the ServiceNow simulator; the next 6 approved,
  3 of which the CMDB "refused" (stored by the load's own ``record_outcomes``); one more rejected.

The estate is built once per test module (the tests only read it).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from qualys_cmdb.approval.decisions import Selection, decide
from qualys_cmdb.classify.classify import classify_assets
from qualys_cmdb.classify.mappings import load_mappings
from qualys_cmdb.config import load_config
from qualys_cmdb.hooks.qualys import QualysHook
from qualys_cmdb.hooks.servicenow import ServiceNowHook
from qualys_cmdb.intake.fetch import RunInfo, fetch_assets
from qualys_cmdb.intake.parse import parse_record
from qualys_cmdb.intake.stage import stage_records
from qualys_cmdb.load.ire import load_approved, record_outcomes
from qualys_cmdb.staging import store
from qualys_cmdb.staging.schema import STAGED_CHILDREN, asset_classification, metadata, schedule_asset, staged_asset
from sqlalchemy import insert, select, text

from tests.conftest import REPO, start_sim, write_config

RUN_ID = "manual__ui_data_1"
MAPPINGS = REPO / "include" / "mappings"
BARE = ("sim", 990001)
BARE_OS = "Plan 9 from Bell Labs"
LAB = ("lab", 1)
LAB_TAGS = ("Production", 'R&D <lab> "x"', "Lab")
REFUSED = {
    "cmdb_ci_hardware: Identification failed: duplicate serial number": 2,
    "cmdb_ci_iot: MISSING_DEPENDENCY: no main CI": 1,
}


def truncate(engine: Any) -> None:
    names = ", ".join(f'"{t.schema}"."{t.name}"' for t in metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY"))


def _pending(engine: Any) -> list[int]:
    with engine.connect() as conn:
        return sorted(
            int(r[0])
            for r in conn.execute(
                select(asset_classification.c.asset_id).where(
                    asset_classification.c.state == "pending", asset_classification.c.source == "sim"
                )
            )
        )


def _stage_extras(engine: Any) -> None:
    """The bare ``sim`` asset and the hand-staged ``lab`` asset (see the module docstring)."""
    with engine.begin() as conn:
        conn.execute(
            insert(staged_asset),
            [
                {
                    "source": BARE[0],
                    "asset_id": BARE[1],
                    "name": "bare-host",
                    "dns_name": None,
                    "netbios_name": None,
                    "ip_address": "10.99.0.1",
                    "content_hash": "bare",
                },
                {
                    "source": LAB[0],
                    "asset_id": LAB[1],
                    "name": "LAB-1.example.test",
                    "dns_name": "lab-1.example.test",
                    "netbios_name": "LAB-1",
                    "ip_address": "192.0.2.10",
                    "content_hash": "lab",
                },
            ],
        )
        # the bare asset came with schedule t's pages (its view of the source), the lab asset with no schedule
        conn.execute(insert(schedule_asset).values(schedule="t", source=BARE[0], asset_id=BARE[1], content_hash="bare"))
        # an OS no rule knows, and no category: classify fails it for want of a class (an asset with nothing at all
        # would be an "Unidentified device", cmdb_ci_hardware)
        conn.execute(insert(STAGED_CHILDREN["os"]).values(source=BARE[0], asset_id=BARE[1], os_name=BARE_OS))
        key = {"source": LAB[0], "asset_id": LAB[1]}
        conn.execute(
            insert(STAGED_CHILDREN["os"]).values(
                **key,
                os_name="Windows 7",
                os_full_name="Windows 7 Professional",
                os_category_1="Windows",
                os_lifecycle_stage="EOL/EOS",
            )
        )
        conn.execute(
            insert(STAGED_CHILDREN["hardware"]).values(
                **key, hardware_category_1="Computers", hardware_category_2="Desktop", hardware_manufacturer="  "
            )
        )
        conn.execute(
            insert(STAGED_CHILDREN["tag"]), [{**key, "tag_id": n, "tag_name": t} for n, t in enumerate(LAB_TAGS)]
        )
        conn.execute(
            insert(STAGED_CHILDREN["network_interface"]),
            [
                {**key, "interface_name": "eth1", "mac_address": "aa:bb:cc:00:00:02"},
                {**key, "interface_name": "eth0", "mac_address": "aa:bb:cc:00:00:01"},
            ],
        )
        # one database engine and one end-of-life entry of the catalog the intake built
        database = conn.execute(
            text(
                "SELECT software_key FROM qcmdb.staged_software WHERE category_1 = 'Database' "
                "AND category_2 = 'Database Servers' ORDER BY software_key LIMIT 1"
            )
        ).scalar_one()
        eol = conn.execute(
            text("SELECT software_key FROM qcmdb.staged_software WHERE lifecycle_stage = 'EOL' ORDER BY 1 LIMIT 1")
        ).scalar_one()
        conn.execute(
            insert(STAGED_CHILDREN["software_install"]),
            [
                {**key, "software_key": database},
                {**key, "software_key": eol, "install_path": "/a"},
                {**key, "software_key": eol, "install_path": "/b"},
            ],  # installed twice: counts once
        )


def build_estate(engine: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_config(tmp_path, monkeypatch, batch=10)
    config = load_config(path)
    schedule = config.schedule("t")
    source = config.source(schedule.source)
    hook = QualysHook.for_source(source, config.properties)
    try:
        fetch_assets(
            engine,
            hook,
            schedule=schedule,
            source=source,
            properties=config.properties,
            run=RunInfo(run_id=RUN_ID),
            app_log=store.AppLog(engine, source.name, schedule.name, RUN_ID),
        )
    finally:
        hook.close()
    for queue_id in store.pending_downloads(engine, schedule.name):
        assert parse_record(engine, queue_id, schedule.details, "test").status != "Error"
    stage_records(engine, schedule.name, RUN_ID)
    _stage_extras(engine)
    mappings = load_mappings(MAPPINGS)
    classify_assets(engine, mappings, schedule="t", source="sim", run_id=RUN_ID, class_override=None)

    first = _pending(engine)[:8]
    assert decide(engine, Selection("t", asset_ids=tuple(first)), "approved", "alice") == 8
    sn = ServiceNowHook("servicenow_default")
    try:
        assert load_approved(engine, sn, mappings, "t").loaded == 8
    finally:
        sn.close()
    nxt = _pending(engine)[:6]
    assert decide(engine, Selection("t", asset_ids=tuple(nxt)), "approved", "bob", "looks right") == 6
    reasons = [r for r, n in REFUSED.items() for _ in range(n)]
    record_outcomes(
        engine, "t", [], [{"source": "sim", "asset_id": a, "reason": r} for a, r in zip(nxt, reasons, strict=False)]
    )
    assert decide(engine, Selection("t", asset_ids=tuple(_pending(engine)[:1])), "rejected", "carol") == 1
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))  # what autovacuum does after a load; keeps the planner sane on tiny tables


@pytest.fixture(scope="module")
def estate(engine: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The staging engine holding the known estate (read-only for the tests)."""
    from simulators.servicenow.server import ServiceNowSimulator

    truncate(engine)
    with pytest.MonkeyPatch.context() as mp:
        qualys = start_sim(mp, assets=40)
        cmdb = ServiceNowSimulator(host="127.0.0.1", port=0).start()
        mp.setenv(
            "AIRFLOW_CONN_SERVICENOW_DEFAULT",
            json.dumps(
                {"conn_type": "servicenow", "host": cmdb.url, "login": "sn_integration", "password": "sn-Passw0rd"}
            ),
        )
        try:
            build_estate(engine, tmp_path_factory.mktemp("estate"), mp)
        finally:
            qualys.sim.stop()
            cmdb.stop()
    yield engine
    truncate(engine)
