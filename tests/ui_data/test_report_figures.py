"""The Overview's stored report figures (qualys_cmdb.ui.report_figures) against the live counts of the same reports,
on the known estate (tests/ui_data/conftest.py: two sources, sim and lab): equal after a refresh, for every report
and scope; unchanged data is not counted again; decisions change them once their figures are refreshed."""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest
from qualys_cmdb.approval.decisions import Selection, decide
from qualys_cmdb.staging.head import VERSIONS, newest_file_revision, surely_current
from qualys_cmdb.staging.migrate import head_revision
from qualys_cmdb.staging.schema import asset_classification, report_figure
from qualys_cmdb.ui import report_figures as figures
from qualys_cmdb.ui.reports import REPORTS, build_report
from sqlalchemy import func, select, text

from tests.ui_data.test_reports import list_total

BASE = "/qualys-cmdb"
SCOPES = (None, "sim", "lab")


def live(engine: Any, source: str | None, limit: int = 12) -> list[Any]:
    return [build_report(engine, r, base_url=BASE, source=source, limit=limit) for r in REPORTS]


def stored(engine: Any, source: str | None, limit: int = 12) -> Any:
    return figures.read(engine, list(REPORTS), base_url=BASE, source=source, limit=limit, store_missing=False)


def test_after_a_refresh_every_figure_equals_the_live_count(estate: Any) -> None:
    figures.clear(estate)
    done = figures.refresh(estate, by="the test")
    with estate.connect() as conn:
        scopes = set(conn.execute(select(report_figure.c.report_id, report_figure.c.source)).all())
    assert scopes == {(r, s) for r in REPORTS for s in ("", "sim", "lab")}
    for source in SCOPES:
        shown = stored(estate, source)
        assert shown.counted_now == [], source
        assert shown.reports == live(estate, source), source  # totals, bars, links, other, group counts
        every = stored(estate, source, limit=figures.STORED_BARS)
        assert every.reports == live(estate, source, limit=figures.STORED_BARS), source
        assert shown.oldest is not None and shown.computed_by == "the test"
    # the figures of all sources of the reports counting assets by staged data are added up, not counted again
    assert set(done.summed) == set(figures.SUMMED_REPORTS)
    assert not {(r, "") for r in figures.SUMMED_REPORTS} & set(done.counted)
    # and a bar still opens a list of exactly its length
    for report in stored(estate, None).reports:
        for bar in report.rows[:3]:
            assert list_total(estate, bar.href)[1] == bar.value, (report.id, bar)


def test_unchanged_staged_data_is_not_counted_again(estate: Any) -> None:
    figures.refresh(estate, by="first")
    again = figures.refresh(estate, by="second")
    counted = {r for r, _ in again.counted}
    assert counted == set(figures.DECISION_REPORTS) | {"software_lifecycle"}  # the cheap ones: every time
    assert {(r, s) for r in figures.SUMMED_REPORTS for s in ("sim", "lab")} <= set(again.unchanged)
    for source in SCOPES:
        assert stored(estate, source).reports == live(estate, source)
    # the lab asset's content changes: lab's figures are counted again, sim's are kept
    with estate.begin() as conn:
        conn.execute(
            text("UPDATE qcmdb.staged_asset SET content_hash = 'lab2', changed_at = now() WHERE source = 'lab'")
        )
        conn.execute(text("DELETE FROM qcmdb.staged_tag WHERE source = 'lab' AND tag_name = 'Lab'"))
    try:
        third = figures.refresh(estate, by="third")
        assert ("tag_distribution", "lab") in third.counted and ("tag_distribution", "sim") in third.unchanged
        for source in SCOPES:
            assert stored(estate, source).reports == live(estate, source)
        tags = {b.label: b.value for b in stored(estate, "lab").reports[list(REPORTS).index("tag_distribution")].rows}
        assert "Lab" not in tags
        # Refresh (force) counts everything again
        forced = figures.refresh(estate, by="someone (Refresh)", force=True)
        assert not forced.unchanged and len(forced.counted) == len(REPORTS) * 2 + len(REPORTS) - len(
            figures.SUMMED_REPORTS
        )
    finally:
        with estate.begin() as conn:
            conn.execute(text("UPDATE qcmdb.staged_asset SET content_hash = 'lab' WHERE source = 'lab'"))
            conn.execute(
                text("INSERT INTO qcmdb.staged_tag (source, asset_id, tag_id, tag_name) VALUES ('lab', 1, 2, 'Lab')")
            )


def test_a_report_without_figures_is_counted_when_shown_and_stored(estate: Any) -> None:
    figures.clear(estate)
    first = figures.read(estate, ["pending", "software_distribution"], base_url=BASE, source="sim")
    assert first.counted_now == ["pending", "software_distribution"]
    assert first.reports == [build_report(estate, r, base_url=BASE, source="sim") for r in first.counted_now]
    second = figures.read(estate, ["pending", "software_distribution"], base_url=BASE, source="sim")
    assert second.counted_now == [] and second.reports == first.reports
    # a name typed into the address is counted, never stored
    unknown = figures.read(estate, ["pending"], base_url=BASE, source="nope", store_missing=False)
    assert unknown.counted_now == ["pending"] and unknown.reports[0].total == 0
    with estate.connect() as conn:
        assert conn.execute(select(func.count()).where(report_figure.c.source == "nope")).scalar_one() == 0


def test_migration_files_are_named_after_their_revisions(estate: Any) -> None:
    """What lets the UI check the schema without loading Alembic (qualys_cmdb.staging.head)."""
    for path in sorted(VERSIONS.glob("[0-9]*_*.py")):
        spec = importlib.util.spec_from_file_location(path.stem, path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        assert module.revision == path.name.split("_", 1)[0], path.name
    assert newest_file_revision() == head_revision()
    assert surely_current(estate)


@pytest.mark.parametrize("decision", ["approved", "rejected"])
def test_a_decision_changes_the_figures_once_they_are_refreshed(estate: Any, decision: str) -> None:
    figures.refresh(estate, by="the run")
    before = {r.id: r.total for r in stored(estate, "sim").reports}
    with estate.connect() as conn:
        pending = sorted(
            conn.execute(
                select(asset_classification.c.asset_id).where(
                    asset_classification.c.state == "pending", asset_classification.c.source == "sim"
                )
            ).scalars()
        )[:2]
    assert decide(estate, Selection("t", asset_ids=tuple(pending), source="sim"), decision, "dave") == 2  # type: ignore[arg-type]
    assert {r.id: r.total for r in stored(estate, "sim").reports} == before  # stored: not counted on each view
    done = figures.refresh_after_decisions(estate, ["sim"], by="dave's decisions")
    assert done is not None and {r for r, _ in done.counted} == set(figures.DECISION_REPORTS)
    for source in ("sim", None):
        after = stored(estate, source)
        assert after.reports == live(estate, source)
        totals = {r.id: r.total for r in after.reports}
        assert totals["pending"] == before["pending"] - 2
        assert totals["approved"] == before["approved"] + (2 if decision == "approved" else 0)
        assert after.computed_by == "dave's decisions"
