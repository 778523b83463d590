"""Qualys reference data in staging (HK-1, HK-2): asset tags and asset groups of each source, refreshed daily.

A refresh replaces the source's rows in one transaction, so readers never see half a catalogue and tags or groups
deleted in Qualys disappear here too. CMDB → Qualys schedules are checked against these rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from qualys_cmdb.staging.schema import qualys_asset_group, qualys_tag, reference_fetch

if TYPE_CHECKING:
    from qualys_cmdb.hooks.qualys import QualysHook

#: Tag rule types whose ruleText is a list of address ranges: the ones a CMDB → Qualys schedule may fill (RS-4).
NETWORK_RANGE_TYPES = ("NETWORK_RANGE",)


@dataclass(frozen=True)
class FetchResult:
    """What one refresh stored."""

    source: str
    kind: str
    count: int
    api_calls: int


def _when(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None


def _replace(
    engine: Engine, source: str, kind: str, table: Any, key: str, rows: list[dict[str, Any]], calls: int
) -> None:
    with engine.begin() as conn:
        conn.execute(delete(table).where(table.c.source == source))
        if rows:
            conn.execute(pg_insert(table), rows)
        conn.execute(
            pg_insert(reference_fetch)
            .values(source=source, kind=kind, fetched_at=func.now(), count=len(rows), api_calls=calls)
            .on_conflict_do_update(
                index_elements=[reference_fetch.c.source, reference_fetch.c.kind],
                set_={"fetched_at": func.now(), "count": len(rows), "api_calls": calls},
            )
        )


def fetch_tags(engine: Engine, hook: QualysHook, source: str) -> FetchResult:
    """Store every Qualys tag of ``source`` (HK-1)."""
    before = hook.api_calls
    rows = [
        {
            "source": source,
            "tag_id": tag.id,
            "name": tag.name,
            "rule_type": tag.rule_type,
            "rule_text": tag.rule_text,
            "parent_tag_id": tag.parent_tag_id,
            "color": tag.color,
            "criticality": tag.criticality,
            "provider": tag.provider,
            "created": _when(tag.created),
            "modified": _when(tag.modified),
        }
        for tag in hook.tags()
    ]
    calls = hook.api_calls - before
    _replace(engine, source, "tags", qualys_tag, "tag_id", rows, calls)
    return FetchResult(source, "tags", len(rows), calls)


def fetch_asset_groups(engine: Engine, hook: QualysHook, source: str) -> FetchResult:
    """Store every asset group of ``source`` (HK-2)."""
    before = hook.api_calls
    rows = [
        {
            "source": source,
            "group_id": group.id,
            "title": group.title,
            "ip_set": group.ip_set,
            "network_id": group.network_id,
            "business_impact": group.business_impact,
            "owner": group.owner,
            "last_update": _when(group.last_update),
        }
        for group in hook.asset_groups()
    ]
    calls = hook.api_calls - before
    _replace(engine, source, "groups", qualys_asset_group, "group_id", rows, calls)
    return FetchResult(source, "groups", len(rows), calls)


def last_fetch(engine: Engine, source: str, kind: str) -> datetime | None:
    """When ``kind`` (tags or groups) was last fetched for ``source``."""
    with engine.connect() as conn:
        value = conn.execute(
            select(reference_fetch.c.fetched_at).where(
                (reference_fetch.c.source == source) & (reference_fetch.c.kind == kind)
            )
        ).scalar_one_or_none()
    return value


def tags_named(engine: Engine, source: str, name: str) -> list[dict[str, Any]]:
    """The stored tags of ``source`` called ``name`` (Qualys allows duplicates under different parents)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(qualys_tag).where((qualys_tag.c.source == source) & (qualys_tag.c.name == name))
        ).mappings()
        return [dict(r) for r in rows]


def network_range_tag_names(engine: Engine, source: str) -> list[str]:
    """Names of the NETWORK_RANGE tags of ``source``: the ones a CMDB → Qualys schedule can use."""
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(qualys_tag.c.name)
                .where((qualys_tag.c.source == source) & qualys_tag.c.rule_type.in_(NETWORK_RANGE_TYPES))
                .order_by(qualys_tag.c.name)
            ).scalars()
        )


def groups_titled(engine: Engine, source: str, title: str) -> list[dict[str, Any]]:
    """The stored asset groups of ``source`` with ``title``."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(qualys_asset_group).where(
                (qualys_asset_group.c.source == source) & (qualys_asset_group.c.title == title)
            )
        ).mappings()
        return [dict(r) for r in rows]


def group_titles(engine: Engine, source: str) -> list[str]:
    """Titles of the stored asset groups of ``source``."""
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(qualys_asset_group.c.title)
                .where(qualys_asset_group.c.source == source)
                .order_by(qualys_asset_group.c.title)
            ).scalars()
        )
