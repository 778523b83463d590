"""Parser for ServiceNow encoded queries (reference section 1.3).

``a=1^b!=2^ORc=3^NQd=4^ORDERBYname^ORDERBYDESCsys_created_on`` becomes an :class:`EncodedQuery`:
top-level groups separated by ``^NQ`` (OR between groups), each a list of AND terms, each term a list
of OR alternatives (``^OR`` binds to the preceding condition).  ``^^`` is a literal caret; ``^EQ`` (the
end marker the list UI appends) is skipped.

The simulator fails closed: a piece it cannot evaluate is never dropped.  A condition whose operator it
does not know (``nameFOOx``, ``sla_dueONToday@...``), a related-list block (``RLQUERY...ENDRLQUERY``) and
``GROUPBY`` land in :attr:`EncodedQuery.unsupported`, and a query with any such piece matches no row
(what ``glide.invalid_query.returns_no_rows=true`` does with an invalid query; see the README).  Operators
the platform has but the simulator does not evaluate are still parsed (:data:`UNEVALUATED_OPERATORS`) so
that they are reported by name and never mistaken for a shorter operator (``IN_HIERARCHY`` is not ``IN``).
Conditions on unknown *fields* are a different matter: the platform drops those (reference 1.3), and so
does :mod:`simulators.servicenow.query_sql`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# The operators of reference section 1.3 that the SQL compiler evaluates.
EVALUATED_OPERATORS = (
    "NOT LIKE",
    "NOT IN",
    "ISNOTEMPTY",
    "ISEMPTY",
    "EMPTYSTRING",
    "ANYTHING",
    "STARTSWITH",
    "ENDSWITH",
    "INSTANCEOF",
    "NSAMEAS",
    "SAMEAS",
    "BETWEEN",
    "DYNAMIC",
    "RELATIVEGT",
    "RELATIVELT",
    "LIKE",
    "IN",
    "!=",
    "<=",
    ">=",
    "=",
    "<",
    ">",
)
# Operators the platform has (reference 1.3, or the platform's operator list it cites:
# r_OpAvailableFiltersQueries.md) that the simulator recognises but does not evaluate: a query using one
# matches no row.  VALCHANGES/CHANGESFROM/CHANGESTO only mean something in business rules (a record
# change), RELATIVEGE/LE/EE are not described by the reference, the rest are not in section 1.3.
UNEVALUATED_OPERATORS = (
    "IN_HIERARCHY_DYNAMIC",
    "IN_HIERARCHY",
    "GT_OR_EQUALS_FIELD",
    "LT_OR_EQUALS_FIELD",
    "GT_FIELD",
    "LT_FIELD",
    "RELATIVEGE",
    "RELATIVELE",
    "RELATIVEEE",
    "VALCHANGES",
    "CHANGESFROM",
    "CHANGESTO",
    "DATEPART",
    "MORETHAN",
    "LESSTHAN",
    "NOTON",
    "ON",
)
# Longest first so "NOT LIKE" wins over "LIKE", "<=" over "<", "IN_HIERARCHY" over "IN".
OPERATORS = tuple(sorted((*EVALUATED_OPERATORS, *UNEVALUATED_OPERATORS), key=len, reverse=True))
NO_VALUE_OPERATORS = frozenset({"ISEMPTY", "ISNOTEMPTY", "EMPTYSTRING", "ANYTHING", "VALCHANGES"})

_CONDITION = re.compile(
    r"^(?P<field>[a-z0-9_][a-z0-9_.]*?)(?P<op>" + "|".join(re.escape(op) for op in OPERATORS) + r")(?P<value>.*)$",
    re.DOTALL,
)
_CARET = "\x00"


@dataclass(frozen=True, slots=True)
class Condition:
    """``field`` ``op`` ``value`` (field may be dot-walked: ``company.name``)."""

    field: str
    op: str
    value: str


@dataclass(slots=True)
class EncodedQuery:
    """Parsed query: ``groups[g][t][k]`` = group g (``^NQ``), AND term t, OR alternative k.

    ``unsupported`` lists the pieces the simulator cannot evaluate (the query then matches nothing).
    """

    groups: list[list[list[Condition]]] = field(default_factory=list)
    order: list[tuple[str, bool]] = field(default_factory=list)  # (field, descending)
    unsupported: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """No condition at all (and nothing the simulator failed to understand)."""
        return not any(self.groups) and not self.unsupported


def parse_condition(text: str) -> Condition | None:
    """One condition, or None when it has no recognisable field/operator."""
    match = _CONDITION.match(text)
    if match is None:
        return None
    op = match.group("op")
    value = match.group("value")
    if op in NO_VALUE_OPERATORS:
        value = ""
    return Condition(match.group("field"), op, value.replace(_CARET, "^"))


def parse(text: str | None) -> EncodedQuery:
    """Parse an encoded query string (None or empty gives an empty query)."""
    query = EncodedQuery()
    if not text:
        return query
    tokens = text.replace("^^", _CARET).split("^")
    group: list[list[Condition]] = []
    related_list: list[str] | None = None
    for token in tokens:
        if not token:
            continue
        if related_list is not None:
            related_list.append(token)
            if token.startswith("ENDRLQUERY"):
                query.unsupported.append("^".join(related_list).replace(_CARET, "^^"))
                related_list = None
            continue
        if token.startswith("RLQUERY"):
            related_list = [token]
            continue
        if token.startswith("NQ"):
            if group:
                query.groups.append(group)
            group = []
            token = token[2:]
            if not token:
                continue
        if token.startswith("ORDERBYDESC"):
            query.order.append((token[len("ORDERBYDESC") :], True))
            continue
        if token.startswith("ORDERBY"):
            query.order.append((token[len("ORDERBY") :], False))
            continue
        if token == "EQ":
            continue
        is_or = token.startswith("OR")
        condition = parse_condition(token[2:] if is_or else token)
        if condition is None:
            query.unsupported.append(token.replace(_CARET, "^^"))
            continue
        if is_or and group:
            group[-1].append(condition)
        else:
            group.append([condition])
    if related_list is not None:  # RLQUERY without ENDRLQUERY
        query.unsupported.append("^".join(related_list).replace(_CARET, "^^"))
    if group:
        query.groups.append(group)
    return query
