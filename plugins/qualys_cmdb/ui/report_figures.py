"""The Overview's report figures, computed ahead (``qcmdb.report_figure``) so that the page only reads them.

Counting a whole estate for the 17 reports takes seconds (the software reports read every install row: millions at
50,000 assets), too long for a page. The figures are computed instead:

* in each Qualys → CMDB run: the reports of staged data as soon as the run has staged its assets (the
  ``overview_figures`` step, beside classify and load, :func:`refresh_after_stage`), and the rest at its end (the
  summary step, :func:`refresh_after_run`, which keeps what the staged data still says);
* after decisions that change counts (approve, reject, retry, in the UI or the CLI): only the reports a decision can
  change (:data:`DECISION_REPORTS`: approved, pending, failed, synced, stale CIs), :func:`refresh_after_decisions`;
* when someone presses the Overview's Refresh button (everything, :func:`refresh` with ``force``);
* the first time the Overview shows a report that has no figures yet (an upgraded database).

Each report is counted per Qualys source with the very functions that count the live report
(:func:`qualys_cmdb.ui.reports.build_report`), so a figure is what the list it links to held when it was counted.
The figures of every source together are the sum of the sources' figures for the reports that count assets by
staged data (an asset belongs to one source, so the groups of two sources never share an asset): counted once per
source, added up, not counted twice. The reports that depend on decisions, on the catalog alone (software
lifecycle) or on each schedule's cutoff (stale CIs) are cheap and counted directly.

A source's staged data is counted again only when it changed since (its assets' number, content hashes and last
change, and, for the software reports, the software catalog's size and last change): a run that changed nothing
counts the decision reports only. Each figure keeps when it was computed and by whom; a figure counted from an
older snapshot never overwrites a newer one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Connection, Engine, and_, delete, func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert

from qualys_cmdb.staging.schema import report_figure, staged_asset, staged_software
from qualys_cmdb.ui.listing import SoftwareFilters
from qualys_cmdb.ui.reports import REPORTS, Bar, Report, ReportSpec, _groups, _label, build_report

log = logging.getLogger(__name__)

ALL = ""  # the scope of every source
#: Bars kept per report and scope (the Overview draws 12); the rest is summed in ``other``.
STORED_BARS = 100
#: Memory a refresh's sorts and hashes may use before spilling to disk (the software reports group millions of rows).
WORK_MEM = "64MB"

Kind = Literal["decisions", "staged", "software", "catalog"]
_DECISION_FIELDS = frozenset({"state", "target_class", "cmdb_class", "code", "schedule", "run", "reason"})


def kind(spec: ReportSpec) -> Kind:
    """What a report's figures depend on: decisions (cheap, always counted), staged data, staged data and the
    software catalog, or the catalog alone (counting catalog entries, not assets)."""
    if isinstance(spec.base, SoftwareFilters):
        return "catalog"
    if spec.id == "stale_cis" or spec.base.state is not None or _DECISION_FIELDS & set(spec.by):
        return "decisions"
    if spec.base.eol_software or spec.base.database or any(f.startswith("software") for f in spec.by):
        return "software"
    return "staged"


#: The reports decisions change (their figures are refreshed after each decision).
DECISION_REPORTS: tuple[str, ...] = tuple(r for r, s in REPORTS.items() if kind(s) == "decisions")
#: The reports of staged data alone (and the software catalog): what a run's stage step settles.
STAGED_DATA_REPORTS: tuple[str, ...] = tuple(r for r in REPORTS if r not in DECISION_REPORTS)
#: The reports whose figures of every source are the sum of each source's.
SUMMED_REPORTS: tuple[str, ...] = tuple(r for r, s in REPORTS.items() if kind(s) in ("staged", "software"))


# --------------------------------------------------------------------------------------------- counting
@dataclass
class Figure:
    """One report's figures for one scope, as stored."""

    report_id: str
    source: str  # ALL for every source
    total: int
    group_count: int
    other: int
    bars: list[dict[str, Any]]
    whole: str | None
    groups: list[list[Any]] | None
    basis: str | None
    computed_at: datetime
    computed_by: str
    seconds: float

    def row(self) -> dict[str, Any]:
        return {
            "report_id": self.report_id,
            "source": self.source,
            "total": self.total,
            "group_count": self.group_count,
            "other": self.other,
            "bars": self.bars,
            "whole": self.whole,
            "groups": self.groups,
            "basis": self.basis,
            "computed_at": self.computed_at,
            "computed_by": self.computed_by,
            "seconds": round(self.seconds, 3),
        }


def _now(conn: Connection) -> datetime:
    moment: datetime = conn.execute(select(func.clock_timestamp())).scalar_one()
    return moment


def _figure(
    report_id: str,
    source: str,
    groups: Sequence[tuple[Any, tuple[str, ...], int]],
    total: int,
    whole: Any,
    *,
    keep_groups: bool,
    basis: str | None,
    at: datetime,
    by: str,
    seconds: float,
) -> Figure:
    """A figure from a report's groups (filters, values, count), largest first."""
    bars = [{"label": _label(values), "value": n, "query": filters.to_query()} for filters, values, n in groups]
    return Figure(
        report_id=report_id,
        source=source,
        total=total,
        group_count=len(groups),
        other=sum(n for _, _, n in groups[STORED_BARS:]),
        bars=bars[:STORED_BARS],
        whole=whole.to_query() if whole is not None else None,
        groups=[[*values, n] for _, values, n in groups] if keep_groups else None,
        basis=basis,
        computed_at=at,
        computed_by=by,
        seconds=seconds,
    )


def count(conn: Connection, report_id: str, source: str, *, basis: str | None, by: str) -> Figure:
    """Count one report for one scope (a source, or :data:`ALL`) with the live report's own functions."""
    spec = REPORTS[report_id]
    at = _now(conn)
    begun = time.perf_counter()
    groups, total, whole = _groups(conn, spec, source or None)
    keep = bool(source) and report_id in SUMMED_REPORTS
    return _figure(
        report_id,
        source,
        groups,
        total,
        whole,
        keep_groups=keep,
        basis=basis,
        at=at,
        by=by,
        seconds=time.perf_counter() - begun,
    )


def _summed(report_id: str, parts: list[Figure], *, at: datetime, by: str) -> Figure:
    """The figure of every source of a report that counts assets by staged data: the sum of its sources'."""
    spec = REPORTS[report_id]
    counts: dict[tuple[str, ...], int] = {}
    for part in parts:
        for *values, n in part.groups or []:
            key = tuple(str(v) for v in values)
            counts[key] = counts.get(key, 0) + int(n)
    ordered = sorted(counts.items(), key=lambda g: (-g[1], g[0]))
    base = spec.base
    groups = [(base.replace(**dict(zip(spec.by, values, strict=True))), values, n) for values, n in ordered]
    return _figure(
        report_id,
        ALL,
        groups,
        sum(p.total for p in parts),
        base,
        keep_groups=False,
        basis=f"sum of {len(parts)} source(s)",
        at=min((p.computed_at for p in parts), default=at),
        by=by,
        seconds=sum(p.seconds for p in parts),
    )


# --------------------------------------------------------------------------------------------- what changed
def _staged_bases(conn: Connection) -> dict[str, str]:
    """Per source with staged assets: its assets' number, content and last change, as one string."""
    a = staged_asset.c
    digest = func.sum(func.hashtext(func.concat(a.asset_id, ":", a.content_hash)))
    rows = conn.execute(select(a.source, func.count(), func.max(a.changed_at), digest).group_by(a.source)).all()
    return {str(src): f"assets {n} {last.isoformat() if last else '-'} {d}" for src, n, last, d in rows}


def _catalog_basis(conn: Connection) -> str:
    s = staged_software.c
    n, last = conn.execute(select(func.count(), func.max(s.last_seen))).one()
    return f"catalog {n} {last.isoformat() if last else '-'}"


def _basis(report_id: str, staged: str | None, catalog: str) -> str | None:
    """What a report's figures of a source depend on (None: counted every time)."""
    what = kind(REPORTS[report_id])
    if what == "decisions" or staged is None:
        return None
    return staged if what == "staged" else f"{staged} | {catalog}"


# --------------------------------------------------------------------------------------------- refresh
@dataclass
class RefreshResult:
    """What a refresh did."""

    counted: list[tuple[str, str]] = field(default_factory=list)  # (report, scope) counted
    unchanged: list[tuple[str, str]] = field(default_factory=list)  # (report, scope) whose data had not changed
    summed: list[str] = field(default_factory=list)  # reports whose figures of every source were added up
    seconds: float = 0.0

    def describe(self) -> str:
        return (
            f"report figures: {len(self.counted)} counted, {len(self.summed)} added up over the sources, "
            f"{len(self.unchanged)} unchanged, in {self.seconds:.2f} s"
        )


def _stored(conn: Connection, report_ids: Iterable[str]) -> dict[tuple[str, str], Figure]:
    f = report_figure.c
    rows = conn.execute(select(report_figure).where(f.report_id.in_(list(report_ids)))).mappings()
    return {
        (r["report_id"], r["source"]): Figure(
            report_id=r["report_id"],
            source=r["source"],
            total=int(r["total"]),
            group_count=int(r["group_count"]),
            other=int(r["other"]),
            bars=list(r["bars"]),
            whole=r["whole"],
            groups=r["groups"],
            basis=r["basis"],
            computed_at=r["computed_at"],
            computed_by=r["computed_by"] or "",
            seconds=float(r["seconds"] or 0),
        )
        for r in rows
    }


def refresh(
    engine: Engine,
    *,
    by: str,
    reports: Iterable[str] | None = None,
    sources: Iterable[str] | None = None,
    force: bool = False,
) -> RefreshResult:
    """Count the figures of ``reports`` (every report if None) for every source with staged assets and for all of
    them, and store them. Figures of a source whose staged data did not change since they were counted are kept
    (unless ``force``). ``sources`` limits the sources whose decision reports are counted (those decisions changed);
    the figures of all sources are always counted (or added up) again. ``by`` says who or what asked.
    """
    begun = time.perf_counter()
    wanted = [r for r in (reports if reports is not None else REPORTS) if r in REPORTS]
    result = RefreshResult()
    figures: list[Figure] = []
    touched: list[tuple[str, str, datetime]] = []  # (report, scope, checked at): unchanged, checked now
    with engine.begin() as conn:
        conn.execute(text(f"SET LOCAL work_mem = '{WORK_MEM}'"))
        staged = _staged_bases(conn)
        catalog = _catalog_basis(conn)
        stored = _stored(conn, wanted)
        scopes = sorted(staged) if sources is None else sorted(set(sources) & set(staged))
        for report_id in wanted:
            per_source: list[Figure] = []
            for src in sorted(staged):
                basis = _basis(report_id, staged[src], catalog)
                old = stored.get((report_id, src))
                if src not in scopes and kind(REPORTS[report_id]) == "decisions":
                    continue
                kept = (
                    old is not None
                    and old.basis == basis
                    and (old.groups is not None or report_id not in SUMMED_REPORTS)
                )
                if not force and basis is not None and kept and old is not None:
                    old.computed_at = _now(conn)  # still what the data says: checked now
                    result.unchanged.append((report_id, src))
                    touched.append((report_id, src, old.computed_at))
                    per_source.append(old)
                    continue
                fig = count(conn, report_id, src, basis=basis, by=by)
                result.counted.append((report_id, src))
                figures.append(fig)
                per_source.append(fig)
            if report_id in SUMMED_REPORTS:
                figures.append(_summed(report_id, per_source, at=_now(conn), by=by))
                result.summed.append(report_id)
            else:
                figures.append(count(conn, report_id, ALL, basis=None, by=by))
                result.counted.append((report_id, ALL))
    every = sources is None and reports is None
    _store(engine, figures, touched, sources_left=set(staged) if every else None)
    result.seconds = time.perf_counter() - begun
    return result


def _store(
    engine: Engine, figures: list[Figure], touched: list[tuple[str, str, datetime]], sources_left: set[str] | None
) -> None:
    """Write figures; a figure never replaces one counted from a newer snapshot. ``sources_left``: the sources that
    have staged assets, when every report was refreshed (the figures of the other sources are deleted)."""
    f = report_figure.c
    with engine.begin() as conn:
        if figures:
            statement = pg_insert(report_figure)
            conn.execute(
                statement.on_conflict_do_update(
                    index_elements=[f.report_id, f.source],
                    set_={
                        c.name: statement.excluded[c.name]
                        for c in report_figure.c
                        if c.name not in ("report_id", "source")
                    },
                    where=f.computed_at <= statement.excluded.computed_at,
                ),
                [fig.row() for fig in figures],
            )
        for report_id, src, at in touched:
            conn.execute(
                report_figure.update()
                .where(f.report_id == report_id, f.source == src, f.computed_at <= at)
                .values(computed_at=at)
            )
        if sources_left is not None:
            conn.execute(delete(report_figure).where(and_(f.source != ALL, f.source.not_in(sorted(sources_left)))))


def refresh_after_run(engine: Engine, *, by: str) -> RefreshResult:
    """The figures after a run: every report; what the run did not change is kept."""
    return refresh(engine, by=by)


def refresh_after_stage(engine: Engine, *, by: str) -> RefreshResult:
    """The figures of staged data, once a run has staged its assets: these no longer change in the run (classify,
    approval and load change decisions only), so they are counted while it classifies and loads, and the run's
    :func:`refresh_after_run` finds them unchanged. What the stage did not change is kept."""
    return refresh(engine, by=by, reports=STAGED_DATA_REPORTS)


def refresh_after_decisions(engine: Engine, sources: Iterable[str] | None, *, by: str) -> RefreshResult | None:
    """The figures decisions change, of the decided assets' ``sources`` (every source if None) and of all sources.
    Never raises: a decision stands whether or not its figures could be counted (the next run or Refresh counts
    them)."""
    try:
        return refresh(engine, by=by, reports=DECISION_REPORTS, sources=sources)
    except Exception:
        log.exception("the report figures could not be counted after a decision")
        return None


# --------------------------------------------------------------------------------------------- reading
@dataclass
class Figures:
    """Reports built from stored figures, and when these were computed."""

    reports: list[Report]
    oldest: datetime | None = None  # the oldest figure shown was computed then
    newest: datetime | None = None
    computed_by: str | None = None  # who or what computed the newest figure
    counted_now: list[str] = field(default_factory=list)  # reports that had no figures: counted for this view


def _report(spec: ReportSpec, fig: Figure, root: str, limit: int) -> Report:
    shown = fig.bars[:limit]
    rest = fig.bars[limit:]

    def href(query: str) -> str:
        return f"{root}/{spec.page}?{query}" if query else f"{root}/{spec.page}"

    return Report(
        id=spec.id,
        title=spec.title,
        group=spec.group,
        total=fig.total,
        unit=spec.unit,
        rows=[Bar(str(b["label"]), int(b["value"]), href(str(b["query"]))) for b in shown],
        other=fig.other + sum(int(b["value"]) for b in rest),
        note=spec.note,
        chart=spec.chart,
        description=spec.description,
        href=href(fig.whole) if fig.whole is not None else None,
        groups=fig.group_count,
    )


def read(
    engine: Engine,
    report_ids: Sequence[str],
    *,
    base_url: str,
    source: str | None = None,
    limit: int = 12,
    store_missing: bool = True,
) -> Figures:
    """The reports ``report_ids`` (of one Qualys ``source`` if given) from the stored figures, their largest
    ``limit`` groups as bars. A report without figures (or asked for more bars than are stored) is counted now, and
    its figures are stored if ``store_missing`` (for a source that exists: not for any name typed into the URL)."""
    root = base_url.rstrip("/")
    scope = source or ALL
    wanted = [r for r in report_ids if r in REPORTS]
    f = report_figure.c
    with engine.connect() as conn:
        shown = [c for c in report_figure.c if c.name != "groups"]  # a source's every group: not for the page
        rows = conn.execute(select(*shown).where(f.report_id.in_(wanted), f.source == scope)).mappings()
        stored = {
            r["report_id"]: Figure(
                report_id=r["report_id"],
                source=r["source"],
                total=int(r["total"]),
                group_count=int(r["group_count"]),
                other=int(r["other"]),
                bars=list(r["bars"]),
                whole=r["whole"],
                groups=None,
                basis=r["basis"],
                computed_at=r["computed_at"],
                computed_by=r["computed_by"] or "",
                seconds=float(r["seconds"] or 0),
            )
            for r in rows
        }
    out = Figures(reports=[])
    missing = [r for r in wanted if r not in stored]
    if missing and store_missing:
        counted = _count_missing(engine, missing, scope)
        stored.update(counted)
    for report_id in wanted:
        spec = REPORTS[report_id]
        fig = stored.get(report_id)
        if fig is None or limit > STORED_BARS:
            out.reports.append(build_report(engine, report_id, base_url=base_url, source=source, limit=limit))
            out.counted_now.append(report_id)
            continue
        if report_id in missing:
            out.counted_now.append(report_id)
        out.reports.append(_report(spec, fig, root, limit))
    times = [fig for fig in stored.values() if fig.report_id in wanted]
    if times:
        out.oldest = min(fig.computed_at for fig in times)
        newest = max(times, key=lambda fig: fig.computed_at)
        out.newest, out.computed_by = newest.computed_at, newest.computed_by
    return out


def _count_missing(engine: Engine, report_ids: list[str], scope: str) -> dict[str, Figure]:
    """Count reports that have no figures yet for ``scope``, and store them (the first view after an upgrade)."""
    figures: dict[str, Figure] = {}
    with engine.begin() as conn:
        conn.execute(text(f"SET LOCAL work_mem = '{WORK_MEM}'"))
        staged = _staged_bases(conn) if scope else {}
        catalog = _catalog_basis(conn) if scope else ""
        for report_id in report_ids:
            basis = _basis(report_id, staged.get(scope), catalog) if scope else None
            figures[report_id] = count(conn, report_id, scope, basis=basis, by="the Overview (no figures yet)")
    _store(engine, list(figures.values()), [], sources_left=None)
    return figures


def clear(engine: Engine) -> None:
    """Forget every stored figure (the next view or run counts them again)."""
    with engine.begin() as conn:
        conn.execute(delete(report_figure))


__all__ = [
    "ALL",
    "DECISION_REPORTS",
    "STAGED_DATA_REPORTS",
    "STORED_BARS",
    "SUMMED_REPORTS",
    "Figure",
    "Figures",
    "RefreshResult",
    "clear",
    "count",
    "kind",
    "read",
    "refresh",
    "refresh_after_decisions",
    "refresh_after_run",
    "refresh_after_stage",
]
