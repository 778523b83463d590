"""The classification source: one row per staged asset with every attribute rules and field maps may use.

Attributes are the columns of staged_asset, staged_os and staged_hardware (one row per asset), plus the first
processor row and the cloud instance id. Their names are what mapping files refer to, so an unknown name in a
mapping is caught when the mappings load.
"""

from __future__ import annotations

from qualys_cmdb.staging.schema import SCHEMA, STAGED_CHILDREN, staged_asset

_SKIP = {
    "source",
    "asset_id",
    "content_hash",
    "queue_id",
    "first_seen_run",
    "last_seen_run",
    "changed_run",
    "staged_at",
    "changed_at",
}


def _columns() -> dict[str, str]:
    cols: dict[str, str] = {"source": "a.source", "asset_id": "a.asset_id"}
    cols.update({c.name: f'a."{c.name}"' for c in staged_asset.columns if c.name not in _SKIP})
    for alias, kind in (("o", "os"), ("h", "hardware")):
        cols.update(
            {
                c.name: f'{alias}."{c.name}"'
                for c in STAGED_CHILDREN[kind].columns
                if c.name not in ("source", "asset_id")
            }
        )
    cols.update(
        {
            "processor_description": "p.processor_description",
            "processor_speed": "p.processor_speed",
            "cloud_instance_id": "cl.instance_id",
            "cloud_region": "cl.region",
            "cloud_account_id": "cl.account_id",
        }
    )
    return cols


#: attribute name -> SQL expression over the aliases of :data:`SOURCE_FROM`.
SOURCE_COLUMNS: dict[str, str] = _columns()

SOURCE_FROM = f"""
    "{SCHEMA}".staged_asset a
    LEFT JOIN "{SCHEMA}".staged_os o ON o.source = a.source AND o.asset_id = a.asset_id
    LEFT JOIN "{SCHEMA}".staged_hardware h ON h.source = a.source AND h.asset_id = a.asset_id
    LEFT JOIN LATERAL (
        SELECT processor_description, processor_speed FROM "{SCHEMA}".staged_processor x
        WHERE x.source = a.source AND x.asset_id = a.asset_id LIMIT 1) p ON true
    LEFT JOIN LATERAL (
        SELECT instance_id, region, account_id FROM "{SCHEMA}".staged_cloud x
        WHERE x.source = a.source AND x.asset_id = a.asset_id LIMIT 1) cl ON true
"""
