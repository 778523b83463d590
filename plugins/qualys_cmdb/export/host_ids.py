"""Host-id updater (HK-6): addresses pushed to Qualys get their Qualys host id once Qualys has scan data for them.

Qualys creates a host record for an added IP only when it is first scanned. The updater asks QPS hostasset for the
hosts at the pushed addresses that have no host id yet (100 addresses per call) and records the host and asset ids
on every upload item of that address. What is left is the count of pushed-but-not-yet-scanned addresses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Engine, text

from qualys_cmdb.hooks.qualys_vm_protocol import chunks
from qualys_cmdb.staging.schema import SCHEMA

if TYPE_CHECKING:
    from qualys_cmdb.hooks.qualys import QualysHook

LOOKUP_CHUNK = 100


@dataclass(frozen=True)
class HostIdResult:
    """What one pass found for one source."""

    source: str
    checked: int
    found: int
    qualys_calls: int
    not_scanned: int


def update_host_ids(engine: Engine, hook: QualysHook, source: str) -> HostIdResult:
    """Fill in the Qualys host ids of ``source``'s pushed addresses that Qualys now knows as hosts."""
    calls_before = hook.api_calls
    with engine.connect() as conn:
        addresses = list(
            conn.execute(
                text(
                    f"SELECT DISTINCT address FROM \"{SCHEMA}\".upload_item WHERE source = :src AND kind = 'ip' "
                    "AND status IN ('Success', 'Skipped') AND qualys_host_id IS NULL ORDER BY address"
                ),
                {"src": source},
            ).scalars()
        )
    found = 0
    for chunk in chunks(addresses, LOOKUP_CHUNK):
        hosts: dict[str, tuple[int, int]] = {}
        for host in hook.hosts_at(chunk):
            if host.host_id is not None and host.address in chunk:
                hosts.setdefault(host.address, (host.host_id, host.asset_id))
        if not hosts:
            continue
        found += len(hosts)
        with engine.begin() as conn:
            conn.execute(
                text(f"""
                UPDATE "{SCHEMA}".upload_item u
                SET qualys_host_id = v.host_id, qualys_asset_id = v.asset_id, host_found_at = now()
                FROM (SELECT unnest(CAST(:addresses AS text[])) AS address,
                             unnest(CAST(:host_ids AS bigint[])) AS host_id,
                             unnest(CAST(:asset_ids AS bigint[])) AS asset_id) v
                WHERE u.source = :src AND u.kind = 'ip' AND u.address = v.address AND u.qualys_host_id IS NULL
                """),
                {
                    "src": source,
                    "addresses": list(hosts),
                    "host_ids": [h for h, _ in hosts.values()],
                    "asset_ids": [a for _, a in hosts.values()],
                },
            )
    not_scanned = sum(not_scanned_counts(engine, source).values())
    return HostIdResult(source, len(addresses), found, hook.api_calls - calls_before, not_scanned)


def not_scanned_counts(engine: Engine, source: str | None = None) -> dict[str, int]:
    """Per schedule: addresses it added to Qualys that Qualys has no host for yet (HK-6)."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(f"""
            SELECT schedule, count(DISTINCT address) FROM "{SCHEMA}".upload_item u
            WHERE kind = 'ip' AND status = 'Success' AND (CAST(:src AS text) IS NULL OR source = :src)
              AND NOT EXISTS (SELECT 1 FROM "{SCHEMA}".upload_item h WHERE h.source = u.source
                              AND h.address = u.address AND h.kind = 'ip' AND h.qualys_host_id IS NOT NULL)
            GROUP BY schedule
            """),
            {"src": source},
        ).all()
    return {str(schedule): int(n) for schedule, n in rows}
