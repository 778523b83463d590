"""Airflow's connection form for the package's connection types, through Airflow's real API server app: no "null"
among the choices of a choice field (POD, asset API, authentication), and `make ui` turns on the form's Test
button (``AIRFLOW__CORE__TEST_CONNECTION=Enabled``), which Airflow leaves off by default."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.conftest import REPO


def _client(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "True")
    from airflow.api_fastapi.app import create_app
    from fastapi.testclient import TestClient

    return TestClient(create_app())


def test_choice_fields_offer_no_null_choice(airflow_db: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from qualys_cmdb.pods import PLATFORMS

    meta = {h["connection_type"]: h for h in _client(monkeypatch).get("/ui/connections/hook_meta").json()}
    qualys, servicenow = meta["qualys"]["extra_fields"], meta["servicenow"]["extra_fields"]
    choices = {
        "pod": qualys["pod"]["schema"],
        "api": qualys["api"]["schema"],
        "auth": servicenow["auth"]["schema"],
    }
    for name, schema in choices.items():
        assert None not in schema["enum"] and "null" not in schema["enum"], name
        assert "null" in schema["type"], name  # still optional: the form's clear button leaves it empty
    assert choices["pod"]["enum"] == list(PLATFORMS)
    assert choices["api"]["enum"] == ["csam", "hostasset"]


def _make_ui() -> ModuleType:
    """scripts/ui.py (what `make ui` runs), imported as it runs: with scripts/ on the path."""
    scripts_dir = str(REPO / "scripts")
    if scripts_dir not in sys.path:
        sys.path.insert(0, scripts_dir)
    spec = importlib.util.spec_from_file_location("qcmdb_make_ui", REPO / "scripts" / "ui.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_make_ui_enables_the_connection_test_button(
    airflow_db: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    make_ui = _make_ui()
    monkeypatch.setattr(make_ui, "PASSWORDS", tmp_path / "ui-passwords.json")
    monkeypatch.setattr(make_ui, "SECRETS", tmp_path / "ui-secrets.json")
    env = make_ui.ui_env({})
    assert env["AIRFLOW__CORE__TEST_CONNECTION"] == "Enabled"

    body = {"connection_id": "probe", "conn_type": "generic", "host": "127.0.0.1"}
    monkeypatch.delenv("AIRFLOW__CORE__TEST_CONNECTION", raising=False)
    off = _client(monkeypatch).post("/api/v2/connections/test", json=body)
    assert off.status_code == 403 and "disabled" in off.text.lower()  # Airflow's default
    monkeypatch.setenv("AIRFLOW__CORE__TEST_CONNECTION", env["AIRFLOW__CORE__TEST_CONNECTION"])
    on = _client(monkeypatch).post("/api/v2/connections/test", json=body)
    assert on.status_code == 200, on.text  # the button works: the hook's own test answers
