"""Both ways between a run waiting for approval and Approve assets: the approval step's link ("Approve assets", an
operator extra link) and the message of the HITL batch approval lead to Approve assets filtered to the run, by an
absolute path that survives any run id (``+`` and ``:`` encoded)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

RUN_ID = "manual__2026-11-22T01:43:39.984621+00:00"


def _dag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: str) -> Any:
    from qualys_cmdb.dag_factory import build_dags

    from tests.conftest import write_config

    path = write_config(tmp_path, monkeypatch, schedule_extra=extra)
    return build_dags(str(path))["qualys_to_cmdb__t"]


def _filter(link: str) -> dict[str, list[str]]:
    parts = urlsplit(link)
    assert parts.path == "/qualys-cmdb/approvals" and not parts.netloc
    return parse_qs(parts.query)


def test_approve_or_wait_links_to_approve_assets_of_its_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk.types import TaskInstanceKey
    from qualys_cmdb.operators.cmdb import ApprovalsPageLink

    task = _dag(tmp_path, monkeypatch, "    auto_approve: false").get_task("approve_or_wait")
    (link,) = task.operator_extra_links
    assert isinstance(link, ApprovalsPageLink) and link.name == "Approve assets"
    key = TaskInstanceKey(dag_id="qualys_to_cmdb__t", task_id="approve_or_wait", run_id=RUN_ID)
    url = link.get_link(task, ti_key=key)
    assert url.startswith("/qualys-cmdb/approvals?run=manual__2026-11-22T01%3A43%3A39.984621%2B00%3A00")
    assert _filter(url) == {"run": [RUN_ID], "schedule": ["t"]}


def test_the_hitl_message_links_to_approve_assets_of_its_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from jinja2 import Environment

    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "https://airflow.example")
    task = _dag(tmp_path, monkeypatch, "    auto_approve: false\n    batch_approval: true").get_task("approve_batch")
    assert [link.name for link in task.operator_extra_links] == ["Approve assets"]
    text = Environment(autoescape=False).from_string(task.body.split("\n\n")[-1])  # noqa: S701 - text, as Airflow
    body = text.render(run_id=RUN_ID)
    url = body.rsplit(" ", 1)[1]
    assert url.startswith("https://airflow.example/qualys-cmdb/approvals?run=")
    assert _filter(url.removeprefix("https://airflow.example")) == {"run": [RUN_ID], "schedule": ["t"]}
