"""Inline SVG charts of the Overview reports: horizontal bars, or a donut with a legend.

Self-contained markup: no JavaScript, no external fonts, images or style sheets, nothing fetched at run time. Text
uses ``currentColor`` (the page's text colour) and the palette is of mid-tone colours, so a chart reads on a light
and on a dark background. Every bar or segment is one ``<a>`` to the list it counts, with a ``<title>`` (tooltip and
accessible name); the groups beyond the report's limit are one unlinked "Other" bar. Labels and links are
XML-escaped. The output depends on the report only (fixed number formatting), so it is deterministic.
"""

from __future__ import annotations

import math
from html import escape

from qualys_cmdb.ui.reports import Report

#: Mid-tone colours (Tableau 10) that keep contrast against white and near-black backgrounds.
PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#8e8e8e",
)
OTHER_COLOUR = "#a0a0a0"
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"

WIDTH = 480
LABEL_WIDTH = 200
ROW_HEIGHT = 24
BAR_HEIGHT = 16
VALUE_WIDTH = 56
LABEL_CHARS = 26


def _x(text: str) -> str:
    """XML-escape text or an attribute value (quotes included)."""
    return escape(text, quote=True)


def _n(value: float) -> str:
    """A coordinate, deterministic and short."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _short(label: str, chars: int = LABEL_CHARS) -> str:
    return label if len(label) <= chars else label[: chars - 1].rstrip() + "…"


def _count(value: int) -> str:
    return f"{value:,}"


def _svg(width: int, height: int, label: str, body: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="qcmdb-chart" role="img" width="100%" '
        f'viewBox="0 0 {width} {height}" style="max-width:{width}px" font-family="{_x(FONT)}" font-size="12">'
        f"<title>{_x(label)}</title>" + "".join(body) + "</svg>"
    )


def _empty(report: Report) -> str:
    return _svg(
        WIDTH,
        48,
        f"{report.title}: no data yet",
        [
            f'<rect x="0.5" y="0.5" width="{WIDTH - 1}" height="47" rx="6" fill="none" stroke="currentColor" '
            'stroke-opacity="0.25" stroke-dasharray="4 3"/>',
            f'<text x="{WIDTH // 2}" y="29" text-anchor="middle" fill="currentColor" fill-opacity="0.7">'
            "No data yet</text>",
        ],
    )


def _tooltip(report: Report, label: str, value: int) -> str:
    share = f" ({value / report.total:.0%})" if report.total else ""
    return f"{label}: {_count(value)} {report.unit}{share}"


def _bars(report: Report) -> str:
    items: list[tuple[str, int, str | None, str]] = [
        (bar.label, bar.value, bar.href, PALETTE[0]) for bar in report.rows
    ]
    if report.other:
        items.append((f"Other ({report.groups - len(report.rows)} more)", report.other, None, OTHER_COLOUR))
    top = max(value for _, value, _, _ in items) or 1
    span = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    body: list[str] = []
    for n, (label, value, href, colour) in enumerate(items):
        y = n * ROW_HEIGHT
        width = max(value / top * span, 1.5 if value else 0)
        parts = (
            f"<title>{_x(_tooltip(report, label, value))}</title>"
            f'<text x="{LABEL_WIDTH - 8}" y="{_n(y + ROW_HEIGHT / 2 + 4)}" text-anchor="end" fill="currentColor">'
            f"{_x(_short(label))}</text>"
            f'<rect x="{LABEL_WIDTH}" y="{_n(y + (ROW_HEIGHT - BAR_HEIGHT) / 2)}" width="{_n(width)}" '
            f'height="{BAR_HEIGHT}" rx="2" fill="{colour}"/>'
            f'<text x="{_n(LABEL_WIDTH + width + 6)}" y="{_n(y + ROW_HEIGHT / 2 + 4)}" fill="currentColor">'
            f"{_count(value)}</text>"
        )
        if href is None:
            body.append(f'<g class="other">{parts}</g>')
        else:
            body.append(f'<a href="{_x(href)}" class="bar">{parts}</a>')
    return _svg(WIDTH, len(items) * ROW_HEIGHT, f"{report.title}: {_count(report.total)} {report.unit}", body)


def _donut(report: Report) -> str:
    items: list[tuple[str, int, str | None, str]] = [
        (bar.label, bar.value, bar.href, PALETTE[n % len(PALETTE)]) for n, bar in enumerate(report.rows)
    ]
    if report.other:
        items.append((f"Other ({report.groups - len(report.rows)} more)", report.other, None, OTHER_COLOUR))
    whole = sum(value for _, value, _, _ in items) or 1
    size, ring = 160, 28
    radius = (size - ring) / 2
    centre = size / 2
    circumference = 2 * math.pi * radius
    legend_x = size + 24
    height = max(size, len(items) * ROW_HEIGHT + 8)
    body = [
        f'<circle cx="{_n(centre)}" cy="{_n(centre)}" r="{_n(radius)}" fill="none" stroke="currentColor" '
        f'stroke-opacity="0.08" stroke-width="{ring}"/>'
    ]
    start = 0.0
    for n, (label, value, href, colour) in enumerate(items):
        length = value / whole * circumference
        gap = 1.0 if len(items) > 1 and length > 2 else 0.0
        y = 4 + n * ROW_HEIGHT
        parts = (
            f"<title>{_x(_tooltip(report, label, value))}</title>"
            # a dash of the ring's stroke, rotated to start at 12 o'clock
            f'<circle cx="{_n(centre)}" cy="{_n(centre)}" r="{_n(radius)}" fill="none" stroke="{colour}" '
            f'stroke-width="{ring}" stroke-dasharray="{_n(max(length - gap, 0))} {_n(circumference)}" '
            f'stroke-dashoffset="{_n(-start)}" transform="rotate(-90 {_n(centre)} {_n(centre)})"/>'
            f'<rect x="{legend_x}" y="{_n(y + 5)}" width="12" height="12" rx="2" fill="{colour}"/>'
            f'<text x="{legend_x + 18}" y="{_n(y + 15)}" fill="currentColor">{_x(_short(label, 30))}</text>'
            f'<text x="{WIDTH - 4}" y="{_n(y + 15)}" text-anchor="end" fill="currentColor">{_count(value)}</text>'
        )
        start += length
        if href is None:
            body.append(f'<g class="other">{parts}</g>')
        else:
            body.append(f'<a href="{_x(href)}" class="segment">{parts}</a>')
    body.append(
        f'<text x="{_n(centre)}" y="{_n(centre + 2)}" text-anchor="middle" font-size="20" font-weight="600" '
        f'fill="currentColor">{_count(report.total)}</text>'
        f'<text x="{_n(centre)}" y="{_n(centre + 18)}" text-anchor="middle" fill="currentColor" '
        f'fill-opacity="0.7">{_x(report.unit)}</text>'
    )
    return _svg(WIDTH, height, f"{report.title}: {_count(report.total)} {report.unit}", body)


def render_chart(report: Report) -> str:
    """The report as inline SVG markup: a donut for "donut" reports, else horizontal bars; "No data yet" if empty."""
    if not report.rows and not report.other:
        return _empty(report)
    return _donut(report) if report.chart == "donut" else _bars(report)


__all__ = ["PALETTE", "render_chart"]
