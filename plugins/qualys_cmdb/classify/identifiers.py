"""Values that look like identifiers but identify nothing, so the CMDB never matches CIs by them (BY-10).

A loopback adapter reports the MAC address ``00:00:00:00:00:00`` on thousands of hosts, and some agents report
``ff:ff:ff:ff:ff:ff`` for "no address". Sent to IRE as a network adapter's MAC, such a value takes part in
identification: every new CI's lookup then reads every adapter in the CMDB with that address, and a host whose
only adapters carry it would be matched to the oldest CI that has one (the false merges placeholder serial numbers
are known for, reference/servicenow-api.md §5.7). Such an adapter still goes to the CMDB, without the address.

Serial numbers have their placeholders too ("To be filled by O.E.M.", "0", "Not Specified", "Default string" …),
and real estates have values that are real but shared: cloned VMs keep their template's MAC address or serial,
a reused host name. An identifier shared by more than one staged asset of a source (:func:`shared_values_sql`)
identifies none of them: it is never sent to the CMDB as an identifier, and an asset that only such a value could
identify is held instead of being merged into another asset's CI.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, text

from qualys_cmdb.staging.schema import SCHEMA

#: MAC addresses written without separators, lower case
PLACEHOLDER_MACS = frozenset({"000000000000", "ffffffffffff"})
_SEPARATORS = str.maketrans("", "", ":-. ")


#: Serial numbers firmware and hypervisors write when they have none (lower case, trimmed).
PLACEHOLDER_SERIALS = frozenset(
    {
        "to be filled by o.e.m.",
        "to be filled by oem",
        "default string",
        "system serial number",
        "chassis serial number",
        "base board serial number",
        "not specified",
        "not applicable",
        "not available",
        "none",
        "null",
        "n/a",
        "na",
        "unknown",
        "invalid",
        "empty",
        "oem",
        "o.e.m.",
        "serial",
        "serial number",
        "0123456789",
        "123456789",
        "1234567890",
        "12345678",
    }
)


def placeholder_serial(value: Any) -> bool:
    """Whether ``value`` is a serial number that identifies nothing: a known placeholder, shorter than three
    characters, or one character repeated ("0000000", "xxxxxxxx")."""
    if not isinstance(value, str):
        return value is not None
    text = value.strip().lower()
    return len(text) < 3 or text in PLACEHOLDER_SERIALS or len(set(text)) == 1


def placeholder_serial_sql(column: str) -> str:
    """SQL: ``column`` is a serial number that identifies nothing (see :func:`placeholder_serial`)."""
    values = ", ".join("'" + v.replace("'", "''") + "'" for v in sorted(PLACEHOLDER_SERIALS))
    text = f"lower(btrim({column}))"
    return f"(length({text}) < 3 OR {text} IN ({values}) OR {text} ~ '^(.)\\1*$')"


def normal_serial_sql(column: str) -> str:
    """SQL: the form serial numbers are compared in."""
    return f"lower(btrim({column}))"


def normal_mac_sql(column: str) -> str:
    """SQL: the form MAC addresses are compared in (no separators, lower case)."""
    return f"lower(translate({column}, ':-. ', ''))"


def normal_mac(value: str) -> str:
    """The form MAC addresses are compared in."""
    return value.translate(_SEPARATORS).lower()


def placeholder_mac(value: Any) -> bool:
    """Whether ``value`` is a MAC address that identifies nothing (any separators, any case)."""
    return isinstance(value, str) and value.translate(_SEPARATORS).lower() in PLACEHOLDER_MACS


def identifying_mac_sql(column: str) -> str:
    """SQL: ``column`` holds a MAC address that can identify a CI (not empty, not a placeholder)."""
    placeholders = ", ".join(f"'{m}'" for m in sorted(PLACEHOLDER_MACS))
    return f"(coalesce({column}, '') <> '' AND {normal_mac_sql(column)} NOT IN ({placeholders}))"


def identifier_values_sql(schema: str, source_param: str) -> dict[str, str]:
    """SQL selecting, per identifier kind, each staged asset's values of the source (``v``, in their compared form,
    and ``asset_id``): ``serial`` (serial numbers, BIOS serial included), ``mac`` and ``name``."""
    src = source_param
    return {
        "serial": f"""
            SELECT {normal_serial_sql("serial_number")} AS v, asset_id FROM "{schema}".staged_serial_number
            WHERE source = {src}
            UNION ALL
            SELECT {normal_serial_sql("bios_serial_number")}, asset_id FROM "{schema}".staged_asset
            WHERE source = {src} AND bios_serial_number IS NOT NULL""",
        "mac": f"""
            SELECT {normal_mac_sql("mac_address")} AS v, asset_id FROM "{schema}".staged_network_interface
            WHERE source = {src} AND coalesce(mac_address, '') <> ''""",
        "name": f"""
            SELECT lower(btrim(coalesce(nullif(name, ''), nullif(dns_name, ''), nullif(netbios_name, ''),
                                        ip_address))) AS v, asset_id
            FROM "{schema}".staged_asset WHERE source = {src}""",
    }


def shared_values_sql(schema: str, source_param: str, among: str | None = None) -> dict[str, str]:
    """SQL selecting, per identifier kind (see :func:`identifier_values_sql`), the values more than one staged asset
    of the source holds; with ``among`` (an SQL array of asset ids), only values these assets hold."""
    out = {}
    for kind, values in identifier_values_sql(schema, source_param).items():
        mine = f" AND v IN (SELECT m.v FROM ({values}) m WHERE m.asset_id = ANY({among}))" if among else ""
        out[kind] = (
            f"SELECT v FROM ({values}) x WHERE coalesce(v, '') <> ''{mine} "
            "GROUP BY v HAVING count(DISTINCT asset_id) > 1"
        )
    return out


@dataclass(frozen=True)
class SharedIdentifiers:
    """Serial numbers and MAC addresses (in their compared form) more than one staged asset of a source holds."""

    serials: frozenset[str] = field(default_factory=frozenset)
    macs: frozenset[str] = field(default_factory=frozenset)
    names: frozenset[str] = field(default_factory=frozenset)

    def name_shared(self, value: Any) -> bool:
        """Whether another asset of the source has the name ``value`` too (IRE's name rule would match them)."""
        return isinstance(value, str) and value.strip().lower() in self.names

    def serial_problem(self, value: Any) -> str | None:
        """Why ``value`` must not identify a CI (placeholder, shared), or None when it may."""
        if placeholder_serial(value):
            return "a placeholder"
        if isinstance(value, str) and value.strip().lower() in self.serials:
            return "shared with another asset"
        return None

    def mac_problem(self, value: Any) -> str | None:
        """Why ``value`` must not identify a CI (placeholder, shared), or None when it may."""
        if placeholder_mac(value):
            return "a placeholder"
        if isinstance(value, str) and normal_mac(value) in self.macs:
            return "shared with another asset"
        return None


def shared_identifiers(
    engine: Engine, sources: set[str], among: list[tuple[str, int]] | None = None
) -> SharedIdentifiers:
    """The serial numbers, MAC addresses and names several staged assets of ``sources`` hold (one query per kind);
    with ``among`` (assets as (source, asset id)), only these assets' values, read from staging as it is now."""
    serials: set[str] = set()
    macs: set[str] = set()
    names: set[str] = set()
    with engine.connect() as conn:
        for source in sorted(sources):
            params: dict[str, Any] = {"source": source}
            if among is not None:
                params["ids"] = [a for s, a in among if s == source]
                if not params["ids"]:
                    continue
            sql = shared_values_sql(SCHEMA, ":source", "CAST(:ids AS bigint[])" if among is not None else None)
            serials.update(str(v) for v in conn.execute(text(sql["serial"]), params).scalars())
            macs.update(str(v) for v in conn.execute(text(sql["mac"]), params).scalars())
            names.update(str(v) for v in conn.execute(text(sql["name"]), params).scalars())
    return SharedIdentifiers(frozenset(serials), frozenset(macs), frozenset(names))
