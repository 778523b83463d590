"""Compile an :class:`~simulators.servicenow.encoded_query.EncodedQuery` into SQLite SQL.

Semantics follow a SQL-backed instance: empty values are stored as NULL, so ``!=``, ``NOT IN`` and
``NOT LIKE`` never match empty fields; value comparisons are case-sensitive (reference section 1.3);
integer/decimal fields compare numerically.  Conditions on fields the queried table does not have
(including fields that only subclasses have) are silently dropped, as the platform drops invalid field
names; :attr:`Compiled.dropped` tells whether that happened (for ``glide.invalid_query.returns_no_rows``).
Dot-walked fields (``company.name``) become correlated sub-selects.

What the simulator cannot evaluate fails closed: an operator it does not evaluate, a ``javascript:``
value, a relative-date or dynamic-filter argument it does not know, ... is listed in
:attr:`Compiled.unsupported` and the whole query matches no row (``where`` is ``0``), never every row.

* ``DYNAMIC`` takes the sys_id of a dynamic filter option; the simulator knows the "Me" option (the two
  sys_ids the platform's operator page shows for it), which compares the field with the requesting
  user's sys_id (:attr:`QueryContext.user_sys_id`).
* ``RELATIVEGT``/``RELATIVELT`` ``@<unit>@ago|ahead@<n>`` compare a date-time field with the instant
  ``n`` units before/after now (``RELATIVEGT@hour@ago@1``: later than one hour ago).
"""

from __future__ import annotations

import calendar
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from simulators.servicenow import classes
from simulators.servicenow.classes import Field
from simulators.servicenow.encoded_query import UNEVALUATED_OPERATORS, Condition, EncodedQuery


def physical(table: str) -> str:
    """Name of the SQLite table that stores ``table``'s rows (its hierarchy root)."""
    return f"t_{classes.root(table)}"


def quote(name: str) -> str:
    """Quote an identifier (identifiers always come from the class model, never from input)."""
    return '"' + name.replace('"', '""') + '"'


# sys_filter_option_dynamic sys_id -> option (r_OpAvailableFiltersQueries.md shows both for "Me")
DYNAMIC_FILTER_OPTIONS = {
    "54635e965f510100a9ad2572f2b4774c": "me",
    "90d1921e5f510100a9ad2572f2b477fe": "me",
}
RELATIVE_UNITS = ("minute", "hour", "dayofweek", "week", "month", "quarter", "year")
_DATE_TIME = "%Y-%m-%d %H:%M:%S"


class Unsupported(Exception):
    """A condition the simulator cannot evaluate (the query must match no row)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class QueryContext:
    """What a condition may depend on besides the row: the clock and the requesting user."""

    now: float = field(default_factory=time.time)
    user_sys_id: str | None = None


@dataclass(slots=True)
class Compiled:
    """SQL pieces: ``where`` (may be ``1``, ``0``), its parameters, ``order`` clause body."""

    where: str = "1"
    params: list[object] = field(default_factory=list)
    order: str = ""
    dropped: bool = False
    unsupported: list[str] = field(default_factory=list)  # why the query matches nothing


def expression(table: str, path: str, alias: str = "t0", depth: int = 0) -> tuple[str, Field] | None:
    """SQL expression and field for a (possibly dot-walked) field path, or None if unknown."""
    name, _, rest = path.partition(".")
    f = classes.all_fields(table).get(name)
    if f is None or depth > 4:
        return None
    column = f"{alias}.{quote(name)}"
    if not rest:
        return column, f
    if f.type != "reference" or f.reference is None:
        return None
    sub = f"t{depth + 1}"
    inner = expression(f.reference, rest, sub, depth + 1)
    if inner is None:
        return None
    sql = f"(SELECT {inner[0]} FROM {quote(physical(f.reference))} {sub} WHERE {sub}.sys_id = {column})"  # noqa: S608 - identifiers come from the class model
    return sql, inner[1]


def _number(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


def _bool_value(value: str) -> str:
    return {"1": "true", "0": "false"}.get(value.strip().lower(), value.strip().lower())


def _scalar(f: Field, expr: str, value: str) -> tuple[str, object]:
    """Left-hand expression and bound value with the field's comparison semantics."""
    if f.numeric:
        number = _number(value)
        if number is not None:
            return f"CAST({expr} AS REAL)", number
    if f.type == "boolean":
        return expr, _bool_value(value)
    return expr, value


def _shift(moment: datetime, unit: str, amount: int) -> datetime:
    """``moment`` moved by ``amount`` (signed) ``unit``s; months clamp the day (Jan 31 + 1 month = Feb 28/29)."""
    if unit in ("month", "quarter", "year"):
        months = amount * {"month": 1, "quarter": 3, "year": 12}[unit]
        index = moment.year * 12 + moment.month - 1 + months
        year, month = divmod(index, 12)
        day = min(moment.day, calendar.monthrange(year, month + 1)[1])
        return moment.replace(year=year, month=month + 1, day=day)
    seconds = {"minute": 60, "hour": 3600, "dayofweek": 86_400, "week": 7 * 86_400}[unit]
    return moment + timedelta(seconds=seconds * amount)


def relative_instant(value: str, now: float) -> str:
    """``@<unit>@ago|ahead@<n>`` -> the instant as ``YYYY-MM-DD HH:MM:SS`` (UTC); raises :class:`Unsupported`."""
    parts = value.split("@")
    if len(parts) != 4 or parts[0] != "" or parts[1] not in RELATIVE_UNITS or parts[2] not in ("ago", "ahead"):
        raise Unsupported(f"relative date argument {value!r}")
    if not parts[3].isdigit():
        raise Unsupported(f"relative date argument {value!r}")
    amount = int(parts[3]) * (-1 if parts[2] == "ago" else 1)
    moment = _shift(datetime.fromtimestamp(int(now), UTC), parts[1], amount)
    return moment.strftime(_DATE_TIME)


def condition_sql(
    table: str, cond: Condition, alias: str = "t0", context: QueryContext | None = None
) -> tuple[str, list[object]] | None:
    """SQL for one condition, or None when it must be dropped (unknown field).

    Raises :class:`Unsupported` for a condition the simulator cannot evaluate.
    """
    resolved = expression(table, cond.field, alias)
    if resolved is None:
        return None
    expr, f = resolved
    op, value = cond.op, cond.value
    if op in UNEVALUATED_OPERATORS:
        raise Unsupported(f"operator {op}")
    if value.startswith("javascript:") or (op in ("IN", "NOT IN") and "javascript:" in value):
        raise Unsupported("javascript: value")  # server-side script values cannot be evaluated here
    if op == "ISEMPTY" or (op == "=" and value == ""):
        return f"{expr} IS NULL", []
    if op == "ISNOTEMPTY" or (op == "!=" and value == ""):
        return f"{expr} IS NOT NULL", []
    if op == "EMPTYSTRING":
        return f"{expr} = ''", []
    if op == "ANYTHING":
        return "1", []
    if op in ("=", "!=", "<", "<=", ">", ">="):
        lhs, bound = _scalar(f, expr, value)
        return f"{lhs} {'<>' if op == '!=' else op} ?", [bound]
    if op == "LIKE":
        return f"instr({expr}, ?) > 0", [value]
    if op == "NOT LIKE":
        return f"instr({expr}, ?) = 0", [value]
    if op == "STARTSWITH":
        return (f"substr({expr}, 1, ?) = ?", [len(value), value]) if value else ("1", [])
    if op == "ENDSWITH":
        return (f"substr({expr}, ?) = ?", [-len(value), value]) if value else ("1", [])
    if op in ("IN", "NOT IN"):
        items = [v for v in value.split(",")]
        pairs = [_scalar(f, expr, v) for v in items]
        lhs = pairs[0][0] if pairs else expr
        marks = ",".join("?" for _ in pairs)
        return f"{lhs} {'NOT IN' if op == 'NOT IN' else 'IN'} ({marks})", [p[1] for p in pairs]
    if op == "BETWEEN":
        low, sep, high = value.partition("@")
        if not sep:
            raise Unsupported(f"BETWEEN without '@': {value!r}")
        lhs, low_bound = _scalar(f, expr, low)
        _, high_bound = _scalar(f, expr, high)
        return f"{lhs} BETWEEN ? AND ?", [low_bound, high_bound]
    if op in ("SAMEAS", "NSAMEAS"):
        other_name, sep, unit = value.partition("@")
        other = expression(table, other_name, alias)
        if other is None:
            return None  # an invalid field name, dropped like any other
        left, right = expr, other[0]
        if sep:
            # date fields compare at a granularity: the operator page shows ``sla_dueSAMEASactivity_due@day``
            if unit != "day" or f.type not in ("glide_date_time", "glide_date"):
                raise Unsupported(f"{op} granularity {unit!r}")
            left, right = f"substr({left}, 1, 10)", f"substr({right}, 1, 10)"
        return f"{left} {'=' if op == 'SAMEAS' else '<>'} {right}", []
    if op == "INSTANCEOF":
        if f.name != "sys_class_name" or not classes.exists(value):
            raise Unsupported(f"INSTANCEOF {value!r} on {cond.field}")
        names = classes.descendants(value)
        return f"{expr} IN ({','.join('?' for _ in names)})", list(names)
    context = context or QueryContext()
    if op == "DYNAMIC":
        option = DYNAMIC_FILTER_OPTIONS.get(value)
        if option != "me" or context.user_sys_id is None:
            raise Unsupported(f"dynamic filter option {value!r}")
        return f"{expr} = ?", [context.user_sys_id]
    if op in ("RELATIVEGT", "RELATIVELT"):
        if f.type != "glide_date_time":
            raise Unsupported(f"{op} on a {f.type} field")
        instant = relative_instant(value, context.now)
        return f"{expr} {'>' if op == 'RELATIVEGT' else '<'} ?", [instant]
    raise Unsupported(f"operator {op}")


def compile_query(table: str, query: EncodedQuery, alias: str = "t0", context: QueryContext | None = None) -> Compiled:
    """WHERE and ORDER BY bodies for ``query`` on ``table`` (``where`` is ``0`` when a piece is unsupported)."""
    out = Compiled()
    out.unsupported.extend(query.unsupported)
    group_sql: list[str] = []
    for group in query.groups:
        terms: list[str] = []
        for alternatives in group:
            parts: list[str] = []
            for cond in alternatives:
                try:
                    compiled = condition_sql(table, cond, alias, context)
                except Unsupported as exc:
                    out.unsupported.append(exc.reason)
                    continue
                if compiled is None:
                    out.dropped = True
                    continue
                parts.append(compiled[0])
                out.params.extend(compiled[1])
            if parts:
                terms.append("(" + " OR ".join(parts) + ")")
        group_sql.append("(" + (" AND ".join(terms) if terms else "1") + ")")
    if out.unsupported:
        out.where, out.params = "0", []
    elif group_sql:
        out.where = " OR ".join(group_sql)
    orders: list[str] = []
    for name, descending in query.order:
        resolved = expression(table, name, alias)
        if resolved is None:
            continue
        expr, f = resolved
        if f.numeric:
            expr = f"CAST({expr} AS REAL)"
        orders.append(f"{expr} {'DESC' if descending else 'ASC'}")
    orders.append(f"{alias}.sys_id ASC")
    out.order = ", ".join(orders)
    return out
