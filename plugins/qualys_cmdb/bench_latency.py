"""The benchmark under the simulators' latency model (issue 20): a first sync measured against the limit the APIs
set, and an estimate of the hours a first sync of a large estate takes with the vendor app's architecture and with
this product's.

The model is the simulators' (``simulators/latency.py``); it is imported here only to evaluate its formulas, the
way ``qcmdb sim`` imports the simulators (they are an optional part of the distribution; product code never does).
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass
from typing import Any

#: What a bench asset sends besides its CI (the bench shape: 120 software rows, 8 ports, 2 interfaces, 3 volumes):
#: two related items per software row (package and instance), and its dependents (3 file systems, 2 adapters and
#: about 2 addresses).
RELATED_PER_ASSET = 240
DEPENDENTS_PER_ASSET = 7
SOFTWARE_PER_ASSET = 120
DETAIL_ROWS_PER_ASSET = 13
TARGET_RATIO = 1.15  # issue 20: a first sync's wall time against its API-bound limit, the product's way (page groups)


def model() -> Any:
    """The simulators' latency model module."""
    return importlib.import_module("simulators.latency")


def profile_from(data: dict[str, Any]) -> Any:
    """A :class:`simulators.latency.LatencyProfile` from its JSON."""
    return model().LatencyProfile.from_json(data)


def rate_waits_s(calls: int, limit: int, window_s: float) -> float:
    """The least time a client that makes ``calls`` calls waits for a rolling window allowing ``limit`` per
    ``window_s``: every ``limit`` calls after the first lot wait for a window to pass."""
    if limit <= 0 or calls <= limit:
        return 0.0
    return (math.ceil(calls / limit) - 1) * window_s


@dataclass
class Bound:
    """The API-bound time of a run: what the services must spend on it, with their concurrency."""

    qualys_s: float
    cmdb_s: float
    instance_cmdb_s: float  # with the instance's whole semaphore (the best any client could do)

    @property
    def limit_s(self) -> float:
        return max(self.qualys_s, self.cmdb_s)

    @property
    def instance_limit_s(self) -> float:
        return max(self.qualys_s, self.instance_cmdb_s)


def bound_of(profile: Any, qualys_stats: dict[str, Any], cmdb_stats: dict[str, Any], concurrency: int) -> Bound:
    """The API-bound time of what a run asked for, from the simulators' ``modelled`` counters: Qualys pages one
    cursor at a time (the CSAM cursor is sequential), plus any rate-limit wait; the CMDB's IRE and Table API time
    spread over ``concurrency`` connections (at most the semaphore's threads)."""
    q = qualys_stats.get("modelled") or {}
    c = cmdb_stats.get("modelled") or {}
    scale = profile.scale
    pages = sum(int(q.get(f, {}).get("requests", 0)) for f in ("csam", "qps"))
    qualys_s = sum(float(q.get(f, {}).get("modelled_s", 0.0)) for f in ("csam", "qps"))
    qualys_s += rate_waits_s(pages, profile.qualys.rate_limit, profile.qualys.rate_window_s * scale)
    cmdb_work = sum(float(v.get("modelled_s", 0.0)) for v in c.values() if isinstance(v, dict))
    threads = profile.servicenow.semaphore
    return Bound(qualys_s, cmdb_work / max(1, min(concurrency, threads)), cmdb_work / max(1, threads))


@dataclass
class Architecture:
    """How a client syncs: assets per Qualys call, parallel downloads, CIs per CMDB call, parallel CMDB calls, and
    whether the load overlaps the download."""

    name: str
    page_size: int
    download_processors: int
    cis_per_call: int
    cmdb_concurrency: int
    overlap: bool
    groups: int = 0  # page groups (runs) the sync is cut into: the load of one overlaps the download of the next


VENDOR = Architecture("vendor app (100 per call, 3 download processors, 1 asset per import)", 100, 3, 1, 1, True)


def product(concurrency: int, batch: int = 500, page_size: int = 300, groups: int = 0) -> Architecture:
    """This product's architecture with ``concurrency`` IRE connections (in ``groups`` page groups, or one run)."""
    grouped = f", in {groups} page groups" if groups else ""
    return Architecture(
        f"this product ({page_size} per page, {batch} per IRE call, ire_concurrency {concurrency}{grouped})",
        page_size,
        1,
        batch,
        concurrency,
        bool(groups),
        groups,
    )


def estimate_first_sync(profile: Any, assets: int, arch: Architecture) -> dict[str, float]:
    """Hours a first sync of ``assets`` bench-shaped assets takes under ``profile`` (at scale 1) with ``arch``:
    the Qualys side (pages over min(download processors, the subscription's concurrency), plus rate-limit waits),
    the CMDB side (IRE calls over min(concurrency, semaphore)), and the whole: their sum when one run does both one
    after the other; the larger when the load overlaps the download asset by asset (the vendor app); in page groups,
    a two-stage pipeline: the larger, plus the smaller one's share of one group (the first group's download before
    any load, or the last group's load after the download)."""
    q, sn = profile.qualys, profile.servicenow
    pages = math.ceil(assets / arch.page_size)
    per_page = q.csam_page_s(
        arch.page_size, arch.page_size * SOFTWARE_PER_ASSET, arch.page_size * DETAIL_ROWS_PER_ASSET
    )
    lanes = max(1, min(arch.download_processors, q.concurrency))
    fetch_s = pages * per_page / lanes + rate_waits_s(pages, q.rate_limit, q.rate_window_s)  # /auth is not limited
    calls = math.ceil(assets / arch.cis_per_call)
    per_call = sn.ire_s(
        arch.cis_per_call, arch.cis_per_call * RELATED_PER_ASSET, arch.cis_per_call * DEPENDENTS_PER_ASSET
    )
    cmdb_s = calls * per_call / max(1, min(arch.cmdb_concurrency, sn.semaphore))
    if not arch.overlap:
        whole = fetch_s + cmdb_s
    elif arch.groups:
        whole = max(fetch_s, cmdb_s) + min(fetch_s, cmdb_s) / arch.groups
    else:
        whole = max(fetch_s, cmdb_s)
    return {"fetch_h": fetch_s / 3600, "cmdb_h": cmdb_s / 3600, "whole_h": whole / 3600}


def hours_table(profile: Any, assets: int, concurrencies: tuple[int, ...], groups: int = 0) -> list[dict[str, Any]]:
    """:func:`estimate_first_sync` for the vendor app and this product with each concurrency (scale 1), in one run
    and, with ``groups``, in that many page groups."""
    unscaled = model().LatencyProfile(qualys=profile.qualys, servicenow=profile.servicenow, scale=1.0)
    rows = [{"architecture": VENDOR.name, **estimate_first_sync(unscaled, assets, VENDOR)}]
    for cut in (0, groups) if groups else (0,):
        for n in concurrencies:
            arch = product(n, groups=cut)
            rows.append({"architecture": arch.name, **estimate_first_sync(unscaled, assets, arch)})
    return rows


def render(section: dict[str, Any]) -> list[str]:
    """The lines ``make bench`` prints for the latency section."""
    scale = section["scale"]
    out = [
        f"Under the latency model (scale {scale}: every modelled time times {scale}; "
        f"Standard subscription, semaphore {section['semaphore']})",
        f"{'assets':>8} {'N':>3} {'first sync':>11} {'load':>9} {'Qualys-bound':>13} {'CMDB-bound':>11} "
        f"{'limit':>9} {'÷ limit':>8} {'÷ instance limit':>17}",
    ]
    for run in section["runs"]:
        groups = run.get("pages_per_run")
        out.append(
            f"{run['assets']:>8,} {run['concurrency']:>3} {run['wall_s']:>9.1f} s {run['load_s']:>7.1f} s "
            f"{run['qualys_bound_s']:>11.1f} s {run['cmdb_bound_s']:>9.1f} s {run['limit_s']:>7.1f} s "
            f"{run['ratio']:>8} {run['instance_ratio']:>17}"
            + (
                f"  page groups of {groups} pages: {run['runs']} runs by the scheduler, first load after "
                f"{run['before_first_load_s']} s; target ÷ limit ≤ {TARGET_RATIO}: "
                + ("met" if run["ratio"] <= TARGET_RATIO else "not met")
                if groups
                else ""
            )
        )
    out.append(f"Hours to a first sync of {section['estimate_assets']:,} assets under the model (scale 1):")
    for row in section["hours"]:
        out.append(
            f"  {row['architecture']:78} fetch {row['fetch_h']:5.2f} h, CMDB {row['cmdb_h']:5.2f} h, "
            f"whole {row['whole_h']:5.2f} h"
        )
    return out
