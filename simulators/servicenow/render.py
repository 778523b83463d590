"""Record rendering for the Table API (reference section 1.2).

Every value is a string.  Reference fields are ``{"link": <table API url>, "value": sys_id}`` unless
``sysparm_exclude_reference_link=true`` (empty references are ``""``).  ``sysparm_display_value``:
``false`` raw values, ``true`` display values (reference -> display field of the referenced record,
choice -> label, ``sys_class_name`` -> class label), ``all`` -> ``{"display_value", "value"}`` for every
field (plus ``link`` for references).  ``sysparm_fields`` picks fields (dot-walk allowed, keys appear
literally, e.g. ``"manufacturer.name"``); unknown names are ignored.  Only fields of the table named in
the URL are shown, whichever subclass the row belongs to.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from simulators.servicenow import classes
from simulators.servicenow.classes import Field
from simulators.servicenow.query_sql import expression
from simulators.servicenow.store import Row, Store


@dataclass(slots=True)
class RenderOptions:
    """How to render records."""

    base_url: str
    display: str = "false"  # "false", "true" or "all"
    exclude_links: bool = False
    fields: list[str] | None = None


@dataclass(slots=True)
class _Cache:
    rows: dict[tuple[str, str], Row | None] = field(default_factory=dict)
    displays: dict[tuple[str, str], str] = field(default_factory=dict)


class Renderer:
    """Renders rows of one table for one request (caches referenced records)."""

    def __init__(self, store: Store, table: str, options: RenderOptions) -> None:
        self.store = store
        self.table = table
        self.options = options
        self.cache = _Cache()
        fields = classes.all_fields(table)
        if options.fields is None:
            self.columns: list[str] = list(fields)
        else:
            self.columns = [name for name in options.fields if expression(table, name) is not None]

    def _record(self, table: str, sys_id: str) -> Row | None:
        key = (classes.root(table), sys_id)
        if key not in self.cache.rows:
            self.cache.rows[key] = self.store.get(classes.root(table), sys_id)
        return self.cache.rows[key]

    def _display_of_reference(self, f: Field, value: str) -> str:
        assert f.reference is not None
        key = (f.reference, value)
        if key not in self.cache.displays:
            self.cache.displays[key] = self.store.display_values(f.reference, [value]).get(value, "")
        return self.cache.displays[key]

    def prefetch(self, rows: list[Row]) -> None:
        """Load display values of every reference in ``rows`` in a few queries."""
        if self.options.display == "false":
            return
        fields = classes.all_fields(self.table)
        wanted: dict[str, set[str]] = {}
        for name in self.columns:
            f = fields.get(name)
            if f is not None and f.type == "reference" and f.reference:
                wanted.setdefault(f.reference, set()).update(r.get(name, "") for r in rows if r.get(name))
        for table, ids in wanted.items():
            found = self.store.display_values(table, ids)
            for sys_id in ids:
                self.cache.displays[(table, sys_id)] = found.get(sys_id, "")

    def _display(self, f: Field, value: str) -> str:
        if value == "":
            return ""
        if f.type == "reference":
            return self._display_of_reference(f, value)
        if f.type == "choice":
            return classes.choice_label(f, value)
        if f.name == "sys_class_name" and classes.exists(value):
            return classes.TABLES[value].label
        return value

    def value(self, f: Field, raw: str) -> object:
        """Rendered value of one field."""
        mode = self.options.display
        if f.type == "reference" and f.reference and raw:
            link = f"{self.options.base_url}/api/now/table/{f.reference}/{raw}"
            if mode == "false":
                return raw if self.options.exclude_links else {"link": link, "value": raw}
            shown = self._display(f, raw)
            if mode == "true":
                return shown if self.options.exclude_links else {"display_value": shown, "link": link}
            document: dict[str, str] = {"display_value": shown}
            if not self.options.exclude_links:
                document["link"] = link
            document["value"] = raw
            return document
        if mode == "false":
            return raw
        shown = self._display(f, raw)
        if mode == "true":
            return shown
        return {"display_value": shown, "value": raw}

    def _walk(self, row: Row, path: str) -> tuple[Field, str] | None:
        table = self.table
        current: Row | None = row
        parts = path.split(".")
        for position, name in enumerate(parts):
            f = classes.all_fields(table).get(name)
            if f is None or current is None:
                return None
            raw = current.get(name, "")
            if position == len(parts) - 1:
                return f, raw
            if f.reference is None:
                return None
            table = f.reference
            current = self._record(table, raw) if raw else None
            if current is None:
                return f, ""
        return None

    def render(self, row: Row) -> dict[str, object]:
        """One record as the Table API shows it."""
        fields = classes.all_fields(self.table)
        out: dict[str, object] = {}
        for name in self.columns:
            f = fields.get(name)
            if f is not None:
                out[name] = self.value(f, row.get(name, ""))
                continue
            walked = self._walk(row, name)
            if walked is not None:
                out[name] = self.value(walked[0], walked[1])
        return out
