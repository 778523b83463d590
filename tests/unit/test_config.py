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
    assert [s.dag_id for s in config.active_intake_schedules()] == [
        "qualys_to_cmdb__demo",
        "qualys_to_cmdb__linux_servers",
        "qualys_to_cmdb__demo_qps",
    ]
    assert config.source(config.schedule("demo_qps").source).api == "hostasset"


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


REVERSE = """
sources:
  - {name: us, pod: us3, connection_id: qualys_us, cmdb_to_qualys: true}
schedules:
  - name: push
    source: us
    direction: cmdb_to_qualys
    interval: 1d
    table: cmdb_ci_server
    query: operational_status=1
    tracking_method: dns
    asset_tag: "Net: Lab"
"""


def test_a_reverse_schedule_has_the_vendor_defaults() -> None:
    config = parse_config(REVERSE)
    push = config.reverse_schedule("push")
    assert (push.dag_id, push.tracking_method, push.enable_vm, push.enable_pc) == (
        "cmdb_to_qualys__push",
        "DNS",
        True,
        False,
    )
    assert push.assignment == ("tag", "Net: Lab")
    assert push.timetable_spec() == timedelta(days=1)
    assert [s.name for s in config.active_reverse_schedules()] == ["push"]
    assert config.active_intake_schedules() == []
    assert config.warnings() == []
    with pytest.raises(KeyError):
        config.schedule("push")  # not a Qualys → CMDB schedule


def test_reverse_schedule_problems_are_reported_with_their_place() -> None:
    text = """
sources:
  - {name: us, pod: us3, connection_id: qualys_us}
schedules:
  - {name: a, source: us, direction: cmdb_to_qualys, table: cmdb_ci_server, asset_tag: T, asset_group: G}
  - {name: b, source: us, direction: cmdb_to_qualys, table: cmdb_ci_server, enable_vm: false}
  - {name: c, source: us, direction: cmdb_to_qualys, table: Bad-Table, tracking_method: EC2}
  - {name: d, source: us, direction: cmdb_to_qualys, table: cmdb_ci_linux_server, query: "a=1^ORDERBYname"}
  - {name: e, source: us, direction: upwards}
"""
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    problems = info.value.problems
    assert "schedules[2].table: String should match pattern '^[a-z][a-z0-9_]*$'" in problems
    assert "schedules[2].tracking_method: Input should be 'IP', 'DNS' or 'NETBIOS'" in problems
    assert any(p.startswith("schedules[3].query: leave ORDERBY out") for p in problems)
    assert "schedules[4]: direction must be one of qualys_to_cmdb, cmdb_to_qualys" in problems
    text = "\n".join(line for line in text.splitlines() if "name: c," not in line and "name: d," not in line)
    with pytest.raises(ConfigError) as info:
        parse_config(text.replace("  - {name: e, source: us, direction: upwards}", ""))
    problems = info.value.problems
    assert any("choose an asset_tag or an asset_group, not both" in p for p in problems)
    assert any("schedules[1].table: cmdb_ci_server already has the CMDB → Qualys schedule 'a'" in p for p in problems)
    assert any("schedules[1]: enable_vm and enable_pc are both off" in p for p in problems)
    assert any("asset groups are not fetched from Qualys" in p for p in problems)
    assert any("does not allow CMDB → Qualys sync; set cmdb_to_qualys: true" in p for p in problems)


def test_turning_vm_off_is_allowed_with_a_warning() -> None:
    flags = "    enable_vm: false\n    enable_pc: true\n    asset_tag:"
    config = parse_config(REVERSE.replace("    asset_tag:", flags))
    assert any("VM is off for 'push'" in w for w in config.warnings())


@pytest.mark.parametrize(
    ("text", "what"),
    [
        ("", "the file is empty"),
        ("# every schedule moved elsewhere\n", "the file is empty"),
        ("properties: {api_timeout_ms: 60000}\n", "no source is declared"),
        ("sources: []\nschedules: []\n", "no source is declared"),
    ],
    ids=["empty", "only-comments", "only-properties", "empty-lists"],
)
def test_a_configuration_without_sources_is_refused_because_it_would_remove_every_dag(text: str, what: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(text)
    (problem,) = err.value.problems
    assert problem.startswith(f"sources: {what}, so no DAG would be built and every sync would stop")
    assert "declare at least one source" in problem and "set allow_empty: true at the top level" in problem


def test_no_sources_is_reported_with_the_other_problems() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config("properties: {api_timeout_ms: 10}\n")
    assert err.value.problems[0].startswith("sources: no source is declared")
    assert "properties.api_timeout_ms: Input should be greater than or equal to 1000" in err.value.problems


def test_an_empty_configuration_confirmed_with_allow_empty_is_valid_and_builds_nothing() -> None:
    config = parse_config("allow_empty: true\nproperties: {api_timeout_ms: 60000}\n")
    assert config.allow_empty and config.sources == [] and config.active_intake_schedules() == []
    assert parse_config("allow_empty: false\n" + GOOD).source("us").pod == "US3"  # with sources it changes nothing


@pytest.mark.parametrize("length", [101, 300])
def test_source_and_schedule_names_longer_than_100_characters_are_refused(length: int) -> None:
    long = "n" * length
    text = f"""
sources: [{{name: {long}, pod: US1, connection_id: c, cmdb_to_qualys: true}}]
schedules:
  - {{name: {long}, source: {long}}}
  - {{name: r{long}, source: {long}, direction: cmdb_to_qualys, table: cmdb_ci_server}}
"""
    with pytest.raises(ConfigError) as err:
        parse_config(text)
    problems = err.value.problems
    for place in ("sources[0].name", "schedules[0].name", "schedules[1].name"):
        assert (
            f"{place}: String should have at most 100 characters; shorten it, as a name becomes part of DAG ids, "
            "task ids and staging keys" in problems
        ), problems


def test_a_100_character_name_is_accepted_and_makes_a_valid_dag_id() -> None:
    name = "n" * 100
    config = parse_config(
        f"sources: [{{name: {name}, pod: US1, connection_id: c}}]\nschedules: [{{name: {name}, source: {name}}}]\n"
    )
    (schedule,) = config.active_intake_schedules()
    assert len(schedule.dag_id) == 116 <= 250  # Airflow's limit on DAG ids


def test_the_task_timeout_has_a_default_and_a_range() -> None:
    assert parse_config(GOOD).properties.task_timeout_minutes == 240
    with pytest.raises(ConfigError) as err:
        parse_config(GOOD.replace("{download_batch_size: 300}", "{task_timeout_minutes: 5}"))
    assert "properties.task_timeout_minutes: Input should be greater than or equal to 10" in err.value.problems


def test_a_schedule_may_name_its_own_target_transform_map() -> None:
    """QS-5: the schedule's import set table wins over the properties' one; with IRE it is unused, and said so."""
    text = """
sources: [{name: s, pod: US1, connection_id: c}]
schedules:
  - {name: servers, source: s, transform_map_table: u_server_import}
  - {name: rest, source: s}
properties: {insertion_method: transform_map, transform_map_table: u_qualys_computer_import}
"""
    config = parse_config(text)
    assert [config.transform_map_table(config.schedule(n)) for n in ("servers", "rest")] == [
        "u_server_import",
        "u_qualys_computer_import",
    ]
    assert config.warnings() == []
    ire = parse_config(text.replace("insertion_method: transform_map", "insertion_method: ire"))
    assert any("schedules[0].transform_map_table: 'servers' names a transform map" in w for w in ire.warnings())
    with pytest.raises(ConfigError, match=r"schedules\[0\]\.transform_map_table: String should match pattern"):
        parse_config(text.replace("u_server_import", "'u_server_import; drop'"))


def test_a_tag_filter_is_one_printable_line_of_at_most_255_characters() -> None:
    """A tag name Qualys could hold; a line break or control character (a paste gone wrong) is refused."""
    base = "sources: [{name: s, api: hostasset, api_url: 'https://q.example.org', connection_id: c}]\n"
    ok = parse_config(base + f"schedules: [{{name: t, source: s, tag_filter: '{'x' * 255}'}}]\n")
    assert ok.active_intake_schedules()[0].tag_filter == "x" * 255
    with pytest.raises(ConfigError) as err:
        parse_config(base + f"schedules: [{{name: t, source: s, tag_filter: '{'x' * 256}'}}]\n")
    assert "schedules[0].tag_filter: String should have at most 255 characters" in err.value.problems
    with pytest.raises(ConfigError) as err:
        parse_config(base + 'schedules: [{name: t, source: s, tag_filter: "Servers\\nEvil"}]\n')
    assert any(p.startswith("schedules[0].tag_filter: ") and "one line" in p for p in err.value.problems)


def test_filters_are_code_spans_in_the_dag_doc_whatever_they_hold() -> None:
    """A backtick or markup in a tag name cannot end the code span and inject Markdown into the DAG's page."""
    from qualys_cmdb.dag_factory import build_dags

    tag = "a`b ``<img src=x onerror=alert(1)>** [link](javascript:x)"
    text = (
        "sources: [{name: s, api: hostasset, api_url: 'https://q.example.org', connection_id: c}]\n"
        f"schedules: [{{name: t, source: s, tag_filter: '{tag}'}}]\n"
    )
    config_file = REPO / ".qcmdb" / "test-doc-config.yaml"
    config_file.parent.mkdir(exist_ok=True)
    config_file.write_text(text)
    try:
        doc = build_dags(str(config_file))["qualys_to_cmdb__t"].doc_md
    finally:
        config_file.unlink()
    assert f"tag: ``` {tag} ``` ·" in doc or f"tag: ```{tag}``` ·" in doc, doc


def test_page_groups_take_a_positive_number_of_pages_and_say_so() -> None:
    base = "sources: [{name: s, pod: US1, connection_id: c}]\nschedules:\n  - {name: t, source: s, pages_per_run: %s}\n"
    assert parse_config(base % "50").schedule("t").pages_per_run == 50
    assert parse_config(base % "null").schedule("t").pages_per_run is None
    with pytest.raises(ConfigError) as err:
        parse_config(base % "0")
    assert any("pages_per_run" in p and "greater than or equal to 1" in p for p in err.value.problems)
