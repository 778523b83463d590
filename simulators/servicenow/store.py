"""SQLite-backed record store with class inheritance.

Every hierarchy is stored once, in one physical table per root (``t_cmdb_ci`` holds every CI class,
``t_cmdb_model`` every model class, ``t_<name>`` every plain table); the row's class is in
``sys_class_name``.  A view named after every table (``cmdb_ci_linux_server``, ``cmdb_ci_hardware``,
...) shows that class and its subclasses with that class's fields, for browsing the file with any
SQLite tool.  Empty values are stored as NULL and read back as ``""``.

Values are coerced on the way in like the platform does: strings are truncated to the field's max
length, integers must parse, booleans become ``"true"``/``"false"``, date-times must be
``YYYY-MM-DD HH:MM:SS`` (anything else is stored empty).  sys_ids are 32 hex characters derived from a
persistent counter and the store's seed, so a run is reproducible and a file-backed store never
reuses an id after a restart.

All access goes through :attr:`Store.lock` (one re-entrant lock; callers hold it for a whole request).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import re
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime

from simulators.servicenow import classes
from simulators.servicenow.classes import Field
from simulators.servicenow.encoded_query import EncodedQuery
from simulators.servicenow.query_sql import QueryContext, compile_query, physical, quote

Row = dict[str, str]

_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SYS_ID = re.compile(r"^[0-9a-f]{32}$")
_BOOKKEEPING = frozenset({*classes.SYS_FIELDS, "sys_class_name"})
_TYPED_KINDS = frozenset(
    {"boolean", "integer", "longint", "decimal", "glide_date_time", "glide_date", "reference", "GUID"}
)
_MODEL_CLASSES = frozenset(classes.descendants("cmdb_model"))
# what every new record gets, in this order, after its values
_SYS_COLUMNS = (
    "sys_id",
    "sys_class_name",
    "sys_created_on",
    "sys_updated_on",
    "sys_created_by",
    "sys_updated_by",
    "sys_mod_count",
)
_INDEXED = (
    "sys_class_name",
    "name",
    "serial_number",
    "object_id",
    "key",
    "mac_address",
    "ip_address",
    "correlation_id",
    "cmdb_ci",
    "installed_on",
    "software",
    "parent",
    "child",
    "computer",
    "nic",
    "u_ci",
    "target_sys_id",
    "element",
    "id",
)
# Tables indexed otherwise than the rest (sys_id primary key, the _INDEXED columns they have): whether sys_id is
# the primary key, and the indexed columns.  Software instances (about 120 per computer, so millions of rows)
# are only ever searched by the CI they are installed on.  Their other indexes were most of why an IRE batch,
# which inserts 60,000 of them, got a second slower by 6 million rows: name (a few thousand names, each one's
# entries ending elsewhere in the index: nearly every insert splits another page) and sys_id (random keys:
# nearly every insert lands on, and journals, another page).  Finding one by sys_id (Table API) reads the
# whole table; IRE updates them by rowid.
_OWN_INDEXES: dict[str, tuple[bool, tuple[str, ...]]] = {"t_cmdb_software_instance": (False, ("installed_on",))}


def utc_now() -> str:
    """Wall-clock time as ``YYYY-MM-DD HH:MM:SS`` (UTC)."""
    return _format_second(int(time.time()))


@functools.lru_cache(maxsize=1)
def _format_second(second: int) -> str:
    # formatted once per second: IRE stamps every record it inserts
    return datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%d %H:%M:%S")


def is_sys_id(value: str) -> bool:
    """Whether ``value`` looks like a sys_id (32 lowercase hex characters)."""
    return bool(_SYS_ID.match(value))


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dict):
        # A record read back with reference links ({"link", "value"}) or display values.
        inner = value.get("value", value.get("display_value"))
        if inner is not None and not isinstance(inner, dict | list):
            return _text(inner)
        return json.dumps(value, separators=(",", ":"))
    if isinstance(value, list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def coerce(f: Field, value: object) -> str | None:
    """Stored form of ``value`` for field ``f`` (None = empty).

    Plain text fields come first: IRE coerces every value of every payload item.
    """
    text = value if type(value) is str else _text(value)
    kind = f.type
    if kind not in _TYPED_KINDS:
        return text[: f.max_length] if text else None
    if kind == "boolean":
        lowered = text.strip().lower()
        if lowered in ("true", "1", "yes", "y"):
            return "true"
        return "false"
    if text == "":
        return None
    if kind in ("integer", "longint"):
        try:
            return str(int(text.strip()))
        except ValueError:
            try:
                return str(int(float(text.strip())))
            except (ValueError, OverflowError):
                return None
    if kind == "decimal":
        try:
            float(text.strip())
        except ValueError:
            return None
        return text.strip()
    if kind == "glide_date_time":
        return _date_time(text)
    if kind == "glide_date":
        text = text.strip()
        return text[:10] if _DATE.match(text[:10]) and (len(text) == 10 or _DATETIME.match(text)) else None
    return text.strip()[: max(f.max_length, 32)] or None  # reference, GUID


@functools.lru_cache(maxsize=65536)
def _date_time(text: str) -> str | None:
    """Stored form of a date-time: ``YYYY-MM-DD HH:MM:SS``, a date at midnight, anything else empty.

    Remembered: a payload repeats the same install dates many times.
    """
    text = text.strip()
    if _DATE.match(text):
        return text + " 00:00:00"
    return text if _DATETIME.match(text) else None


@functools.cache
def _writable_fields(table: str, internal: bool) -> tuple[dict[str, int], dict[str, Field]]:
    """The fields :meth:`Store.prepare` keeps, and among them the plain text ones with their max length.

    Plain text fields (no type to check, not a choice) only need truncating; a payload value is nearly always one.
    """
    fields = {
        name: f
        for name, f in classes.all_fields(table).items()
        if not (name.startswith("sys_") and (not internal or name in _BOOKKEEPING))
    }
    plain = {name: f.max_length for name, f in fields.items() if f.type not in _TYPED_KINDS and f.type != "choice"}
    return plain, fields


def _stored_form(values: Mapping[str, object]) -> dict[str, str | None]:
    """Already coerced values as stored: text, or None for empty."""
    return {k: (None if v is None or v == "" else v if type(v) is str else str(v)) for k, v in values.items()}


class Store:
    """The CMDB and its side tables."""

    def __init__(self, path: str | None = None, seed: int = 1, discovery_sources: Iterable[str] = ()) -> None:
        self.lock = threading.RLock()
        self.path = path
        self.db = sqlite3.connect(path or ":memory:", check_same_thread=False, isolation_level=None)
        if path:
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
        self._depth = 0
        self._savepoint = 0
        self._insert_sql: dict[tuple[str, tuple[str, ...]], str] = {}
        self._writes: dict[str, int] = {}  # per class: writes that may have changed its records
        self._epoch = 0  # writes that may have changed anything (rollbacks, resets)
        with self.lock:
            self._create_schema()
            stored_seed = self.meta("seed")
            if stored_seed is None:
                self.seed = seed
                self.counter = 0
                with self.transaction():
                    self.set_meta("seed", str(seed))
                    self._seed_reference_data(tuple(discovery_sources) or classes.DEFAULT_DISCOVERY_SOURCES)
            else:
                self.seed = int(stored_seed)
                self.counter = int(self.meta("counter") or "0")

    # ------------------------------------------------------------------ schema
    def _create_schema(self) -> None:
        db = self.db
        db.execute("CREATE TABLE IF NOT EXISTS t__meta (key TEXT PRIMARY KEY, value TEXT)")
        for top in classes.roots():
            table = physical(top)
            columns = classes.storage_columns(top)
            keyed, indexed = _OWN_INDEXES.get(table, (True, _INDEXED))
            key = " PRIMARY KEY" if keyed else ""
            db.execute(f"CREATE TABLE IF NOT EXISTS {quote(table)} (sys_id TEXT{key}, sys_class_name TEXT)")
            existing = {row[1] for row in db.execute(f"PRAGMA table_info({quote(table)})")}
            for f in columns:
                if f.name not in existing:
                    db.execute(f"ALTER TABLE {quote(table)} ADD COLUMN {quote(f.name)} TEXT")
            names = {f.name for f in columns}
            for column in _INDEXED:
                index = quote(f"ix_{table}_{column}")
                if column in names and column in indexed:
                    db.execute(f"CREATE INDEX IF NOT EXISTS {index} ON {quote(table)} ({quote(column)})")
                elif column in names:
                    db.execute(f"DROP INDEX IF EXISTS {index}")  # made by an earlier version of a file store
        for name in classes.TABLES:
            fields = ", ".join(quote(f) for f in classes.all_fields(name))
            where = ""
            if classes.extensible(name) and classes.descendants(name) != classes.descendants(classes.root(name)):
                members = ", ".join("'" + n + "'" for n in classes.descendants(name))
                where = f" WHERE sys_class_name IN ({members})"
            db.execute(f"DROP VIEW IF EXISTS {quote(name)}")
            db.execute(f"CREATE VIEW {quote(name)} AS SELECT {fields} FROM {quote(physical(name))}{where}")  # noqa: S608 - identifiers come from the class model

    def _seed_reference_data(self, discovery_sources: tuple[str, ...]) -> None:
        self.set_discovery_sources(discovery_sources)
        for choice_name in ("install_status", "operational_status"):
            for seq, (value, label) in enumerate(classes.CHOICES[choice_name]):
                self.insert(
                    "sys_choice",
                    {"name": "cmdb_ci", "element": choice_name, "value": value, "label": label, "sequence": seq},
                )
        for name in classes.REL_TYPES:
            parent_desc, _, child_desc = name.partition("::")
            self.insert(
                "cmdb_rel_type", {"name": name, "parent_descriptor": parent_desc, "child_descriptor": child_desc}
            )
        self._seed_companies()

    def _seed_companies(self) -> None:
        for name in classes.DEFAULT_COMPANIES:
            self.insert("core_company", {"name": name, "manufacturer": "true"})

    # ------------------------------------------------------------------ meta, ids, transactions
    def meta(self, key: str) -> str | None:
        """A persisted setting."""
        row = self.db.execute("SELECT value FROM t__meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        """Persist a setting."""
        self.db.execute("INSERT OR REPLACE INTO t__meta (key, value) VALUES (?, ?)", (key, value))

    def new_sys_ids(self, count: int) -> list[str]:
        """The next ``count`` deterministic sys_ids, in order: MD5 of ``sn:<seed>:<counter>``."""
        first = self.counter + 1
        self.counter += count
        seed = self.seed
        return [
            hashlib.md5(b"sn:%d:%d" % (seed, n), usedforsecurity=False).hexdigest()
            for n in range(first, self.counter + 1)
        ]

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """A (nestable) transaction: committed at the end of the outermost block, rolled back on error."""
        with self.lock:
            self._savepoint += 1
            name = f"sp{self._savepoint}"
            counter = self.counter
            self.db.execute(f"SAVEPOINT {name}")
            self._depth += 1
            try:
                yield
            except BaseException:
                self.db.execute(f"ROLLBACK TO {name}")
                self.db.execute(f"RELEASE {name}")
                self.counter = counter
                self._wrote(None)
                raise
            else:
                if self._depth == 1:
                    self.set_meta("counter", str(self.counter))
                self.db.execute(f"RELEASE {name}")
            finally:
                self._depth -= 1

    @contextlib.contextmanager
    def dry_run(self) -> Iterator[None]:
        """Run a block whose writes are always rolled back (IRE ``/query``)."""
        with self.lock:
            self._savepoint += 1
            name = f"sp{self._savepoint}"
            counter = self.counter
            self.db.execute(f"SAVEPOINT {name}")
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                self.db.execute(f"ROLLBACK TO {name}")
                self.db.execute(f"RELEASE {name}")
                self.counter = counter
                self._wrote(None)

    def version(self, table: str) -> int:
        """A number that changes whenever a record visible through ``table`` may have changed.

        Lets a caller keep records it read for as long as nothing wrote them (IRE reads the software
        packages of a payload once, not once per CI that has them).
        """
        return self._epoch + sum(self._writes.get(name, 0) for name in classes.descendants(table))

    def _wrote(self, table: str | None) -> None:
        """Note a write through ``table`` (any of its classes) or, with None, to anything."""
        if table is None:
            self._epoch += 1
            return
        for name in classes.descendants(table):
            self._writes[name] = self._writes.get(name, 0) + 1

    # ------------------------------------------------------------------ value preparation
    @staticmethod
    def writable(table: str, values: Mapping[str, object]) -> dict[str, object]:
        """The subset of ``values`` a client may write: known fields, no ``sys_*`` bookkeeping."""
        fields = classes.all_fields(table)
        return {k: v for k, v in values.items() if k in fields and not k.startswith("sys_")}

    @staticmethod
    def prepare(table: str, values: Mapping[str, object], internal: bool = False) -> dict[str, str | None]:
        """Coerce known, writable fields of ``values`` to their stored form.

        ``""`` sent to a choice field is ignored (choice fields cannot be cleared that way).  ``sys_*``
        fields are dropped unless ``internal`` (then only the bookkeeping fields are).
        """
        plain, fields = _writable_fields(table, internal)
        out: dict[str, str | None] = {}
        for name, value in values.items():
            limit = plain.get(name)
            if limit is not None and type(value) is str:
                out[name] = value[:limit] if value else None  # what coerce() does to a plain text field
                continue
            f = fields.get(name)
            if f is None:
                continue
            if f.type == "choice" and _text(value) == "":
                continue
            out[name] = coerce(f, value)
        return out

    # ------------------------------------------------------------------ writes
    def _insert_statement(self, top: str, columns: tuple[str, ...]) -> str:
        key = (top, columns)
        sql = self._insert_sql.get(key)
        if sql is None:
            names = ", ".join(quote(c) for c in columns)
            marks = ", ".join("?" for _ in columns)
            sql = f"INSERT INTO {quote(physical(top))} ({names}) VALUES ({marks})"  # noqa: S608 - identifiers come from the class model
            self._insert_sql[key] = sql
        return sql

    @staticmethod
    def _completed(table: str, prepared: dict[str, str | None]) -> dict[str, str | None]:
        """A new record's values: the class's defaults, then ``prepared``, then what business rules derive.

        ``prepared`` itself, completed, when the class has no defaults.
        """
        defaults = classes.defaults(table)
        row = {**defaults, **prepared} if defaults else prepared
        if table == "cmdb_ci_spkg" and not row.get("key") and row.get("name"):
            # business rule on cmdb_ci_spkg: key = name + "_|_" + version [belief]
            row["key"] = coerce(classes.all_fields(table)["key"], f"{row['name']}_|_{row.get('version') or ''}")
        if table in _MODEL_CLASSES and not row.get("display_name") and row.get("name"):
            row["display_name"] = row["name"]
        return row

    def insert(self, table: str, values: Mapping[str, object], user: str = "system", prepared: bool = False) -> str:
        """Insert one record of class ``table``; returns its sys_id."""
        return self.insert_many(table, [values], user, prepared)[0]

    def insert_many(
        self, table: str, rows: list[Mapping[str, object]], user: str = "system", prepared: bool = False
    ) -> list[str]:
        """Insert several records of class ``table`` (one statement per distinct column set)."""
        now = utc_now()
        top = classes.root(table)
        batches: dict[tuple[str, ...], list[tuple[str | None, ...]]] = {}
        with self.lock, self.transaction() if self._depth == 0 else contextlib.nullcontext():
            ids = self.new_sys_ids(len(rows))  # a failure rolls back the transaction, the counter with it
            for values, sys_id in zip(rows, ids, strict=True):
                row = self._completed(table, _stored_form(values) if prepared else self.prepare(table, values))
                if row.keys().isdisjoint(_SYS_COLUMNS):  # always, unless a caller passed bookkeeping fields
                    columns = (*row, *_SYS_COLUMNS)
                    params = (*row.values(), sys_id, table, now, now, user, user, "0")
                else:
                    row.update(zip(_SYS_COLUMNS, (sys_id, table, now, now, user, user, "0"), strict=True))
                    columns, params = tuple(row), tuple(row.values())
                batch = batches.get(columns)
                if batch is None:
                    batch = batches[columns] = []
                batch.append(params)
            for columns, batch in batches.items():
                self.db.executemany(self._insert_statement(top, columns), batch)
            self._wrote(table)
        return ids

    def update(
        self,
        table: str,
        sys_id: str,
        values: Mapping[str, object],
        user: str = "system",
        prepared: bool = False,
        rowid: int | None = None,
    ) -> dict[str, str | None]:
        """Apply changed values to a record (class is the record's own); returns the changed fields.

        ``rowid``: where the caller read the record (``_rowid`` of :meth:`find`), which spares a search by
        sys_id (not indexed on every table).
        """
        with self.lock:
            current = self._by_rowid(table, rowid) if rowid is not None else None
            if current is None or current["sys_id"] != sys_id:
                current, rowid = self.get(table, sys_id), None
            if current is None:
                return {}
            own = current["sys_class_name"] or table
            clean = (
                {k: (None if v is None or v == "" else str(v)) for k, v in values.items()}
                if prepared
                else self.prepare(own, values)
            )
            fields = classes.all_fields(own)
            changed = {k: v for k, v in clean.items() if k in fields and (current.get(k) or None) != v}
            if not changed:
                return {}
            assignments = dict(changed)
            assignments["sys_updated_on"] = utc_now()
            assignments["sys_updated_by"] = user
            assignments["sys_mod_count"] = str(int(current.get("sys_mod_count") or "0") + 1)
            self._set(table, sys_id, assignments, rowid)
            self._wrote(own)
            return changed

    def touch(self, table: str, sys_id: str, values: Mapping[str, str | None]) -> None:
        """Write already-coerced values without bumping ``sys_updated_*`` (IRE NO_CHANGE bookkeeping)."""
        if values:
            with self.lock:
                self._set(table, sys_id, values)
                self._wrote(table)

    def _set(self, table: str, sys_id: str, values: Mapping[str, str | None], rowid: int | None = None) -> None:
        """Write ``values`` to the record ``sys_id``, found by ``rowid`` when given."""
        sets = ", ".join(f"{quote(k)} = ?" for k in values)
        where, key = ("rowid", rowid) if rowid is not None else ("sys_id", sys_id)
        self.db.execute(f"UPDATE {quote(physical(table))} SET {sets} WHERE {where} = ?", [*values.values(), key])  # noqa: S608 - identifiers come from the class model

    def reclassify(self, sys_id: str, new_class: str, user: str = "system") -> None:
        """Change a CI's class; fields the new class does not have are cleared."""
        with self.lock:
            keep = set(classes.all_fields(new_class))
            values: dict[str, str | None] = {
                f.name: None for f in classes.storage_columns(classes.root(new_class)) if f.name not in keep
            }
            values["sys_class_name"] = new_class
            values["sys_updated_on"] = utc_now()
            values["sys_updated_by"] = user
            self._set(new_class, sys_id, values)
            self._wrote(classes.root(new_class))  # the former class is not known here

    def delete(self, table: str, sys_id: str) -> bool:
        """Delete a record visible through ``table``; CI relationships of a deleted CI go with it."""
        with self.lock:
            if self.get(table, sys_id) is None:
                return False
            self.db.execute(f"DELETE FROM {quote(physical(table))} WHERE sys_id = ?", (sys_id,))  # noqa: S608 - identifiers come from the class model
            if classes.is_ci(table):
                self.db.execute("DELETE FROM t_cmdb_rel_ci WHERE parent = ? OR child = ?", (sys_id, sys_id))
                self._wrote("cmdb_rel_ci")
            self._wrote(table)
            return True

    def reset(self) -> None:
        """Empty every CMDB table (keeps choices and relationship types; re-creates default companies)."""
        with self.lock, self.transaction():
            for top in classes.roots():
                if top not in classes.METADATA_TABLES:
                    self.db.execute(f"DELETE FROM {quote(physical(top))}")  # noqa: S608 - identifiers come from the class model
            self._wrote(None)
            self._seed_companies()

    def set_discovery_sources(self, values: Iterable[str]) -> None:
        """Replace the ``cmdb_ci.discovery_source`` choice list."""
        with self.lock, self.transaction():
            self.db.execute("DELETE FROM t_sys_choice WHERE name = 'cmdb_ci' AND element = 'discovery_source'")
            self._wrote("sys_choice")
            for seq, value in enumerate(values):
                self.insert(
                    "sys_choice",
                    {"name": "cmdb_ci", "element": "discovery_source", "value": value, "label": value, "sequence": seq},
                )

    # ------------------------------------------------------------------ reads
    def _rows(self, sql: str, params: Iterable[object]) -> list[Row]:
        """Run a SELECT and return its rows as ``{column: text}`` (NULL -> ``""``)."""
        cursor = self.db.execute(sql, list(params))
        columns = [d[0] for d in cursor.description]
        return [
            {c: ("" if v is None else v if isinstance(v, str) else str(v)) for c, v in zip(columns, r, strict=True)}
            for r in cursor.fetchall()
        ]

    @staticmethod
    def _class_filter(table: str, alias: str = "t0", indexed: bool = True) -> tuple[str, list[object]]:
        """SQL restricting the root table to ``table``'s classes.

        ``indexed=False`` writes the column as ``+col`` so SQLite cannot drive the search by the
        ``sys_class_name`` index: without statistics it prefers that index (one class is one equality)
        over a far more selective identifier or parent filter and then walks every row of the class.
        """
        names = classes.descendants(table)
        if names == classes.descendants(classes.root(table)):
            return "1", []
        column = f"{alias}.sys_class_name" if indexed else f"+{alias}.sys_class_name"
        return f"{column} IN ({','.join('?' for _ in names)})", list(names)

    def get(self, table: str, sys_id: str) -> Row | None:
        """The record ``sys_id`` if it is visible through ``table`` (all stored columns)."""
        return self._one(table, "sys_id", sys_id)

    def _by_rowid(self, table: str, rowid: int) -> Row | None:
        """The record at ``rowid`` if it is visible through ``table`` (all stored columns, like :meth:`get`)."""
        return self._one(table, "rowid", rowid)

    def _one(self, table: str, key: str, value: object) -> Row | None:
        """The record whose ``key`` (``sys_id`` or ``rowid``) is ``value``, if it is visible through ``table``."""
        where, params = self._class_filter(table)
        rows = self._rows(
            f"SELECT * FROM {quote(physical(table))} t0 WHERE t0.{key} = ? AND {where}",  # noqa: S608 - identifiers come from the class model
            [value, *params],
        )
        return rows[0] if rows else None

    def class_of(self, table: str, sys_id: str) -> str | None:
        """``sys_class_name`` of the record ``sys_id`` if it is visible through ``table`` (else None)."""
        where, params = self._class_filter(table)
        sql = f"SELECT t0.sys_class_name FROM {quote(physical(table))} t0 WHERE t0.sys_id = ? AND {where}"  # noqa: S608 - identifiers come from the class model
        with self.lock:
            found = self.db.execute(sql, [sys_id, *params]).fetchone()
        return None if found is None else "" if found[0] is None else str(found[0])

    def get_many(self, table: str, sys_ids: Iterable[str]) -> dict[str, Row]:
        """Records by sys_id (any class of the hierarchy), with their creation order in ``_rowid``."""
        wanted = list(dict.fromkeys(sys_ids))
        out: dict[str, Row] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" for _ in chunk)
            sql = f"SELECT rowid AS _rowid, * FROM {quote(physical(table))} WHERE sys_id IN ({marks})"  # noqa: S608 - identifiers come from the class model
            for row in self._rows(sql, chunk):
                out[row["sys_id"]] = row
        return out

    def select(
        self,
        table: str,
        query: EncodedQuery,
        limit: int | None = None,
        offset: int = 0,
        count: bool = True,
        no_rows_on_invalid: bool = False,
        context: QueryContext | None = None,
    ) -> tuple[list[Row], int, list[str]]:
        """Records matching ``query`` through ``table`` (page ``limit``/``offset``), the total count, and the
        pieces of the query the simulator could not evaluate (then there are no rows: it fails closed)."""
        compiled = compile_query(table, query, context=context)
        if compiled.unsupported or (compiled.dropped and no_rows_on_invalid):
            return [], 0, compiled.unsupported
        class_where, class_params = self._class_filter(table)
        base = f"FROM {quote(physical(table))} t0 WHERE {class_where} AND ({compiled.where})"
        params = [*class_params, *compiled.params]
        with self.lock:
            total = int(self.db.execute(f"SELECT COUNT(*) {base}", params).fetchone()[0]) if count else -1
            sql = f"SELECT t0.* {base} ORDER BY {compiled.order} LIMIT ? OFFSET ?"
            rows = self._rows(sql, [*params, -1 if limit is None else limit, offset])
        return rows, total, []

    def find(
        self,
        table: str,
        equals: Mapping[str, str | None],
        query: EncodedQuery | None = None,
        extra_sql: str = "",
        extra_params: Iterable[object] = (),
        selective_extra: bool = False,
    ) -> list[Row]:
        """Records through ``table`` whose fields equal ``equals`` (None = empty), oldest first.

        ``_rowid`` in each row gives the insertion order (ties of ``sys_created_on``).  A search by
        field values is driven by those fields, not by the class; ``selective_extra`` says that
        ``extra_sql`` narrows best (e.g. the children of one CI, while a file system's name ``/`` is
        everywhere), so only its indexes may drive the search.
        """
        where, params = self._find_where(table, equals, query, extra_sql, extra_params, selective_extra)
        sql = (
            f"SELECT t0.rowid AS _rowid, t0.* FROM {quote(physical(table))} t0 WHERE {where} "  # noqa: S608 - identifiers come from the class model
            "ORDER BY t0.sys_created_on ASC, t0.rowid ASC"
        )
        with self.lock:
            return self._rows(sql, params)

    def find_values(
        self,
        table: str,
        column: str,
        equals: Mapping[str, str | None],
        query: EncodedQuery | None = None,
        extra_sql: str = "",
        extra_params: Iterable[object] = (),
    ) -> set[str]:
        """The distinct non-empty values of ``column`` among the records :meth:`find` would return.

        For searches that only need one field of what they match (a lookup needs the CI each matching row
        references): a value shared by thousands of rows, such as a loopback adapter's MAC address, costs no
        more than reading that column.
        """
        where, params = self._find_where(table, equals, query, extra_sql, extra_params, False)
        sql = f"SELECT DISTINCT t0.{quote(column)} FROM {quote(physical(table))} t0 WHERE {where}"  # noqa: S608 - identifiers come from the class model
        with self.lock:
            return {str(v) for (v,) in self.db.execute(sql, params) if v is not None and v != ""}

    def _find_where(
        self,
        table: str,
        equals: Mapping[str, str | None],
        query: EncodedQuery | None,
        extra_sql: str,
        extra_params: Iterable[object],
        selective_extra: bool,
    ) -> tuple[str, list[object]]:
        """The WHERE clause (on alias ``t0``) and parameters of :meth:`find`."""
        class_where, params = self._class_filter(table, indexed=not (selective_extra or any(equals.values())))
        clauses = [class_where]
        column = "+t0.{}" if selective_extra else "t0.{}"
        for name, value in equals.items():
            if value is None or value == "":
                clauses.append(f"{column.format(quote(name))} IS NULL")
            else:
                clauses.append(f"{column.format(quote(name))} = ?")
                params.append(value)
        if query is not None and not query.empty:
            compiled = compile_query(table, query)
            clauses.append(f"({compiled.where})")
            params.extend(compiled.params)
        if extra_sql:
            clauses.append(extra_sql)
            params.extend(extra_params)
        return " AND ".join(clauses), params

    def find_in(self, table: str, attributes: tuple[str, ...], keys: list[tuple[str, ...]]) -> list[Row]:
        """Records through ``table`` whose ``attributes`` equal one of ``keys`` (all stored columns).

        Stands for one :meth:`find` per key (IRE matches many related items in one go), so the rows
        of each key come oldest first; key values must be non-empty.  The query narrows by the first
        attribute (500 values at a time), the rest of each key is compared here.
        """
        wanted = set(keys)
        firsts = list(dict.fromkeys(key[0] for key in keys))
        class_where, class_params = self._class_filter(table, indexed=False)
        rows: list[Row] = []
        for start in range(0, len(firsts), 500):
            chunk = firsts[start : start + 500]
            sql = (
                f"SELECT t0.* FROM {quote(physical(table))} t0 WHERE {class_where} "  # noqa: S608 - identifiers come from the class model
                f"AND t0.{quote(attributes[0])} IN ({','.join('?' for _ in chunk)}) "
                "ORDER BY t0.sys_created_on ASC, t0.rowid ASC"
            )
            with self.lock:
                found = self._rows(sql, [*class_params, *chunk])
            rows.extend(r for r in found if tuple(r[a] for a in attributes) in wanted)
        return rows

    def count(self, table: str, where: str = "1", params: Iterable[object] = ()) -> int:
        """Rows visible through ``table`` matching a raw SQL condition on alias ``t0``."""
        class_where, class_params = self._class_filter(table)
        sql = f"SELECT COUNT(*) FROM {quote(physical(table))} t0 WHERE {class_where} AND ({where})"  # noqa: S608 - identifiers come from the class model
        with self.lock:
            return int(self.db.execute(sql, [*class_params, *params]).fetchone()[0])

    def class_counts(self, table: str) -> dict[str, int]:
        """Row counts per ``sys_class_name`` below ``table``."""
        class_where, params = self._class_filter(table)
        sql = (
            f"SELECT sys_class_name, COUNT(*) FROM {quote(physical(table))} t0 WHERE {class_where} "  # noqa: S608 - identifiers come from the class model
            "GROUP BY sys_class_name ORDER BY sys_class_name"
        )
        with self.lock:
            return {str(name): int(n) for name, n in self.db.execute(sql, params)}

    def display_values(self, table: str, sys_ids: Iterable[str]) -> dict[str, str]:
        """Display value (the table's display field) of referenced records; missing ids are absent."""
        display = classes.TABLES[classes.root(table)].display_field
        wanted = [s for s in dict.fromkeys(sys_ids) if s]
        out: dict[str, str] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" for _ in chunk)
            sql = f"SELECT sys_id, {quote(display)} FROM {quote(physical(table))} WHERE sys_id IN ({marks})"  # noqa: S608 - identifiers come from the class model
            for sys_id, value in self.db.execute(sql, chunk):
                out[str(sys_id)] = "" if value is None else str(value)
        return out

    def discovery_sources(self) -> list[str]:
        """Active ``cmdb_ci.discovery_source`` choice values (the live ``sys_choice`` rows)."""
        sql = (
            "SELECT value FROM t_sys_choice WHERE name = 'cmdb_ci' AND element = 'discovery_source' "
            "AND COALESCE(inactive, 'false') <> 'true' ORDER BY CAST(sequence AS INTEGER), value"
        )
        with self.lock:
            return [str(v) for (v,) in self.db.execute(sql) if v is not None]

    def close(self) -> None:
        """Close the database (file-backed stores are checkpointed)."""
        with self.lock:
            self.db.close()
