"""Before the first sync every report is empty (total 0), never an error, and the lists are empty."""

from __future__ import annotations

import pytest
from qualys_cmdb.ui.charts import render_chart
from qualys_cmdb.ui.listing import AssetFilters, SoftwareFilters, list_assets, list_software
from qualys_cmdb.ui.reports import REPORTS, build_report


@pytest.mark.parametrize("source", [None, "sim"])
def test_an_empty_staging_database_gives_empty_reports(staging, source: str | None) -> None:  # type: ignore[no-untyped-def]
    for report_id in REPORTS:
        report = build_report(staging, report_id, base_url="/ui", source=source)
        assert (report.total, report.rows, report.other, report.groups) == (0, [], 0, 0), report_id
        assert "No data yet" in render_chart(report)
    assert list_assets(staging, AssetFilters(state="pending", software="x", tag="y")) == ([], 0)
    assert list_software(staging, SoftwareFilters(eol=True), sort="-installs") == ([], 0)
    assert list_software(staging, SoftwareFilters()) == ([], 0)
