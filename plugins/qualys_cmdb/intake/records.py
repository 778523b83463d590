"""One parsed asset as landing rows, and the value normalisation both API parsers share.

Qualys fields come as strings, numbers, epoch milliseconds or ISO dates, with placeholders such as ``","``,
``",,"`` and ``"Not Announced"`` standing for "no value" (reference/qualys-api.md §4.4). Everything is normalised
here once, so the staging tables hold clean types.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

PLACEHOLDERS = frozenset({"", ",", ",,", "not announced", "n/a", "na", "null", "none", "unknown", "-"})
_EPOCH_MS_MIN = 10**11  # epoch values above this are milliseconds


@dataclass
class AssetRecord:
    """The landing rows of one asset: its own columns, its details by kind, and its software rows."""

    asset: dict[str, Any]
    children: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    software: list[dict[str, Any]] = field(default_factory=list)

    def add(self, kind: str, row: dict[str, Any]) -> None:
        self.children.setdefault(kind, []).append(row)

    def seal(self) -> None:
        """Compute the content hash over everything staged for the asset (BY-1: unchanged → same hash)."""
        parts: list[Any] = [sorted(self.asset.items())]
        for kind in sorted(self.children):
            parts.append([kind, [sorted(r.items()) for r in self.children[kind]]])
        parts.append([sorted(r.items()) for r in self.software])
        self.asset["content_hash"] = hashlib.md5(repr(parts).encode(), usedforsecurity=False).hexdigest()


def text(value: Any) -> str | None:
    """A trimmed string, or None for empty values and Qualys placeholders."""
    if value is None or isinstance(value, (dict, list)):
        return None
    out = str(value).strip()
    return None if out.lower() in PLACEHOLDERS else out


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
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        number = int(value)
        if number <= 0:
            return None
        seconds = number / 1000 if number > _EPOCH_MS_MIN else number
        return datetime.fromtimestamp(seconds, tz=UTC).isoformat()
    raw = text(value)
    if raw is None:
        return None
    if raw.lstrip("-").isdigit():
        return timestamp(int(raw))
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
