"""Approval decisions: one by one, a page, a whole run, all; who and when recorded; auto-approval."""

from __future__ import annotations

import pytest
from qualys_cmdb.approval.decisions import AUTO_APPROVER, Selection, auto_approve, counts, decide
from qualys_cmdb.staging.schema import approval_decision, asset_classification
from sqlalchemy import insert, select


def _classified(engine, *states: str, run: str = "r1") -> list[int]:  # type: ignore[no-untyped-def]
    ids = list(range(1, len(states) + 1))
    with engine.begin() as conn:
        conn.execute(
            insert(asset_classification),
            [
                {
                    "source": "s",
                    "asset_id": i,
                    "schedule": "t",
                    "mapping_version": "v",
                    "content_hash": "h",
                    "state": st,
                    "classified_run": run,
                    "payload_hash": f"p{i}",
                    "target_class": "cmdb_ci_server",
                }
                for i, st in zip(ids, states, strict=True)
            ],
        )
    return ids


def _states(engine) -> dict[int, tuple[str, str | None]]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        rows = conn.execute(
            select(asset_classification.c.asset_id, asset_classification.c.state, asset_classification.c.decided_by)
        )
        return {a: (s, b) for a, s, b in rows}


def test_selected_assets_are_decided_and_the_decision_is_recorded(staging) -> None:  # type: ignore[no-untyped-def]
    _classified(staging, "pending", "pending", "pending", "failed", "loaded")
    assert decide(staging, Selection("t", asset_ids=(1, 2)), "approved", "alice", "checked") == 2
    assert decide(staging, Selection("t", asset_ids=(3, 4, 5)), "rejected", "bob") == 1  # failed/loaded: not decided
    states = _states(staging)
    assert states[1] == ("approved", "alice") and states[3] == ("rejected", "bob")
    assert states[4][0] == "failed" and states[5][0] == "loaded"
    with staging.connect() as conn:
        history = conn.execute(
            select(
                approval_decision.c.asset_id,
                approval_decision.c.decision,
                approval_decision.c.decided_by,
                approval_decision.c.decided_at,
                approval_decision.c.note,
            ).order_by(approval_decision.c.asset_id)
        ).all()
    assert [(h[0], h[1], h[2], h[4]) for h in history] == [
        (1, "approved", "alice", "checked"),
        (2, "approved", "alice", "checked"),
        (3, "rejected", "bob", None),
    ]
    assert all(h[3] is not None for h in history)


def test_a_whole_run_or_everything_pending_at_once(staging) -> None:  # type: ignore[no-untyped-def]
    _classified(staging, "pending", "pending", run="r1")
    with staging.begin() as conn:
        conn.execute(
            insert(asset_classification).values(
                source="s",
                asset_id=9,
                schedule="t",
                mapping_version="v",
                content_hash="h",
                state="pending",
                classified_run="r2",
            )
        )
    assert decide(staging, Selection("t", run_id="r1"), "rejected", "carol") == 2
    assert counts(staging, "t") == {"rejected": 2, "pending": 1}
    assert counts(staging, "t", run_id="r2") == {"pending": 1}
    assert auto_approve(staging, "t") == 1
    assert _states(staging)[9] == ("approved", AUTO_APPROVER)
    # a rejected asset may still be approved later
    assert decide(staging, Selection("t", asset_ids=(1,)), "approved", "dave") == 1


def test_a_decision_needs_a_valid_verdict_and_a_person(staging) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="'approved' or 'rejected'"):
        decide(staging, Selection("t"), "maybe", "alice")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="who made it"):
        decide(staging, Selection("t"), "approved", "")


def test_a_batch_answer_in_required_actions_decides_the_runs_pending_assets(staging) -> None:  # type: ignore[no-untyped-def]
    """The HITL answer as Airflow hands it to execute_complete (the REST round trip is Airflow's own)."""
    from datetime import UTC, datetime

    from qualys_cmdb.operators.cmdb import BatchApprovalOperator

    _classified(staging, "pending", "pending", "failed", run="r1")
    op = BatchApprovalOperator(task_id="approve_batch", subject="s", schedule_name="t")
    event = {
        "chosen_options": ["Approve"],
        "params_input": {},
        "responded_at": datetime.now(UTC),
        "responded_by_user": {"id": "erin", "name": "erin"},
    }
    result = op.execute_complete({"run_id": "r1"}, event)  # type: ignore[arg-type]
    assert result["chosen_options"] == ["Approve"]
    assert counts(staging, "t") == {"approved": 2, "failed": 1}
    assert {b for s, b in _states(staging).values() if s == "approved"} == {"erin"}


def test_the_approval_trigger_round_trips_and_fires_when_nothing_is_pending(staging) -> None:  # type: ignore[no-untyped-def]
    import asyncio
    from datetime import UTC, datetime, timedelta

    from qualys_cmdb.triggers.approvals import PendingApprovalsTrigger

    later = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    trigger = PendingApprovalsTrigger("t", "r1", later, poll_interval=0.1)
    path, kwargs = trigger.serialize()
    assert path == "qualys_cmdb.triggers.approvals.PendingApprovalsTrigger"
    assert PendingApprovalsTrigger(**kwargs).serialize() == (path, kwargs)
    _classified(staging, "approved", run="r1")
    event = asyncio.run(trigger.run().__anext__())
    assert event.payload == {"status": "decided", "pending": 0}
    _classified_more = PendingApprovalsTrigger("t", "r1", datetime.now(UTC).isoformat(), poll_interval=0.1)
    with staging.begin() as conn:
        conn.execute(asset_classification.update().values(state="pending"))
    assert asyncio.run(_classified_more.run().__anext__()).payload == {"status": "wait_limit", "pending": 1}
