"""*classify* in batches of asset ids, so that the max transaction lifetime (PR-3) can stop it between two.

Each batch is one set-based statement (:func:`~qualys_cmdb.classify.classify.classify_assets`) over the next
:data:`BATCH` assets that need a classification, in asset-id order. An asset classified stays classified, so a
classify stopped by the lifetime leaves the rest exactly as the next run's classify selects them.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, text

from qualys_cmdb.classify.classify import ClassifyResult, classify_assets
from qualys_cmdb.classify.mappings import Mappings
from qualys_cmdb.lifetime import Lifetime
from qualys_cmdb.staging.schema import SCHEMA, asset_classification
from qualys_cmdb.staging.statistics import refresh_statistics

CLASSIFICATION = asset_classification.name

#: Assets per classify statement: large, so that a normal run does few (each one reads the source's shared serial
#: numbers, MAC addresses and names again), small enough to stop within the lifetime.
BATCH = 20_000

_WAITING = f"""
    FROM "{SCHEMA}".schedule_asset v
    JOIN "{SCHEMA}".staged_asset a ON a.source = v.source AND a.asset_id = v.asset_id
    LEFT JOIN "{SCHEMA}".asset_classification c
         ON c.schedule = v.schedule AND c.source = v.source AND c.asset_id = v.asset_id
    WHERE v.schedule = :schedule AND v.source = :source
      AND (c.asset_id IS NULL OR c.mapping_version <> :version OR c.content_hash <> v.content_hash
           OR c.class_override IS DISTINCT FROM CAST(:override AS text))
"""


@dataclass
class BatchedClassify:
    """A classify step: the counts (of the run), the batches it took, and why it stopped early, if it did."""

    result: ClassifyResult
    batches: int = 0
    stopped_reason: str | None = None
    left: int = 0  # assets still waiting for a classification when it stopped
    next_asset_id: int | None = None  # where the next classify starts
    analyzed: int = 0  # times it refreshed the planner's statistics of the classifications (large batches)


def classify_in_batches(
    engine: Engine,
    mappings: Mappings,
    *,
    schedule: str,
    source: str,
    run_id: str,
    class_override: str | None,
    lifetime: Lifetime | None = None,
    batch: int | None = None,
) -> BatchedClassify:
    """Classify the schedule's changed assets, :data:`BATCH` at a time; stop between two batches once ``lifetime``
    is over (always after one batch at least, so every step makes progress)."""
    size = max(1, batch or BATCH)
    params = {"schedule": schedule, "source": source, "version": mappings.version, "override": class_override}
    out = BatchedClassify(ClassifyResult())
    classified = 0
    while True:
        with engine.connect() as conn:
            below = conn.execute(
                text(f"SELECT v.asset_id {_WAITING} ORDER BY v.asset_id OFFSET :size LIMIT 1"), {**params, "size": size}
            ).scalar()
        out.result = classify_assets(
            engine,
            mappings,
            schedule=schedule,
            source=source,
            run_id=run_id,
            class_override=class_override,
            below=None if below is None else int(below),
        )
        classified += out.result.classified
        out.batches += 1
        with engine.begin() as conn:  # the next batch, and load, plan on this batch's classifications
            out.analyzed += len(
                refresh_statistics(conn, [CLASSIFICATION], changed=out.result.classified, of=CLASSIFICATION)
            )
        if below is None or not out.result.classified:  # the rest fitted in this batch (or nothing moved)
            break
        if lifetime is not None and lifetime.exceeded():
            with engine.connect() as conn:
                out.left = int(conn.execute(text(f"SELECT count(*) {_WAITING}"), params).scalar_one())
            out.next_asset_id = int(below)
            out.stopped_reason = lifetime.reason(f"{classified} asset(s) classified in {out.batches} batch(es)")
            break
    out.result.classified = classified
    return out
