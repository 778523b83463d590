"""HK-8: every housekeeping DAG's frequency is a setting (guide 2.2: "you can always update or change the frequency
of scheduled jobs"), validated like a schedule's interval; a setting that would be ignored is named."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from qualys_cmdb.config import ConfigError, parse_config

from tests.conftest import REPO

SOURCES = """
sources: [{name: s, pod: US1, connection_id: c, cmdb_to_qualys: true}]
schedules:
  - {name: push, source: s, direction: cmdb_to_qualys, table: cmdb_ci_server, query: operational_status=1}
"""


def _write(tmp_path: Path, properties: str) -> Path:
    path = tmp_path / "qualys_cmdb.yaml"
    path.write_text(SOURCES + "properties:\n" + properties)
    return path


def test_each_housekeeping_dag_runs_as_often_as_configured(tmp_path: Path) -> None:
    from airflow.sdk.definitions.timetables.simple import NullTimetable
    from qualys_cmdb.dag_factory import build_dags

    path = _write(
        tmp_path,
        """  allow_asset_group_sync: true
  housekeeping_schedules:
    qualys_asset_tags: 6h
    qualys_asset_groups: "0 */4 * * *"
    qualys_host_id_updater: manual
    qualys_queue_cleanup: "@weekly"
""",
    )
    dags = build_dags(str(path))
    assert dags["qualys_asset_tags"].timetable.delta == timedelta(hours=6)
    assert dags["qualys_asset_groups"].timetable.expression == "0 */4 * * *"
    assert isinstance(dags["qualys_host_id_updater"].timetable, NullTimetable)  # only when triggered
    assert dags["qualys_queue_cleanup"].timetable.expression == "0 0 * * 0"


def test_the_defaults_are_the_vendor_apps(tmp_path: Path) -> None:
    from qualys_cmdb.dag_factory import build_dags

    dags = build_dags(str(_write(tmp_path, "  allow_asset_group_sync: true\n")))
    expressions = {d: dags[d].timetable.expression for d in dags if not d.startswith("cmdb_to_qualys")}
    assert expressions == {
        "qualys_asset_tags": "0 0 * * *",
        "qualys_asset_groups": "0 0 * * *",
        "qualys_host_id_updater": "0 * * * *",
        "qualys_queue_cleanup": "0 0 * * *",
    }


def test_a_bad_frequency_or_an_unknown_job_is_a_clear_error() -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(
            SOURCES
            + "properties:\n  housekeeping_schedules: {qualys_asset_tag: 1h, qualys_queue_cleanup: 'every day'}\n"
        )
    assert set(error.value.problems) == {
        "properties.housekeeping_schedules.qualys_asset_tag: unknown setting (check the spelling)",
        "properties.housekeeping_schedules.qualys_queue_cleanup: 'every day' is neither a duration (15m, 1h, 1d), a "
        "preset (@hourly, @daily, @weekly, @monthly), a cron expression, nor 'manual'",
    }
    with pytest.raises(ConfigError, match="queue_retention_error_days: Input should be greater than or equal to 0"):
        parse_config(SOURCES + "properties: {queue_retention_error_days: -1}\n")


def test_validate_names_a_frequency_that_would_be_ignored_and_nothing_else(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from qualys_cmdb.cli import main

    shipped = REPO / "include" / "config" / "qualys_cmdb.yaml"
    assert main(["config", "validate", str(shipped)]) == 0
    out = capsys.readouterr().out
    assert "warning" not in out
    assert (
        "housekeeping DAGs: qualys_asset_tags (@daily), qualys_asset_groups (@daily), qualys_host_id_updater "
        "(@hourly), qualys_queue_cleanup (@daily)"
    ) in out

    path = _write(tmp_path, "  housekeeping_schedules: {qualys_asset_groups: 12h, qualys_asset_tags: 2h}\n")
    assert main(["config", "validate", str(path)]) == 0
    out = capsys.readouterr().out
    warnings = [line for line in out.splitlines() if line.startswith("warning:")]
    assert warnings == [
        "warning: properties.housekeeping_schedules.qualys_asset_groups: not used, as the DAG is not built: asset "
        "groups are not fetched (properties.allow_asset_group_sync: false)"
    ]
    assert "qualys_asset_tags (2h)" in out
