"""Data-driven identification rules (reference section 2.5), replaceable through the control API.

JSON shape (``POST /sim/control/identification-rules`` body, ``GET`` returns it with sys_ids)::

    {"rules": [
      {"name": "Hardware Rule", "applies_to": "cmdb_ci_hardware", "independent": true,
       "entries": [
         {"priority": 100, "table": "cmdb_serial_number", "reference_field": "cmdb_ci",
          "attributes": ["serial_number", "serial_number_type"],
          "condition": "valid=true^absent=false", "exact_count_match": true},
         {"priority": 200, "attributes": ["serial_number"]},
         {"priority": 300, "attributes": ["name"]},
         {"priority": 400, "table": "cmdb_ci_network_adapter", "reference_field": "cmdb_ci",
          "attributes": ["mac_address", "name"], "condition": "install_status!=100", "exact_count_match": true}],
       "related_entries": [
         {"table": "cmdb_software_instance", "reference_field": "installed_on", "attributes": ["software"],
          "priority": 100},
         {"table": "cmdb_ci_spkg"}]},
      {"name": "File System Rule", "applies_to": "cmdb_ci_file_system", "independent": false,
       "dependency": {"relation_types": ["Contains::Contained by"], "reference_field": "computer"},
       "entries": [{"priority": 100, "attributes": ["mount_point"]}]}]}

Entry ``table`` defaults to ``applies_to`` (a *main* entry searching the whole class tree of that table);
a table outside that tree makes a *lookup* entry (matched through payload ``lookup`` items whose rows
reference the CI by ``reference_field``, default ``cmdb_ci``).  ``condition`` is an encoded query
applied to the searched rows and to the payload values; ``allow_null_attribute`` lets an entry run
with some attributes missing (they must then be empty in the CMDB).  A rule applies to its class and
every subclass without a rule of its own (a child rule replaces the parent's).  Dependent rules
(``independent: false``) identify a CI among the children of its parent: rows related to the parent
by one of ``relation_types`` (parent -> child) or whose ``reference_field`` points at the parent.
Related entries without ``reference_field`` name an independent class identified by its own rule.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from simulators.servicenow import classes
from simulators.servicenow.encoded_query import EncodedQuery, parse

_QUALYS_RELATED: tuple[dict[str, object], ...] = (
    {"table": "cmdb_software_instance", "reference_field": "installed_on", "attributes": ["software"], "priority": 100},
    {"table": "cmdb_software_instance", "reference_field": "installed_on", "attributes": ["name"], "priority": 200},
    {"table": "cmdb_ci_spkg"},
    {"table": "u_qualys_asset_details", "reference_field": "u_ci", "attributes": []},
    {"table": "u_qualys_os_details", "reference_field": "u_ci", "attributes": []},
    {"table": "u_qualys_hardware_details", "reference_field": "u_ci", "attributes": []},
    {"table": "u_qualys_open_ports", "reference_field": "u_ci", "attributes": ["u_port", "u_protocol"]},
    {"table": "u_qualys_processors", "reference_field": "u_ci", "attributes": ["u_processor_description"]},
    {"table": "u_qualys_software_details", "reference_field": "u_ci", "attributes": ["u_software"], "priority": 100},
    {
        "table": "u_qualys_software_details",
        "reference_field": "u_ci",
        "attributes": ["u_name", "u_version"],
        "priority": 200,
    },
)

DEFAULT_RULES: list[dict[str, object]] = [
    {
        "name": "Hardware Rule",
        "applies_to": "cmdb_ci_hardware",
        "independent": True,
        "entries": [
            {
                "priority": 100,
                "table": "cmdb_serial_number",
                "reference_field": "cmdb_ci",
                "attributes": ["serial_number", "serial_number_type"],
                "condition": "valid=true^absent=false",
                "exact_count_match": True,
            },
            {"priority": 200, "attributes": ["serial_number"]},
            {"priority": 300, "attributes": ["name"]},
            {
                "priority": 400,
                "table": "cmdb_ci_network_adapter",
                "reference_field": "cmdb_ci",
                "attributes": ["mac_address", "name"],
                "condition": "install_status!=100",
                "exact_count_match": True,
            },
        ],
        "related_entries": list(_QUALYS_RELATED),
    },
    {
        "name": "Virtual Machine Instance Rule",
        "applies_to": "cmdb_ci_vm_instance",
        "independent": True,
        "entries": [{"priority": 100, "attributes": ["object_id"]}],
        "related_entries": list(_QUALYS_RELATED),
    },
    {
        "name": "Network Adapter Rule",
        "applies_to": "cmdb_ci_network_adapter",
        "independent": False,
        "dependency": {"relation_types": ["Contains::Contained by"], "reference_field": "cmdb_ci"},
        "entries": [
            {"priority": 100, "attributes": ["name", "mac_address"]},
            {"priority": 200, "attributes": ["mac_address"]},
        ],
    },
    {
        "name": "File System Rule",
        "applies_to": "cmdb_ci_file_system",
        "independent": False,
        "dependency": {"relation_types": ["Contains::Contained by"], "reference_field": "computer"},
        "entries": [{"priority": 100, "attributes": ["mount_point"]}, {"priority": 200, "attributes": ["name"]}],
    },
    {
        "name": "IP Address Rule",
        "applies_to": "cmdb_ci_ip_address",
        "independent": False,
        "dependency": {"relation_types": ["Owns::Owned by", "Contains::Contained by"], "reference_field": "nic"},
        "entries": [{"priority": 100, "attributes": ["ip_address"]}],
    },
    {
        "name": "Software Package Rule",
        "applies_to": "cmdb_ci_spkg",
        "independent": True,
        "entries": [{"priority": 100, "attributes": ["key"]}],
    },
]


@functools.lru_cache(maxsize=256)
def _parsed_condition(condition: str) -> EncodedQuery:
    # identification reads an entry's condition for every payload item
    return parse(condition)


class RuleError(ValueError):
    """An invalid rule document."""


def _sys_id(*parts: object) -> str:
    return hashlib.md5(":".join(str(p) for p in parts).encode(), usedforsecurity=False).hexdigest()


@dataclass(frozen=True, slots=True)
class Entry:
    """An identifier entry."""

    sys_id: str
    priority: int
    table: str
    attributes: tuple[str, ...]
    lookup: bool
    reference_field: str
    condition: str
    exact_count_match: bool
    allow_null_attribute: bool

    @property
    def query(self) -> EncodedQuery:
        """The parsed condition (one shared object: read it, do not change it)."""
        return _parsed_condition(self.condition)


@dataclass(frozen=True, slots=True)
class RelatedEntry:
    """A related entry: how ``related`` payload items of ``table`` are matched under the main CI."""

    sys_id: str
    table: str
    reference_field: str | None
    attributes: tuple[str, ...]
    priority: int


@dataclass(frozen=True, slots=True)
class Rule:
    """An identification rule (``cmdb_identifier``)."""

    sys_id: str
    name: str
    applies_to: str
    independent: bool
    entries: tuple[Entry, ...]
    related_entries: tuple[RelatedEntry, ...]
    relation_types: tuple[str, ...] = ()
    dependency_field: str | None = None
    # related entries by payload class, filled on first use (IRE asks once per related item)
    _related_by_class: dict[str, list[RelatedEntry]] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    def lookup_tables(self) -> set[str]:
        """Tables accepted in a payload item's ``lookup`` list."""
        return {e.table for e in self.entries if e.lookup}

    def related_for(self, table: str) -> list[RelatedEntry]:
        """Related entries for payload ``related`` items of ``table`` (nearest class first)."""
        found = self._related_by_class.get(table)
        if found is None:
            found = self._related_by_class[table] = self._nearest_related(table)
        return found

    def _nearest_related(self, table: str) -> list[RelatedEntry]:
        for name in classes.ancestors(table):
            found = [e for e in self.related_entries if e.table == name]
            if found:
                return sorted(found, key=lambda e: e.priority)
        return []


def _strings(value: object, what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RuleError(f"{what} must be a list of strings")
    return tuple(value)


def _table(value: object, what: str) -> str:
    if not isinstance(value, str) or not classes.exists(value):
        raise RuleError(f"{what}: unknown table {value!r}")
    return value


def parse_rule(spec: Mapping[str, object]) -> Rule:
    """Validate and build one rule from its JSON form."""
    name = spec.get("name")
    if not isinstance(name, str) or not name:
        raise RuleError("every rule needs a name")
    applies_to = _table(spec.get("applies_to"), f"rule {name!r} applies_to")
    if not classes.is_ci(applies_to):
        raise RuleError(f"rule {name!r}: applies_to must be a CMDB class")
    independent = bool(spec.get("independent", True))
    tree = set(classes.ancestors(applies_to)) | set(classes.descendants(applies_to))
    entries: list[Entry] = []
    raw_entries = spec.get("entries", [])
    if not isinstance(raw_entries, list) or not raw_entries:
        raise RuleError(f"rule {name!r} needs at least one entry")
    for raw in raw_entries:
        if not isinstance(raw, dict):
            raise RuleError("entries must be objects")
        table = _table(raw.get("table", applies_to), f"rule {name!r} entry table")
        lookup = table not in tree
        attributes = _strings(raw.get("attributes"), f"rule {name!r} entry attributes")
        if not attributes:
            raise RuleError(f"rule {name!r}: an entry needs attributes")
        fields = classes.all_fields(table)
        for attribute in attributes:
            if attribute not in fields:
                raise RuleError(f"rule {name!r}: {table} has no field {attribute}")
        reference_field = str(raw.get("reference_field", "cmdb_ci")) if lookup else ""
        if lookup and reference_field not in fields:
            raise RuleError(f"rule {name!r}: {table} has no reference field {reference_field}")
        if lookup and not independent:
            raise RuleError(f"rule {name!r}: lookup entries are not allowed on a dependent rule")
        priority = int(str(raw.get("priority", 100)))
        entries.append(
            Entry(
                _sys_id("entry", name, priority, table),
                priority,
                table,
                attributes,
                lookup,
                reference_field,
                str(raw.get("condition", "") or ""),
                bool(raw.get("exact_count_match", False)),
                bool(raw.get("allow_null_attribute", False)),
            )
        )
    entries.sort(key=lambda e: e.priority)
    related: list[RelatedEntry] = []
    raw_related = spec.get("related_entries", [])
    if not isinstance(raw_related, list):
        raise RuleError("related_entries must be a list")
    for raw in raw_related:
        if not isinstance(raw, dict):
            raise RuleError("related entries must be objects")
        table = _table(raw.get("table"), f"rule {name!r} related entry")
        related_field = raw.get("reference_field")
        attributes = _strings(raw.get("attributes", []), "related entry attributes")
        if related_field is not None:
            fields = classes.all_fields(table)
            if str(related_field) not in fields:
                raise RuleError(f"rule {name!r}: {table} has no field {related_field}")
            for attribute in attributes:
                if attribute not in fields:
                    raise RuleError(f"rule {name!r}: {table} has no field {attribute}")
        priority = int(str(raw.get("priority", 100)))
        related.append(
            RelatedEntry(
                _sys_id("related", name, table, priority),
                table,
                None if related_field is None else str(related_field),
                attributes,
                priority,
            )
        )
    relation_types: tuple[str, ...] = ()
    dependency_field: str | None = None
    if not independent:
        dependency = spec.get("dependency")
        if not isinstance(dependency, dict):
            raise RuleError(f"dependent rule {name!r} needs a dependency object")
        relation_types = _strings(dependency.get("relation_types", []), "dependency relation_types")
        raw_field = dependency.get("reference_field")
        dependency_field = None if raw_field is None else str(raw_field)
        if dependency_field is not None and dependency_field not in classes.all_fields(applies_to):
            raise RuleError(f"rule {name!r}: {applies_to} has no field {dependency_field}")
    return Rule(
        _sys_id("identifier", name),
        name,
        applies_to,
        independent,
        tuple(entries),
        tuple(related),
        relation_types,
        dependency_field,
    )


class Rules:
    """The active rule set."""

    def __init__(self, specs: list[dict[str, object]] | None = None) -> None:
        self.specs: list[dict[str, object]] = []
        self.by_class: dict[str, Rule] = {}
        self.replace(specs if specs is not None else DEFAULT_RULES)

    def replace(self, specs: list[dict[str, object]]) -> None:
        """Validate and install a new rule set (all or nothing)."""
        if not isinstance(specs, list):
            raise RuleError("rules must be a list")
        by_class: dict[str, Rule] = {}
        for spec in specs:
            if not isinstance(spec, dict):
                raise RuleError("each rule must be an object")
            rule = parse_rule(spec)
            if rule.applies_to in by_class:
                raise RuleError(f"two rules apply to {rule.applies_to}")
            by_class[rule.applies_to] = rule
        self.specs = [dict(s) for s in specs]
        self.by_class = by_class
        # the rules and their answers per class, swapped together so a lookup never mixes two rule sets
        self._resolved: tuple[dict[str, Rule], dict[str, Rule | None]] = (by_class, {})

    def for_class(self, class_name: str) -> Rule | None:
        """The rule of ``class_name`` or of its nearest ancestor that has one (remembered per class)."""
        by_class, answers = self._resolved
        if class_name not in answers:
            answers[class_name] = next(
                (by_class[name] for name in classes.ancestors(class_name) if name in by_class), None
            )
        return answers[class_name]

    def describe(self) -> dict[str, object]:
        """The rule set in its JSON form, with the generated sys_ids."""
        out: list[dict[str, object]] = []
        for spec in self.specs:
            rule = self.by_class[str(spec["applies_to"])]
            out.append(
                {
                    "sys_id": rule.sys_id,
                    "name": rule.name,
                    "applies_to": rule.applies_to,
                    "independent": rule.independent,
                    "entries": [
                        {
                            "sys_id": e.sys_id,
                            "priority": e.priority,
                            "table": e.table,
                            "attributes": list(e.attributes),
                            "lookup": e.lookup,
                            "reference_field": e.reference_field or None,
                            "condition": e.condition,
                            "exact_count_match": e.exact_count_match,
                            "allow_null_attribute": e.allow_null_attribute,
                        }
                        for e in rule.entries
                    ],
                    "related_entries": [
                        {
                            "sys_id": r.sys_id,
                            "table": r.table,
                            "reference_field": r.reference_field,
                            "attributes": list(r.attributes),
                            "priority": r.priority,
                        }
                        for r in rule.related_entries
                    ],
                    "dependency": (
                        None
                        if rule.independent
                        else {"relation_types": list(rule.relation_types), "reference_field": rule.dependency_field}
                    ),
                }
            )
        return {"rules": out}
