"""Odd values laid over generated assets, set with ``POST /sim/control/overrides``.

Real estates carry values a generated estate never has: a NUL or another control character in a user name, a
software name in an odd encoding. An override replaces chosen fields of one asset wherever the APIs show them, until
``DELETE /sim/control/overrides``:

* CSAM/GAV JSON: ``fields`` replace (or add) top-level fields of the asset document, those the request's
  includeFields/excludeFields keep; ``software`` replaces (or adds) fields of software rows, each row named by its
  position in the asset's ``softwareListData.software`` list (0 is the first).
* QPS HostAsset, XML and JSON: the same values in the elements that carry the same facts
  (:data:`HOSTASSET_ELEMENTS`, :data:`HOSTASSET_SOFTWARE_ELEMENTS`). XML 1.0 cannot carry control characters other
  than tab, LF and CR, not even as character references: they are written as references (``&#0;``), as Java
  serialisers write them, and a conforming parser rejects the page, as it would such a page from the real service.
* Filters (QQL, QPS criteria) still match the generated values.

Setting or clearing an override is a change of the asset: its ``lastModifiedDate`` becomes the simulator's now, so an
incremental sync picks it up, as it would pick up the real change.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

#: CSAM top-level field -> the HostAsset element that carries the same fact.
HOSTASSET_ELEMENTS = {
    "assetName": "name",
    "dnsName": "dnsHostName",
    "netbiosName": "netbiosName",
    "address": "address",
    "lastLoggedOnUser": "lastLoggedOnUser",
    "timeZone": "timezone",
    "biosDescription": "biosDescription",
    "totalMemory": "totalMemory",
}
#: CSAM software-row field -> the HostAssetSoftware element that carries the same fact.
HOSTASSET_SOFTWARE_ELEMENTS = {"fullName": "name", "version": "version"}


class OverrideError(ValueError):
    """An override document the control API refuses (HTTP 400)."""


@dataclass(slots=True)
class AssetOverride:
    """The values laid over one asset: top-level CSAM fields, and fields of software rows by row position."""

    fields: dict[str, object] = field(default_factory=dict)
    software: dict[int, dict[str, object]] = field(default_factory=dict)

    def merge(self, other: AssetOverride) -> None:
        """Take ``other``'s values on top of these (a later override of a field wins)."""
        self.fields.update(other.fields)
        for row, values in other.software.items():
            self.software.setdefault(row, {}).update(values)

    def document(self, asset_id: int) -> dict[str, object]:
        """The override as the control API shows it."""
        return {
            "assetId": asset_id,
            "fields": dict(self.fields),
            "software": {str(row): dict(values) for row, values in sorted(self.software.items())},
        }


def parse_override(document: dict[str, object], fields_allowed: Collection[str]) -> tuple[int, AssetOverride]:
    """``(assetId, override)`` from a ``POST /sim/control/overrides`` body.

    ``{"assetId": N, "fields": {"lastLoggedOnUser": "adm\\u0000in", ...}, "software": {"0": {"fullName": ...}}}``;
    values may be any JSON value. Raises :class:`OverrideError` naming what is wrong.
    """
    asset_id = document.get("assetId")
    if not isinstance(asset_id, int) or isinstance(asset_id, bool):
        raise OverrideError("assetId must be an integer (the asset's CSAM assetId)")
    fields = document.get("fields") or {}
    if not isinstance(fields, dict):
        raise OverrideError("fields must be an object of CSAM top-level field names and values")
    unknown = sorted(set(fields) - set(fields_allowed))
    if unknown:
        raise OverrideError(
            f"fields cannot override {', '.join(unknown)}: CSAM top-level fields only, but not assetId and "
            "lastModifiedDate (they page the searches) nor softwareListData (software overrides its rows)"
        )
    software = document.get("software") or {}
    if not isinstance(software, dict):
        raise OverrideError('software must be an object of row positions and fields: {"0": {"fullName": "..."}}')
    rows: dict[int, dict[str, object]] = {}
    for position, values in software.items():
        if not str(position).isdigit() or not isinstance(values, dict) or not values:
            raise OverrideError(f"software[{position!r}]: a row position (0, 1, ...) and an object of fields, please")
        rows[int(position)] = dict(values)
    if not fields and not rows:
        raise OverrideError("give fields, software or both")
    return asset_id, AssetOverride(dict(fields), rows)
