"""The SVG charts: escaped, one link per bar, self-contained, deterministic; empty reports say so."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from qualys_cmdb.ui.charts import render_chart
from qualys_cmdb.ui.reports import REPORTS, Bar, Report, build_report

SVG = "{http://www.w3.org/2000/svg}"
NASTY = '<script>&"'


def report(chart: str = "bars", other: int = 0, **kw: object) -> Report:
    rows = [
        Bar(NASTY, 5, '/ui/assets?tag=%3Cscript%3E&state=x"y<z>'),
        Bar("Linux", 3, "/ui/assets?os_category_1=Linux"),
        Bar("a" * 80, 1, "/ui/assets?os_category_1=long"),
    ]
    values = {"id": "t", "title": "T & <t>", "group": "Assets", "total": 9, "unit": "assets", "rows": rows}
    values.update(kw)
    return Report(**values, other=other, groups=len(rows) + (2 if other else 0), chart=chart)  # type: ignore[arg-type]


def parse(svg: str) -> ET.Element:
    """The chart as XML (it must be well-formed); the markup is our own output, not untrusted input."""
    return ET.fromstring(svg)  # noqa: S314


def links(svg: str) -> list[str]:
    return [a.attrib["href"] for a in parse(svg).iter(f"{SVG}a")]


@pytest.mark.parametrize("chart", ["bars", "donut"])
def test_labels_and_links_are_escaped_and_every_bar_is_one_link(chart: str) -> None:
    svg = render_chart(report(chart))
    assert "<script" not in svg and '"y<z>' not in svg
    assert "&lt;script&gt;&amp;&quot;" in svg
    assert svg.count("<a ") == 3 == len(links(svg))
    assert links(svg) == [b.href for b in report(chart).rows]  # the parsed (unescaped) links are the bars' own
    root = parse(svg)
    assert root.tag == f"{SVG}svg" and root.find(f"{SVG}title") is not None
    titles = [t.text or "" for a in root.iter(f"{SVG}a") for t in a.iter(f"{SVG}title")]
    assert titles[0] == f"{NASTY}: 5 assets (56%)" and len(titles) == 3
    assert ("<circle" in svg) == (chart == "donut")


@pytest.mark.parametrize("chart", ["bars", "donut"])
def test_the_rest_is_one_unlinked_other_bar(chart: str) -> None:
    svg = render_chart(report(chart, other=4))
    assert svg.count("<a ") == 3 and "Other (2 more)" in svg and 'class="other"' in svg


def test_charts_are_self_contained_and_deterministic() -> None:
    for chart in ("bars", "donut"):
        svg = render_chart(report(chart))
        assert svg == render_chart(report(chart))
        lowered = svg.lower()
        for banned in ("<script", "javascript:", "<image", "<foreignobject", "@import", "url(", "<style", "xlink"):
            assert banned not in lowered
        assert "http://" not in svg.replace('xmlns="http://www.w3.org/2000/svg"', "")
        assert "https://" not in svg


def test_an_empty_report_says_no_data_yet() -> None:
    svg = render_chart(Report("t", "T", "Assets", total=0, unit="assets", rows=[]))
    assert "No data yet" in svg and "<a " not in svg
    parse(svg)


def test_a_single_segment_donut_is_a_full_ring() -> None:
    one = Report("t", "T", "Assets", 4, "assets", [Bar("Only", 4, "/x")], chart="donut", groups=1)
    svg = render_chart(one)
    assert svg.count("<a ") == 1 and "stroke-dasharray" in svg
    parse(svg)


@pytest.mark.parametrize("report_id", sorted(REPORTS))
def test_every_report_of_the_estate_renders(estate, report_id: str) -> None:  # type: ignore[no-untyped-def]
    built = build_report(estate, report_id, base_url="/qualys-cmdb")
    svg = render_chart(built)
    assert links(svg) == [b.href for b in built.rows]
    assert svg.count("<a ") == len(built.rows)
    assert ("<circle" in svg) == (REPORTS[report_id].chart == "donut" and bool(built.rows))
    assert svg == render_chart(build_report(estate, report_id, base_url="/qualys-cmdb"))
