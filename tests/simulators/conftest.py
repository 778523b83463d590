"""Fixtures for the simulator tests: a shared Qualys simulator plus helpers to talk to it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from simulators.qualys.server import QualysSimulator


@pytest.fixture(scope="module")
def sim() -> Iterator[QualysSimulator]:
    """A 200-asset simulator shared by a test module (faults are reset after each test)."""
    simulator = QualysSimulator(host="127.0.0.1", port=0, assets=200, seed=7).start()
    try:
        yield simulator
    finally:
        simulator.stop()


@pytest.fixture(autouse=True)
def _reset_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "sim" in request.fixturenames:
        simulator: QualysSimulator = request.getfixturevalue("sim")
        requests.delete(simulator.url + "/sim/control/faults", timeout=10)


@pytest.fixture
def fresh_sim() -> Iterator[QualysSimulator]:
    """A private simulator for tests that change the estate, accounts or tokens."""
    simulator = QualysSimulator(host="127.0.0.1", port=0, assets=120, seed=11, jwt_ttl_seconds=2).start()
    try:
        yield simulator
    finally:
        simulator.stop()
