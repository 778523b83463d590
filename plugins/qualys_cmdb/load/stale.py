"""BY-7 stale CIs: the CIs of assets Qualys no longer reports, listed, and (opt-in) marked out of service.

**Which assets are stale.** Qualys says nothing when an asset is deleted: it is simply never returned again (the
reference documents no deleted-asset feed). Nor is "not fetched lately" a sign: a run fetches only the assets
modified in its window, so an unchanged asset is never fetched twice (BY-1). What Qualys does give is each asset's
``lastModifiedDate`` (QPS ``modified``), which moves whenever a scanner, an agent or a connector reports something
new about it; staging keeps the newest one fetched. And a schedule's *watermark* is the moment up to which every
modification of its assets has been fetched. So an asset is **stale** when Qualys last modified it more than
``stale_after_days`` before the schedule's watermark: as surely as staging can know, nothing reported it since. The
watermark, not the clock, is the reference, so a schedule that did not run for a week does not make its assets look
a week older. A deleted asset becomes stale ``stale_after_days`` after its last modification; so does a live asset
whose inventory never changes, and so does an asset that left the schedule's QQL or tag slice (no run fetches it
any more): choose the days longer than your estate's rhythm of change, and read ``qcmdb stale list`` first.

Only the schedule's *loaded* assets count (the CMDB confirmed their CI, ``cmdb_sys_id``). A CI also held by another
Qualys asset (another source's, say) that is not stale stays.

**Which CIs are retired** (``install_status`` set to Absent, 100, or Retired, 7, reference §4.2). The CI is read
through the Table API first, and retired only when nothing says someone else still looks after it:

1. its ``install_status`` is Installed (1): any other value is someone's lifecycle decision (In Maintenance, In
   Stock, already Retired or Absent), not ours to overwrite;
2. its ``discovery_source`` is ours (the mappings' data source, "Qualys"): IRE writes the reporting source on every
   processing, even when nothing changed, so a CI another discovery source reported after us carries its name;
3. its ``last_discovered`` is not later than our last load of it: otherwise another feed that reports as "Qualys"
   (a second integration, the vendor app) still sees it;
4. its last update (``sys_updated_by``) is by this sync's own CMDB user, so nobody edited it after our last write
   (a person or a script changing a field leaves ``discovery_source`` alone, but not ``sys_updated_by``). When the
   connection does not name the user (OAuth client credentials), its ``sys_updated_on`` must not be later than our
   last load instead.

Rules 3 and 4 compare ServiceNow's clock with staging's, so they allow :data:`CLOCK_MARGIN` (the IRE call itself and
clock skew): a later change within that margin after a load goes unnoticed, which is nothing next to a staleness
measured in days. "Our last load" is the latest ``loaded_at`` of every staged asset, of any schedule, that holds
the CI. Each CI skipped is listed with its reason; nothing is written for it.

**Once.** A retired CI is recorded in staging (``asset_classification.cmdb_retired_at``, on every row that holds it)
and in the application log; it is never written again while it stays retired.

**Coming back.** When an asset of a retired CI is no longer stale (Qualys modified it again, so a run fetched it),
its CI goes back to Installed, if its ``install_status`` is still the one we set; if someone changed it since, it is
left as it is. Either way the record of the retirement is cleared, so the CI is judged afresh if it goes stale
again. Loads never send ``install_status``, so the load that brings the asset's new data does not do this by itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Connection, Engine, text

from qualys_cmdb.hooks.servicenow import ServiceNowHook, ServiceNowRequestError
from qualys_cmdb.staging import store
from qualys_cmdb.staging.locks import Step, schedule_held
from qualys_cmdb.staging.schema import SCHEMA

#: ``install_status`` values (ServiceNow's cmdb_ci choices; reference §4.2 names 1, 7 and 100).
INSTALL_STATUS = {
    "1": "Installed",
    "2": "On Order",
    "3": "In Maintenance",
    "4": "Pending Install",
    "5": "Pending Repair",
    "6": "In Stock",
    "7": "Retired",
    "8": "Stolen",
    "100": "Absent",
}
INSTALLED = "1"
#: What a stale CI's ``install_status`` becomes, by the schedule's ``stale_ci_status``.
RETIRED_STATUS = {"absent": "100", "retired": "7"}
#: Allowance when ServiceNow's timestamps are compared with staging's: the IRE call itself, and clock skew.
CLOCK_MARGIN = timedelta(minutes=5)
#: CIs read per Table API call (``sys_idIN...``: 100 sys_ids keep the URL near 3.4 kB).
READ_BATCH = 100
CI_FIELDS = [
    "sys_id",
    "sys_class_name",
    "name",
    "install_status",
    "discovery_source",
    "last_discovered",
    "sys_updated_on",
    "sys_updated_by",
]

#: ``retire``: to be (or was) retired; ``skip``: stays, see the reason; ``retired``: retired earlier, still stale;
#: ``reinstate``: its asset came back, the CI goes back to Installed; ``release``: its asset came back, but someone
#: changed the CI since, so it is left as it is and only our record of the retirement is cleared.
Verdict = Literal["retire", "skip", "retired", "reinstate", "release"]


@dataclass(frozen=True)
class StaleAsset:
    """What staging knows of one stale asset's CI (or of a retired CI whose asset came back)."""

    source: str
    asset_id: int
    name: str | None
    sys_id: str
    cmdb_class: str | None
    last_modified: datetime  # Qualys's lastModifiedDate, the newest fetched
    last_load: datetime | None  # our latest confirmed load of the CI, by any asset that holds it
    retired_at: datetime | None  # when this sync retired the CI
    came_back: bool = False  # retired, and its asset is no longer stale
    still_reported_by: str | None = None  # "source/asset id" of another asset holding the CI that is not stale


@dataclass(frozen=True)
class StaleCi:
    """A stale asset's CI and what is (or was) done with it, and why."""

    asset: StaleAsset
    verdict: Verdict
    reason: str
    done: bool = False  # the verdict was carried out


@dataclass(frozen=True)
class RetirementRules:
    """How this sync recognises its own CIs and what it writes.

    :param discovery_source: the IRE data source the sync loads with (the mappings' ``discovery_source``).
    :param retired_value: the ``install_status`` a stale CI gets (:data:`RETIRED_STATUS`).
    :param integration_user: the CMDB user the sync writes as (``sys_updated_by`` of its writes), when known.
    """

    discovery_source: str
    retired_value: str = RETIRED_STATUS["absent"]
    integration_user: str | None = None

    @classmethod
    def of(cls, stale_ci_status: str, hook: ServiceNowHook) -> RetirementRules:
        """The rules of a schedule (its ``stale_ci_status``) for the CMDB behind ``hook``."""
        from qualys_cmdb.classify.mappings import load_mappings

        return cls(
            discovery_source=load_mappings().discovery_source,
            retired_value=RETIRED_STATUS[stale_ci_status],
            integration_user=hook.user_name(),
        )


@dataclass
class StaleCis:
    """A schedule's stale CIs, each with its verdict (a dry run's, or what was done)."""

    schedule: str
    days: int
    watermark: datetime | None
    cutoff: datetime | None  # assets Qualys last modified before this moment are stale
    cis: list[StaleCi] = field(default_factory=list)
    applied: bool = False  # the verdicts were carried out (not a dry run)
    cmdb_calls: int = 0

    def counts(self) -> dict[str, int]:
        """How many CIs got each verdict."""
        out: dict[str, int] = {}
        for ci in self.cis:
            out[ci.verdict] = out.get(ci.verdict, 0) + 1
        return out


# --------------------------------------------------------------------------------------------- staging
def stale_cutoff(conn: Connection, schedule: str, days: int) -> tuple[datetime | None, datetime | None]:
    """The schedule's watermark and the moment ``days`` before it (None, None before its first complete window)."""
    watermark = conn.execute(
        text(f'SELECT watermark FROM "{SCHEMA}".schedule_state WHERE schedule = :schedule'), {"schedule": schedule}
    ).scalar()
    if watermark is None:
        return None, None
    return watermark, watermark - timedelta(days=days)


def configured_cutoffs(conn: Connection, schedules: Iterable[tuple[str, int | None]]) -> dict[str, datetime]:
    """The cutoff of each ``(schedule name, stale_after_days)`` that looks for stale assets and has a watermark."""
    out: dict[str, datetime] = {}
    for name, days in schedules:
        if days is not None:
            cutoff = stale_cutoff(conn, name, days)[1]
            if cutoff is not None:
                out[name] = cutoff
    return out


def stale_assets(conn: Connection, schedule: str, cutoff: datetime) -> list[StaleAsset]:
    """The schedule's loaded assets Qualys last modified before ``cutoff`` (their CIs not retired yet), and its
    retired CIs (still stale, or whose asset came back), in (source, asset id) order.

    Staging has one classification row per schedule that selects an asset, so a CI can be held by several rows
    (several schedules of one source, or assets of two sources the CMDB matched to one CI): the last load and the
    assets still reported are looked up over all of them.
    """
    sql = f"""
        SELECT c.source, c.asset_id, coalesce(a.name, a.dns_name, a.netbios_name, a.ip_address) AS name,
               c.cmdb_sys_id, c.cmdb_class, a.last_modified_date, c.cmdb_retired_at,
               (SELECT max(h.loaded_at) FROM "{SCHEMA}".asset_classification h
                WHERE h.cmdb_sys_id = c.cmdb_sys_id) AS last_load,
               (SELECT h.source || '/' || h.asset_id
                FROM "{SCHEMA}".asset_classification h
                JOIN "{SCHEMA}".staged_asset ha ON ha.source = h.source AND ha.asset_id = h.asset_id
                WHERE h.cmdb_sys_id = c.cmdb_sys_id AND (h.source, h.asset_id) <> (c.source, c.asset_id)
                  AND (ha.last_modified_date IS NULL OR ha.last_modified_date >= :cutoff)
                ORDER BY h.source, h.asset_id LIMIT 1) AS still_reported_by
        FROM "{SCHEMA}".asset_classification c
        JOIN "{SCHEMA}".staged_asset a ON a.source = c.source AND a.asset_id = c.asset_id
        WHERE c.schedule = :schedule AND c.cmdb_sys_id IS NOT NULL AND a.last_modified_date IS NOT NULL
          AND (c.cmdb_retired_at IS NOT NULL OR (c.state = 'loaded' AND a.last_modified_date < :cutoff))
        ORDER BY c.source, c.asset_id
    """
    rows = conn.execute(text(sql), {"schedule": schedule, "cutoff": cutoff}).mappings()
    return [
        StaleAsset(
            source=r["source"],
            asset_id=int(r["asset_id"]),
            name=r["name"],
            sys_id=r["cmdb_sys_id"],
            cmdb_class=r["cmdb_class"],
            last_modified=r["last_modified_date"],
            last_load=r["last_load"],
            retired_at=r["cmdb_retired_at"],
            came_back=r["cmdb_retired_at"] is not None and r["last_modified_date"] >= cutoff,
            still_reported_by=r["still_reported_by"],
        )
        for r in rows
    ]


def _record_retirement(engine: Engine, sys_id: str, retired: bool) -> None:
    """Stamp (or clear) the retirement on every staged row that holds the CI, whatever its schedule."""
    sql = (
        f'UPDATE "{SCHEMA}".asset_classification SET cmdb_retired_at = now() '
        "WHERE cmdb_sys_id = :sys_id AND cmdb_retired_at IS NULL"
        if retired
        else f'UPDATE "{SCHEMA}".asset_classification SET cmdb_retired_at = NULL WHERE cmdb_sys_id = :sys_id'
    )
    with engine.begin() as conn:
        conn.execute(text(sql), {"sys_id": sys_id})


# --------------------------------------------------------------------------------------------- verdicts
def _status(value: object) -> str:
    code = str(value or "")
    return f"{INSTALL_STATUS[code]} ({code})" if code in INSTALL_STATUS else repr(code)


def servicenow_time(value: object) -> datetime | None:
    """A Table API date-time (``YYYY-MM-DD HH:MM:SS``, UTC) as an aware datetime; None when empty or odd."""
    try:
        return datetime.strptime(str(value or ""), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return None


def _later(moment: datetime | None, reference: datetime | None) -> bool:
    """``moment`` is later than ``reference`` beyond the clock margin (unknown moments are never later)."""
    return moment is not None and reference is not None and moment > reference + CLOCK_MARGIN


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else "never"


def judge(asset: StaleAsset, ci: Mapping[str, Any] | None, rules: RetirementRules) -> tuple[Verdict, str]:
    """What to do with a stale asset's CI as the CMDB holds it (``ci``: its Table API record, None if not found)."""
    if asset.came_back:
        if ci is None:
            return "release", "Qualys reports the asset again; its CI is no longer in the CMDB"
        if str(ci.get("install_status") or "") == rules.retired_value:
            return "reinstate", (
                f"Qualys reports the asset again (modified {asset.last_modified:%Y-%m-%d}): back to Installed"
            )
        return "release", (
            f"Qualys reports the asset again, but the CI's install_status is now {_status(ci.get('install_status'))} "
            f"(last updated by {ci.get('sys_updated_by') or '?'}): left as it is"
        )
    if asset.retired_at is not None:
        return "retired", f"retired on {_when(asset.retired_at)}"
    if asset.still_reported_by:
        return "skip", f"the CI also holds Qualys asset {asset.still_reported_by}, which Qualys still reports"
    if ci is None:
        return "skip", "the CI is not in the CMDB (deleted, or hidden from the integration user)"
    status = str(ci.get("install_status") or "")
    if status != INSTALLED:
        return "skip", f"install_status is {_status(status)}, not Installed: someone else decides its lifecycle"
    source = str(ci.get("discovery_source") or "")
    if source != rules.discovery_source:
        return "skip", f"discovery source is {source!r}: another source reported it after this sync"
    discovered = servicenow_time(ci.get("last_discovered"))
    if _later(discovered, asset.last_load):
        return "skip", (
            f"last discovered {_when(discovered)}, after this sync's last load ({_when(asset.last_load)}): "
            f"another {rules.discovery_source} feed still reports it"
        )
    updated_by = str(ci.get("sys_updated_by") or "")
    updated_on = servicenow_time(ci.get("sys_updated_on"))
    if rules.integration_user is not None and updated_by != rules.integration_user:
        return "skip", (
            f"last updated by {updated_by or '?'} ({_when(updated_on)}), not by this sync's user "
            f"{rules.integration_user}: someone else edits it"
        )
    if rules.integration_user is None and _later(updated_on, asset.last_load):
        return "skip", (
            f"updated {_when(updated_on)} by {updated_by or '?'}, after this sync's last load "
            f"({_when(asset.last_load)}): someone else edits it"
        )
    return "retire", (
        f"Qualys last modified the asset on {asset.last_modified:%Y-%m-%d}; the CI is Installed, discovered by "
        f"{source} and last updated by {updated_by or '?'} ({_when(updated_on)})"
    )


# --------------------------------------------------------------------------------------------- the CMDB
def read_cis(hook: ServiceNowHook, sys_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The CMDB's records of ``sys_ids`` (``cmdb_ci``, the fields the verdict needs), by sys_id; missing ones absent."""
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(sys_ids), READ_BATCH):
        chunk = sys_ids[start : start + READ_BATCH]
        for row in hook.table_query("cmdb_ci", "sys_idIN" + ",".join(chunk), CI_FIELDS, page_size=READ_BATCH):
            found[str(row.get("sys_id"))] = row
    return found


def review_stale_cis(
    engine: Engine, hook: ServiceNowHook, schedule: str, days: int, rules: RetirementRules
) -> StaleCis:
    """The dry run: the schedule's stale CIs and what retiring would do with each, and why. Reads the CMDB (the
    CIs that need a verdict from it), writes nothing anywhere."""
    with engine.connect() as conn:
        watermark, cutoff = stale_cutoff(conn, schedule, days)
        assets = stale_assets(conn, schedule, cutoff) if cutoff is not None else []
    result = StaleCis(schedule, days, watermark, cutoff)
    # a retired CI whose asset is still stale needs no look: it is never written twice
    needed = sorted({a.sys_id for a in assets if (a.retired_at is None and not a.still_reported_by) or a.came_back})
    calls = hook.calls
    records = read_cis(hook, needed) if needed else {}
    result.cmdb_calls = hook.calls - calls
    for asset in assets:
        verdict, reason = judge(asset, records.get(asset.sys_id), rules)
        result.cis.append(StaleCi(asset, verdict, reason))
    return result


def retire_stale_cis(
    engine: Engine,
    hook: ServiceNowHook,
    schedule: str,
    days: int,
    rules: RetirementRules,
    app_log: store.AppLog,
) -> StaleCis:
    """Carry out the dry run's verdicts: retire the stale CIs that qualify, reinstate those whose asset came back.

    Holds the schedule's load lock, so a load of the schedule never runs beside it. Each write is recorded (staging
    and application log) as soon as the CMDB confirms it. A CI the CMDB refuses (deleted meanwhile) is skipped with
    the CMDB's message; a CMDB that cannot be reached, or that does not let the user write, stops the step (nothing
    is recorded that the CMDB did not confirm, and the next run carries on).
    """
    with schedule_held(engine, Step.LOAD, schedule):
        result = review_stale_cis(engine, hook, schedule, days, rules)
        calls = hook.calls
        carried: dict[str, StaleCi] = {}  # by sys_id: two stale assets of the schedule may hold one CI
        for n, ci in enumerate(result.cis):
            done = carried.get(ci.asset.sys_id)
            if done is not None and done.verdict == ci.verdict:
                result.cis[n] = replace(ci, done=done.done, reason=done.reason)
            else:
                result.cis[n] = carried[ci.asset.sys_id] = _carry_out(engine, hook, ci, rules, app_log)
        result.cmdb_calls += hook.calls - calls
        result.applied = True
    counts = result.counts()
    if result.cis:  # a run that wrote nothing says so only in debug logging: it would repeat every run
        app_log.write(
            "info" if any(ci.done for ci in result.cis) else "debug",
            "stale",
            f"stale CIs of schedule {schedule}: {counts.get('retire', 0)} retired, "
            f"{counts.get('reinstate', 0)} reinstated, {counts.get('skip', 0)} skipped, "
            f"{counts.get('retired', 0)} retired earlier ({result.cmdb_calls} CMDB call(s))",
            counts=counts,
            cutoff=result.cutoff.isoformat() if result.cutoff else None,
            skipped={ci.asset.sys_id: ci.reason for ci in result.cis if ci.verdict == "skip"},
        )
    return result


def _carry_out(
    engine: Engine, hook: ServiceNowHook, ci: StaleCi, rules: RetirementRules, app_log: store.AppLog
) -> StaleCi:
    asset = ci.asset
    what = f"CI {asset.sys_id} ({asset.cmdb_class or '?'} {asset.name or ''}) of Qualys asset {asset.source}/"
    what += str(asset.asset_id)
    details = {"sys_id": asset.sys_id, "asset_id": asset.asset_id, "source": asset.source}
    if ci.verdict == "release":
        _record_retirement(engine, asset.sys_id, retired=False)
        app_log.info("stale", f"{what}: {ci.reason}", **details)
        return replace(ci, done=True)
    if ci.verdict not in ("retire", "reinstate"):
        return ci
    value = rules.retired_value if ci.verdict == "retire" else INSTALLED
    try:  # through cmdb_ci, where install_status lives: right even if someone switched the CI's class since
        written = hook.table_update("cmdb_ci", asset.sys_id, {"install_status": value})
    except ServiceNowRequestError as exc:  # gone meanwhile (404): nothing was changed
        app_log.warning("stale", f"{what}: the CMDB refused install_status {_status(value)}: {exc}", **details)
        return replace(ci, verdict="skip", reason=f"the CMDB refused the change: {exc}")
    if str(written.get("install_status") or "") != value:
        reason = f"the CMDB kept install_status {_status(written.get('install_status'))} (a business rule or ACL)"
        app_log.warning("stale", f"{what}: {reason}", **details)
        return replace(ci, verdict="skip", reason=reason)
    _record_retirement(engine, asset.sys_id, retired=ci.verdict == "retire")
    done = "retired: install_status" if ci.verdict == "retire" else "reinstated: install_status"
    app_log.info("stale", f"{what} {done} {_status(value)}; {ci.reason}", **details, install_status=value)
    return replace(ci, done=True)


# --------------------------------------------------------------------------------------------- text
_SAYS = {
    "retire": ("would retire", "retired"),
    "reinstate": ("would reinstate", "reinstated"),
    "release": ("would release", "released"),
    "skip": ("skip", "skipped"),
    "retired": ("retired earlier", "retired earlier"),
}


def render(result: StaleCis) -> str:
    """The listing ``qcmdb stale list|retire`` prints: one line per CI with its verdict and reason, then the counts."""
    if result.cutoff is None or result.watermark is None:
        return (
            f"schedule {result.schedule}: no complete sync yet (no watermark), so no asset can be called stale; "
            "run the schedule first"
        )
    lines = [
        f"schedule {result.schedule}: assets Qualys has not modified since {result.cutoff:%Y-%m-%d %H:%M} UTC "
        f"({result.days} day(s) before the watermark {result.watermark:%Y-%m-%d %H:%M} UTC)"
        + ("" if result.applied else " — dry run, nothing is written")
    ]
    for ci in result.cis:
        a = ci.asset
        says = _SAYS[ci.verdict][1 if result.applied else 0]
        lines.append(
            f"{a.source}/{a.asset_id}  {a.name or '-'}  {a.cmdb_class or '-'} {a.sys_id}  "
            f"last modified {a.last_modified:%Y-%m-%d}  {says}: {ci.reason}"
        )
    counts = result.counts()
    order = ("retire", "reinstate", "release", "skip", "retired")
    summary = ", ".join(f"{_SAYS[v][1 if result.applied else 0]} {counts[v]}" for v in order if v in counts)
    lines.append(
        f"{len(result.cis)} stale CI(s)" + (f": {summary}" if summary else "") + f"; {result.cmdb_calls} CMDB call(s)"
    )
    return "\n".join(lines)
