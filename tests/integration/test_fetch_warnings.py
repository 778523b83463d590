"""What the fetch retried is in the application log, not only in the task log (issue 22: the missing hasMore)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from tests.conftest import start_sim, write_config
from tests.faults.harness import run_dag


def test_a_page_without_hasmore_is_asked_again_and_the_application_log_says_so(
    airflow_db: None, staging: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = start_sim(monkeypatch, assets=25, seed=5)
    try:
        write_config(tmp_path, monkeypatch, batch=10)
        sim.control("faults", missing_has_more=1)
        run_dag()
        with staging.connect() as conn:
            warnings = conn.execute(
                text("SELECT message, details FROM qcmdb.app_log WHERE level = 'warning' AND component = 'fetch'")
            ).all()
            staged = conn.execute(text("SELECT count(*) FROM qcmdb.staged_asset")).scalar_one()
        assert [(m, d["cursor"]) for m, d in warnings] == [
            (
                "CSAM search after asset id 0: the response has no hasMore field (an intermittent Qualys issue); "
                "asked again (attempt 2)",
                0,
            )
        ]
        assert staged == 25  # nothing lost
    finally:
        sim.sim.stop()
