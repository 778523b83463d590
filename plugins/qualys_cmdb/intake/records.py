"""One parsed asset as landing rows, and the value normalisation both API parsers share.

Qualys fields come as strings, numbers, epoch milliseconds or ISO dates, with placeholders such as ``","``,
``",,"`` and ``"Not Announced"`` standing for "no value" (reference/qualys-api.md §4.4). Everything is normalised
here once, so the staging tables hold clean types.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

PLACEHOLDERS = frozenset({"", ",", ",,", "not announced", "n/a", "na", "null", "none", "unknown", "-"})
_EPOCH_MS_MIN = 10**11  # epoch values above this are milliseconds


@dataclass
class AssetRecord:
    """The landing rows of one asset: its own columns, its details by kind, and its software rows."""

    asset: dict[str, Any]
    children: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    software: list[dict[str, Any]] = field(default_factory=list)
    #: Where the parser already knows them, for each software row: ``repr(tuple(row.values()))`` (see seal), and
    #: its install in COPY text format, tab-separated, in the order of ``landing_software``'s columns after
    #: (queue_id, source, asset_id) (see LandingWriter); with, for the products first met in this asset,
    #: ``(software_key, COPY text of landing_software_product's columns after queue_id)``.
    software_reprs: list[str] = field(default_factory=list)
    software_copy: list[str] = field(default_factory=list)
    software_products: list[tuple[str, str]] = field(default_factory=list)
    #: NUL characters of the asset's response replaced with U+FFFD (PostgreSQL text cannot hold them; see csam.py).
    nul_replaced: int = 0

    def add(self, kind: str, row: dict[str, Any]) -> None:
        self.children.setdefault(kind, []).append(row)

    def seal(self) -> None:
        """Compute the content hash over everything staged for the asset (BY-1: unchanged → same hash).

        The hash is the MD5 of ``repr([asset items, (kind, [row values …]) …, [software row values …]])``. Rows are
        built by this package's parsers with a fixed key order, so their values alone identify them. Software rows
        are most of an asset's content; a parser that builds them from cached product parts also passes their
        repr (``software_reprs``), so the same text is hashed without formatting every product again.
        """
        parts: list[Any] = [tuple(self.asset.items())]
        for kind in sorted(self.children):
            parts.append((kind, [tuple(r.values()) for r in self.children[kind]]))
        software = self.software_reprs
        if len(software) != len(self.software):
            software = [repr(tuple(r.values())) for r in self.software]
        content = "[" + ", ".join(map(repr, parts)) + ", [" + ", ".join(software) + "]]"
        self.asset["content_hash"] = hashlib.md5(content.encode(), usedforsecurity=False).hexdigest()


_PLACEHOLDER_MAX = max(map(len, PLACEHOLDERS))


def text(value: Any) -> str | None:
    """A trimmed string, or None for empty values and Qualys placeholders."""
    # The hot path of parsing (dozens of calls per software row): keep it cheap for plain strings.
    if type(value) is not str:
        if value is None or isinstance(value, (dict, list)):
            return None
        value = str(value)
    out: str = value.strip()
    if len(out) <= _PLACEHOLDER_MAX and out.lower() in PLACEHOLDERS:
        return None
    return out


def integer(value: Any) -> int | None:
    """An int from an int, a numeric string or a Decimal; None otherwise."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, (float, Decimal)):
        return int(value)
    raw = text(value)
    if raw is None:
        return None
    try:
        return int(Decimal(raw))
    except ArithmeticError:
        return None


def boolean(value: Any) -> bool | None:
    """A bool from a bool or a "true"/"false"/0/1 string."""
    if isinstance(value, bool):
        return value
    raw = text(value)
    if raw is None:
        return None
    return raw.lower() in ("true", "1", "yes")


def timestamp(value: Any) -> str | None:
    """An ISO-8601 UTC timestamp from an ISO string or epoch milliseconds; None for placeholders, 0 and -1."""
    if type(value) is str:
        if _WHOLE_SECOND_UTC.fullmatch(value):
            return _whole_second_utc(value)
        return _timestamp_text(value)
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        number = int(value)
        if number <= 0:
            return None
        seconds = number / 1000 if number > _EPOCH_MS_MIN else number
        return datetime.fromtimestamp(seconds, tz=UTC).isoformat()
    raw = text(value)  # a float, or an object where a value is meant (None)
    return None if raw is None else _timestamp_text(raw)


#: How Qualys writes most dates, to the millisecond: 2024-04-07T00:13:57.000Z
_WHOLE_SECOND_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z")


def _whole_second_utc(value: str) -> str | None:
    """A date of the usual form: what :func:`_iso` gives it, without its detours.

    Install dates are nearly all distinct (a page has some 100,000), so they are worked out, not remembered.
    """
    try:
        datetime.fromisoformat(value[:19])  # a real date and time?
    except ValueError:
        return None
    return value[:19] + "+00:00"


@lru_cache(maxsize=1 << 17)  # the same dates recur across thousands of rows
def _timestamp_text(value: str) -> str | None:
    raw = text(value)
    if raw is None:
        return None
    if raw.lstrip("-").isdigit():
        return timestamp(int(raw))
    return _iso(raw)


def _iso(raw: str) -> str | None:
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.isoformat()


def date(value: Any) -> str | None:
    """A ``YYYY-MM-DD`` date from any timestamp form; None for placeholders like "Not Announced"."""
    stamp = timestamp(value)
    return stamp[:10] if stamp else None


def nested(obj: Any, *path: str) -> Any:
    """``obj[path[0]][path[1]]…`` or None where a level is missing or not a mapping."""
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def listed(obj: Any, *path: str) -> list[Any]:
    """A list at ``path``: Qualys gives one element unwrapped, or none at all, where a list is meant."""
    value = nested(obj, *path) if path else obj
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def software_key(name: str | None, version: str | None, publisher: str | None, architecture: str | None) -> str:
    """The software catalog key: one row per (name, version, publisher, architecture)."""
    raw = "\x1f".join(((name or "").lower(), version or "", (publisher or "").lower(), (architecture or "").lower()))
    return hashlib.md5(raw.encode(), usedforsecurity=False).hexdigest()


def split_addresses(value: Any) -> list[str]:
    """Addresses from a comma-joined string (``addressIpV4`` may hold several, joined by ", ")."""
    raw = text(value)
    if raw is None:
        return []
    return [a.strip() for a in raw.split(",") if a.strip() and a.strip().lower() not in PLACEHOLDERS]


#: Cloud metadata column -> the field names the providers and the two APIs use for it (§3.4, §4.4).
CLOUD_FIELDS = {
    "instance_id": ("instanceId", "vmId", "id"),
    "instance_type": ("instanceType", "size", "vmSize", "machineType"),
    "instance_state": ("instanceState", "state"),
    "account_id": ("accountId", "subscriptionId", "projectId", "projectIdNo"),
    "region": ("region", "location"),
    "zone": ("availabilityZone", "zone"),
    "image_id": ("imageId", "imageOffer", "offer", "image"),
    "network": ("vpcId", "virtualNetwork", "network"),
    "subnet": ("subnetId", "subnet"),
    "resource_group": ("resourceGroupName", "resourceGroup"),
    "private_ip_address": ("privateIpAddress",),
    "public_ip_address": ("publicIpAddress",),
    "private_dns": ("privateDNS", "privateDnsName"),
    "public_dns": ("publicDNS", "publicDnsName"),
    "mac_address": ("macAddress",),
}


def cloud_row(provider: str, lookup: Callable[[str], str | None], tags: dict[str, str | None]) -> dict[str, Any]:
    """The staged cloud-metadata row: each column from the first of its field names that ``lookup`` finds."""
    row: dict[str, Any] = {"provider": provider}
    for column, names in CLOUD_FIELDS.items():
        row[column] = next((v for v in map(lookup, names) if v), None)
    row["cloud_tags"] = json.dumps(tags, sort_keys=True) if tags else None
    return row
