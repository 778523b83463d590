"""Identification and Reconciliation API (reference section 2): ``/api/now/[v1|v2/]identifyreconcile``.

Endpoints: classic (commits), ``/enhanced`` (commits, ``options=`` query parameter), ``/query`` and
``/queryEnhanced`` (dry runs: everything is computed inside a rolled-back transaction; sys_ids of
records that would be created come back as ``"Unknown"``).

Item-level failures are HTTP 200 with ``hasError: true``, ``sysId: "Unknown"`` and ``operation:
"NO_CHANGE"`` on the failed item.  A missing or unknown ``sysparm_data_source`` (a query parameter;
the body is not read for it) fails every item with ``INVALID_INPUT_DATA``.  The classic endpoint rejects
a payload with duplicate items (every item fails with ``DUPLICATE_PAYLOAD_RECORDS``); the enhanced
endpoint merges them (``inputIndices`` lists every merged input) unless ``deduplicate_payloads:false``.
With ``partial_payloads`` (enhanced default) items missing matching attributes or their dependency
become ``INSERT_AS_PARTIAL`` with a warning and a row in ``cmdb_ire_partial_payloads``.
"""

from __future__ import annotations

import gc
import hashlib
import itertools
import json
import re
import threading
from dataclasses import dataclass

from simulators.servicenow import classes
from simulators.servicenow.auth import User
from simulators.servicenow.identification import Identifier, Values, prepared_values
from simulators.servicenow.instance import Instance
from simulators.servicenow.payload import (
    UNKNOWN,
    Item,
    Payload,
    PayloadError,
    ReferenceItem,
    Relation,
    effective,
    owner_of,
    parse_payload,
)
from simulators.servicenow.reconciliation import Reconciler
from simulators.servicenow.replies import Reply, Request, error_reply, large_json_reply
from simulators.servicenow.store import is_sys_id
from simulators.servicenow.unverified import text

PATH = re.compile(r"^/api/now/(?:v[12]/)?identifyreconcile(?:/(?P<mode>enhanced|query|queryEnhanced))?/?$")
_log_ids = itertools.count(1)


@dataclass(slots=True)
class Options:
    """Enhanced IRE options (``options=partial_payloads:true,generate_summary:true``)."""

    partial_payloads: bool = True
    partial_commits: bool = True
    deduplicate_payloads: bool = True
    generate_summary: bool = False

    @classmethod
    def parse(cls, raw: str | None) -> Options:
        """Parse the option string; ``partial_payloads:true`` forces the other two flags on."""
        options = cls()
        for part in (raw or "").split(","):
            name, sep, value = part.partition(":")
            name = name.strip()
            if sep and name in ("partial_payloads", "partial_commits", "deduplicate_payloads", "generate_summary"):
                setattr(options, name, value.strip().lower() == "true")
        if options.partial_payloads:
            options.partial_commits = True
            options.deduplicate_payloads = True
        return options


class _GcPause:
    """Suspends automatic garbage collection while IRE requests run (re-entrant across threads).

    A 500-CI payload keeps about a million objects alive until its reply is written; with automatic
    collection Python walked them all in some ten full collections per request, a quarter of its time.
    Nothing a request builds needs the collector: it leaves no reference cycles (see
    :meth:`Payload.unlink`), so reference counting frees it all when it ends.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running = 0
        self._was_enabled = False

    def __enter__(self) -> None:
        with self._lock:
            if self._running == 0:
                self._was_enabled = gc.isenabled()
                gc.disable()
            self._running += 1

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._running -= 1
            if self._running == 0 and self._was_enabled:
                gc.enable()


_GC_PAUSE = _GcPause()


class _Rollback(Exception):
    """Raised to undo a payload when partial commits are off."""


class Engine:
    """One IRE request."""

    def __init__(
        self,
        inst: Instance,
        payload: Payload,
        data_source: str | None,
        options: Options,
        enhanced: bool,
        commit: bool,
        user: str,
    ) -> None:
        self.inst = inst
        self.store = inst.store
        self.payload = payload
        self.data_source = data_source
        self.options = options
        self.enhanced = enhanced
        self.commit = commit
        self.identifier = Identifier(inst.store, inst.properties)
        self.reconciler = Reconciler(inst.store, inst.rules, inst.properties, data_source or "", user)
        self.refs_by_owner: dict[int, list[ReferenceItem]] = {}

    # ------------------------------------------------------------------ driver
    def run(self) -> dict[str, object]:
        """Process the payload (committing or not) and return the ``result`` document."""
        with self.store.lock:
            context = self.store.transaction() if self.commit else self.store.dry_run()
            with context:
                if self.enhanced and not self.options.partial_commits:
                    try:
                        with self.store.transaction():
                            self._process()
                            if self._has_error():
                                raise _Rollback
                    except _Rollback:
                        self._abandon_successes()
                else:
                    self._process()
            return self._render()

    def _has_error(self) -> bool:
        return any(i.failed for i in self.payload.items) or any(r.errors for r in self.payload.relations)

    def _abandon_successes(self) -> None:
        self.reconciler.created.clear()
        for item in self.payload.items:
            if not item.failed and item.merged_into is None:
                item.fail("ABANDONED", text("partial_commit_abandoned", item=item.label()))
                item.related_items.clear()
                item.related_sys_ids.clear()
        for relation in self.payload.relations:
            if not relation.errors:
                relation.fail("ABANDONED", "Abandoning processing relation since partial commits are disabled")

    def _process(self) -> None:
        items = self.payload.items
        for item, code, message in self.payload.errors:
            item.fail(code, message)
        if self.data_source is None or self.data_source not in self.store.discovery_sources():
            shown = "null" if self.data_source is None else self.data_source
            for item in items:
                item.errors.clear()
                item.fail(
                    "INVALID_INPUT_DATA",
                    f"In payload invalid data source [{shown}] exist. You need to provide a valid choice value "
                    "from field [discovery_source] in table [cmdb_ci]",
                )
            self._relations()
            return
        for item in items:
            if not item.failed:
                self._validate(item)
        self._validate_relations()
        self._dependencies()
        if not self._deduplicate():
            self._relations()
            return
        for item in self._order():
            self._process_item(item)
        self._relations()

    # ------------------------------------------------------------------ validation
    def _validate(self, item: Item) -> None:
        if not classes.is_ci(item.class_name):
            item.fail("INVALID_INPUT_DATA", text("ire_bad_class", cls=item.class_name))
            return
        rule = self.inst.rules.for_class(item.class_name)
        if rule is None:
            item.fail("IDENTIFICATION_RULE_MISSING", f"Identity Rule Missing for table [{item.class_name}]")
            return
        if not rule.independent and item.lookups:
            item.fail(
                "NO_LOOKUP_RULES_FOR_DEPENDENT_CI",
                f"Lookup items are not allowed for dependent CI class [{item.class_name}]",
            )
            return
        for sub in (*item.lookups, *item.related):
            if not classes.exists(sub.class_name):
                item.fail(
                    "INVALID_INPUT_DATA",
                    text("ire_bad_sub_item", index=item.index, kind=sub.kind, cls=sub.class_name),
                )
                return
        item.rule = rule

    def _validate_relations(self) -> None:
        known = {row["name"] for row in self.store.find("cmdb_rel_type", {})}
        for relation in self.payload.relations:
            if relation.errors:
                continue
            if relation.type_name not in known:
                relation.fail(
                    "INVALID_INPUT_DATA",
                    f"No such relationship with name [{relation.type_name}] exist in table [cmdb_rel_type]. "
                    "Add this relationship type in table [cmdb_rel_type] or fix the payload",
                )

    def _dependencies(self) -> None:
        by_child: dict[int, list[Relation]] = {}
        for relation in self.payload.relations:
            by_child.setdefault(id(relation.child), []).append(relation)
        for ref in self.payload.references:
            self.refs_by_owner.setdefault(id(owner_of(ref.by)), []).append(ref)
        for item in self.payload.items:
            rule = item.rule
            if item.failed or rule is None or rule.independent:
                continue
            for relation in by_child.get(id(item), []):
                if (
                    not relation.errors
                    and relation.parent is not None
                    and owner_of(relation.parent) is not item
                    and relation.type_name in rule.relation_types
                ):
                    item.parent = relation.parent
                    break
            if item.parent is None and rule.dependency_field:
                value = str(item.values.get(rule.dependency_field) or "")
                if value and is_sys_id(value) and self.store.get("cmdb_ci", value) is not None:
                    item.parent_sys_id = value
                for ref in self.refs_by_owner.get(id(item), []):
                    if ref.by is item and ref.field == rule.dependency_field and owner_of(ref.target) is not item:
                        item.parent = ref.target
            if item.parent is not None:
                item.depends_on.append(owner_of(item.parent))
            elif item.parent_sys_id is None:
                self._partial_or_fail(
                    item,
                    "MISSING_DEPENDENCY",
                    text(
                        "missing_dependency",
                        cls=item.class_name,
                        types=list(rule.relation_types),
                        field=rule.dependency_field,
                    ),
                )
        for ref in self.payload.references:
            by, target = owner_of(ref.by), owner_of(ref.target)
            if by is not target and target not in by.depends_on:
                by.depends_on.append(target)

    def _deduplicate(self) -> bool:
        """Detect duplicate items; classic: reject the payload (False), enhanced: merge them."""
        first_by_key: dict[object, Item] = {}
        for item in self.payload.items:
            if item.failed or item.partial or item.rule is None:
                continue
            values = prepared_values(self.store, item.class_name, item.values)
            keys: list[tuple[object, list[str]]] = []
            if item.source_name and item.native_key:
                keys.append((("source", item.source_name, item.native_key), ["sys_object_source_info"]))
            sys_id = str(item.values.get("sys_id") or "")
            if sys_id:
                keys.append((("sys_id", sys_id), ["sys_id"]))
            found = self.identifier.criterion_keys(item, item.rule, values)
            if found is not None:
                parent_marker: object = None
                if not item.rule.independent:
                    parent = item.parent
                    if parent is None:
                        parent_marker = item.parent_sys_id
                    else:
                        parent_marker = id(effective(parent) if isinstance(parent, Item) else parent)
                keys.append(((parent_marker, found[0]), found[1]))
            for key, fields in keys:
                first = first_by_key.get(key)
                if first is None:
                    continue
                if self.enhanced and self.options.deduplicate_payloads:
                    self._merge(first, item)
                    break
                message = (
                    f"Found duplicate items in the payload (index {first.index} and {item.index}), using className "
                    f"[{item.class_name}] and fields [{', '.join(fields)}]. Remove duplicate items from payload"
                )
                for other in self.payload.items:
                    other.errors.clear()
                    other.fail("DUPLICATE_PAYLOAD_RECORDS", message)
                return False
            if item.merged_into is None:
                for key, _fields in keys:
                    first_by_key.setdefault(key, item)
        return True

    def _merge(self, first: Item, duplicate: Item) -> None:
        duplicate.merged_into = first
        self.refs_by_owner.setdefault(id(first), []).extend(self.refs_by_owner.pop(id(duplicate), []))
        first.input_indices.append(duplicate.index)
        for name, value in duplicate.values.items():
            if value not in (None, ""):
                first.values[name] = value
        for sub in duplicate.lookups:
            sub.owner = first
            if all(sub.values != other.values or sub.class_name != other.class_name for other in first.lookups):
                first.lookups.append(sub)
        for sub in duplicate.related:
            sub.owner = first
            if all(sub.values != other.values or sub.class_name != other.class_name for other in first.related):
                first.related.append(sub)
        for dependency in duplicate.depends_on:
            if dependency is not first and dependency not in first.depends_on:
                first.depends_on.append(dependency)

    def _order(self) -> list[Item]:
        """The items to process, each after the items it depends on (payload order otherwise)."""
        seen: set[int] = set()
        order: list[Item] = []
        for item in self.payload.items:
            if item.merged_into is None:
                self._visit(item, seen, order)
        return order

    def _visit(self, item: Item, seen: set[int], order: list[Item]) -> None:
        # a method, not a closure: a recursive closure is a reference cycle holding every item
        if id(item) in seen:
            return
        seen.add(id(item))
        for dependency in item.depends_on:
            self._visit(effective(dependency), seen, order)
        order.append(item)

    # ------------------------------------------------------------------ processing
    def _partial_or_fail(self, item: Item, code: str, message: str) -> None:
        if self.enhanced and self.options.partial_payloads:
            item.partial = True
            item.operation = "INSERT_AS_PARTIAL"
            item.sys_id = UNKNOWN
            item.warnings.append({"error": code, "message": message})
            row = {
                "class_name": item.class_name,
                "discovery_source": self.data_source or "",
                "payload": item.label(),
                "error": f"{code}: {message}",
            }
            sys_id = self.store.insert("cmdb_ire_partial_payloads", row, self.reconciler.user)
            self.reconciler.created.add(sys_id)
            item.partial_ids.append(sys_id)
        else:
            item.fail(code, message)

    def _process_item(self, item: Item) -> None:
        rule = item.rule
        if item.failed or item.partial or item.merged_into is not None or rule is None:
            return
        if isinstance(item.parent, Item):
            item.parent = effective(item.parent)
        for dependency in item.depends_on:
            parent = effective(dependency)
            if parent.failed or not (parent.done or parent.partial):
                item.fail(
                    "ABANDONED",
                    f"Abandoning processing payload item '{item.label()}', since its depends on payload item "
                    f"'{parent.label()}' has errors",
                )
                return
            if parent.partial:
                self._partial_or_fail(
                    item, "MISSING_DEPENDENCY", f"Payload item '{item.label()}' depends on a partial payload item"
                )
                return
        for ref in self.refs_by_owner.get(id(item), []):
            target = ref.target
            target_id = effective(target).sys_id if isinstance(target, Item) else target.sys_id
            if not target_id or target_id == UNKNOWN:
                item.fail(
                    "ABANDONED",
                    f"Abandoning processing payload item '{item.label()}', since its depends on payload item "
                    f"'{owner_of(target).label()}' has errors",
                )
                return
            ref.by.values[ref.field] = target_id
        values: Values = prepared_values(self.store, item.class_name, item.values)
        match = self.identifier.identify(item, rule, values)
        if match.error:
            return
        if match.missing:
            self._partial_or_fail(
                item,
                "MISSING_MATCHING_ATTRIBUTES",
                "In payload missing minimum set of input values for criterion (matching) attributes from identify "
                f"rule for table [{rule.applies_to}]. Add these input values in payload item '{item.label()}'",
            )
            return
        plan = self.reconciler.plan_subs(item, rule)
        if plan is None:
            return
        if not self.reconciler.apply_item(item, rule, values, match):
            return
        self.reconciler.write_subs(item, plan)
        self.reconciler.write_source(item)
        item.done = True

    def _relations(self) -> None:
        ready: list[Relation] = []
        for relation in self.payload.relations:
            if relation.errors or relation.parent is None or relation.child is None:
                continue
            parent, child = effective(owner_of(relation.parent)), effective(owner_of(relation.child))
            broken = next((e for e in (parent, child) if e.failed or not (e.done or e.partial)), None)
            if broken is not None:
                relation.fail(
                    "ABANDONED",
                    f"Abandoning processing relation at index {relation.index}, since its depends on payload item "
                    f"'{broken.label()}' has errors",
                )
                continue
            if parent.partial or child.partial:
                relation.operation = "INSERT_AS_PARTIAL"
                continue
            ready.append(relation)
        self.reconciler.write_relations(ready)

    # ------------------------------------------------------------------ rendering
    def _id(self, sys_id: str | None) -> str | None:
        if not self.commit and sys_id in self.reconciler.created:
            return UNKNOWN
        return sys_id

    def _related_items(self, item: Item) -> list[dict[str, object]]:
        """``relatedItems``: a dry run shows copies without the sys_ids it would have created."""
        if self.commit:
            return item.related_items
        return [dict(r, sysId=self._id(str(r["sysId"]))) for r in item.related_items]

    def _render_item(self, item: Item) -> dict[str, object]:
        out: dict[str, object] = {
            "className": item.class_name,
            "operation": item.operation,
            "sysId": self._id(item.sys_id),
            "identifierEntrySysId": item.entry_sys_id,
            "identificationAttempts": item.attempts,
            "relatedSysIds": [self._id(s) for s in item.related_sys_ids],
            "relatedItems": self._related_items(item),
            "additionalRelatedItems": [],
            "duplicateLookupIndices": {},
            "errors": item.errors,
            "errorCount": len(item.errors),
        }
        if item.info:
            out["info"] = item.info
        if self.enhanced:
            out["warnings"] = item.warnings
            out["warningCount"] = len(item.warnings)
            out["partialSysIds"] = [self._id(s) for s in item.partial_ids]
            out["mergedPayloadIds"] = []
        out["inputIndices"] = item.input_indices
        out["markers"] = []
        return out

    @staticmethod
    def _render_relation(relation: Relation) -> dict[str, object]:
        return {
            "className": "cmdb_rel_ci",
            "operation": relation.operation,
            "inputIndices": [relation.index],
            "errors": relation.errors,
            "errorCount": len(relation.errors),
            "markers": [],
            "mergedPayloadIds": [],
        }

    def _summary(self, items: list[Item]) -> dict[str, dict[str, int]]:
        summary: dict[str, dict[str, int]] = {}
        names = (
            "inserted",
            "updated",
            "unchanged",
            "skipped",
            "partial",
            "incomplete",
            "errors",
            "warnings",
            "additionalInserted",
            "mergedPartialPayloads",
        )
        for item in items:
            counts = summary.setdefault(item.class_name, dict.fromkeys(names, 0))
            counts["warnings"] += len(item.warnings)
            if item.failed:
                counts["errors"] += 1
            elif item.operation == "INSERT":
                counts["inserted"] += 1
            elif item.operation.startswith("UPDATE"):
                counts["updated"] += 1
            elif item.operation == "INSERT_AS_PARTIAL":
                counts["partial"] += 1
            else:
                counts["unchanged"] += 1
        return summary

    def _render(self) -> dict[str, object]:
        items = [i for i in self.payload.items if i.merged_into is None]
        relations = self.payload.relations
        has_error = any(i.failed for i in items) or any(r.errors for r in relations)
        has_warning = any(i.warnings for i in items)
        result: dict[str, object] = {
            "items": [self._render_item(i) for i in items],
            "relations": [self._render_relation(r) for r in relations],
            "additionalCommittedItems": [],
            "additionalCommittedRelations": [],
            "hasError": has_error,
            "hasWarning": has_warning,
            "logContextId": hashlib.md5(f"log:{next(_log_ids)}".encode(), usedforsecurity=False).hexdigest(),
        }
        if self.enhanced and self.options.generate_summary:
            result["summary"] = self._summary(items)
        return result


def handle(inst: Instance, req: Request, user: User) -> Reply:
    """``POST /api/now/[v1|v2/]identifyreconcile[/enhanced|/query|/queryEnhanced]``."""
    match = PATH.match(req.path)
    assert match is not None
    mode = match.group("mode") or "classic"
    if req.method != "POST":
        return error_reply(405, text("method_not_allowed"), text("method_not_allowed.detail", method=req.method))
    if not user.has_role("itil", "asset"):
        return error_reply(403, "User Not Authorized", text("ire_forbidden.detail"))
    with _GC_PAUSE:
        return _identify_reconcile(inst, req, user, mode)


def _identify_reconcile(inst: Instance, req: Request, user: User, mode: str) -> Reply:
    try:
        body = json.loads(req.body.decode("utf-8") or "null")
        payload = parse_payload(body)
    except (ValueError, UnicodeDecodeError) as exc:
        if isinstance(exc, PayloadError):
            return error_reply(400, text("ire_bad_payload"), text("ire_bad_payload.detail"))
        return error_reply(400, text("bad_json"), text("bad_json.detail"))
    enhanced = mode in ("enhanced", "queryEnhanced")
    options = Options.parse(req.param("options")) if enhanced else Options(False, True, False, False)
    engine = Engine(
        inst,
        payload,
        req.param("sysparm_data_source"),
        options,
        enhanced,
        mode in ("classic", "enhanced"),
        user.username,
    )
    result = engine.run()
    inst.stats.record_ire(
        [(i.operation, [e["error"] for e in i.errors]) for i in payload.items if i.merged_into is None]
    )
    reply = large_json_reply(200, {"result": result})  # the result holds no floats
    reply.cost = _cost(inst, payload)
    payload.unlink()
    return reply


def _cost(inst: Instance, payload: Payload) -> dict[str, int]:
    """What the latency model charges for: main CIs (items of a class with an independent identification rule,
    or with none), entries of the items' ``related`` lists, and dependent items (a dependent rule's class)."""
    dependents = 0
    for item in payload.items:
        rule = inst.rules.for_class(item.class_name) if classes.is_ci(item.class_name) else None
        if rule is not None and not rule.independent:
            dependents += 1
    return {
        "cis": len(payload.items) - dependents,
        "related": sum(len(item.related) for item in payload.items),
        "dependents": dependents,
    }
