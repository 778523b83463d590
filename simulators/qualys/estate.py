"""Deterministic model of a Qualys subscription's asset estate.

The estate is a pure function of ``(assets, seed)`` (plus ``software_max`` and an optional
:class:`~simulators.qualys.shape.EstateShape`) and the sequence of :meth:`Estate.advance` calls.
Only a tiny mutable state is kept per asset (id, created, lastModifiedDate, revision) in compact
arrays; everything else is regenerated on demand from a per-asset ``random.Random`` seeded from
``(seed, index)``:

* a profile (:mod:`simulators.qualys.profiles`): identity, names, OS/hardware classification,
  addresses, tags and list sizes (cheap; cached in a bounded dict);
* details (:mod:`simulators.qualys.details`): interfaces, ports, volumes, accounts, cloud metadata and
  (lazily) software rows.  A revision bump replays deterministic mutations on top (a software version
  bump or a new open port, plus a volume's free space).

Assets can be appended at run time (:meth:`Estate.append`, used by ``POST /sim/control/scan`` for IPs
added through FO ``asset/ip``): they get ids above every existing one and a generated profile with the
scanned address and tracking method laid over it.  FO ``asset/ip`` ``action=update`` may change the
tracking method of an existing asset (:meth:`Estate.set_tracking`).  Odd values (a NUL in a user name, ...)
can be laid over an asset's generated ones (:meth:`Estate.set_override`, ``POST /sim/control/overrides``, see
:mod:`simulators.qualys.overrides`).
"""

from __future__ import annotations

import bisect
import dataclasses
import random
import threading
from array import array
from collections.abc import Callable, Iterator

from simulators.qualys import hardware as hw
from simulators.qualys.details import AssetDetail, make_detail, mutations
from simulators.qualys.overrides import AssetOverride
from simulators.qualys.profiles import FIRST_HOST_ID, Profile, make_profile
from simulators.qualys.shape import EstateShape, ShapeLike, ShapeTable, build_table
from simulators.qualys.tags import NETWORK_TAG_IDS, TAG_BY_NAME, network_tag_for
from simulators.qualys.timefmt import BASE_MS, DAY_MS, iso_ms, wall_ms

__all__ = ["FIRST_ASSET_ID", "FIRST_HOST_ID", "AssetDetail", "Estate", "EstateShape", "Profile"]

FIRST_ASSET_ID = 10_000_001
_YEAR_MS = 365 * DAY_MS
_PROFILE_CACHE_MAX = 20_000
# Tags a scanner-found host cannot carry (it has no agent and no cloud connector); network tags are recomputed.
_SCANNED_DROP_TAGS = frozenset(
    {TAG_BY_NAME[name].id for name in ("Cloud Agent", "AWS", "Azure", "GCP")} | set(NETWORK_TAG_IDS)
)


@dataclasses.dataclass(frozen=True, slots=True)
class Scanned:
    """What a scan of an added IP fixed about an appended asset."""

    address: str
    tracking: str  # QPS spelling: IP, DNSNAME, NETBIOS
    compliance: bool


def _as_scanned(prof: Profile, scanned: Scanned, scanned_ms: int) -> Profile:
    a, b, c, d = (int(x) for x in scanned.address.split("."))
    network_tag = network_tag_for((a << 24) | (b << 16) | (c << 8) | d)
    tags = [t for t in prof.tag_ids if t not in _SCANNED_DROP_TAGS]
    if network_tag is not None:
        tags.append(network_tag)
    hostname, domain = prof.hostname, prof.domain
    if prof.cloud:
        hostname, domain = f"host-{a}-{b}-{c}-{d}", "corp.acme-demo.com"
    return dataclasses.replace(
        prof,
        address=scanned.address,
        secondary_ip=None,
        cloud=None,
        agent_id=None,
        agent_version=None,
        tracking=scanned.tracking,
        has_name=prof.has_name or scanned.tracking != "IP",
        hostname=hostname,
        domain=domain,
        tag_ids=tuple(dict.fromkeys(tags)),
        last_vuln_scan_ms=scanned_ms,
        last_compliance_ms=scanned_ms if scanned.compliance else None,
    )


class Estate:
    """The asset estate: ids, clock, revisions and lazily generated documents."""

    def __init__(self, assets: int, seed: int, software_max: int = 400, shape: ShapeLike = None) -> None:
        if assets < 0:
            raise ValueError("assets must be >= 0")
        self.shape = EstateShape.of(shape)
        self.size = assets
        self.seed = seed
        self.software_max = max(0, software_max)
        self._lock = threading.Lock()
        self._offset_ms = 0
        self._advance_calls = 0
        self._profiles: dict[int, Profile] = {}
        rng = random.Random(f"qualys-estate:{seed}")
        self.ids = array("q")
        self.created = array("q")
        self.modified = array("q")
        self.revision = array("i", bytes(4 * assets))
        next_id = FIRST_ASSET_ID + rng.randrange(0, 40)
        for _ in range(assets):
            self.ids.append(next_id)
            next_id += rng.choice((1, 1, 2, 3, 7, 11, 29, 113, 997))
            modified = BASE_MS - rng.randrange(0, _YEAR_MS // 1000) * 1000
            self.modified.append(modified)
            self.created.append(modified - rng.randrange(0, 3 * _YEAR_MS // 1000) * 1000)
        # Give every seed-table hardware pair an owner, spread evenly over the id space.
        pairs = list(range(len(hw.HARDWARE_PAIRS)))
        rng.shuffle(pairs)
        self._coverage: dict[int, int] = {}
        slots = min(assets, len(pairs))
        for j in range(slots):
            index = (j * assets) // slots if assets >= len(pairs) else j
            self._coverage[index] = pairs[j]
        self._shape_table: ShapeTable | None = None
        if self.shape is not None:
            self._shape_table = build_table(self.shape, self.software_max, assets, self._coverage.values())
        self._ip_cache: list[tuple[int, str]] | None = None
        self._address_index: dict[int, int] | None = None
        self.base_size = assets
        self._scanned: dict[int, Scanned] = {}
        self._tracking: dict[int, str] = {}
        self._overrides: dict[int, AssetOverride] = {}

    # ----------------------------------------------------------------- clock and changes
    def now_ms(self) -> int:
        """Simulator clock: wall-clock UTC plus the offset accumulated by :meth:`advance`."""
        return wall_ms() + self._offset_ms

    def advance(self, seconds: float, modify: int) -> tuple[list[int], int]:
        """Move the clock forward and modify ``modify`` assets; returns (sorted asset ids, now ms)."""
        with self._lock:
            self._offset_ms += int(max(0.0, seconds) * 1000)
            self._advance_calls += 1
            rng = random.Random(f"qualys-advance:{self.seed}:{self._advance_calls}")
            chosen = rng.sample(range(self.size), min(max(0, modify), self.size))
            now = self.now_ms()
            for index in chosen:
                self.revision[index] += 1
                self.modified[index] = now
            return sorted(self.ids[i] for i in chosen), now

    # ----------------------------------------------------------------- lookups
    def index_of(self, asset_id: int) -> int | None:
        """Index of an asset id, or None."""
        pos = bisect.bisect_left(self.ids, asset_id)
        if pos < self.size and self.ids[pos] == asset_id:
            return pos
        return None

    def first_index_after(self, asset_id: int) -> int:
        """Index of the first asset whose id is greater than ``asset_id``."""
        return bisect.bisect_right(self.ids, asset_id)

    def first_index_from(self, asset_id: int) -> int:
        """Index of the first asset whose id is >= ``asset_id``."""
        return bisect.bisect_left(self.ids, asset_id)

    def scan(self, start: int, predicate: Callable[[int], bool], limit: int) -> tuple[list[int], bool]:
        """Matching indices from ``start`` (at most ``limit``) and whether more matches follow."""
        found: list[int] = []
        for index in range(start, self.size):
            if predicate(index):
                if len(found) == limit:
                    return found, True
                found.append(index)
        return found, False

    def count(self, start: int, predicate: Callable[[int], bool]) -> int:
        """Number of matching indices from ``start``."""
        return sum(1 for index in range(start, self.size) if predicate(index))

    # ----------------------------------------------------------------- profiles
    def profile(self, index: int) -> Profile:
        """The (cached) profile of the asset at ``index``."""
        cached = self._profiles.get(index)
        if cached is not None:
            return cached
        prof = make_profile(
            self.seed,
            index,
            self.ids[index],
            self.created[index],
            self._coverage.get(index),
            self.software_max,
            self._shape_table,
        )
        scanned = self._scanned.get(index)
        if scanned is not None:
            prof = _as_scanned(prof, scanned, self.created[index])
        tracking = self._tracking.get(index)
        if tracking is not None:
            prof = dataclasses.replace(prof, tracking=tracking)
        if len(self._profiles) >= _PROFILE_CACHE_MAX:
            self._profiles.clear()
        self._profiles[index] = prof
        return prof

    # ----------------------------------------------------------------- run-time changes
    def append(self, address: str, tracking: str, compliance: bool) -> int:
        """Add a host found by a scan of ``address``; returns its index (its id is above every other id)."""
        with self._lock:
            index = self.size
            rng = random.Random(f"qualys-scan:{self.seed}:{index}")
            last = self.ids[-1] if self.size else FIRST_ASSET_ID
            now = self.now_ms()
            self.ids.append(last + rng.choice((1, 1, 2, 3, 7, 11, 29)))
            self.created.append(now)
            self.modified.append(now)
            self.revision.append(0)
            self._scanned[index] = Scanned(address, tracking, compliance)
            self._profiles.pop(index, None)
            self.size += 1
            self._ip_cache = None
            self._address_index = None
            return index

    def set_tracking(self, index: int, tracking: str) -> None:
        """Change the tracking method of an asset (FO ``asset/ip`` update)."""
        with self._lock:
            self._tracking[index] = tracking
            self._profiles.pop(index, None)

    def drop_run_time_changes(self) -> None:
        """Forget appended assets and tracking changes (``POST /sim/control/vm/reset``)."""
        with self._lock:
            extra = self.size - self.base_size
            self.size = self.base_size
            if extra > 0:
                del self.ids[self.base_size :]
                del self.created[self.base_size :]
                del self.modified[self.base_size :]
                del self.revision[self.base_size :]
            self._scanned.clear()
            self._tracking.clear()
            self._overrides = {i: o for i, o in self._overrides.items() if i < self.base_size}
            self._profiles.clear()
            self._ip_cache = None
            self._address_index = None

    # ----------------------------------------------------------------- odd values
    def set_override(self, index: int, override: AssetOverride) -> int:
        """Lay ``override`` over the asset at ``index`` (merged with an earlier one); a change of the asset, so its
        lastModifiedDate becomes now. Returns now (ms)."""
        with self._lock:
            self._overrides.setdefault(index, AssetOverride()).merge(override)
            now = self.now_ms()
            self.modified[index] = now
            return now

    def override_of(self, index: int) -> AssetOverride | None:
        """The values laid over the asset at ``index``, if any."""
        return self._overrides.get(index)

    def overrides(self) -> list[tuple[int, AssetOverride]]:
        """(asset id, override) of every asset with an override, by asset id."""
        return [(self.ids[i], self._overrides[i]) for i in sorted(self._overrides)]

    def clear_overrides(self) -> list[int]:
        """Drop every override; the assets concerned change back (lastModifiedDate now). Returns their ids."""
        with self._lock:
            now = self.now_ms()
            for index in self._overrides:
                self.modified[index] = now
            ids = sorted(self.ids[i] for i in self._overrides)
            self._overrides.clear()
            return ids

    # ----------------------------------------------------------------- details
    def detail(self, index: int) -> AssetDetail:
        """Generate the revision-dependent content of an asset (software lazily), with its override if it has one."""
        detail = make_detail(self.seed, self.profile(index), self.revision[index], self.modified[index])
        detail.override = self._overrides.get(index)
        return detail

    def port_count(self, index: int) -> int:
        """Open ports of the asset including those opened by revisions."""
        prof = self.profile(index)
        rev = self.revision[index]
        return prof.n_ports + sum(1 for kind, _ in mutations(self.seed, index, rev, prof) if kind == "port")

    # ----------------------------------------------------------------- details
    # ----------------------------------------------------------------- summaries
    def iter_indices(self) -> Iterator[int]:
        """All indices in ascending asset-id order."""
        return iter(range(self.size))

    def _build_ip_cache(self) -> tuple[list[tuple[int, str]], dict[int, int]]:
        with self._lock:
            if self._ip_cache is None or self._address_index is None:
                ips = []
                by_address: dict[int, int] = {}
                for index in range(self.size):
                    address = self.profile(index).address
                    a, b, c, d = (int(x) for x in address.split("."))
                    value = (a << 24) | (b << 16) | (c << 8) | d
                    ips.append((value, address))
                    by_address.setdefault(value, index)
                ips.sort()
                self._ip_cache, self._address_index = ips, by_address
            return self._ip_cache, self._address_index

    def ip_list(self) -> list[tuple[int, str]]:
        """(ip as int, ip) of every asset's primary address, sorted numerically (cached)."""
        cache = self._ip_cache
        return cache if cache is not None else self._build_ip_cache()[0]

    def index_of_address(self, address: int) -> int | None:
        """Index of the asset whose primary address is ``address`` (an int), or None."""
        by_address = self._address_index
        if by_address is None:
            by_address = self._build_ip_cache()[1]
        return by_address.get(address)

    def summary(self) -> dict[str, object]:
        """The ``GET /sim/control/estate`` document."""
        by_os: dict[str, int] = {}
        by_hw: dict[str, int] = {}
        software_rows = 0
        assets = []
        for index in range(self.size):
            prof = self.profile(index)
            by_os[prof.os.category1] = by_os.get(prof.os.category1, 0) + 1
            by_hw[prof.hw_pair[0]] = by_hw.get(prof.hw_pair[0], 0) + 1
            software_rows += prof.n_software
            assets.append(
                {
                    "assetId": prof.asset_id,
                    "hostId": prof.host_id,
                    "name": prof.asset_name,
                    "address": prof.address,
                    "os_category1": prof.os.category1,
                    "os_category2": prof.os.category2,
                    "hardware_category1": prof.hw_pair[0],
                    "hardware_category2": prof.hw_pair[1],
                    "software": prof.n_software,
                    "ports": self.port_count(index),
                    "interfaces": prof.n_ifaces,
                    "volumes": prof.n_volumes,
                    "processors": 1 if prof.n_cpus else 0,
                    "cpu_count": prof.n_cpus,
                    "tags": len(prof.tag_ids),
                    "cloud_provider": prof.cloud,
                    "has_agent": prof.agent_id is not None,
                    "lastModifiedDate": iso_ms(self.modified[index]),
                    "revision": self.revision[index],
                    "has_serial": prof.serial is not None,
                    "has_name": prof.has_name,
                }
            )
        result: dict[str, object] = {
            "count": self.size,
            "seed": self.seed,
            "now": iso_ms(self.now_ms()),
            "by_os_category1": dict(sorted(by_os.items())),
            "by_hardware_category1": dict(sorted(by_hw.items())),
            "hardware_pairs": len({(a["hardware_category1"], a["hardware_category2"]) for a in assets}),
            "software_rows": software_rows,
            "assets": assets,
        }
        if self.shape is not None:
            result["shape"] = self.shape.targets()
        return result
