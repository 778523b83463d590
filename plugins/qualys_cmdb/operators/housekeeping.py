"""Thin Airflow operator of the ``qualys_queue_cleanup`` DAG (HK-3)."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from qualys_cmdb.config import load_config
from qualys_cmdb.lifetime import Lifetime
from qualys_cmdb.operators.base import _engine, tracked
from qualys_cmdb.staging import store
from qualys_cmdb.staging.cleanup import Retention, clean_queue

if TYPE_CHECKING:
    from airflow.sdk import Context


class QueueCleanupOperator(BaseOperator):
    """Remove processed sync-queue records, their responses and landing rows, old application-log entries and
    superseded upload items after their retention (``properties``); returns the counts.

    Never waits for a running sync nor makes one wait (batches of short transactions, ``SKIP LOCKED``), and stops
    between two batches at the max transaction lifetime: the next run carries on.
    """

    ui_color = "#f2f3f4"

    def __init__(self, *, config_path: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.config_path = config_path

    def execute(self, context: Context) -> dict[str, Any]:
        config = load_config(self.config_path)
        props = config.properties
        engine = _engine()
        app_log = store.AppLog(engine, run_id=context["run_id"], debug_enabled=props.debug_logging)
        retention = Retention.of(props)
        lifetime = Lifetime.of(props)
        with tracked(context, engine, context["ti"].dag_id, None) as step:
            result = clean_queue(engine, retention, lifetime=lifetime)
            if result.stopped_reason and lifetime.exceeded():
                step.stopped(
                    result.stopped_reason,
                    position={"batches": result.transactions, "records_kept_past_retention": result.kept_in_use},
                )
        counts = result.counts()
        (app_log.warning if result.stopped_reason else app_log.info)(
            "queue cleanup", result.render().replace("\n", "; "), retention=asdict(retention), **counts
        )
        self.log.info("%s", result.render())
        return counts
