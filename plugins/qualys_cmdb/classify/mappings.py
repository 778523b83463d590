"""Mappings as code (CM-1 … CM-7, BY-6): CI-class rules, the hardware table, field maps — loaded and validated once.

Files in ``$QUALYS_CMDB_MAPPINGS``, else ``include/mappings/`` (in the working directory, else the defaults shipped with
the package: see :func:`mappings_dir`): ``cmdb_classes.yaml``, ``ci_class_rules.yaml``,
``hardware_classes.csv``, ``field_maps.yaml``, and ``os_names.yaml`` (optional: the OS family and category of an OS
name, for sources whose records carry only the name, the QPS hostasset API). Every problem is reported as
``file:line: message`` and nothing is classified or written while one remains. The mapping *version* is a hash of
the files: a change re-classifies the staged assets.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from qualys_cmdb.classify.source import SOURCE_COLUMNS
from qualys_cmdb.config import DEFAULTS_DIR
from qualys_cmdb.staging.schema import STAGED_CHILDREN, staged_software

MAPPINGS_ENV = "QUALYS_CMDB_MAPPINGS"
FILES = ("cmdb_classes.yaml", "ci_class_rules.yaml", "hardware_classes.csv", "field_maps.yaml")
#: Optional: without it, OS names give no OS category (a folder written before it existed stays valid).
OS_NAMES_FILE = "os_names.yaml"
OPERATORS = {
    "equals": 1,
    "not_equals": 1,
    "in": "list",
    "not_in": "list",
    "contains": 1,
    "starts_with": 1,
    "is_empty": 0,
    "is_not_empty": 0,
}
TRANSFORMS = ("bits",)
#: field-map section -> the staging tables its attributes come from (an install is read with its package)
CHILD_MAPS = {
    "serial_number": (STAGED_CHILDREN["serial_number"],),
    "file_system": (STAGED_CHILDREN["volume"],),
    "network_adapter": (STAGED_CHILDREN["network_interface"],),
    "ip_address": (STAGED_CHILDREN["ip_address"],),
    "software": (staged_software,),
    "software_instance": (STAGED_CHILDREN["software_install"], staged_software),
}
#: Where the rows of a multi-row related table may come from (``rows:``): a staged detail table, or ``software``
#: (an asset's installs, each read with its package's catalog row: publisher, lifecycle, license …).
ROW_SOURCES = {
    **{kind: (table,) for kind, table in STAGED_CHILDREN.items() if kind not in ("os", "hardware", "software_install")},
    "software": (STAGED_CHILDREN["software_install"], staged_software),
}
_TABLE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")  # related tables are named in Table API paths: nothing else passes


class MappingError(ValueError):
    """Invalid mapping files: ``problems`` holds one ``file:line: message`` per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid mappings:\n" + "\n".join(f"  - {p}" for p in problems))


@dataclass(frozen=True)
class Condition:
    """``attribute op value`` over a classification-source attribute."""

    attribute: str
    op: str
    value: str | tuple[str, ...] | None = None


@dataclass(frozen=True)
class CiClassRule:
    """A Computer CI-class rule (CM-1)."""

    name: str
    priority: int
    target_class: str
    conditions: tuple[Condition, ...]
    active: bool = True
    deprecated: bool = False
    where: str = ""


@dataclass(frozen=True)
class HardwareMapping:
    """One row of the hardware category1 + category2 → class table (CM-2)."""

    category1: str
    category2: str
    target_class: str


@dataclass(frozen=True)
class OsName:
    """One row of the OS-name table (``os_names.yaml``): an OS name ``pattern`` finds has this OS family
    (``category1``, as CSAM names it: Windows, Linux, Unix, Mac …), ``category2`` (Server, Client, Router …) and,
    if given, publisher. The first row whose pattern matches wins."""

    pattern: str
    category1: str
    category2: str
    publisher: str | None = None
    where: str = ""
    regex: re.Pattern[str] = field(default=re.compile(""), compare=False, repr=False)

    @property
    def category(self) -> str:
        """The combined category, as CSAM writes it: ``Windows / Server``."""
        return f"{self.category1} / {self.category2}"


def os_name_entry(table: Sequence[OsName], os_name: str | None) -> OsName | None:
    """The first row of ``table`` whose pattern is found in ``os_name`` (case ignored), or None."""
    if not os_name:
        return None
    return next((entry for entry in table if entry.regex.search(os_name)), None)


@dataclass(frozen=True)
class FieldSource:
    """Where a CMDB field's value comes from: the first non-empty attribute, optionally transformed."""

    attributes: tuple[str, ...]
    transform: str | None = None


@dataclass(frozen=True)
class RelatedTable:
    """A related table (CM-4): CMDB rows under the CI for values the CI's class has no column for.

    Without ``rows``, one row per CI from the asset's own attributes (asset, OS, hardware details). With ``rows``,
    one row per row of a staged detail kind (:data:`ROW_SOURCES`: open ports, processors, software …), told apart
    under the CI by the fields ``identified_by`` (as the related entry of the instance's identification rule does):
    a row without a value for one of them, or with the same values as an earlier row, is not sent, as IRE would
    refuse the whole CI for it.
    """

    fields: dict[str, FieldSource]
    rows: str | None = None
    identified_by: tuple[str, ...] = ()


@dataclass(frozen=True)
class Mappings:
    """Everything classify and load need, validated."""

    version: str
    classes: dict[str, str | None]
    rules: tuple[CiClassRule, ...]
    hardware: tuple[HardwareMapping, ...]
    discovery_source: str
    ci_fields: dict[str, FieldSource]
    child_fields: dict[str, dict[str, FieldSource]]
    related_tables: dict[str, RelatedTable]
    field_lengths: dict[str, int] = field(default_factory=dict)
    #: The OS-name table (os_names.yaml), in order: the first matching row gives an OS name its categories.
    os_names: tuple[OsName, ...] = ()
    #: A digest of everything besides the CI's values that shapes what a load sends (lookup, related and dependent
    #: field maps, lengths, discovery source): part of each asset's payload hash, so that a change of these maps
    #: sends the assets again, and only such a change (a new rule or comment re-classifies, but sends nothing new).
    sent_maps_digest: str = ""

    @property
    def active_rules(self) -> list[CiClassRule]:
        """Active, non-deprecated rules, lowest priority number first."""
        return sorted((r for r in self.rules if r.active and not r.deprecated), key=lambda r: r.priority)

    def is_a(self, cls: str, ancestor: str) -> bool:
        """Whether ``cls`` is ``ancestor`` or one of its descendants."""
        current: str | None = cls
        while current is not None:
            if current == ancestor:
                return True
            current = self.classes.get(current)
        return False


def mappings_dir(path: str | Path | None = None) -> Path:
    """``path``, else ``$QUALYS_CMDB_MAPPINGS``, else ``include/mappings`` if the working directory has one, else the
    shipped defaults: ``include/mappings`` next to the package's repository (source checkout, editable install),
    ``qualys_cmdb/defaults/mappings`` in an installed wheel."""
    if path:
        return Path(path)
    env = os.environ.get(MAPPINGS_ENV)
    if env:
        return Path(env)
    project = Path("include") / "mappings"
    return project if project.is_dir() else DEFAULTS_DIR / "mappings"


class _LineLoader(yaml.SafeLoader):
    """A safe loader that remembers the line of every mapping (as ``__line__``)."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    mapping = {str(k): v for k, v in yaml.SafeLoader.construct_mapping(loader, node, deep=True).items()}
    mapping["__line__"] = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_mappings(path: str | Path | None = None) -> Mappings:
    """Load and validate the mapping files; raise :class:`MappingError` listing every problem."""
    folder = mappings_dir(path)
    problems: list[str] = []
    digest = hashlib.sha256()
    texts: dict[str, str] = {}
    for name in FILES:
        try:
            texts[name] = (folder / name).read_text(encoding="utf-8")
        except OSError as exc:
            problems.append(f"{folder / name}: cannot read ({exc.strerror or exc})")
            continue
        digest.update(name.encode() + b"\0" + texts[name].encode())
    if problems:
        raise MappingError(problems)
    if (folder / OS_NAMES_FILE).is_file():
        try:
            texts[OS_NAMES_FILE] = (folder / OS_NAMES_FILE).read_text(encoding="utf-8")
        except OSError as exc:
            raise MappingError([f"{folder / OS_NAMES_FILE}: cannot read ({exc.strerror or exc})"]) from None
        digest.update(OS_NAMES_FILE.encode() + b"\0" + texts[OS_NAMES_FILE].encode())

    def yaml_doc(name: str) -> dict[str, Any]:
        try:
            doc = yaml.load(texts[name], Loader=_LineLoader)  # noqa: S506 - a SafeLoader subclass
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            problems.append(f"{folder / name}:{mark.line + 1 if mark else '?'}: not valid YAML ({exc})")
            return {}
        if not isinstance(doc, dict):
            problems.append(f"{folder / name}:1: expected a mapping")
            return {}
        return doc

    classes = _classes(yaml_doc("cmdb_classes.yaml"), folder / "cmdb_classes.yaml", problems)
    rules = _rules(yaml_doc("ci_class_rules.yaml"), folder / "ci_class_rules.yaml", classes, problems)
    hardware = _hardware(texts["hardware_classes.csv"], folder / "hardware_classes.csv", classes, problems)
    maps = yaml_doc("field_maps.yaml")
    where = folder / "field_maps.yaml"
    ci_fields = _field_map(maps.get("ci"), f"{where}", "ci", problems)
    children = {
        k: _field_map(maps.get(k), f"{where}", k, problems, {c.name for t in tables for c in t.columns})
        for k, tables in CHILD_MAPS.items()
    }
    related = _related_tables(maps.get("related_tables"), f"{where}", problems)
    os_names = _os_names(yaml_doc(OS_NAMES_FILE), folder / OS_NAMES_FILE, problems) if OS_NAMES_FILE in texts else []
    lengths = {k: int(v) for k, v in (maps.get("field_lengths") or {"default": 255}).items() if k != "__line__"}
    source = maps.get("discovery_source")
    if not isinstance(source, str) or not source:
        problems.append(f"{where}:{maps.get('__line__', 1)}: discovery_source is required (e.g. Qualys)")
    if problems:
        raise MappingError(problems)
    sent_maps = repr((children, related, sorted(lengths.items()), source))
    return Mappings(
        version=digest.hexdigest()[:16],
        classes=classes,
        rules=tuple(rules),
        hardware=tuple(hardware),
        discovery_source=str(source),
        ci_fields=ci_fields,
        child_fields=children,
        related_tables=related,
        field_lengths=lengths,
        os_names=tuple(os_names),
        sent_maps_digest=hashlib.md5(sent_maps.encode(), usedforsecurity=False).hexdigest(),
    )


def _classes(doc: dict[str, Any], where: Path, problems: list[str]) -> dict[str, str | None]:
    raw = doc.get("classes")
    if not isinstance(raw, dict):
        problems.append(f"{where}:1: expected 'classes:' mapping each class to its parent")
        return {}
    classes = {str(k): (str(v) if v else None) for k, v in raw.items() if k != "__line__"}
    for cls, parent in classes.items():
        if parent is not None and parent not in classes:
            problems.append(f"{where}:{raw['__line__']}: class {cls} has unknown parent {parent}")
    return classes


def _rules(doc: dict[str, Any], where: Path, classes: dict[str, str | None], problems: list[str]) -> list[CiClassRule]:
    out: list[CiClassRule] = []
    raw_rules = doc.get("rules") or []
    if not isinstance(raw_rules, list):
        problems.append(f"{where}:1: expected 'rules:' as a list")
        return out
    seen: dict[int, str] = {}
    for raw in raw_rules:
        line = raw.get("__line__", "?") if isinstance(raw, dict) else "?"
        at = f"{where}:{line}"
        if not isinstance(raw, dict):
            problems.append(f"{at}: a rule must be a mapping")
            continue
        unknown = set(raw) - {"name", "priority", "target_class", "when", "active", "deprecated", "__line__"}
        if unknown:
            problems.append(f"{at}: unknown setting(s) {', '.join(sorted(unknown))}")
        name = str(raw.get("name") or "")
        if not name:
            problems.append(f"{at}: a rule needs a name")
        priority = raw.get("priority")
        if not isinstance(priority, int):
            problems.append(f"{at}: rule {name!r}: priority must be a whole number")
            priority = 0
        target = str(raw.get("target_class") or "")
        if target not in classes:
            problems.append(f"{at}: rule {name!r}: unknown class {target!r} (add it to cmdb_classes.yaml)")
        conditions = tuple(_conditions(raw.get("when"), at, name, problems))
        rule = CiClassRule(
            name, priority, target, conditions, bool(raw.get("active", True)), bool(raw.get("deprecated", False)), at
        )
        if rule.active and not rule.deprecated:
            if priority in seen:
                problems.append(
                    f"{at}: rule {name!r} has priority {priority}, like active rule {seen[priority]!r}: "
                    "give each active rule its own priority"
                )
            seen[priority] = name
        out.append(rule)
    return out


def _conditions(raw: Any, at: str, rule: str, problems: list[str]) -> Iterator[Condition]:
    if not isinstance(raw, list) or not raw:
        problems.append(f"{at}: rule {rule!r}: 'when' must list at least one condition")
        return
    for cond in raw:
        if not isinstance(cond, dict):
            problems.append(f"{at}: rule {rule!r}: a condition must be a mapping")
            continue
        line = f"{at.rsplit(':', 1)[0]}:{cond.get('__line__', '?')}"
        attribute, op, value = cond.get("attribute"), cond.get("op"), cond.get("value")
        if attribute not in SOURCE_COLUMNS:
            problems.append(f"{line}: rule {rule!r}: staging attribute {attribute!r} does not exist")
            continue
        arity = OPERATORS.get(str(op))
        if arity is None:
            problems.append(f"{line}: rule {rule!r}: unknown operator {op!r} (use {', '.join(OPERATORS)})")
            continue
        if arity == "list":
            if not isinstance(value, list) or not value:
                problems.append(f"{line}: rule {rule!r}: {op} needs a list of values")
                continue
            yield Condition(str(attribute), str(op), tuple(str(v) for v in value))
        elif arity == 1:
            if value is None or isinstance(value, (list, dict)):
                problems.append(f"{line}: rule {rule!r}: {op} needs one value")
                continue
            yield Condition(str(attribute), str(op), str(value))
        else:
            yield Condition(str(attribute), str(op))


_OS_NAME_KEYS = {"pattern", "category1", "category2", "publisher", "examples", "__line__"}


def _os_names(doc: dict[str, Any], where: Path, problems: list[str]) -> list[OsName]:
    """The ``os_names:`` list: each row a regular expression (searched, case ignored) and the categories it gives;
    its ``examples`` (OS names) must each be taken by that row, not by an earlier one, nor by none."""
    raw_rows = doc.get("os_names")
    if not isinstance(raw_rows, list):
        problems.append(f"{where}:{doc.get('__line__', 1)}: expected 'os_names:' as a list of patterns")
        return []
    out: list[OsName] = []
    examples: list[tuple[str, int, str]] = []  # (OS name, index of its row, place)
    seen: dict[str, str] = {}
    for raw in raw_rows:
        at = f"{where}:{raw.get('__line__', '?') if isinstance(raw, dict) else '?'}"
        if not isinstance(raw, dict):
            problems.append(f"{at}: an OS-name row must be a mapping (pattern, category1, category2 …)")
            continue
        unknown = set(raw) - _OS_NAME_KEYS
        if unknown:
            problems.append(f"{at}: unknown setting(s) {', '.join(sorted(unknown))}")
        pattern = raw.get("pattern")
        if not isinstance(pattern, str) or not pattern.strip():
            problems.append(f"{at}: a row needs a pattern (a regular expression searched in the OS name)")
            continue
        try:
            regex = re.compile(pattern, re.IGNORECASE)
        except re.error as exc:
            problems.append(f"{at}: pattern '{pattern}' is not a valid regular expression ({exc})")
            continue
        if pattern in seen:
            problems.append(f"{at}: pattern '{pattern}' is listed twice (first at {seen[pattern]})")
        seen.setdefault(pattern, at)
        values: dict[str, str | None] = {}
        for key in ("category1", "category2", "publisher"):
            value = raw.get(key)
            if value is not None and (not isinstance(value, (str, int, float)) or not str(value).strip()):
                problems.append(f"{at}: pattern '{pattern}': {key} must be a text")
                value = None
            values[key] = str(value).strip() if value is not None else None
        category1, category2 = values["category1"], values["category2"]
        if not category1 or not category2:
            problems.append(f"{at}: pattern '{pattern}': category1 (the OS family) and category2 are required")
            continue
        raw_examples = raw.get("examples") or []
        if not isinstance(raw_examples, list) or not all(isinstance(e, str) for e in raw_examples):
            problems.append(f"{at}: pattern '{pattern}': examples must be a list of OS names")
            raw_examples = []
        examples += [(e, len(out), at) for e in raw_examples]
        out.append(OsName(pattern, category1, category2, values["publisher"], at, regex))
    for name, index, at in examples:
        taken = os_name_entry(out, name)
        if taken is None:
            problems.append(f"{at}: example {name!r} does not match pattern '{out[index].pattern}'")
        elif taken is not out[index]:
            problems.append(
                f"{at}: example {name!r} of pattern '{out[index].pattern}' is taken by the earlier pattern "
                f"'{taken.pattern}' ({taken.where}): move this row up, or make the earlier pattern narrower"
            )
    return out


def _hardware(text: str, where: Path, classes: dict[str, str | None], problems: list[str]) -> list[HardwareMapping]:
    out: list[HardwareMapping] = []
    reader = csv.DictReader(text.splitlines())
    if reader.fieldnames != ["category1", "category2", "target_class"]:
        problems.append(f"{where}:1: the header must be category1,category2,target_class")
        return out
    seen: set[tuple[str, str]] = set()
    for number, row in enumerate(reader, start=2):
        c1, c2, cls = ((row.get(k) or "").strip() for k in ("category1", "category2", "target_class"))
        if not c1 or not c2:
            problems.append(f"{where}:{number}: category1 and category2 are required")
            continue
        if cls not in classes:
            problems.append(f"{where}:{number}: unknown class {cls!r} for {c1} / {c2} (add it to cmdb_classes.yaml)")
            continue
        if (c1.lower(), c2.lower()) in seen:
            problems.append(f"{where}:{number}: {c1} / {c2} is mapped twice")
        seen.add((c1.lower(), c2.lower()))
        out.append(HardwareMapping(c1, c2, cls))
    return out


def _related_tables(raw: Any, where: str, problems: list[str]) -> dict[str, RelatedTable]:
    """The ``related_tables:`` section: per table, its fields (one row per CI), or ``rows``, ``identified_by`` and
    ``fields`` (one row per staged detail row)."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        problems.append(f"{where}:1: related_tables must map each related table to its fields")
        return {}
    out: dict[str, RelatedTable] = {}
    for table, spec in raw.items():
        if table == "__line__":
            continue
        at = f"{where}:{spec.get('__line__', raw['__line__']) if isinstance(spec, dict) else raw['__line__']}"
        if not _TABLE_NAME.match(str(table)):
            problems.append(f"{at}: related table {table!r} is not a table name (lower case, digits, underscores)")
            continue
        if not isinstance(spec, dict):
            problems.append(f"{at}: related table {table}: expected its fields, or rows, identified_by and fields")
            continue
        if "rows" not in spec:
            if {"identified_by", "fields"} & set(spec):
                problems.append(
                    f"{at}: related table {table}: identified_by and fields go with rows: (the staged detail kind "
                    "that gives one row each); a table with one row per CI maps its fields directly"
                )
                continue
            out[str(table)] = RelatedTable(_field_map(spec, where, table, problems, transforms=False))
            continue
        unknown = set(spec) - {"rows", "identified_by", "fields", "__line__"}
        if unknown:
            problems.append(f"{at}: related table {table}: unknown setting(s) {', '.join(sorted(unknown))}")
        kind = spec.get("rows")
        if not isinstance(kind, str) or kind not in ROW_SOURCES:
            problems.append(
                f"{at}: related table {table}: rows: {kind!r} is not a staged detail kind "
                f"(use one of {', '.join(sorted(ROW_SOURCES))})"
            )
            continue
        columns = {c.name for t in ROW_SOURCES[kind] for c in t.columns} - {"source", "asset_id"}
        fields = _field_map(spec.get("fields"), where, f"{table}.fields", problems, columns, transforms=False)
        identity = spec.get("identified_by")
        if not isinstance(identity, list) or not identity or not all(isinstance(f, str) for f in identity):
            problems.append(
                f"{at}: related table {table}: identified_by must list the fields that tell its rows apart under "
                "one CI (those of the related entry of the CI's identification rule, e.g. [u_port, u_protocol])"
            )
            continue
        for name in identity:
            if name not in fields:
                problems.append(f"{at}: related table {table}: identified_by names {name!r}, not one of its fields")
        out[str(table)] = RelatedTable(fields, kind, tuple(identity))
    return out


def _field_map(
    raw: Any,
    where: str,
    section: str,
    problems: list[str],
    columns: set[str] | None = None,
    *,
    transforms: bool = True,
) -> dict[str, FieldSource]:
    """A ``CMDB field: attribute(s)`` section; attributes must be ``columns`` (default: the classification source)."""
    known = columns if columns is not None else set(SOURCE_COLUMNS)
    if not isinstance(raw, dict):
        problems.append(f"{where}:1: section {section!r} is missing or not a mapping")
        return {}
    line = raw.get("__line__", "?")
    out: dict[str, FieldSource] = {}
    for target, spec in raw.items():
        if target == "__line__":
            continue
        transform = None
        if isinstance(spec, dict) and not transforms:
            problems.append(
                f"{where}:{spec.get('__line__', line)}: {section}.{target}: transforms apply to the CI's fields only; "
                "map a staging attribute (or a list of them)"
            )
            continue
        if isinstance(spec, dict):
            transform = spec.get("transform")
            if transform not in TRANSFORMS:
                problems.append(
                    f"{where}:{spec.get('__line__', line)}: {section}.{target}: unknown transform "
                    f"{transform!r} (use {', '.join(TRANSFORMS)})"
                )
            spec = spec.get("attribute")
        attributes = tuple(spec) if isinstance(spec, list) else (spec,)
        for attribute in attributes:
            if attribute not in known:
                problems.append(f"{where}:{line}: {section}.{target}: staging attribute {attribute!r} does not exist")
        out[str(target)] = FieldSource(tuple(str(a) for a in attributes), transform)
    return out
