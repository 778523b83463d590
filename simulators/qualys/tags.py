"""Tag catalog of the simulated subscription (QPS ``Tag`` objects and asset tag assignments).

Includes NETWORK_RANGE tags whose ``ruleText`` mixes CIDRs, hyphen ranges and ", "/"," separators;
the estate assigns each asset the network tag whose range holds its primary address.
"""

from __future__ import annotations

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
    """Tags whose parent is ``tag_id``."""
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
