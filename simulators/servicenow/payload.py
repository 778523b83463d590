"""IRE payload model: items, lookup/related sub-items, relations and reference items (reference 2.2).

:func:`parse_payload` turns the request body into :class:`Item` / :class:`Relation` objects and
resolves ``internal_id`` references; every later stage records its outcome on these objects, and
:mod:`simulators.servicenow.ire` renders them into the response skeleton of section 2.3.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from simulators.servicenow.identification_rules import Rule

UNKNOWN = "Unknown"


class PayloadError(ValueError):
    """The body is not an IRE payload at all (answered with HTTP 400)."""


@dataclass(eq=False, slots=True)
class SubItem:
    """A ``lookup`` or ``related`` entry of an item."""

    kind: str  # "lookup" or "related"
    owner: Item
    sub_index: int
    class_name: str
    values: dict[str, object]
    internal_id: str | None
    sys_id: str | None = None
    operation: str | None = None

    def label(self) -> str:
        """How messages name the sub-item: its JSON (className + values)."""
        return json.dumps({"className": self.class_name, "values": self.values}, separators=(",", ":"), default=str)

    @property
    def failed(self) -> bool:
        """An endpoint fails with its owner."""
        return self.owner.failed

    @property
    def partial(self) -> bool:
        """An endpoint is partial with its owner."""
        return self.owner.partial


@dataclass(eq=False, slots=True)
class Item:
    """A top-level payload item and everything the engine learns about it."""

    index: int
    class_name: str
    values: dict[str, object]
    internal_id: str | None
    settings: dict[str, object]
    source: dict[str, str] | None
    lookups: list[SubItem] = field(default_factory=list)
    related: list[SubItem] = field(default_factory=list)
    input_indices: list[int] = field(default_factory=list)
    rule: Rule | None = None
    # dependency bookkeeping
    parent: Item | SubItem | None = None
    parent_sys_id: str | None = None
    depends_on: list[Item] = field(default_factory=list)
    merged_into: Item | None = None
    # outcome
    operation: str = "NO_CHANGE"
    sys_id: str = UNKNOWN
    entry_sys_id: str = UNKNOWN
    attempts: list[dict[str, object]] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)
    warnings: list[dict[str, str]] = field(default_factory=list)
    info: list[dict[str, str]] = field(default_factory=list)
    related_sys_ids: list[str | None] = field(default_factory=list)
    related_items: list[dict[str, object]] = field(default_factory=list)
    partial_ids: list[str] = field(default_factory=list)
    partial: bool = False
    done: bool = False

    @property
    def failed(self) -> bool:
        """Whether the item has an error."""
        return bool(self.errors)

    def fail(self, code: str, message: str) -> None:
        """Record an error (the item keeps ``operation`` NO_CHANGE and ``sysId`` Unknown)."""
        self.errors.append({"error": code, "message": message})
        self.sys_id = UNKNOWN
        self.operation = "NO_CHANGE"

    def label(self) -> str:
        """How messages name the item: its JSON (className + values)."""
        return json.dumps({"className": self.class_name, "values": self.values}, separators=(",", ":"), default=str)

    @property
    def source_name(self) -> str:
        """``sys_object_source_info.source_name`` or ""."""
        return (self.source or {}).get("source_name", "")

    @property
    def native_key(self) -> str:
        """``sys_object_source_info.source_native_key`` or ""."""
        return (self.source or {}).get("source_native_key", "")


Endpoint = Item | SubItem


@dataclass(eq=False, slots=True)
class Relation:
    """A payload relation (index form or internal_id form)."""

    index: int
    type_name: str
    parent: Endpoint | None
    child: Endpoint | None
    raw: dict[str, object]
    operation: str = "NO_CHANGE"
    errors: list[dict[str, str]] = field(default_factory=list)

    def fail(self, code: str, message: str) -> None:
        """Record an error."""
        if not self.errors:
            self.errors.append({"error": code, "message": message})


@dataclass(eq=False, slots=True)
class ReferenceItem:
    """``referenceItems`` entry: set ``field`` of ``by`` to the sys_id of ``target``."""

    by: Endpoint
    target: Endpoint
    field: str


@dataclass(slots=True)
class Payload:
    """The parsed payload."""

    items: list[Item]
    relations: list[Relation]
    references: list[ReferenceItem]
    errors: list[tuple[Item, str, str]] = field(default_factory=list)  # (item, code, message) found while parsing

    def unlink(self) -> None:
        """Drop the item -> sub-item lists, the payload's reference cycles, once the reply is built.

        Reference counting then frees the payload at once; otherwise the cycle collector would have to
        walk its million objects after the request (IRE pauses it while a request runs).
        """
        for item in self.items:
            item.lookups = []
            item.related = []


def _values(values: object) -> dict[str, object]:
    """A ``values`` object as parsed (the model takes it over: nothing else reads the body), else {}."""
    return values if isinstance(values, dict) else {}


def _sub_items(owner: Item, raw: object, kind: str) -> list[SubItem]:
    out: list[SubItem] = []
    if not isinstance(raw, list):
        return out
    for j, entry in enumerate(raw):
        if not isinstance(entry, dict):
            continue
        internal_id = entry.get("internal_id")
        out.append(
            SubItem(
                kind,
                owner,
                j,
                str(entry.get("className", "")),
                _values(entry.get("values")),
                None if internal_id is None else str(internal_id),
            )
        )
    return out


def parse_payload(body: object) -> Payload:
    """Build the payload model; raises :class:`PayloadError` if there is no ``items`` array."""
    if not isinstance(body, dict) or not isinstance(body.get("items"), list):
        raise PayloadError("items")
    items: list[Item] = []
    by_internal_id: dict[str, Endpoint] = {}
    payload = Payload(items, [], [])
    for i, raw in enumerate(body["items"]):
        entry = raw if isinstance(raw, dict) else {}
        source = entry.get("sys_object_source_info")
        internal_id = entry.get("internal_id")
        settings = entry.get("settings")
        item = Item(
            i,
            str(entry.get("className", "")),
            _values(entry.get("values")),
            None if internal_id is None else str(internal_id),
            dict(settings) if isinstance(settings, dict) else {},
            {k: str(v) for k, v in source.items() if v is not None} if isinstance(source, dict) else None,
            input_indices=[i],
        )
        item.lookups = _sub_items(item, entry.get("lookup"), "lookup")
        item.related = _sub_items(item, entry.get("related"), "related")
        items.append(item)
        if not isinstance(raw, dict):
            payload.errors.append(
                (item, "INVALID_INPUT_DATA", "In payload item at index " + str(i) + " is not an object")
            )
        nodes: list[Endpoint] = [item, *item.lookups, *item.related]
        for node in nodes:
            if node.internal_id is not None:
                if node.internal_id in by_internal_id:
                    payload.errors.append(
                        (
                            item,
                            "INVALID_INPUT_DATA",
                            f"In payload duplicate internal_id [{node.internal_id}] exist",
                        )
                    )
                by_internal_id[node.internal_id] = node
    raw_relations = body.get("relations") or []
    for k, raw in enumerate(raw_relations if isinstance(raw_relations, list) else []):
        entry = raw if isinstance(raw, dict) else {}
        relation = Relation(k, str(entry.get("type", "")), None, None, dict(entry))
        for side in ("parent", "child"):
            endpoint: Endpoint | None = None
            if f"{side}_id" in entry:
                endpoint = by_internal_id.get(str(entry[f"{side}_id"]))
                if endpoint is None:
                    relation.fail(
                        "INVALID_INPUT_DATA",
                        f"In payload invalid relation {side}_id [{entry[f'{side}_id']}]. It does not refer to a "
                        "payload item internal_id",
                    )
            elif side in entry:
                value = entry[side]
                index = value if isinstance(value, int) and not isinstance(value, bool) else None
                if isinstance(value, str) and value.strip().isdigit():
                    index = int(value)
                if index is not None and 0 <= index < len(items):
                    endpoint = items[index]
                else:
                    relation.fail(
                        "INVALID_INPUT_DATA",
                        f"In payload invalid relation {side} index [{value}]. It does not refer to a payload item",
                    )
            else:
                relation.fail("INVALID_INPUT_DATA", f"In payload relation at index {k} has no {side}")
            if side == "parent":
                relation.parent = endpoint
            else:
                relation.child = endpoint
        payload.relations.append(relation)
    raw_refs = body.get("referenceItems") or []
    for raw in raw_refs if isinstance(raw_refs, list) else []:
        if not isinstance(raw, dict):
            continue
        by = by_internal_id.get(str(raw.get("referencedBy")))
        target = by_internal_id.get(str(raw.get("referenced")))
        ref_field = str(raw.get("referenceField", ""))
        if by is None:
            continue
        owner = by if isinstance(by, Item) else by.owner
        if target is None or not ref_field:
            payload.errors.append(
                (
                    owner,
                    "INVALID_INPUT_DATA",
                    f"In payload invalid referenceItems entry: referenced [{raw.get('referenced')}] "
                    f"referenceField [{ref_field}]",
                )
            )
            continue
        payload.references.append(ReferenceItem(by, target, ref_field))
    return payload


def owner_of(endpoint: Endpoint) -> Item:
    """The top-level item of an endpoint."""
    return endpoint if isinstance(endpoint, Item) else endpoint.owner


def parent_sys_id(item: Item) -> str | None:
    """sys_id of a dependent item's parent (a payload endpoint or an existing CI), once known."""
    parent = item.parent
    if parent is None:
        return item.parent_sys_id
    return effective(parent).sys_id if isinstance(parent, Item) else parent.sys_id


def effective(item: Item) -> Item:
    """The item an item was merged into (enhanced de-duplication), or itself."""
    while item.merged_into is not None:
        item = item.merged_into
    return item
