"""Parser for ServiceNow encoded queries (reference section 1.3).

``a=1^b!=2^ORc=3^NQd=4^ORDERBYname^ORDERBYDESCsys_created_on`` becomes an :class:`EncodedQuery`:
top-level groups separated by ``^NQ`` (OR between groups), each a list of AND terms, each term a list
of OR alternatives (``^OR`` binds to the preceding condition).  ``^^`` is a literal caret.  Pieces the
simulator does not understand (``RLQUERY``, ``GROUPBY``, ``EQ``, conditions without an operator) are
dropped, as the platform drops invalid conditions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# Longest operators first so "NOT LIKE" wins over "LIKE", "<=" over "<", "!=" over "=".
OPERATORS = (
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
    "LIKE",
    "IN",
    "!=",
    "<=",
    ">=",
    "=",
    "<",
    ">",
)
NO_VALUE_OPERATORS = frozenset({"ISEMPTY", "ISNOTEMPTY", "EMPTYSTRING", "ANYTHING"})

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
    """Parsed query: ``groups[g][t][k]`` = group g (``^NQ``), AND term t, OR alternative k."""

    groups: list[list[list[Condition]]] = field(default_factory=list)
    order: list[tuple[str, bool]] = field(default_factory=list)  # (field, descending)

    @property
    def empty(self) -> bool:
        """No condition at all."""
        return not any(self.groups)


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
    in_related_list = False
    for token in tokens:
        if not token:
            continue
        if in_related_list:
            if token.startswith("ENDRLQUERY"):
                in_related_list = False
            continue
        if token.startswith("RLQUERY"):
            in_related_list = True
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
        if token == "EQ" or token.startswith("GROUPBY"):
            continue
        is_or = token.startswith("OR") and not token.startswith("ORDERBY")
        condition = parse_condition(token[2:] if is_or else token)
        if condition is None:
            continue
        if is_or and group:
            group[-1].append(condition)
        else:
            group.append([condition])
    if group:
        query.groups.append(group)
    return query
