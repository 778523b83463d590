"""BY-11: a CI the CMDB pushed to Qualys comes back as that CI, never as a second one.

The CMDB → Qualys direction adds a CI's address to Qualys (an ``ip`` upload item naming the CI); Qualys scans it and
the Qualys → CMDB direction brings the host back as a Qualys asset, with the name, serial number and MAC addresses the
scan found. Those rarely match what the CMDB holds (often just a placeholder name and an address), so IRE's
identification rules find no CI and insert a second one: the vendor guide's known issue "Duplicate entries found in
cmdb_ci_computer for assets which were synced from ServiceNow to Qualys, scanned and then synced back".

The project knows better than the rules: it pushed the address on behalf of a CI, and the host-id updater (HK-6)
recorded which Qualys host the address became. :func:`pushed_cis` finds, for the assets of a load batch, the CI each
one was pushed from; the payload then names that CI (IRE's ``sys_id`` shortcut, reference §2.5).

Evidence, strongest first; only one kind is used for an asset:

* **host id**: upload items whose recorded Qualys host id (or asset id) is the asset's. This holds when the CMDB has
  given the CI another address since the push: Qualys scanned the address that was pushed, and the host id says which
  push it answered.
* **address**: until the host-id updater has looked, upload items at the asset's address, provided that no Qualys
  host was recorded at that address yet (once one is, it is the host-id evidence that counts).

Only unambiguous evidence links: it must name exactly one CI, from items whose address no other CI shared when it was
pushed (an upload item names one of the CIs sharing an address, not the machine). An asset the CMDB has confirmed as
its pushed CI stays linked (``confirmed``: the payload's class rule still applies to it). A link never moves a CI:
an asset the CMDB already confirmed as another CI keeps it, and a CI already confirmed for another Qualys asset is
not linked again (Qualys may hold two hosts for one machine that changed address; the second is identified like any
asset). Of the assets of one batch that point at the same CI, the one with the stronger evidence (then the lowest
asset id) is linked: IRE rejects a payload in which two items name the same ``sys_id``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, text

from qualys_cmdb.staging.schema import SCHEMA

#: upload statuses whose address is in Qualys on behalf of the item's CI (Skipped: Qualys had it already)
PUSHED_STATUSES = ("Success", "Skipped")


@dataclass(frozen=True)
class PushedCi:
    """The CI a Qualys asset was pushed from.

    :param sys_id: the CI's sys_id, as the CMDB → Qualys run read it
    :param ci_class: the CI's class when it was last pushed
    :param evidence: ``host id`` or ``address``: what links the asset to it
    :param confirmed: the CMDB already confirmed the asset as this CI (a load of it succeeded)
    """

    sys_id: str
    ci_class: str | None
    evidence: str
    confirmed: bool


_PUSHED = f"p.kind = 'ip' AND p.status IN {PUSHED_STATUSES!r} AND p.ci_sys_id IS NOT NULL"

# The items that name a host of the batch are read in one pass (hashed IN lists, no index on the host ids); the
# items at its addresses through the (source, address) index.
_PUSHED_CIS = f"""
WITH batch AS (
    SELECT a.source, a.asset_id, a.qweb_host_id, a.ip_address,
           ARRAY(SELECT DISTINCT CAST(c.cmdb_sys_id AS text) FROM "{SCHEMA}".asset_classification c
                 WHERE c.source = a.source AND c.asset_id = a.asset_id AND c.cmdb_sys_id IS NOT NULL) AS confirmed
    FROM "{SCHEMA}".staged_asset a
    WHERE (a.source, a.asset_id) IN (SELECT * FROM unnest(CAST(:sources AS text[]), CAST(:ids AS bigint[])))
), scanned AS (
    SELECT p.id, p.source, p.ci_sys_id, p.ci_class, p.ci_count, p.qualys_host_id, p.qualys_asset_id
    FROM "{SCHEMA}".upload_item p
    WHERE {_PUSHED}
      AND (p.qualys_host_id IN (SELECT qweb_host_id FROM batch) OR p.qualys_asset_id IN (SELECT asset_id FROM batch))
), hits AS (
    SELECT b.source, b.asset_id, 1 AS strength, s.id, s.ci_sys_id, s.ci_class, s.ci_count, s.qualys_host_id,
           s.qualys_asset_id
    FROM batch b JOIN scanned s ON s.source = b.source
                               AND (s.qualys_host_id = b.qweb_host_id OR s.qualys_asset_id = b.asset_id)
    UNION ALL
    SELECT b.source, b.asset_id, 2, p.id, p.ci_sys_id, p.ci_class, p.ci_count, p.qualys_host_id, p.qualys_asset_id
    FROM batch b JOIN "{SCHEMA}".upload_item p ON p.source = b.source AND p.address = b.ip_address
    WHERE {_PUSHED}
), strongest AS (
    SELECT h.*, min(h.strength) OVER (PARTITION BY h.source, h.asset_id) AS best FROM hits h
), evidence AS (
    SELECT source, asset_id, strength, min(ci_sys_id) AS ci_sys_id, count(DISTINCT ci_sys_id) AS cis,
           max(ci_count) AS sharing, (array_agg(ci_class ORDER BY id DESC))[1] AS ci_class,
           bool_and(qualys_host_id IS NULL AND qualys_asset_id IS NULL) AS no_host_yet
    FROM strongest WHERE strength = best
    GROUP BY source, asset_id, strength
)
SELECT DISTINCT ON (e.ci_sys_id) e.source, e.asset_id, e.ci_sys_id, e.ci_class,
       CASE e.strength WHEN 1 THEN 'host id' ELSE 'address' END AS evidence,
       cardinality(b.confirmed) > 0 AS confirmed
FROM evidence e JOIN batch b ON b.source = e.source AND b.asset_id = e.asset_id
WHERE e.cis = 1 AND e.sharing = 1 AND (e.strength = 1 OR e.no_host_yet)
  AND (cardinality(b.confirmed) = 0 OR b.confirmed = ARRAY[CAST(e.ci_sys_id AS text)])
  AND NOT EXISTS (SELECT 1 FROM "{SCHEMA}".asset_classification o
                  WHERE o.cmdb_sys_id = e.ci_sys_id AND (o.source, o.asset_id) <> (e.source, e.asset_id))
ORDER BY e.ci_sys_id, e.strength, e.source, e.asset_id
"""


# ``qcmdb adopt`` (qualys_cmdb/adopt.py): a CI the vendor's app created, linked to its asset by a person. Same rules:
# a link never moves a CI (the asset is not confirmed as another CI, the CI not confirmed for another asset).
_ADOPTED_CIS = f"""
SELECT d.source, d.asset_id, d.ci_sys_id, d.ci_class, 'adopted' AS evidence,
       EXISTS (SELECT 1 FROM "{SCHEMA}".asset_classification c
               WHERE c.source = d.source AND c.asset_id = d.asset_id AND c.cmdb_sys_id = d.ci_sys_id) AS confirmed
FROM "{SCHEMA}".adopted_ci d
WHERE (d.source, d.asset_id) IN (SELECT * FROM unnest(CAST(:sources AS text[]), CAST(:ids AS bigint[])))
  AND NOT EXISTS (SELECT 1 FROM "{SCHEMA}".asset_classification c
                  WHERE c.source = d.source AND c.asset_id = d.asset_id AND c.cmdb_sys_id <> d.ci_sys_id)
  AND NOT EXISTS (SELECT 1 FROM "{SCHEMA}".asset_classification o
                  WHERE o.cmdb_sys_id = d.ci_sys_id AND (o.source, o.asset_id) <> (d.source, d.asset_id))
"""


def pushed_cis(engine: Engine, keys: list[tuple[str, int]]) -> dict[tuple[str, int], PushedCi]:
    """For the staged assets ``keys`` (source, asset id): the CI each one was pushed from, when that is certain; else
    the vendor-app CI ``qcmdb adopt`` linked it to."""
    if not keys:
        return {}
    params = {"sources": [k[0] for k in keys], "ids": [k[1] for k in keys]}
    with engine.connect() as conn:
        rows = conn.execute(text(_PUSHED_CIS), params).mappings().all()
        adopted = conn.execute(text(_ADOPTED_CIS), params).mappings().all()
    out = {
        (str(r["source"]), int(r["asset_id"])): PushedCi(
            str(r["ci_sys_id"]), r["ci_class"], str(r["evidence"]), bool(r["confirmed"])
        )
        for r in rows
    }
    named = {ci.sys_id for ci in out.values()}
    for r in adopted:
        key = (str(r["source"]), int(r["asset_id"]))
        if key not in out and str(r["ci_sys_id"]) not in named:  # IRE refuses two items naming one sys_id
            out[key] = PushedCi(str(r["ci_sys_id"]), r["ci_class"], "adopted", bool(r["confirmed"]))
    return out
