"""Configuration validation (SRC-1…3, QS-1…7, PR-1…7): every problem reported with its place."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from qualys_cmdb.config import ConfigError, load_config, parse_config

REPO = Path(__file__).resolve().parents[2]

GOOD = """
sources:
  - {name: us, pod: us3, connection_id: qualys_us}
  - {name: pcp, api: hostasset, api_url: "https://qualysapi.example.org", connection_id: qualys_pcp}
schedules:
  - {name: linux, source: us, interval: 15m, qql_filter: "operatingSystem.category1:`Linux`"}
  - {name: nightly, source: pcp, interval: "0 2 * * *", tag_filter: Servers}
  - {name: adhoc, source: us, interval: manual, active: true}
properties: {download_batch_size: 300}
"""


def test_the_shipped_configuration_is_valid() -> None:
    config = load_config(REPO / "include/config/qualys_cmdb.yaml")
    assert [s.dag_id for s in config.active_intake_schedules()] == ["qualys_to_cmdb__demo"]


def test_a_valid_file_gives_typed_settings_with_the_seed_defaults() -> None:
    config = parse_config(GOOD)
    assert config.source("us").pod == "US3"
    assert config.schedule("linux").timetable_spec() == timedelta(minutes=15)
    assert config.schedule("nightly").timetable_spec() == "0 2 * * *"
    assert config.schedule("adhoc").timetable_spec() is None
    assert [(f.field, f.value) for f in config.schedule("linux").qql] == [("operatingSystem.category1", "Linux")]
    props = config.properties
    assert (props.max_transaction_lifetime_minutes, props.api_timeout_ms, props.upload_batch_size) == (10, 480000, 10)
    assert props.insertion_method == "ire"


def test_every_problem_is_reported_with_its_place() -> None:
    bad = """
sources:
  - {name: us, pod: XX9, connection_id: c}
  - {name: us, api: csam, connection_id: c2}
schedules:
  - {name: a, source: us, interval: every day}
  - {name: a, source: nowhere}
  - {name: b, source: us, qql_filter: "operatingSystem.category1 = Linux"}
  - {name: c, source: us, detials: {ports: false}}
properties: {max_transaction_lifetime_minutes: 5, download_batch_size: 500, insertion_method: magic}
"""
    with pytest.raises(ConfigError) as err:
        parse_config(bad)
    problems = "\n".join(err.value.problems)
    for expected in (
        "sources[0].pod: unknown POD 'XX9'",
        "schedules[0].interval: 'every day' is neither a duration",
        "schedules[2].qql_filter: cannot use",
        "schedules[3].detials: unknown setting",
        "properties.max_transaction_lifetime_minutes: Input should be greater than or equal to 10",
        "properties.insertion_method: Input should be 'ire' or 'transform_map'",
    ):
        assert expected in problems, problems


def test_cross_checks_names_sources_and_api_limits() -> None:
    bad = """
sources:
  - {name: us, pod: US1, connection_id: c}
  - {name: us, pod: US2, connection_id: c}
  - {name: pcp, api: hostasset, connection_id: c}
schedules:
  - {name: a, source: us}
  - {name: a, source: nowhere}
  - {name: h, source: pcp, qql_filter: "os:x"}
properties: {download_batch_size: 500}
"""
    with pytest.raises(ConfigError) as err:
        parse_config(bad)
    problems = err.value.problems
    assert "sources[1].name: 'us' is used by another source; names must be unique" in problems
    assert (
        "sources[2]: set pod (one of US1, US2, US3, US4, EU1, EU2, EU3, IN1, CA1, AE1, UK1, AU1, KSA1) "
        "or api_url for a PCP" in problems
    )
    assert "schedules[1].name: 'a' is used by another schedule; names must be unique" in problems
    assert "schedules[1].source: no source named 'nowhere' (known: us, pcp)" in problems
    assert any(p.startswith("schedules[2].qql_filter: QQL filters need a source with api: csam") for p in problems)
    assert any(
        p.startswith("properties.download_batch_size: 500 exceeds the csam API's page limit of 300") for p in problems
    )


def test_broken_yaml_names_the_line() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config("sources:\n  - name: [unclosed\n")
    assert err.value.problems[0].startswith("line 3, column 1: not valid YAML")


def test_cli_validate_prints_every_problem_and_exits_non_zero(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("schedules:\n  - {name: a, source: x, interval: 0m}\nproperties: {api_timeout_ms: 10}\n")
    result = subprocess.run(
        [sys.executable, "-m", "qualys_cmdb.cli", "config", "validate", str(bad)], capture_output=True, text=True
    )
    assert result.returncode == 1
    assert "schedules[0].interval: an interval must be longer than zero" in result.stderr
    assert "properties.api_timeout_ms: Input should be greater than or equal to 1000" in result.stderr
    good = subprocess.run(
        [sys.executable, "-m", "qualys_cmdb.cli", "config", "validate", str(REPO / "include/config/qualys_cmdb.yaml")],
        capture_output=True,
        text=True,
    )
    assert good.returncode == 0, good.stderr
    assert "DAGs: qualys_to_cmdb__demo" in good.stdout
