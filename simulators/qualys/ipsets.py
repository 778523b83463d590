"""IPv4 sets as sorted, merged ``(low, high)`` integer ranges, as FO ``ips`` parameters and IP_SETs use them.

FO ``ips`` values are comma-separated single addresses, hyphen ranges (``10.0.0.1-10.0.0.50``) and, as the
list action also takes them, CIDR blocks.  Output IP_SETs compress consecutive addresses into ``IP_RANGE``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

Range = tuple[int, int]

# Addresses Qualys does not accept for scanning: "this network", loopback, multicast, reserved, broadcast.
RESERVED: tuple[Range, ...] = tuple(
    (int(net.network_address), int(net.broadcast_address))
    for net in (
        ipaddress.IPv4Network("0.0.0.0/8"),
        ipaddress.IPv4Network("127.0.0.0/8"),
        ipaddress.IPv4Network("224.0.0.0/4"),
        ipaddress.IPv4Network("240.0.0.0/4"),  # includes 255.255.255.255
    )
)


class IpSyntaxError(ValueError):
    """An ``ips`` element that is not an address, a range or a CIDR block; ``part`` is the offending text."""

    def __init__(self, part: str) -> None:
        super().__init__(part)
        self.part = part


def ip_int(text: str) -> int:
    """Dotted quad to int (``ValueError`` when malformed)."""
    return int(ipaddress.IPv4Address(text.strip()))


def ip_str(value: int) -> str:
    """Int to dotted quad."""
    return str(ipaddress.IPv4Address(value))


def parse(raw: str, allow_cidr: bool = True) -> list[Range]:
    """Parse an FO ``ips`` value into ranges (in the given order, not merged); raises :class:`IpSyntaxError`."""
    ranges: list[Range] = []
    for piece in raw.split(","):
        part = piece.strip()
        if not part:
            continue
        try:
            if "-" in part:
                low_text, high_text = part.split("-", 1)
                low, high = ip_int(low_text), ip_int(high_text)
            elif "/" in part:
                if not allow_cidr:
                    raise ValueError(part)
                net = ipaddress.IPv4Network(part, strict=False)
                low, high = int(net.network_address), int(net.broadcast_address)
            else:
                low = high = ip_int(part)
        except ValueError:
            raise IpSyntaxError(part) from None
        if low > high:
            raise IpSyntaxError(part)
        ranges.append((low, high))
    return ranges


def merge(ranges: Iterable[Range]) -> list[Range]:
    """Sort and merge overlapping or adjacent ranges."""
    merged: list[Range] = []
    for low, high in sorted(ranges):
        if merged and low <= merged[-1][1] + 1:
            if high > merged[-1][1]:
                merged[-1] = (merged[-1][0], high)
        else:
            merged.append((low, high))
    return merged


def size(ranges: Iterable[Range]) -> int:
    """Number of addresses in merged ``ranges``."""
    return sum(high - low + 1 for low, high in merge(ranges))


def expand(ranges: Iterable[Range]) -> list[int]:
    """Every address (sorted, unique); callers cap the size first."""
    return [ip for low, high in merge(ranges) for ip in range(low, high + 1)]


def contains(ranges: list[Range], value: int) -> bool:
    """Whether ``value`` is in any range."""
    return any(low <= value <= high for low, high in ranges)


def reserved_parts(ranges: Iterable[Range]) -> list[Range]:
    """The parts of ``ranges`` that fall in reserved space (merged)."""
    hits: list[Range] = []
    for low, high in ranges:
        for r_low, r_high in RESERVED:
            start, end = max(low, r_low), min(high, r_high)
            if start <= end:
                hits.append((start, end))
    return merge(hits)


def runs(values: Iterable[int]) -> list[Range]:
    """Consecutive runs of sorted unique addresses."""
    out: list[Range] = []
    for value in values:
        if out and value == out[-1][1] + 1:
            out[-1] = (out[-1][0], value)
        elif not out or value > out[-1][1]:
            out.append((value, value))
    return out


def fmt_range(low: int, high: int) -> str:
    """``a`` or ``a-b``."""
    return ip_str(low) if low == high else f"{ip_str(low)}-{ip_str(high)}"


def fmt_ranges(ranges: Iterable[Range], limit: int = 20) -> str:
    """A short human list (``a, b-c, ...``) for error texts."""
    items = [fmt_range(low, high) for low, high in ranges]
    more = len(items) - limit
    text = ", ".join(items[:limit])
    return f"{text} (and {more} more)" if more > 0 else text


def xml_lines(values: Iterable[int]) -> list[str]:
    """``<IP>``/``<IP_RANGE>`` elements for sorted unique addresses."""
    return [
        f"<IP>{ip_str(low)}</IP>" if low == high else f"<IP_RANGE>{ip_str(low)}-{ip_str(high)}</IP_RANGE>"
        for low, high in runs(values)
    ]
