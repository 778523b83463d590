"""Identification (reference section 2.5): find the CMDB record a payload item describes.

Order: ``values.sys_id`` shortcut, then the ``sys_object_source`` fast path (source_name +
source_native_key; attempt with ``info`` "sys_object_source NO_MATCH"/"sys_object_source MATCHED"),
then the identifier entries of the item's rule in ascending priority.  An entry is ``SKIPPED`` when the
payload lacks one of its criterion attributes, the attempts stop at the first ``MATCHED``.  Several
matches: up to ``glide.identification_engine.skip_duplicates.threshold`` the oldest CI wins and the
others are marked ``duplicate_of`` (on commit); more is ``MULTI_MATCH`` +
``MULTIPLE_DUPLICATE_RECORDS``.  Dependent rules search only among the parent's children.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from simulators.servicenow import classes
from simulators.servicenow.encoded_query import EncodedQuery
from simulators.servicenow.identification_rules import Entry, Rule
from simulators.servicenow.payload import Item, SubItem, parent_sys_id
from simulators.servicenow.query_sql import quote
from simulators.servicenow.store import Row, Store, is_sys_id

Values = dict[str, str | None]


def value_matches(query: EncodedQuery, values: Mapping[str, str | None]) -> bool:
    """Evaluate a simple encoded query against payload values (SQL NULL semantics for empty values).

    Fails closed: a condition this evaluator does not implement never matches (nor does a query with pieces
    the parser could not read).
    """
    if query.unsupported:
        return False
    if query.empty:
        return True
    for group in query.groups:
        if all(any(_condition(c.op, values.get(c.field), c.value) for c in alternatives) for alternatives in group):
            return True
    return False


def _condition(op: str, actual: str | None, expected: str) -> bool:
    if op == "ISEMPTY" or (op == "=" and expected == ""):
        return actual is None
    if op == "ISNOTEMPTY":
        return actual is not None
    if op == "ANYTHING":
        return True
    if actual is None:
        return False
    if op == "=":
        return actual == expected
    if op == "!=":
        return actual != expected
    if op == "IN":
        return actual in expected.split(",")
    if op == "NOT IN":
        return actual not in expected.split(",")
    if op == "LIKE":
        return expected in actual
    if op == "NOT LIKE":
        return expected not in actual
    if op == "STARTSWITH":
        return actual.startswith(expected)
    if op == "ENDSWITH":
        return actual.endswith(expected)
    return False


@dataclass(slots=True)
class Match:
    """Identification result: the matched row (None = insert) and duplicate CIs to mark."""

    row: Row | None = None
    duplicates: list[str] = field(default_factory=list)
    missing: bool = False  # no criterion attribute at all (MISSING_MATCHING_ATTRIBUTES)
    error: bool = False


def prepared_values(store: Store, table: str, values: Mapping[str, object], defaults: bool = False) -> Values:
    """Coerced writable values of a payload entry (with the table's defaults when asked)."""
    prepared = store.prepare(table, values)  # keeps what a client may write, like Store.writable
    if not defaults:
        return prepared
    out: Values = dict(classes.defaults(table))
    out.update(prepared)
    return out


def _attributes(entry: Entry, values: Mapping[str, str | None]) -> dict[str, str | None] | None:
    """Criterion values if the entry can run with ``values`` (None = SKIPPED)."""
    present = {a: values.get(a) for a in entry.attributes}
    filled = [a for a, v in present.items() if v]
    if len(filled) == len(entry.attributes) or (entry.allow_null_attribute and filled):
        return present
    return None


class Identifier:
    """Runs identification against one store with the current rules and properties."""

    def __init__(self, store: Store, properties: Mapping[str, object]) -> None:
        self.store = store
        self.skip_source = bool(properties.get("glide.identification_engine.skip_sys_object_source_matching"))
        self.skip_duplicates = bool(properties.get("glide.identification_engine.skip_duplicates", True))
        self.threshold = int(str(properties.get("glide.identification_engine.skip_duplicates.threshold", 5)))

    # ------------------------------------------------------------------ helpers
    def lookup_usable(self, entry: Entry, lookups: list[SubItem]) -> list[dict[str, str | None]]:
        """Criterion values of the payload lookup items an entry can use."""
        usable: list[dict[str, str | None]] = []
        tree = set(classes.descendants(entry.table))
        for sub in lookups:
            if sub.class_name not in tree:
                continue
            values = prepared_values(self.store, sub.class_name, sub.values, defaults=True)
            attrs = _attributes(entry, values)
            if attrs is not None and value_matches(entry.query, values):
                usable.append(attrs)
        return usable

    def criterion_keys(self, item: Item, rule: Rule, values: Values) -> tuple[object, list[str]] | None:
        """Identity key of the first applicable entry (for payload duplicate detection) and its fields."""
        for entry in rule.entries:
            if entry.lookup:
                usable = self.lookup_usable(entry, item.lookups)
                if usable:
                    key = frozenset(tuple(sorted((k, v or "") for k, v in u.items())) for u in usable)
                    return (rule.sys_id, entry.sys_id, key), list(entry.attributes)
                continue
            attrs = _attributes(entry, values)
            if attrs is not None:
                return (rule.sys_id, entry.sys_id, tuple(sorted((k, v or "") for k, v in attrs.items()))), list(
                    entry.attributes
                )
        return None

    def _dependent_filter(self, item: Item, rule: Rule) -> tuple[str, list[object]]:
        parent_id = parent_sys_id(item)
        types = list(rule.relation_types)
        parts: list[str] = []
        params: list[object] = []
        if types:
            marks = ",".join("?" for _ in types)
            parts.append(
                "t0.sys_id IN (SELECT child FROM t_cmdb_rel_ci WHERE parent = ? AND type IN "  # noqa: S608 - identifiers come from the class model
                f"(SELECT sys_id FROM t_cmdb_rel_type WHERE name IN ({marks})))"
            )
            params.extend([parent_id, *types])
        if rule.dependency_field:
            parts.append(f"t0.{quote(rule.dependency_field)} = ?")
            params.append(parent_id)
        if not parts:
            return "0", []
        return "(" + " OR ".join(parts) + ")", params

    def _resolve(self, item: Item, rule: Rule, entry: Entry, candidates: list[Row]) -> Match:
        attempt: dict[str, object] = {
            "identifierName": rule.name,
            "attemptResult": "MATCHED",
            "attributes": list(entry.attributes),
            "searchOnTable": entry.table,
            "hybridEntryCiAttributes": [],
        }
        item.attempts.append(attempt)
        if len(candidates) > 1 and (not self.skip_duplicates or len(candidates) > self.threshold):
            attempt["attemptResult"] = "MULTI_MATCH"
            item.fail(
                "MULTIPLE_DUPLICATE_RECORDS",
                f"Found duplicate records in table [{entry.table}] using fields [{', '.join(entry.attributes)}]",
            )
            return Match(error=True)
        item.entry_sys_id = entry.sys_id
        return Match(candidates[0], [row["sys_id"] for row in candidates[1:]])

    # ------------------------------------------------------------------ identification
    def identify(self, item: Item, rule: Rule, values: Values) -> Match:
        """Identify ``item`` (values = its coerced values); records attempts and errors on the item."""
        store = self.store
        sys_id = str(item.values.get("sys_id") or "")
        if sys_id:
            row = store.get("cmdb_ci", sys_id) if is_sys_id(sys_id) else None
            if row is None:
                item.fail(
                    "INVALID_INPUT_DATA",
                    f"No record with sys_id [{sys_id}] exist in table [{item.class_name}]. "
                    "Provide a valid sys_id in the payload item",
                )
                return Match(error=True)
            return Match(row)
        has_criterion = self.criterion_keys(item, rule, values) is not None
        if item.source_name and item.native_key and not (self.skip_source and has_criterion):
            rows = store.find("sys_object_source", {"name": item.source_name, "id": item.native_key})
            target = store.get("cmdb_ci", rows[0]["target_sys_id"]) if rows and rows[0]["target_sys_id"] else None
            item.attempts.append(
                {
                    "identifierName": "",
                    "attemptResult": "MATCHED" if target else "NO_MATCH",
                    "attributes": [],
                    "searchOnTable": item.class_name,
                    "hybridEntryCiAttributes": [],
                    "info": "sys_object_source MATCHED" if target else "sys_object_source NO_MATCH",
                }
            )
            if target is not None:
                return Match(target)
        extra_sql: str = ""
        extra_params: list[object] = []
        if not rule.independent:
            extra_sql, extra_params = self._dependent_filter(item, rule)
        ran = False
        for entry in rule.entries:
            if entry.lookup:
                usable = self.lookup_usable(entry, item.lookups)
                if not usable:
                    item.attempts.append(self._skipped(rule, entry))
                    continue
                ran = True
                candidates = self._lookup_candidates(rule, entry, usable)
            else:
                attrs = _attributes(entry, values)
                if attrs is None or not value_matches(entry.query, values):
                    item.attempts.append(self._skipped(rule, entry))
                    continue
                ran = True
                candidates = store.find(
                    entry.table, attrs, entry.query, extra_sql, extra_params, selective_extra=not rule.independent
                )
            if candidates:
                return self._resolve(item, rule, entry, candidates)
            item.attempts.append(
                {
                    "identifierName": rule.name,
                    "attemptResult": "NO_MATCH",
                    "attributes": list(entry.attributes),
                    "searchOnTable": entry.table,
                    "hybridEntryCiAttributes": [],
                }
            )
        return Match(missing=not ran)

    @staticmethod
    def _skipped(rule: Rule, entry: Entry) -> dict[str, object]:
        return {
            "identifierName": rule.name,
            "attemptResult": "SKIPPED",
            "attributes": list(entry.attributes),
            "searchOnTable": entry.table,
            "hybridEntryCiAttributes": [],
        }

    def _lookup_candidates(self, rule: Rule, entry: Entry, usable: list[dict[str, str | None]]) -> list[Row]:
        names = classes.descendants(rule.applies_to)
        marks = ",".join("?" for _ in names)
        ref = quote(entry.reference_field)
        # correlated, so each row's CI is looked up by its key (an IN (SELECT …) list would hold every CI of the class)
        ci_filter = f"EXISTS (SELECT 1 FROM t_cmdb_ci ci WHERE ci.sys_id = t0.{ref} AND ci.sys_class_name IN ({marks}))"  # noqa: S608 - identifiers come from the class model
        owner_sets: list[set[str]] = []
        hits: Counter[str] = Counter()
        for attrs in usable:
            owners = self.store.find_values(entry.table, entry.reference_field, attrs, entry.query, ci_filter, names)
            owner_sets.append(owners)
            hits.update(owners)
        exact = set.intersection(*owner_sets) if owner_sets else set()
        candidates = exact if entry.exact_count_match else set(hits)
        rows = list(self.store.get_many("cmdb_ci", candidates).values())
        rows.sort(key=lambda r: (-hits[r["sys_id"]], r["sys_created_on"], int(r.get("_rowid") or 0)))
        return rows
