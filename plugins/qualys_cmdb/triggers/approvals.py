"""A trigger that waits for people to decide a run's pending assets (QS-6, SY-4), polling the staging database.

It lives in the installed package because Airflow's triggerer does not load code from the DAG folder. It is
restart-safe: everything it needs is in its serialised kwargs, and the deadline is an absolute time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent


def pending_assets(schedule: str, run_id: str) -> int:
    """How many assets classified in ``run_id`` still wait for a decision."""
    from qualys_cmdb.approval.decisions import counts
    from qualys_cmdb.staging.database import get_engine

    return counts(get_engine(), schedule, run_id).get("pending", 0)


class PendingApprovalsTrigger(BaseTrigger):
    """Fires when the run has no pending asset left, or when ``deadline`` passes (undecided ones stay pending).

    :param schedule: the schedule name.
    :param run_id: the DAG run whose assets are waited for.
    :param deadline: ISO time after which it stops waiting.
    :param poll_interval: seconds between looks at the staging database.
    """

    def __init__(self, schedule: str, run_id: str, deadline: str, poll_interval: float = 30.0) -> None:
        super().__init__()
        self.schedule = schedule
        self.run_id = run_id
        self.deadline = deadline
        self.poll_interval = poll_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "qualys_cmdb.triggers.approvals.PendingApprovalsTrigger",
            {
                "schedule": self.schedule,
                "run_id": self.run_id,
                "deadline": self.deadline,
                "poll_interval": self.poll_interval,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        deadline = datetime.fromisoformat(self.deadline)
        while True:
            pending = await asyncio.to_thread(pending_assets, self.schedule, self.run_id)
            if pending == 0:
                yield TriggerEvent({"status": "decided", "pending": 0})
                return
            if datetime.now(UTC) >= deadline:
                yield TriggerEvent({"status": "wait_limit", "pending": pending})
                return
            await asyncio.sleep(self.poll_interval)
