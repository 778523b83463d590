"""Approval decisions (QS-6, SY-4, SY-5): approve or reject assets, one by one, a page, a whole run, or everything.

A library API: the plugin's pages and endpoints (UI issue), the DAG's auto-approval and the HITL batch approval all
call it. Every decision records who made it and when, on the asset and in the ``approval_decision`` history.
Only *pending* assets are decided in bulk; a rejected asset can be approved later by selecting it. Approving
overwrites CMDB data when the asset is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Engine, text

from qualys_cmdb.staging.schema import SCHEMA

Decision = Literal["approved", "rejected"]
AUTO_APPROVER = "auto-approval"


@dataclass(frozen=True)
class Selection:
    """Which assets a decision applies to: given ids, a run's assets, or all pending assets of the schedule."""

    schedule: str
    asset_ids: tuple[int, ...] | None = None
    run_id: str | None = None
    source: str | None = None


def decide(engine: Engine, selection: Selection, decision: Decision, by: str, note: str | None = None) -> int:
    """Apply ``decision`` to the selected undecided assets; returns how many were decided."""
    if decision not in ("approved", "rejected"):
        raise ValueError(f"a decision is 'approved' or 'rejected', not {decision!r}")
    if not by:
        raise ValueError("a decision needs the name of who made it")
    # A person who picks assets one by one may approve one rejected earlier; bulk decisions touch pending only.
    decidable = "('pending', 'rejected')" if decision == "approved" and selection.asset_ids else "('pending')"
    filters = ["c.schedule = :schedule", f"c.state IN {decidable}"]
    params: dict[str, object] = {"schedule": selection.schedule, "decision": decision, "by": by, "note": note}
    if selection.asset_ids is not None:
        filters.append("c.asset_id = ANY(:ids)")
        params["ids"] = list(selection.asset_ids)
    if selection.run_id is not None:
        filters.append("c.classified_run = :run")
        params["run"] = selection.run_id
    if selection.source is not None:
        filters.append("c.source = :source")
        params["source"] = selection.source
    sql = f"""
        WITH decided AS (
            UPDATE "{SCHEMA}".asset_classification c
            SET state = :decision, decided_by = :by, decided_at = now(), decision_note = :note
            WHERE {" AND ".join(filters)}
            RETURNING c.source, c.asset_id, c.schedule, c.payload_hash
        )
        INSERT INTO "{SCHEMA}".approval_decision (source, asset_id, schedule, decision, decided_by, note, payload_hash)
        SELECT source, asset_id, schedule, :decision, :by, :note, payload_hash FROM decided
    """
    with engine.begin() as conn:
        return int(conn.execute(text(sql), params).rowcount or 0)


def auto_approve(engine: Engine, schedule: str) -> int:
    """Approve every pending asset of a schedule with auto-approval (SY-5)."""
    return decide(engine, Selection(schedule), "approved", AUTO_APPROVER)


def counts(engine: Engine, schedule: str, run_id: str | None = None) -> dict[str, int]:
    """Assets of the schedule (or of one run) by state."""
    where = "schedule = :schedule" + (" AND classified_run = :run" if run_id else "")
    with engine.connect() as conn:
        rows = conn.execute(
            text(f'SELECT state, count(*) FROM "{SCHEMA}".asset_classification WHERE {where} GROUP BY state'),
            {"schedule": schedule, "run": run_id},
        ).all()
    return {str(state): int(n) for state, n in rows}


def retry_failed(engine: Engine, selection: Selection, by: str) -> int:
    """SY-6: send failed assets again after a fix. Classification failures are classified again by the next run;
    CMDB failures go back to approved (they were approved before the CMDB refused them)."""
    filters = ["c.schedule = :schedule", "c.state = 'failed'"]
    params: dict[str, object] = {"schedule": selection.schedule, "by": by}
    if selection.asset_ids is not None:
        filters.append("c.asset_id = ANY(:ids)")
        params["ids"] = list(selection.asset_ids)
    if selection.source is not None:
        filters.append("c.source = :source")
        params["source"] = selection.source
    # never classified into a class, or never approved: it failed in classify, so classify it again
    _classification_failure = "(c.target_class IS NULL OR c.decided_by IS NULL)"
    sql = f"""
        WITH retried AS (
            UPDATE "{SCHEMA}".asset_classification c
            SET state = CASE WHEN {_classification_failure} THEN c.state ELSE 'approved' END,
                mapping_version = CASE WHEN {_classification_failure} THEN '' ELSE c.mapping_version END,
                reason = CASE WHEN {_classification_failure} THEN c.reason END,
                failure_code = CASE WHEN {_classification_failure} THEN c.failure_code END,
                failure_detail = CASE WHEN {_classification_failure} THEN c.failure_detail END
            WHERE {" AND ".join(filters)}
            RETURNING c.source, c.asset_id, c.schedule, c.payload_hash
        )
        INSERT INTO "{SCHEMA}".approval_decision (source, asset_id, schedule, decision, decided_by, payload_hash)
        SELECT source, asset_id, schedule, 'retried', :by, payload_hash FROM retried
    """
    with engine.begin() as conn:
        return int(conn.execute(text(sql), params).rowcount or 0)
