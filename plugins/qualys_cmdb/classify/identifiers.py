"""Values that look like identifiers but identify nothing, so the CMDB never matches CIs by them.

A loopback adapter reports the MAC address ``00:00:00:00:00:00`` on thousands of hosts, and some agents report
``ff:ff:ff:ff:ff:ff`` for "no address". Sent to IRE as a network adapter's MAC, such a value takes part in
identification: every new CI's lookup then reads every adapter in the CMDB with that address, and a host whose
only adapters carry it would be matched to the oldest CI that has one (the false merges placeholder serial numbers
are known for, reference/servicenow-api.md §5.7). Such an adapter still goes to the CMDB, without the address.
"""

from __future__ import annotations

from typing import Any

#: MAC addresses written without separators, lower case
PLACEHOLDER_MACS = frozenset({"000000000000", "ffffffffffff"})
_SEPARATORS = str.maketrans("", "", ":-. ")


def placeholder_mac(value: Any) -> bool:
    """Whether ``value`` is a MAC address that identifies nothing (any separators, any case)."""
    return isinstance(value, str) and value.translate(_SEPARATORS).lower() in PLACEHOLDER_MACS


def identifying_mac_sql(column: str) -> str:
    """SQL: ``column`` holds a MAC address that can identify a CI (not empty, not a placeholder)."""
    placeholders = ", ".join(f"'{m}'" for m in sorted(PLACEHOLDER_MACS))
    return f"(coalesce({column}, '') <> '' AND lower(translate({column}, ':-. ', '')) NOT IN ({placeholders}))"
