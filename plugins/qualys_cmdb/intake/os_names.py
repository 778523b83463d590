"""OS family and category from the OS name, for the staged OS rows of a source whose records carry only the name.

A QPS hostasset record (api: hostasset) gives the OS name (``<os>``), never the categories CSAM's OS catalog gives
(``operatingSystem.category1/2``), and the CI-class rules match on those. The stage step of a hostasset schedule
derives them from the OS-name table (``os_names.yaml``, see :mod:`qualys_cmdb.classify.mappings`): the first row whose
pattern matches gives ``os_category_1`` (the family), ``os_category_2``, ``os_category`` and ``os_publisher``. Every
staged OS row of the source is derived again at each stage, so a change of the table reaches the assets that did not
change in Qualys too (the mapping version changes with it, so classify re-classifies them). What Qualys sent, and so
the assets' content hashes, stays as it was.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, text

from qualys_cmdb.classify.mappings import OsName, os_name_entry
from qualys_cmdb.staging.schema import SCHEMA

#: SCHEMA is the package's own schema name; every value is bound.
_NAMES = f'SELECT DISTINCT os_name FROM "{SCHEMA}".staged_os WHERE source = :s AND os_name IS NOT NULL'  # noqa: S608
_DERIVE = f"""
    UPDATE "{SCHEMA}".staged_os o
    SET os_category_1 = d.c1, os_category_2 = d.c2, os_category = d.cat, os_publisher = d.pub
    FROM unnest(CAST(:names AS text[]), CAST(:c1 AS text[]), CAST(:c2 AS text[]), CAST(:cat AS text[]),
                CAST(:pub AS text[])) AS d(name, c1, c2, cat, pub)
    WHERE o.source = :s AND o.os_name = d.name
      AND (o.os_category_1, o.os_category_2, o.os_category, o.os_publisher) IS DISTINCT FROM (d.c1, d.c2, d.cat, d.pub)
"""  # noqa: S608


def derive_os_categories(conn: Connection, source: str, table: Sequence[OsName]) -> int:
    """Set the categories of the source's staged OS rows from their OS names; returns how many rows changed.

    The distinct OS names of the source (a few hundred, whatever the estate's size) are matched here; rows are
    written only where the derived values differ from the staged ones. A name no row matches gets no category.
    """
    names = [str(n) for n in conn.execute(text(_NAMES), {"s": source}).scalars()]
    if not names:
        return 0
    entries = [os_name_entry(table, name) for name in names]
    params = {
        "s": source,
        "names": names,
        "c1": [e.category1 if e else None for e in entries],
        "c2": [e.category2 if e else None for e in entries],
        "cat": [e.category if e else None for e in entries],
        "pub": [e.publisher if e else None for e in entries],
    }
    return int(conn.execute(text(_DERIVE), params).rowcount or 0)
