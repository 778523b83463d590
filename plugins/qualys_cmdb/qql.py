"""The subset of Qualys QQL that a schedule's API filter may use, turned into CSAM v2 JSON filters.

The CSAM v2 search takes ``{"filters": [{"field", "operator", "value"}], "operation": "AND"}`` (verified,
reference/qualys-api.md §4.2); QQL strings are only verified for GAV v1. A schedule's filter is therefore written
in QQL, as the vendor app did (``operatingSystem.category1:`Linux```), and translated here to the verified form.
Supported: ``field:value`` tokens (value bare or quoted with backticks, single, double or typographic quotes)
joined by ``and`` (case-insensitive). Anything else is rejected with a message that says so.
"""

from __future__ import annotations

import re
from typing import NamedTuple

_QUOTES = "`'\"\u2018\u2019\u201c\u201d"
_TOKEN = re.compile(
    r"""\s*(?P<field>[A-Za-z][A-Za-z0-9_.]*)\s*:\s*
        (?:[`'"\u2018\u2019\u201c\u201d](?P<quoted>[^`'"\u2018\u2019\u201c\u201d]*)[`'"\u2018\u2019\u201c\u201d]
          |(?P<bare>[^\s`'"\u2018\u2019\u201c\u201d]+))\s*""",
    re.VERBOSE,
)
_AND = re.compile(r"\s+and\s+", re.IGNORECASE)


class QqlFilter(NamedTuple):
    """One ``field:value`` equality of a QQL filter."""

    field: str
    value: str


class QqlError(ValueError):
    """A QQL filter outside the supported subset."""


def parse_qql(text: str) -> list[QqlFilter]:
    """Parse ``text`` into equality filters, or raise :class:`QqlError` saying what is not supported."""
    if not text.strip():
        return []
    filters: list[QqlFilter] = []
    for part in _AND.split(text.strip()):
        match = _TOKEN.fullmatch(part)
        if match is None:
            raise QqlError(
                f"cannot use {part.strip()!r}: only field:`value` equalities joined by 'and' are supported "
                "(e.g. operatingSystem.category1:`Linux` and hardware.category2:`Server`)"
            )
        value = match.group("quoted") if match.group("quoted") is not None else match.group("bare")
        if any(q in value for q in _QUOTES):
            raise QqlError(f"unbalanced quotes in {part.strip()!r}")
        filters.append(QqlFilter(match.group("field"), value))
    return filters


def to_csam_filters(filters: list[QqlFilter]) -> list[dict[str, str]]:
    """The CSAM v2 JSON filter list for ``filters`` (all ANDed)."""
    return [{"field": f.field, "operator": "EQUALS", "value": f.value} for f in filters]
