"""Compile an :class:`~simulators.servicenow.encoded_query.EncodedQuery` into SQLite SQL.

Semantics follow a SQL-backed instance: empty values are stored as NULL, so ``!=``, ``NOT IN`` and
``NOT LIKE`` never match empty fields; value comparisons are case-sensitive (reference section 1.3);
integer/decimal fields compare numerically.  Conditions on fields the queried table does not have
(including fields that only subclasses have) are silently dropped; :attr:`Compiled.dropped` tells
whether that happened (for ``glide.invalid_query.returns_no_rows``).  Dot-walked fields
(``company.name``) become correlated sub-selects.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from simulators.servicenow import classes
from simulators.servicenow.classes import Field
from simulators.servicenow.encoded_query import Condition, EncodedQuery


def physical(table: str) -> str:
    """Name of the SQLite table that stores ``table``'s rows (its hierarchy root)."""
    return f"t_{classes.root(table)}"


def quote(name: str) -> str:
    """Quote an identifier (identifiers always come from the class model, never from input)."""
    return '"' + name.replace('"', '""') + '"'


@dataclass(slots=True)
class Compiled:
    """SQL pieces: ``where`` (may be ``1``), its parameters, ``order`` clause body."""

    where: str = "1"
    params: list[object] = field(default_factory=list)
    order: str = ""
    dropped: bool = False


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


def condition_sql(table: str, cond: Condition, alias: str = "t0") -> tuple[str, list[object]] | None:
    """SQL for one condition, or None when it must be dropped."""
    resolved = expression(table, cond.field, alias)
    if resolved is None:
        return None
    expr, f = resolved
    op, value = cond.op, cond.value
    if value.startswith("javascript:"):
        return None  # server-side script values cannot be evaluated here
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
            return None
        lhs, low_bound = _scalar(f, expr, low)
        _, high_bound = _scalar(f, expr, high)
        return f"{lhs} BETWEEN ? AND ?", [low_bound, high_bound]
    if op in ("SAMEAS", "NSAMEAS"):
        other = expression(table, value, alias)
        if other is None:
            return None
        return f"{expr} {'=' if op == 'SAMEAS' else '<>'} {other[0]}", []
    if op == "INSTANCEOF":
        if f.name != "sys_class_name" or not classes.exists(value):
            return None
        names = classes.descendants(value)
        return f"{expr} IN ({','.join('?' for _ in names)})", list(names)
    return None


def compile_query(table: str, query: EncodedQuery, alias: str = "t0") -> Compiled:
    """WHERE and ORDER BY bodies for ``query`` on ``table``."""
    out = Compiled()
    group_sql: list[str] = []
    for group in query.groups:
        terms: list[str] = []
        for alternatives in group:
            parts: list[str] = []
            for cond in alternatives:
                compiled = condition_sql(table, cond, alias)
                if compiled is None:
                    out.dropped = True
                    continue
                parts.append(compiled[0])
                out.params.extend(compiled[1])
            if parts:
                terms.append("(" + " OR ".join(parts) + ")")
        group_sql.append("(" + (" AND ".join(terms) if terms else "1") + ")")
    if group_sql:
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
