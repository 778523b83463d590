"""Tag catalog of the simulated subscription (QPS ``Tag`` objects and asset tag assignments).

Includes NETWORK_RANGE tags whose ``ruleText`` mixes CIDRs, hyphen ranges and ", "/"," separators;
the estate assigns each asset the network tag whose range holds its primary address.

``TAGS`` is the static seed catalog (asset tag assignments and names in asset documents use it);
:class:`TagCatalog` is the per-subscription, mutable copy that QPS ``search/get/count/create/update/delete``
on ``am/tag`` read and write.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import threading
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Tag:
    """One QPS tag."""

    id: int
    name: str
    rule_type: str
    rule_text: str | None
    parent_id: int | None
    color: str
    criticality: int | None
    description: str | None
    provider: str | None
    created: str
    modified: str


TAG_BASE_ID = 7_318_400

# name, ruleType, ruleText, parent name, color, criticality, provider
_TAGS: tuple[tuple[str, str, str | None, str | None, str, int | None, str | None], ...] = (
    ("Cloud Agent", "STATIC", None, None, "#FFFFFF", None, None),
    ("Operating Systems", "STATIC", None, None, "#1F6FB2", None, None),
    ("Windows Servers", "OS_REGEX", "Windows.*Server", "Operating Systems", "#0078D7", 4, None),
    ("Windows Workstations", "OS_REGEX", "Windows (7|10|11)", "Operating Systems", "#00A4EF", 2, None),
    (
        "Linux Servers",
        "OS_REGEX",
        "(Linux|Ubuntu|Red Hat|CentOS|Debian|SUSE)",
        "Operating Systems",
        "#F0AB00",
        4,
        None,
    ),
    ("Unix Servers", "OS_REGEX", "(Solaris|AIX|HP-UX|z/OS)", "Operating Systems", "#7F3F98", 4, None),
    ("macOS Devices", "OS_REGEX", "macOS", "Operating Systems", "#A2AAAD", 2, None),
    (
        "Network Devices",
        "GLOBAL_ASSET_VIEW",
        "hardware.category1:`Networking Device`",
        None,
        "#2E7D32",
        5,
        None,
    ),
    ("Printers and IoT", "GLOBAL_ASSET_VIEW", "hardware.category1:`Printers`", None, "#6D4C41", 1, None),
    ("Environment", "STATIC", None, None, "#455A64", None, None),
    ("Production", "STATIC", None, "Environment", "#C62828", 5, None),
    ("Staging", "STATIC", None, "Environment", "#EF6C00", 3, None),
    ("Development", "STATIC", None, "Environment", "#2E7D32", 2, None),
    ("BU: Finance", "STATIC", None, None, "#283593", 4, None),
    ("BU: Engineering", "STATIC", None, None, "#00695C", 3, None),
    ("BU: Sales & Marketing", "STATIC", None, None, "#AD1457", 2, None),
    ("PCI Scope", "STATIC", None, None, "#B71C1C", 5, None),
    ("Networks", "STATIC", None, None, "#37474F", None, None),
    ("Net: HQ Servers", "NETWORK_RANGE", "10.10.0.0/16,10.11.0.0/16", "Networks", "#1565C0", 4, None),
    ("Net: Workstations", "NETWORK_RANGE", "10.20.0.0-10.21.255.255", "Networks", "#0277BD", 2, None),
    ("Net: Network Management", "NETWORK_RANGE", "10.30.0.0/15", "Networks", "#00838F", 5, None),
    (
        "Net: Printers & IoT",
        "NETWORK_RANGE",
        "10.40.0.0/16, 10.41.0.0-10.41.255.255",
        "Networks",
        "#558B2F",
        1,
        None,
    ),
    ("Net: AWS VPC", "NETWORK_RANGE", "10.100.0.0/15", "Networks", "#FF9900", 3, None),
    ("Net: Azure VNet", "NETWORK_RANGE", "10.110.0.0/16,10.111.0.0/16", "Networks", "#008AD7", 3, None),
    ("Net: GCP VPC", "NETWORK_RANGE_ENHANCED", "10.120.0.0/15", "Networks", "#4285F4", 3, None),
    ("Net: Secondary VIPs", "NETWORK_RANGE", "10.200.0.0/16", "Networks", "#9E9E9E", None, None),
    ("AWS", "CLOUD_ASSET", None, None, "#FF9900", 3, "EC2"),
    ("Azure", "CLOUD_ASSET", None, None, "#008AD7", 3, "AZURE"),
    ("GCP", "CLOUD_ASSET", None, None, "#4285F4", 3, "GCP"),
    ("EOL Software", "GLOBAL_ASSET_VIEW", "software:(lifecycle.stage:`EOL/EOS`)", None, "#D50000", 4, None),
    ("Internet Facing", "STATIC", None, None, "#FF6F00", 5, None),
)


def _build() -> tuple[Tag, ...]:
    ids = {name: TAG_BASE_ID + 13 * n for n, (name, *_rest) in enumerate(_TAGS)}
    tags = []
    for n, (name, rule_type, rule_text, parent, color, crit, provider) in enumerate(_TAGS):
        tags.append(
            Tag(
                id=ids[name],
                name=name,
                rule_type=rule_type,
                rule_text=rule_text,
                parent_id=ids[parent] if parent else None,
                color=color,
                criticality=crit,
                description=None if n % 3 else f"{name} (managed by the security team)",
                provider=provider,
                created=f"2022-{1 + n % 12:02d}-{1 + n % 27:02d}T08:{n % 60:02d}:11Z",
                modified=f"2024-{1 + (n * 5) % 12:02d}-{1 + (n * 3) % 27:02d}T16:{(n * 7) % 60:02d}:42Z",
            )
        )
    return tuple(tags)


TAGS: tuple[Tag, ...] = _build()
TAG_BY_NAME: dict[str, Tag] = {t.name: t for t in TAGS}
TAG_BY_ID: dict[int, Tag] = {t.id: t for t in TAGS}


def children_of(tag_id: int) -> list[Tag]:
    """Tags of the seed catalog whose parent is ``tag_id`` (QPS uses :meth:`TagCatalog.children_of`)."""
    return [t for t in TAGS if t.parent_id == tag_id]


# Second octet of the primary-address site -> network tag name.
NETWORK_TAG_BY_SITE: dict[int, str] = {
    10: "Net: HQ Servers",
    20: "Net: Workstations",
    30: "Net: Network Management",
    40: "Net: Printers & IoT",
    100: "Net: AWS VPC",
    110: "Net: Azure VNet",
    120: "Net: GCP VPC",
}


# ruleType values from section 6.3 of the reference.
RULE_TYPES: tuple[str, ...] = (
    "STATIC",
    "GROOVY",
    "OS_REGEX",
    "NETWORK_RANGE",
    "NAME_CONTAINS",
    "INSTALLED_SOFTWARE",
    "OPEN_PORTS",
    "VULN_EXIST",
    "ASSET_SEARCH",
    "NETWORK_TAG",
    "NETWORK",
    "NETWORK_RANGE_ENHANCED",
    "CLOUD_ASSET",
    "GLOBAL_ASSET_VIEW",
    "TAGSET",
    "BUSINESS_INFORMATION",
    "VULN_DETECTION",
)
NETWORK_RULE_TYPES = ("NETWORK_RANGE", "NETWORK_RANGE_ENHANCED")


def network_rule_ranges(rule_text: str | None) -> list[tuple[int, int]] | None:
    """IPv4 ranges of a NETWORK_RANGE ``ruleText`` (comma-separated IPs, CIDRs, hyphen ranges), None if invalid.

    IPv6 entries are valid but give no IPv4 range.
    """
    if rule_text is None or not rule_text.strip():
        return None
    ranges: list[tuple[int, int]] = []
    for piece in rule_text.split(","):
        part = piece.strip()
        if not part:
            return None
        try:
            if "-" in part:
                low_text, high_text = (p.strip() for p in part.split("-", 1))
                low, high = ipaddress.ip_address(low_text), ipaddress.ip_address(high_text)
                if low.version != high.version or int(low) > int(high):
                    return None
                if low.version == 4:
                    ranges.append((int(low), int(high)))
            elif "/" in part:
                net = ipaddress.ip_network(part, strict=False)
                if net.version == 4:
                    ranges.append((int(net.network_address), int(net.broadcast_address)))
            else:
                address = ipaddress.ip_address(part)
                if address.version == 4:
                    ranges.append((int(address), int(address)))
        except ValueError:
            return None
    return ranges


_STATIC_NETWORK_RANGES: tuple[tuple[int, tuple[tuple[int, int], ...]], ...] = tuple(
    (t.id, tuple(network_rule_ranges(t.rule_text) or ()))
    for t in TAGS
    if t.rule_type in NETWORK_RULE_TYPES and t.name != "Net: Secondary VIPs"
)
NETWORK_TAG_IDS: frozenset[int] = frozenset(t.id for t in TAGS if t.rule_type in NETWORK_RULE_TYPES)


def network_tag_for(address: int) -> int | None:
    """The static network tag whose ruleText holds ``address`` (first match), or None."""
    for tag_id, ranges in _STATIC_NETWORK_RANGES:
        if any(low <= address <= high for low, high in ranges):
            return tag_id
    return None


class TagCatalog:
    """The subscription's mutable tag catalog, seeded from :data:`TAGS` (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tags: dict[int, Tag] = {t.id: t for t in TAGS}
        self._next_id = max(self._tags) + 13 if self._tags else TAG_BASE_ID

    def reset(self) -> None:
        """Back to the seed catalog (ids handed out before stay used: the next new tag gets a fresh one)."""
        with self._lock:
            self._tags = {t.id: t for t in TAGS}

    def all(self) -> list[Tag]:
        """Every tag, sorted by id (a snapshot)."""
        with self._lock:
            return [self._tags[k] for k in sorted(self._tags)]

    def get(self, tag_id: int) -> Tag | None:
        """One tag or None."""
        with self._lock:
            return self._tags.get(tag_id)

    def children_of(self, tag_id: int) -> list[Tag]:
        """Tags whose parent is ``tag_id`` (by id)."""
        with self._lock:
            return [self._tags[k] for k in sorted(self._tags) if self._tags[k].parent_id == tag_id]

    def descendants(self, tag_id: int) -> set[int]:
        """Ids of every tag below ``tag_id``."""
        with self._lock:
            found: set[int] = set()
            frontier = [tag_id]
            while frontier:
                parent = frontier.pop()
                for tag in self._tags.values():
                    if tag.parent_id == parent and tag.id not in found:
                        found.add(tag.id)
                        frontier.append(tag.id)
            return found

    def create(self, changes: dict[str, object], now: str) -> Tag:
        """Add a tag built from validated ``changes`` (Tag field names)."""
        with self._lock:
            tag_id = self._next_id
            self._next_id += 13
            base = Tag(
                id=tag_id,
                name="",
                rule_type="STATIC",
                rule_text=None,
                parent_id=None,
                color="#FFFFFF",
                criticality=None,
                description=None,
                provider=None,
                created=now,
                modified=now,
            )
            tag = dataclasses.replace(base, **changes)  # type: ignore[arg-type]
            self._tags[tag_id] = tag
            return tag

    def update(self, tag_id: int, changes: dict[str, object], now: str) -> Tag | None:
        """Apply validated ``changes``; None when the tag does not exist."""
        with self._lock:
            tag = self._tags.get(tag_id)
            if tag is None:
                return None
            tag = dataclasses.replace(tag, modified=now, **changes)  # type: ignore[arg-type]
            self._tags[tag_id] = tag
            return tag

    def delete(self, tag_id: int) -> list[int] | None:
        """Delete a tag and its descendants; returns the deleted ids, None when the tag does not exist."""
        doomed = {tag_id} | self.descendants(tag_id)
        with self._lock:
            if tag_id not in self._tags:
                return None
            for key in doomed:
                self._tags.pop(key, None)
            return sorted(doomed)
