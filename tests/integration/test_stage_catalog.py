"""Stage: the software catalog takes each product from the newest record that holds it, and the counts add up."""

from __future__ import annotations

import io
import json

from qualys_cmdb.config import DetailFlags
from qualys_cmdb.intake.csam import parse_csam_page
from qualys_cmdb.intake.landing import LandingWriter
from qualys_cmdb.intake.stage import stage_records
from qualys_cmdb.staging.schema import STAGED_CHILDREN, staged_software
from qualys_cmdb.staging.statistics import planned_rows
from sqlalchemy import func, select, text


def _land(engine, queue_id: int, asset_ids: list[int], eol: str) -> None:  # type: ignore[no-untyped-def]
    """One record holding ``asset_ids``, each with the same two products; the first one's end of life is ``eol``."""
    software = [
        {"id": 1, "fullName": "Widget Pro", "version": "2.1", "publisher": "Acme", "lifecycle": {"eolDate": eol}},
        {"id": 2, "fullName": "Gadget", "version": "9", "publisher": "Acme"},
    ]
    assets = [{"assetId": a, "softwareListData": {"software": software}} for a in asset_ids]
    page = json.dumps({"assetListData": {"asset": assets}}).encode()
    with engine.begin() as conn:
        conn.execute(
            text(
                """INSERT INTO qcmdb.sync_queue (id, direction, source, schedule, run_id, status, api, format, page_no,
                                                 request, parsed_at, parsed_assets)
                   OVERRIDING SYSTEM VALUE
                   VALUES (:id, 'download', 'src', 's', 'run-1', 'Processing', 'csam', 'json', :id, '{}', now(), :n)"""
            ),
            {"id": queue_id, "n": len(asset_ids)},
        )
        writer = LandingWriter(conn, queue_id)
        writer.add_all(parse_csam_page(io.BytesIO(page), "src", DetailFlags()))
        writer.close()


def test_the_catalog_takes_the_newest_records_values_and_installs_are_counted(staging) -> None:  # type: ignore[no-untyped-def]
    _land(staging, 1, [10, 11, 12], "2029-01-01T00:00:00Z")
    _land(staging, 2, [20, 21], "2031-06-30T00:00:00Z")  # the newer record: its values win
    result = stage_records(staging, "s", "run-1")
    assert (result.assets, result.changed, result.software_rows) == (5, 5, 10)
    with staging.connect() as conn:
        catalog = {r.name: r for r in conn.execute(select(staged_software))}
        installs = conn.execute(select(func.count()).select_from(STAGED_CHILDREN["software_install"])).scalar_one()
    assert set(catalog) == {"Widget Pro", "Gadget"}
    assert str(catalog["Widget Pro"].lifecycle_eol_date)[:10] == "2031-06-30"
    assert installs == 10


def _planned_rows(engine, table: str) -> float:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return planned_rows(conn, table)


def test_a_stage_that_changes_much_of_the_estate_refreshes_the_planners_statistics_and_a_small_one_does_not(
    staging,
) -> None:  # type: ignore[no-untyped-def]
    """Classify plans its statements right after stage: on statistics that still describe empty tables it picked
    nested loops over every staged row (minutes at 50,000 assets). Counts only: what the planner believes."""
    _land(staging, 1, list(range(100, 120)), "2029-01-01T00:00:00Z")
    first = stage_records(staging, "s", "run-1")
    assert first.changed == 20
    assert {"staged_asset", "schedule_asset", "staged_software_install", "staged_software"} <= set(first.analyzed)
    assert _planned_rows(staging, "staged_asset") == 20
    assert _planned_rows(staging, "staged_software_install") == 40
    _land(staging, 2, [100], "2030-01-01T00:00:00Z")  # one asset in twenty changes: autovacuum's business
    second = stage_records(staging, "s", "run-2")
    assert (second.changed, second.analyzed) == (1, [])
    _land(staging, 3, list(range(120, 125)), "2030-01-01T00:00:00Z")  # a quarter more: the statistics are stale
    third = stage_records(staging, "s", "run-3")
    assert third.changed == 5 and "staged_asset" in third.analyzed
    assert _planned_rows(staging, "staged_asset") == 25
