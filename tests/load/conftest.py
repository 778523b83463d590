"""The load tests' ServiceNow simulator (real HTTP), with the Airflow connection the load uses."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.integration.test_servicenow_hook import Sn


@pytest.fixture
def cmdb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sn]:
    from simulators.servicenow.server import ServiceNowSimulator

    sim = ServiceNowSimulator(host="127.0.0.1", port=0).start()
    monkeypatch.setenv(
        "AIRFLOW_CONN_SN_LOAD",
        json.dumps({"conn_type": "servicenow", "host": sim.url, "login": "sn_integration", "password": "sn-Passw0rd"}),
    )
    yield Sn(sim)
    sim.stop()
