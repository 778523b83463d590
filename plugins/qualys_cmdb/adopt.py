"""Adopt the vendor app's CIs (migration path): ``qcmdb adopt --schedule S [--apply]``.

A CMDB the vendor's "Qualys CMDB Sync App" filled holds CIs with discovery source Qualys and the app's Qualys
fields: the related record ``u_qualys_asset_details`` (seed "Qualys Asset Details") names each CI's Qualys asset id
(``u_qualys_asset_id``) and QWEB host id (``u_qweb_host_id``). Those CIs were created by the app's transform maps;
IRE's identification rules rarely match them to what this project sends, so the first sync would create each machine
a second time.

Adoption links each such CI to the staged asset of the schedule's source it is: by Qualys asset id, else by host id.
Only an unambiguous link is made: one CI to one asset. The plan (a dry run by default) lists what it would link and
what it cannot: CIs with no Qualys id, CIs whose ids match no staged asset (run the schedule first: assets are linked
once staged), CIs whose asset id and host id name different assets, assets two CIs claim, and assets or CIs the CMDB
already confirmed otherwise. ``--apply`` records the links in ``adopted_ci``; the next load of each asset names its CI
by sys_id, exactly like a CI pushed to Qualys coming back (load/pushed_cis.py), and updates it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.dialects.postgresql import insert

from qualys_cmdb.hooks.servicenow import ServiceNowError, ServiceNowHook
from qualys_cmdb.staging.schema import adopted_ci, asset_classification, staged_asset

DETAILS_TABLE = "u_qualys_asset_details"
DISCOVERY_SOURCE = "Qualys"
HARDWARE_TABLE = "cmdb_ci_hardware"


@dataclass(frozen=True)
class VendorCi:
    """A CI of the vendor app: its sys_id, class, name and Qualys ids (from its Qualys asset details)."""

    sys_id: str
    ci_class: str | None
    name: str | None
    asset_id: int | None
    host_id: int | None

    def label(self) -> str:
        ids = ", ".join(
            f"{what} {value}" for what, value in (("asset id", self.asset_id), ("host id", self.host_id)) if value
        )
        return f"{self.name or '(no name)'} [{self.ci_class or 'cmdb_ci'} {self.sys_id}]" + (f" ({ids})" if ids else "")


@dataclass
class Link:
    ci: VendorCi
    asset_id: int
    evidence: str  # asset id | host id


@dataclass
class Plan:
    """What adoption links, and what it cannot link with the reason."""

    source: str
    schedule: str
    links: list[Link] = field(default_factory=list)
    already: list[Link] = field(default_factory=list)  # linked before, or the CMDB confirmed the asset as the CI
    unlinked: list[tuple[VendorCi, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def render(self, applied: bool) -> str:
        verb = "linked" if applied else "would link"
        lines = [
            f"schedule {self.schedule} (source {self.source}): {len(self.links)} CI(s) {verb}, "
            f"{len(self.already)} already linked, {len(self.unlinked)} not linked"
            + ("" if applied else " (dry run: add --apply to link)")
        ]
        lines += [f"  {verb}: {k.ci.label()} -> asset {k.asset_id} (by {k.evidence})" for k in self.links]
        lines += [f"  already linked: {k.ci.label()} -> asset {k.asset_id}" for k in self.already]
        lines += [f"  not linked: {ci.label()}: {why}" for ci, why in self.unlinked]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def _int(value: Any) -> int | None:
    text = str(value or "").strip()
    return int(text) if text.isdigit() else None


def vendor_cis(hook: ServiceNowHook, notes: list[str] | None = None) -> list[VendorCi]:
    """The vendor app's CIs: hardware with discovery source Qualys (the machines, not the packages, addresses or
    adapters related to them), and every CI its Qualys asset details name."""
    cis = {
        str(r["sys_id"]): r
        for r in hook.table_query(
            HARDWARE_TABLE, f"discovery_source={DISCOVERY_SOURCE}", fields=["sys_id", "sys_class_name", "name"]
        )
        if r.get("sys_id")
    }
    ids: dict[str, tuple[int | None, int | None]] = {}
    try:
        for d in hook.table_query(DETAILS_TABLE, fields=["u_ci", "u_qualys_asset_id", "u_qweb_host_id"]):
            ci = d.get("u_ci")
            ci = ci.get("value") if isinstance(ci, dict) else ci
            if ci:
                asset, host = _int(d.get("u_qualys_asset_id")), _int(d.get("u_qweb_host_id"))
                old = ids.get(str(ci), (None, None))
                ids[str(ci)] = (old[0] or asset, old[1] or host)
    except ServiceNowError as exc:
        if notes is not None:
            notes.append(f"{DETAILS_TABLE} cannot be read ({exc}): no CI has Qualys ids")
    missing = [s for s in ids if s not in cis]
    for sys_id in missing:  # named by the app's details but with another discovery source
        for r in hook.table_query("cmdb_ci", f"sys_id={sys_id}", fields=["sys_id", "sys_class_name", "name"]):
            cis[str(r["sys_id"])] = r
    return [
        VendorCi(sys_id, r.get("sys_class_name") or None, r.get("name") or None, *ids.get(sys_id, (None, None)))
        for sys_id, r in sorted(cis.items())
    ]


def plan_adoption(engine: Engine, source: str, schedule: str, cis: list[VendorCi]) -> Plan:
    """Match the vendor CIs to the source's staged assets; only one CI to one asset links."""
    plan = Plan(source, schedule)
    with engine.connect() as conn:
        assets = {
            int(r[0]): r[1]
            for r in conn.execute(
                select(staged_asset.c.asset_id, staged_asset.c.qweb_host_id).where(staged_asset.c.source == source)
            )
        }
        confirmed: dict[str, tuple[str, int]] = {}
        asset_ci: dict[int, str] = {}
        for r in conn.execute(
            select(
                asset_classification.c.source, asset_classification.c.asset_id, asset_classification.c.cmdb_sys_id
            ).where(asset_classification.c.cmdb_sys_id.is_not(None))
        ):
            confirmed[str(r[2])] = (str(r[0]), int(r[1]))
            if r[0] == source:
                asset_ci[int(r[1])] = str(r[2])
        adopted = {str(r.ci_sys_id): (str(r.source), int(r.asset_id)) for r in conn.execute(select(adopted_ci))}
    by_host: dict[int, list[int]] = defaultdict(list)
    for asset_id, host in assets.items():
        if host is not None:
            by_host[int(host)].append(asset_id)
    claims: dict[int, list[Link]] = defaultdict(list)
    for ci in cis:
        if confirmed.get(ci.sys_id, ("", 0))[0] == source:  # this project's own CI (or one adopted and loaded)
            plan.already.append(Link(ci, confirmed[ci.sys_id][1], "synced"))
            continue
        if ci.asset_id is None and ci.host_id is None:
            plan.unlinked.append((ci, "no Qualys asset id or host id on the CI"))
            continue
        found: dict[int, str] = {}
        if ci.asset_id is not None and ci.asset_id in assets:
            found[ci.asset_id] = "asset id"
        for asset_id in by_host.get(ci.host_id, []) if ci.host_id is not None else []:
            found.setdefault(asset_id, "host id")
        if not found:
            plan.unlinked.append(
                (ci, f"no staged asset of source {source} has its Qualys ids (run the schedule first)")
            )
        elif len(found) > 1:
            plan.unlinked.append((ci, f"its Qualys ids name {len(found)} staged assets ({', '.join(map(str, found))})"))
        else:
            ((asset_id, evidence),) = found.items()
            claims[asset_id].append(Link(ci, asset_id, evidence))
    for asset_id, links in sorted(claims.items()):
        if len(links) > 1:
            others = ", ".join(k.ci.sys_id for k in links)
            plan.unlinked += [(k.ci, f"asset {asset_id} matches {len(links)} CIs ({others})") for k in links]
            continue
        (link,) = links
        sys_id = link.ci.sys_id
        if asset_ci.get(asset_id) == sys_id or adopted.get(sys_id) == (source, asset_id):
            plan.already.append(link)
        elif asset_id in asset_ci:
            plan.unlinked.append((link.ci, f"asset {asset_id} is already synced as CI {asset_ci[asset_id]}"))
        elif sys_id in confirmed:
            plan.unlinked.append((link.ci, f"the CI is already synced as asset {confirmed[sys_id][1]}"))
        elif sys_id in adopted:
            plan.unlinked.append((link.ci, f"the CI is already adopted for asset {adopted[sys_id][1]}"))
        else:
            plan.links.append(link)
    return plan


def apply_plan(engine: Engine, plan: Plan, by: str) -> int:
    """Record the plan's links; returns how many."""
    if not plan.links:
        return 0
    rows = [
        {
            "source": plan.source,
            "asset_id": k.asset_id,
            "ci_sys_id": k.ci.sys_id,
            "ci_class": k.ci.ci_class,
            "evidence": k.evidence,
            "schedule": plan.schedule,
            "adopted_by": by,
        }
        for k in plan.links
    ]
    stmt = insert(adopted_ci).values(rows)
    with engine.begin() as conn:
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[adopted_ci.c.source, adopted_ci.c.asset_id],
                set_={c: stmt.excluded[c] for c in ("ci_sys_id", "ci_class", "evidence", "schedule", "adopted_by")},
            )
        )
    return len(rows)
