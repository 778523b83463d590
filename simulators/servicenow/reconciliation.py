"""Reconciliation and commit (reference sections 2.2, 2.5 steps 7-8): what IRE writes.

* No match: INSERT into ``className`` (``discovery_source`` = data source, ``first_discovered`` and
  ``last_discovered`` = payload values or now).
* Match, same class: UPDATE when a supplied value differs, else NO_CHANGE (``last_discovered`` and
  ``discovery_source`` are still written, without touching ``sys_updated_on``).  A ``last_discovered``
  older than the stored one is ignored.
* Match, other class: UPDATE_WITH_UPGRADE / UPDATE_WITH_DOWNGRADE / UPDATE_WITH_SWITCH, unless the
  item's ``settings.updateWithout*`` flag keeps the class (``info`` SKIPPED_CLASS_*) or the
  ``glide.class.*.enabled`` property is off (RECLASSIFICATION_NOT_ALLOWED).
* ``lookup`` items are upserted under the CI (owner reference field), ``related`` items by the
  rule's related entries, ``sys_object_source`` rows track source keys, relations go to
  ``cmdb_rel_ci``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from simulators.servicenow import classes
from simulators.servicenow.identification import Match, Values, prepared_values
from simulators.servicenow.identification_rules import Entry, Rule, Rules
from simulators.servicenow.payload import Item, Relation, SubItem, effective, owner_of, parent_sys_id
from simulators.servicenow.store import Row, Store, coerce, utc_now
from simulators.servicenow.unverified import text

BOOKKEEPING = frozenset({"discovery_source", "last_discovered", "first_discovered"})
_RECLASS = {
    # relation: (operation, setting that keeps the class, property, info code, word)
    "upgrade": ("UPDATE_WITH_UPGRADE", "updateWithoutUpgrade", "glide.class.upgrade.enabled", "SKIPPED_CLASS_UPGRADE"),
    "downgrade": (
        "UPDATE_WITH_DOWNGRADE",
        "updateWithoutDowngrade",
        "glide.class.downgrade.enabled",
        "SKIPPED_CLASS_DOWNGRADE",
    ),
    "switch": ("UPDATE_WITH_SWITCH", "updateWithoutSwitch", "glide.class.switch.enabled", "SKIPPED_CLASS_SWITCH"),
}


def _flag(value: object) -> bool:
    return value is True or str(value).strip().lower() == "true"


def identity(values: Mapping[str, str | None], attributes: tuple[str, ...]) -> tuple[str, ...]:
    """The values of ``attributes`` ("" when empty): what identifies a sub-item under its CI."""
    if len(attributes) == 1:
        return (values.get(attributes[0]) or "",)
    return tuple([values.get(a) or "" for a in attributes])


_RELATION_KEY = ("parent", "child", "type")  # what identifies a cmdb_rel_ci row
Choice = tuple[str | None, tuple[str, ...]]  # how a related item is matched: (reference field, attributes)


def _first_filled(choices: list[Choice], values: Values) -> Choice | None:
    """The first choice whose attributes all have a value in ``values``."""
    for choice in choices:
        for attribute in choice[1]:
            if not values.get(attribute):
                break
        else:
            return choice
    return None


@dataclass(slots=True)
class PlannedSub:
    """A validated lookup/related sub-item ready to be written; ``key`` is its identity (see :func:`identity`)."""

    sub: SubItem
    table: str
    reference_field: str | None
    attributes: tuple[str, ...]
    values: Values
    key: tuple[str, ...]

    def set_reference(self, sys_id: str) -> None:
        """Point the sub-item at its CI (``reference_field``), keeping ``key`` in step with the values."""
        assert self.reference_field is not None
        self.values[self.reference_field] = sys_id
        if self.reference_field in self.attributes:
            self.key = identity(self.values, self.attributes)


class KnownRecords:
    """Records of an independent class by identifying attribute values, remembered for one request.

    Most software packages of a payload sit under many of its CIs; each is read once, not once per
    CI.  An answer (the oldest matching record, or None) holds while :meth:`Store.version` of the
    class is what it was when it was read, writes announced through :meth:`written` aside.
    """

    def __init__(self, store: Store, table: str, attributes: tuple[str, ...]) -> None:
        self.store = store
        self.table = table
        self.attributes = attributes
        self._first: dict[tuple[str, ...], Row | None] = {}
        self._version = store.version(table)

    def first(self, keys: list[tuple[str, ...]]) -> list[Row | None]:
        """The oldest record of each key (None: no match); keys not known yet are read in one go."""
        if self.store.version(self.table) != self._version:
            self._first.clear()
            self._version = self.store.version(self.table)
        missing = [key for key in dict.fromkeys(keys) if key not in self._first]
        if missing:
            self._first.update(dict.fromkeys(missing))
            for row in self.store.find_in(self.table, self.attributes, missing):
                key = tuple(row[a] for a in self.attributes)
                if self._first[key] is None:
                    self._first[key] = row
        return [self._first[key] for key in keys]

    def written(self, key: tuple[str, ...]) -> None:
        """The record of ``key`` was just written (nothing else since :meth:`first`): read it again."""
        self._first.pop(key, None)
        self._version = self.store.version(self.table)

    def touched(self, key: tuple[str, ...], values: Mapping[str, str | None]) -> None:
        """The record of ``key`` just got ``values`` (stored form) and nothing else changed since :meth:`first`.

        Kept with them, as reading it again would give it, unless they change what identifies it.
        """
        row = self._first.get(key)
        if row is None or not values.keys().isdisjoint(self.attributes):
            self.written(key)
            return
        self._first[key] = {**row, **{name: "" if value is None else value for name, value in values.items()}}
        self._version = self.store.version(self.table)


class Reconciler:
    """Writes for one IRE request."""

    def __init__(
        self, store: Store, rules: Rules, properties: Mapping[str, object], data_source: str, user: str
    ) -> None:
        self.store = store
        self.rules = rules
        self.properties = properties
        self.data_source = data_source
        self.user = user
        self.now = utc_now()
        self.created: set[str] = set()
        self._rel_types: dict[str, str | None] = {}
        self._known: dict[tuple[str, tuple[str, ...]], KnownRecords] = {}
        self._related_plans: dict[tuple[int, str], list[Choice] | None] = {}
        # independent records found unchanged and up to date, by id(): (record, the values compared with it)
        self._settled: dict[int, tuple[Row, Values]] = {}

    # ------------------------------------------------------------------ helpers
    def _bookkeeping(self, values: Values, stored: Row | None) -> Values:
        supplied = values.get("last_discovered")
        previous = (stored or {}).get("last_discovered") or None
        last = previous if supplied and previous and supplied < previous else supplied or self.now
        out: Values = {"discovery_source": self.data_source, "last_discovered": last}
        if stored is None:
            out["first_discovered"] = values.get("first_discovered") or self.now
        return out

    def _diff(self, row: Row, values: Values) -> Values:
        return {k: v for k, v in values.items() if k not in BOOKKEEPING and (row.get(k) or None) != v}

    def _insert(self, table: str, values: Values) -> str:
        sys_id = self.store.insert(table, values, self.user, prepared=True)
        self.created.add(sys_id)
        return sys_id

    # ------------------------------------------------------------------ sub-item validation
    def plan_subs(self, item: Item, rule: Rule) -> list[PlannedSub] | None:
        """Validate lookup and related items; returns the write plan or None (item failed)."""
        plan: list[PlannedSub] = []
        seen: set[tuple[str, tuple[str, ...]]] = set()
        for sub in item.lookups:
            entry = self._lookup_entry(rule, sub.class_name)
            if entry is None:
                item.fail(
                    "IDENTIFICATION_RULE_FOR_LOOKUP_MISSING",
                    f"Identity Rule for table [{rule.applies_to}] missing Lookup Rule for class [{sub.class_name}]",
                )
                return None
            values = prepared_values(self.store, sub.class_name, sub.values)
            planned = PlannedSub(
                sub, sub.class_name, entry.reference_field, entry.attributes, values, identity(values, entry.attributes)
            )
            marker = (entry.table, planned.key)
            if any(planned.key) and marker in seen:
                item.fail(
                    "DUPLICATE_LOOKUP_PAYLOAD",
                    f"Found duplicate lookup items in payload item '{item.label()}' for class [{sub.class_name}]",
                )
                return None
            seen.add(marker)
            plan.append(planned)
        return plan if self._plan_related(item, rule, plan, seen) else None

    def _plan_related(
        self, item: Item, rule: Rule, plan: list[PlannedSub], seen: set[tuple[str, tuple[str, ...]]]
    ) -> bool:
        """Validate the related items of ``item`` into ``plan`` (the hot loop: some 250 per CI); False: it failed."""
        prepare = self.store.prepare
        choices_by_class: dict[str, list[Choice] | None] = {}
        for sub in item.related:
            class_name = sub.class_name
            if class_name in choices_by_class:
                choices = choices_by_class[class_name]
            else:
                choices = choices_by_class[class_name] = self._related_choices(rule, class_name)
            if choices is None:
                item.fail(
                    "IDENTIFICATION_RULE_FOR_RELATED_ITEM_MISSING",
                    f"Identity Rule for table [{rule.applies_to}] missing Related Rule for class [{class_name}]",
                )
                return False
            values = prepare(class_name, sub.values)  # prepared_values() without defaults
            chosen = _first_filled(choices, values)
            if chosen is None:
                message = text("related_missing_attrs", table=class_name, item=sub.label())
                item.fail("MISSING_MATCHING_ATTRIBUTES", message)
                return False
            reference_field, attributes = chosen
            key = identity(values, attributes)
            marker = (class_name, key)
            if marker in seen:
                item.fail(
                    "DUPLICATE_RELATED_PAYLOAD",
                    f"Found duplicate related items in payload item '{item.label()}' for class [{class_name}] "
                    f"using fields [{', '.join(attributes)}]",
                )
                return False
            seen.add(marker)
            plan.append(PlannedSub(sub, class_name, reference_field, attributes, values, key))
        return True

    @staticmethod
    def _lookup_entry(rule: Rule, table: str) -> Entry | None:
        if not classes.exists(table):
            return None
        for entry in rule.entries:
            if entry.lookup and entry.table in classes.ancestors(table):
                return entry
        return None

    def _related_choices(self, rule: Rule, table: str) -> list[Choice] | None:
        """How ``rule`` matches related items of ``table``: (reference field, attributes) in order of preference.

        The first whose attributes all have a value applies; None: the rule has no related entry for the class.
        A related entry without reference field names an independent class, matched by its own rule's entries.
        Worked out once per rule and class (a payload has some 250 related items per CI).
        """
        cache_key = (id(rule), table)
        if cache_key in self._related_plans:
            return self._related_plans[cache_key]
        related = rule.related_for(table) if classes.exists(table) else []
        choices: list[Choice] | None
        if not related:
            choices = None
        elif related[0].reference_field is None:
            own = self.rules.for_class(table)
            independent = own is not None and own.independent
            choices = [(None, e.attributes) for e in own.entries if not e.lookup] if own and independent else []
        else:
            choices = [(entry.reference_field, entry.attributes) for entry in related]
        self._related_plans[cache_key] = choices
        return choices

    # ------------------------------------------------------------------ the main CI
    def apply_item(self, item: Item, rule: Rule, values: Values, match: Match) -> bool:
        """INSERT or UPDATE the item's CI; sets ``item.operation``/``sys_id``; False if it failed."""
        store = self.store
        if match.row is None:
            row_values = dict(values)
            row_values.update(self._bookkeeping(values, None))
            parent_id = parent_sys_id(item)
            dep = rule.dependency_field
            if dep and parent_id and not row_values.get(dep):
                target = classes.all_fields(item.class_name)[dep].reference
                parent_class = store.class_of("cmdb_ci", parent_id)
                if target and parent_class and parent_class in classes.descendants(target):
                    row_values[dep] = parent_id
            item.sys_id = self._insert(item.class_name, row_values)
            item.operation = "INSERT"
            return True
        row = match.row
        sys_id = row["sys_id"]
        current = row["sys_class_name"]
        target = item.class_name
        operation = "UPDATE"
        relation = classes.relation_of(current, target)
        if relation != "same":
            op, setting, prop, code = _RECLASS[relation]
            if _flag(item.settings.get(setting)):
                item.info.append(
                    {
                        "code": code,
                        "message": text("skipped_class", kind=relation, old=current, new=target, setting=setting),
                        "ruleSysId": "",
                    }
                )
                target = current
            elif not _flag(self.properties.get(prop, True)):
                item.fail(
                    "RECLASSIFICATION_NOT_ALLOWED",
                    f"CI Reclassification not allowed from class: [{current}] to [{target}]",
                )
                return False
            else:
                operation = op
        new_values = prepared_values(store, target, item.values) if target != item.class_name else values
        changes = self._diff(row, new_values)
        bookkeeping = self._bookkeeping(new_values, row)
        if target != current:
            store.reclassify(sys_id, target, self.user)
            store.update(target, sys_id, {**changes, **bookkeeping}, self.user, prepared=True)
        elif changes:
            store.update(target, sys_id, {**changes, **bookkeeping}, self.user, prepared=True)
        else:
            operation = "NO_CHANGE"
            store.touch(target, sys_id, {k: v for k, v in bookkeeping.items() if (row.get(k) or None) != v})
        for duplicate in match.duplicates:
            store.touch("cmdb_ci", duplicate, {"duplicate_of": sys_id})
        item.sys_id = sys_id
        item.operation = operation
        return True

    # ------------------------------------------------------------------ lookups and related items
    def write_subs(self, item: Item, plan: list[PlannedSub]) -> None:
        """Upsert lookup items (``relatedSysIds``) and related items (``relatedItems``)."""
        ci = item.sys_id
        groups: dict[tuple[str, str | None, str], list[PlannedSub]] = {}
        for planned in plan:
            group = (planned.table, planned.reference_field, planned.sub.kind)
            members = groups.get(group)
            if members is None:
                groups[group] = [planned]
            else:
                members.append(planned)
        for (table, reference_field, _kind), members in groups.items():
            if reference_field is None:
                self._upsert_independents(table, members)
            else:
                self._upsert_owned(table, reference_field, ci, members)
        for planned in plan:
            sub = planned.sub
            if sub.kind == "lookup":
                item.related_sys_ids.append(sub.sys_id)
            else:
                item.related_items.append(
                    {
                        "className": sub.class_name,
                        "sysId": sub.sys_id,
                        "operation": sub.operation,
                        "inputIndices": [{"mainIndex": item.index, "subIndex": sub.sub_index}],
                        "markers": (),  # empty JSON arrays; nothing adds to them (one of these per related item)
                        "mergedPayloadIds": (),
                    }
                )

    def _upsert_owned(self, table: str, reference_field: str, ci: str, members: list[PlannedSub]) -> None:
        store = self.store
        existing: dict[tuple[tuple[str, ...], tuple[str, ...]], Row] = {}
        attribute_sets = {planned.attributes for planned in members}
        for found in store.find(table, {reference_field: ci}):
            for attributes in attribute_sets:
                existing.setdefault((attributes, identity(found, attributes)), found)
        inserts: list[PlannedSub] = []
        is_ci = classes.is_ci(table)
        for planned in members:
            planned.set_reference(ci)
            row = existing.get((planned.attributes, planned.key))
            if row is None:
                if is_ci:
                    planned.values.update(self._bookkeeping(planned.values, None))
                inserts.append(planned)
                continue
            changes = self._diff(row, planned.values)
            planned.sub.sys_id = row["sys_id"]
            if changes:
                if is_ci:
                    changes.update(self._bookkeeping(planned.values, row))
                store.update(table, row["sys_id"], changes, self.user, prepared=True, rowid=int(row["_rowid"]))
                planned.sub.operation = "UPDATE"
            else:
                planned.sub.operation = "NO_CHANGE"
        if inserts:
            ids = store.insert_many(table, [p.values for p in inserts], self.user, prepared=True)
            self.created.update(ids)
            for planned, sys_id in zip(inserts, ids, strict=True):
                planned.sub.sys_id = sys_id
                planned.sub.operation = "INSERT"

    def _upsert_independents(self, table: str, members: list[PlannedSub]) -> None:
        """Upsert an item's related items of an independent class (e.g. ``cmdb_ci_spkg``).

        Each is matched on its own (oldest record with equal attributes).  When they all use the same
        attributes their keys differ (duplicates fail the item earlier), so no member's write can change
        what another one matches: their records are looked up together, through :class:`KnownRecords`.
        """
        if len({planned.attributes for planned in members}) > 1:
            for planned in members:
                attrs = {a: planned.values.get(a) for a in planned.attributes}
                self._upsert_independent(planned, next(iter(self.store.find(table, attrs)), None))
            return
        attributes = members[0].attributes
        known = self._known.get((table, attributes))
        if known is None:
            known = self._known[(table, attributes)] = KnownRecords(self.store, table, attributes)
        keys = [planned.key for planned in members]
        for planned, row in zip(members, known.first(keys), strict=True):
            self._upsert_independent(planned, row, known)

    def _upsert_independent(self, planned: PlannedSub, row: Row | None, known: KnownRecords | None = None) -> None:
        """UPDATE / NO_CHANGE the matched record ``row``, or INSERT one; ``known`` (if any) learns what was written.

        A record found unchanged and up to date for some values stays so for equal values (``row`` is
        another object once anything writes it), so the next CI with the same package skips the comparisons.
        """
        store = self.store
        if row is not None:
            settled = self._settled.get(id(row))
            if settled is not None and settled[0] is row and settled[1] == planned.values:
                planned.sub.sys_id = row["sys_id"]
                planned.sub.operation = "NO_CHANGE"
                return
        if row is None:
            values = dict(planned.values)
            values.update(self._bookkeeping(values, None))
            planned.sub.sys_id = self._insert(planned.table, values)
            planned.sub.operation = "INSERT"
            if known is not None:
                known.written(planned.key)
            return
        changes = self._diff(row, planned.values)
        bookkeeping = self._bookkeeping(planned.values, row)
        planned.sub.sys_id = row["sys_id"]
        if changes:
            store.update(planned.table, row["sys_id"], {**changes, **bookkeeping}, self.user, prepared=True)
            planned.sub.operation = "UPDATE"
            if known is not None:
                known.written(planned.key)
            return
        planned.sub.operation = "NO_CHANGE"
        # bookkeeping values the record already has are not rewritten: it would read the same
        stale = {k: v for k, v in bookkeeping.items() if (row[k] or None) != v}
        if not stale:
            self._settled[id(row)] = (row, planned.values)
            return
        store.touch(planned.table, row["sys_id"], stale)
        if known is not None:
            known.touched(planned.key, stale)

    # ------------------------------------------------------------------ sys_object_source
    def write_source(self, item: Item) -> None:
        """Create or update the item's ``sys_object_source`` row."""
        if not (item.source_name and item.native_key):
            return
        store = self.store
        last_scan_field = classes.all_fields("sys_object_source")["last_scan"]
        recency = coerce(last_scan_field, (item.source or {}).get("source_recency_timestamp", "")) or self.now
        rows = store.find("sys_object_source", {"name": item.source_name, "id": item.native_key})
        values: dict[str, object] = {
            "target_table": item.class_name,
            "target_sys_id": item.sys_id,
            "feed": (item.source or {}).get("source_feed", ""),
        }
        if rows:
            previous = rows[0].get("last_scan") or ""
            values["last_scan"] = max(previous, recency)
            store.update("sys_object_source", rows[0]["sys_id"], values, self.user)
        else:
            values.update({"name": item.source_name, "id": item.native_key, "last_scan": recency})
            self._insert("sys_object_source", store.prepare("sys_object_source", values))

    # ------------------------------------------------------------------ relations
    def _rel_type_id(self, name: str) -> str | None:
        """sys_id of the (oldest) relationship type ``name``; looked up once per request (IRE never writes types)."""
        if name not in self._rel_types:
            types = self.store.find("cmdb_rel_type", {"name": name})
            self._rel_types[name] = types[0]["sys_id"] if types else None
        return self._rel_types[name]

    def write_relations(self, relations: list[Relation]) -> None:
        """Upsert the ``cmdb_rel_ci`` rows of ``relations`` in payload order (INSERT, NO_CHANGE or a failure).

        The stored ones are looked up together: nothing writes relations before the new ones are inserted,
        at the end, and a relation repeating the parent, child and type of an earlier one fails unlooked.
        """
        seen: set[tuple[str, ...]] = set()
        keyed: list[tuple[Relation, tuple[str, ...]]] = []
        for relation in relations:
            key = self._relation_key(relation)
            if key is None:
                continue
            if key in seen:
                relation.fail(
                    "MULTI_MATCH",
                    f"Found multiple relations of type [{relation.type_name}] between the same payload items",
                )
                continue
            seen.add(key)
            keyed.append((relation, key))
        stored = {identity(row, _RELATION_KEY) for row in self.store.find_in("cmdb_rel_ci", _RELATION_KEY, list(seen))}
        new: list[Mapping[str, object]] = []
        for relation, key in keyed:
            if key in stored:
                relation.operation = "NO_CHANGE"
            else:
                new.append(dict(zip(_RELATION_KEY, key, strict=True)))
                relation.operation = "INSERT"
        if new:
            self.created.update(self.store.insert_many("cmdb_rel_ci", new, self.user, prepared=True))

    def _relation_key(self, relation: Relation) -> tuple[str, ...] | None:
        """(parent, child, type) sys_ids of a relation, or None: it fails (an end or the type is unknown)."""
        assert relation.parent is not None and relation.child is not None
        parent, child = relation.parent, relation.child
        parent_id = effective(owner_of(parent)).sys_id if parent is owner_of(parent) else parent.sys_id
        child_id = effective(owner_of(child)).sys_id if child is owner_of(child) else child.sys_id
        type_id = self._rel_type_id(relation.type_name)
        if not parent_id or not child_id or type_id is None:
            relation.fail("ABANDONED", "Can't find matched record for relation")
            return None
        return (str(parent_id), str(child_id), type_id)
