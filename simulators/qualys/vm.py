"""Mutable VM state of the subscription: IPs added through FO ``asset/ip`` and the asset-group catalog.

The subscription's IPs are the estate's primary addresses plus the IPs added with ``action=add``.  Asset
groups are seeded deterministically from ``(seed, estate)`` on first use (about a dozen groups, some with
IP_SETs taken from the estate, some empty; "All" always holds every subscription IP).  Every change goes
through :attr:`VmState.lock` (the server is threaded); ``POST /sim/control/scan`` turns added IPs into
estate assets (:meth:`VmState.scan`).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

from simulators.qualys import ipsets
from simulators.qualys.estate import Estate
from simulators.qualys.profiles import Profile
from simulators.qualys.tags import TAG_BY_NAME
from simulators.qualys.timefmt import BASE_MS, DAY_MS, iso_ms

# FO tracking_method (add/update) -> QPS/asset spelling
FO_TO_ASSET_TRACKING = {"IP": "IP", "DNS": "DNSNAME", "NETBIOS": "NETBIOS"}
BUSINESS_IMPACTS = ("Critical", "High", "Medium", "Low", "Minor")
MAX_IPS_PER_CALL = 65_536


@dataclass(slots=True)
class AddedIp:
    """One IP added with FO ``asset/ip`` ``action=add`` that was not in the subscription before."""

    ip: int
    tracking: str  # FO spelling: IP, DNS, NETBIOS
    enable_vm: bool
    enable_pc: bool
    added_ms: int
    owner: str = ""
    ud1: str = ""
    ud2: str = ""
    ud3: str = ""
    comment: str = ""
    asset_id: int | None = None
    host_id: int | None = None

    def to_json(self) -> dict[str, object]:
        """The ``GET /sim/control/vm`` entry."""
        return {
            "ip": ipsets.ip_str(self.ip),
            "tracking_method": self.tracking,
            "enable_vm": self.enable_vm,
            "enable_pc": self.enable_pc,
            "scanned": self.asset_id is not None,
            "added": iso_ms(self.added_ms),
            "owner": self.owner,
            "ud1": self.ud1,
            "ud2": self.ud2,
            "ud3": self.ud3,
            "comment": self.comment,
            "assetId": self.asset_id,
            "hostId": self.host_id,
        }


@dataclass(slots=True)
class AssetGroup:
    """One FO asset group."""

    id: int
    title: str
    owner_user_id: int
    owner_user_name: str
    unit_id: int
    network_id: int
    last_update_ms: int
    ips: set[int] = field(default_factory=set)
    dns_names: list[str] = field(default_factory=list)
    netbios_names: list[str] = field(default_factory=list)
    business_impact: str = "High"
    comments: str = ""
    appliance_ids: list[int] = field(default_factory=list)
    default_appliance_id: int | None = None
    assigned_user_ids: list[int] = field(default_factory=list)
    cvss: dict[str, str] = field(default_factory=dict)
    is_all: bool = False


# title, member selector (None = empty), business impact, comments, DNS/NetBIOS names from members?
_Selector = tuple[str, str | None, str, str, str | None]
_SEEDED_GROUPS: tuple[_Selector, ...] = (
    ("All", "all", "High", "", None),
    ("Datacenter HQ", "site:10", "Critical", "Primary datacenter server VLANs", None),
    ("Workstations", "site:20", "Medium", "", None),
    ("Network Infrastructure", "site:30", "High", "Routers, switches, firewalls and APs", None),
    ("Printers & IoT", "site:40", "Low", "", None),
    ("PCI Zone", "tag:PCI Scope", "Critical", "Cardholder data environment (PCI DSS 4.0)", "dns"),
    ("AWS Production", "cloud:aws", "High", "", None),
    ("Azure Workloads", "cloud:azure", "Medium", "", None),
    ("Windows Servers", "os:Windows@10", "High", "", "netbios"),
    ("Legacy Unix", "os:Unix", "Medium", "Scheduled for decommissioning", "dns"),
    ("DMZ", "tag:Internet Facing", "Critical", "", None),
    ("New Acquisitions", None, "Minor", "Networks of acquired companies, not onboarded yet", None),
    ("Lab - Do Not Scan", None, "Minor", "", None),
)


def _selects(selector: str, prof: Profile) -> bool:
    kind, _, value = selector.partition(":")
    if kind == "all":
        return True
    if kind == "site":
        return prof.site == int(value)
    if kind == "tag":
        return TAG_BY_NAME[value].id in prof.tag_ids
    if kind == "cloud":
        return prof.cloud == value
    if kind == "os":
        category, _, site = value.partition("@")
        return prof.os.category1 == category and (not site or prof.site == int(site))
    raise ValueError(selector)


class VmState:
    """Added IPs, module flags and asset groups (use :attr:`lock` around read-modify-write sequences)."""

    def __init__(self, estate: Estate, seed: int, owner_name: str) -> None:
        self.lock = threading.RLock()
        self.estate = estate
        self.seed = seed
        self.owner_name = owner_name
        self.owner_user_id = 2_145_000 + seed % 997
        self.added: dict[int, AddedIp] = {}
        self.pc_existing: set[int] = set()  # estate IPs whose PC module was enabled through action=add
        self.attributes: dict[int, dict[str, str]] = {}  # owner/ud1-3/comment set on estate IPs (update)
        self._groups: dict[int, AssetGroup] | None = None
        # the highest asset-group id ever handed out: a subscription never reuses an id, not after a
        # delete and not after the control API's vm/reset either
        self._last_group_id = 0

    # ------------------------------------------------------------------ IPs
    def in_subscription(self, ip: int) -> bool:
        """Whether ``ip`` is an estate address or an added IP."""
        return ip in self.added or self.estate.index_of_address(ip) is not None

    def missing(self, ranges: Iterable[ipsets.Range]) -> list[ipsets.Range]:
        """The parts of ``ranges`` that are not in the subscription (merged runs)."""
        return ipsets.runs(ip for ip in ipsets.expand(ranges) if not self.in_subscription(ip))

    def all_ips(self) -> list[int]:
        """Every subscription IP, sorted."""
        values = {value for value, _ in self.estate.ip_list()}
        values.update(self.added)
        return sorted(values)

    def pc_enabled(self) -> set[int]:
        """IPs whose PC module was enabled through ``action=add``."""
        return self.pc_existing | {ip for ip, rec in self.added.items() if rec.enable_pc}

    # ------------------------------------------------------------------ groups
    def groups(self) -> dict[int, AssetGroup]:
        """The asset-group catalog (seeded on first use); hold :attr:`lock` while using it."""
        with self.lock:
            if self._groups is None:
                self._groups = self._seed_groups()
            return self._groups

    def group_ips(self, group: AssetGroup) -> list[int]:
        """Sorted member IPs ("All": every subscription IP)."""
        return self.all_ips() if group.is_all else sorted(group.ips)

    def _seed_groups(self) -> dict[int, AssetGroup]:
        rng = random.Random(f"qualys-asset-groups:{self.seed}")
        profiles = [self.estate.profile(i) for i in range(self.estate.base_size)]
        next_id = 1_180_000 + rng.randrange(0, 9_000)
        groups: dict[int, AssetGroup] = {}
        for title, selector, impact, comments, names in _SEEDED_GROUPS:
            members = [p for p in profiles if selector is not None and _selects(selector, p)]
            group = AssetGroup(
                id=next_id,
                title=title,
                owner_user_id=self.owner_user_id,
                owner_user_name=self.owner_name,
                unit_id=0 if title == "All" else rng.choice((0, 0, 0, 1_027_481)),
                network_id=0,
                last_update_ms=BASE_MS - rng.randrange(1, 700) * DAY_MS - rng.randrange(86_400) * 1000,
                business_impact=impact,
                comments=comments,
                assigned_user_ids=[self.owner_user_id],
                is_all=selector == "all",
            )
            if selector not in (None, "all"):
                group.ips = {ipsets.ip_int(p.address) for p in members}
            if names == "dns":
                group.dns_names = sorted({p.dns_name for p in members if p.dns_name})[:5]
            elif names == "netbios":
                group.netbios_names = sorted({p.netbios_name for p in members if p.netbios_name})[:5]
            if title == "Datacenter HQ":
                group.appliance_ids = [48_211, 48_212]
                group.default_appliance_id = 48_211
                group.cvss = {"CDP": "high", "TD": "high", "CR": "high", "IR": "high", "AR": "medium"}
            groups[group.id] = group
            next_id += rng.choice((1, 2, 5, 17, 113, 1_021))
        return groups

    def next_group_id(self) -> int:
        """A new group id, above every id this subscription ever had (deleted groups' ids are never reused)."""
        with self.lock:
            groups = self.groups()
            floor = max(self._last_group_id, max(groups) if groups else 1_180_000)
            self._last_group_id = floor + 1 + self.seed % 7
            return self._last_group_id

    def group_by_title(self, title: str) -> AssetGroup | None:
        """The group with exactly this title (case-insensitive), or None."""
        wanted = title.casefold()
        return next((g for g in self.groups().values() if g.title.casefold() == wanted), None)

    # ------------------------------------------------------------------ scan and control
    def scan(self, wanted: list[int] | None) -> tuple[list[dict[str, object]], list[str]]:
        """Turn added, not yet scanned IPs into estate assets; ``None`` = every such IP."""
        scanned: list[dict[str, object]] = []
        ignored: list[str] = []
        with self.lock:
            if wanted is None:
                targets = sorted(ip for ip, rec in self.added.items() if rec.asset_id is None)
            else:
                targets = []
                for ip in sorted(dict.fromkeys(wanted)):
                    rec = self.added.get(ip)
                    if rec is None or rec.asset_id is not None:
                        ignored.append(ipsets.ip_str(ip))
                    else:
                        targets.append(ip)
            for ip in targets:
                rec = self.added[ip]
                index = self.estate.append(ipsets.ip_str(ip), FO_TO_ASSET_TRACKING[rec.tracking], rec.enable_pc)
                prof = self.estate.profile(index)
                rec.asset_id, rec.host_id = prof.asset_id, prof.host_id
                scanned.append({"ip": ipsets.ip_str(ip), "assetId": prof.asset_id, "hostId": prof.host_id})
        return scanned, ignored

    def reset(self) -> None:
        """Drop added IPs, scanned assets and tracking changes; re-seed the groups."""
        with self.lock:
            self.added.clear()
            self.pc_existing.clear()
            self.attributes.clear()
            self._groups = None
            self.estate.drop_run_time_changes()

    def snapshot_groups(self) -> list[dict[str, object]]:
        """Groups for ``GET /sim/control/vm``."""
        with self.lock:
            return [
                {
                    "id": g.id,
                    "title": g.title,
                    "ips": [ipsets.ip_str(ip) for ip in self.group_ips(g)],
                    "dns_names": list(g.dns_names),
                    "netbios_names": list(g.netbios_names),
                    "business_impact": g.business_impact,
                    "comments": g.comments,
                    "last_update": iso_ms(g.last_update_ms),
                }
                for g in sorted(self.groups().values(), key=lambda g: g.id)
            ]

    def snapshot_added(self) -> list[dict[str, object]]:
        """Added IPs for ``GET /sim/control/vm``."""
        with self.lock:
            return [self.added[ip].to_json() for ip in sorted(self.added)]
