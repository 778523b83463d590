"""Browser tests: a real Airflow (api-server, scheduler, dag-processor, triggerer) driven through Debian's Chromium.

Fixtures
--------
Scope: ``ui_env`` and ``airflow_ui`` live for the package tests/ui (pytest's ``package`` scope), not the whole
session: in ``make test`` the rest of the suite shares the same metadata database, and a running scheduler would
act on the DAG runs of later tests (seen: a deadlock on ``dag_run`` in tests/ui_api). Within tests/ui they start
once.

``ui_env`` (package, ``dict[str, str]``)
    Extra environment of the Airflow servers, on top of the test session's own (tests/conftest.py: the embedded
    PostgreSQL with the Airflow metadata database, the staging connection ``AIRFLOW_CONN_QUALYS_CMDB_STAGING``,
    ``AIRFLOW_HOME`` in the session's temp dir, the DAG folder ``dags/``). It starts as
    ``{"QUALYS_CMDB_CONFIG": "<repo>/include/config/qualys_cmdb.yaml"}``; put the configuration file and the
    connections (``AIRFLOW_CONN_<ID>``, JSON) your tests need into it, best from a module- or package-scoped
    fixture that also starts the simulators the connections point at, requested before ``airflow_ui``::

        @pytest.fixture(scope="module")
        def review_setup(ui_env, tmp_path_factory):
            ...start simulators, write a config...
            ui_env.update(QUALYS_CMDB_CONFIG=str(path), AIRFLOW_CONN_QUALYS_UI=json.dumps({...}))

        def test_approve(review_setup, airflow_ui, page): ...

    Contract (lazy restart): the servers start with ``ui_env`` as it is when ``airflow_ui`` is first set up. Each
    use of the handle (``url``, ``env``, ``token()``, ``wait_for_dags()``) compares ``ui_env`` with what the
    servers run with; when it changed, they are restarted (same port, same users; about 10-15 s) before the handle
    answers. So order never silently matters, but tests that need different environments cost a restart each:
    group them, and prefer changing connections through the REST API / ``airflow connections`` when that does.

``airflow_ui`` (package, :class:`AirflowUI`)
    ``url`` (``http://127.0.0.1:<free port>``), ``password(user)``, ``token(user)`` (``POST /auth/token``, a
    Bearer token for the REST API and the plugin's routes), ``env`` (the servers' environment: run ``airflow``
    CLI commands against the same database with it), ``wait_for_dags(*dag_ids)``, ``log(component)`` (the tail of
    a server's output) and ``restart()``. Users of the SimpleAuthManager: ``admin`` (role admin), ``operator``
    (role op) and ``viewer`` (role viewer), with the passwords in :data:`PASSWORDS` (written to a passwords file in
    the session's temp dir). LocalExecutor with parallelism 4; every server binds 127.0.0.1 (no serve-logs
    servers); each runs in a process group of its own, stopped as a group after the last test of tests/ui, when a
    changed ``ui_env`` restarts them, or when the start fails. Their output: ``airflow_ui.logs/<component>.log``.

``browser`` (session) and ``page`` (function: a new browser context per test, 1400x900)
    Playwright's sync API driving ``/usr/bin/chromium`` (installed by ``make install``; ``playwright install`` is
    never used). A failing test leaves ``artifacts/FAILED-<test>.png``.

Helpers
-------
``login(page, airflow_ui, user, next_path="/")``: a real login through SimpleAuthManager's login page
(``/auth/login?next=…``, fields ``input[name=username]`` and ``input[name=password]``, button "Sign in"), which
sets the ``_token`` cookie and lands on ``next_path``.
``screenshot(page, name)``: a full-page PNG in ``tests/ui/artifacts/<name>.png``; with ``UPDATE_SCREENSHOTS=1``
also in ``docs/screenshots/<name>.png``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests

from scripts.demo_env import stop_process_groups

REPO = Path(__file__).resolve().parents[2]
SHIPPED_CONFIG = REPO / "include/config/qualys_cmdb.yaml"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
SCREENSHOTS = REPO / "docs/screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
USERS = {"admin": "admin", "operator": "op", "viewer": "viewer"}  # user name → SimpleAuthManager role
PASSWORDS = {user: f"{user}-ui-Passw0rd" for user in USERS}  # test-only accounts of a server bound to 127.0.0.1


def _commands(port: int) -> dict[str, list[str]]:
    """The ``airflow`` sub-commands of the servers, each bound to 127.0.0.1 or serving nothing."""
    return {
        "api-server": ["api-server", "-H", "127.0.0.1", "-p", str(port), "--workers", "1"],
        "scheduler": ["scheduler", "--skip-serve-logs"],
        "dag-processor": ["dag-processor"],
        "triggerer": ["triggerer", "--skip-serve-logs"],
    }


START_TIMEOUT = 180


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class AirflowUI:
    """Airflow's servers for the browser tests; see the module docstring for the contract."""

    def __init__(self, base_env: dict[str, str], ui_env: dict[str, str], workdir: Path) -> None:
        self._base_env = base_env
        self._ui_env = ui_env
        self.workdir = workdir
        self.logs = workdir / "service-logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.port = _free_port()
        self._url = f"http://127.0.0.1:{self.port}"
        self.passwords_file = workdir / "passwords.json"
        self.passwords_file.write_text(json.dumps(PASSWORDS) + "\n")
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._started_with: dict[str, str] = {}
        self._env: dict[str, str] = {}
        self._failed_with: dict[str, str] | None = None  # the ui_env of a start that failed: not tried again
        self._tokens: dict[str, str] = {}
        self.started_in: float | None = None  # seconds the last start took until healthy

    # --- what the tests use -------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        self._ensure()
        return self._url

    @property
    def env(self) -> dict[str, str]:
        """The environment the servers run with (a copy): for ``airflow`` CLI commands on the same database."""
        self._ensure()
        return dict(self._env)

    def password(self, user: str) -> str:
        return PASSWORDS[user]

    def token(self, user: str) -> str:
        """A JWT for ``user`` from ``POST /auth/token`` (Bearer token for the REST API and the plugin's routes)."""
        self._ensure()
        if user not in self._tokens:
            response = requests.post(
                f"{self._url}/auth/token", json={"username": user, "password": PASSWORDS[user]}, timeout=30
            )
            assert response.status_code == 201, response.text
            self._tokens[user] = response.json()["access_token"]
        return self._tokens[user]

    def headers(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(user)}"}

    def wait_for_dags(self, *dag_ids: str, timeout: float = 120) -> None:
        """Wait until the dag-processor has serialized every one of ``dag_ids`` (the UI lists them then)."""
        self._ensure()
        deadline = time.monotonic() + timeout
        missing: set[str] = set(dag_ids)
        while True:
            response = requests.get(
                f"{self._url}/api/v2/dags", params={"limit": 1000}, headers=self.headers("admin"), timeout=30
            )
            if response.ok:
                missing = set(dag_ids) - {dag["dag_id"] for dag in response.json()["dags"]}
                if not missing:
                    return
            if time.monotonic() > deadline:
                pytest.fail(f"DAGs {sorted(missing)} not parsed in {timeout} s:\n{self.log('dag-processor')}")
            time.sleep(1)

    def airflow(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """``airflow ARGS…`` with the servers' environment."""
        return subprocess.run(
            [sys.executable, "-m", "airflow", *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )

    def log(self, component: str, chars: int = 4000) -> str:
        path = self.logs / f"{component}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def restart(self) -> None:
        self.stop()
        self.start()

    # --- start and stop -----------------------------------------------------------------------------------------

    def _ensure(self) -> None:
        if self._procs and dict(self._ui_env) == self._started_with:
            return
        if self._failed_with is not None and dict(self._ui_env) == self._failed_with:
            pytest.fail("Airflow's servers failed to start with this ui_env (see the first error)")
        self.restart()

    def _server_env(self) -> dict[str, str]:
        bin_dir = str(Path(sys.executable).parent)
        return {
            **self._base_env,
            "PATH": f"{bin_dir}{os.pathsep}{self._base_env.get('PATH', '')}",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__BASE_URL": self._url,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self._url}/execution/",
            "AIRFLOW__CORE__AUTH_MANAGER": (
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{u}:{r}" for u, r in USERS.items()),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.passwords_file),
            "AIRFLOW__API_AUTH__JWT_SECRET": "test-only-jwt-secret-for-the-ui-tests",
            "AIRFLOW__API__SECRET_KEY": "test-only-api-secret-key-for-the-ui-tests",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "2",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "10",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.workdir / "task-logs"),
            **self._ui_env,
        }

    def start(self) -> None:
        started = time.monotonic()
        self._started_with = dict(self._ui_env)
        self._env = self._server_env()
        self._tokens.clear()
        for name, command in _commands(self.port).items():
            with (self.logs / f"{name}.log").open("ab") as log:
                log.write(f"\n===== airflow {name} started at {time.strftime('%H:%M:%S')} =====\n".encode())
                log.flush()
                self._procs[name] = subprocess.Popen(
                    [sys.executable, "-m", "airflow", *command],
                    env=self._env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,  # its own process group: its workers are stopped with it
                )
        try:
            self._wait_healthy()
        except BaseException:
            self._failed_with = dict(self._started_with)
            self.stop()
            raise
        self._failed_with = None
        self.started_in = time.monotonic() - started

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        health: Any = None
        while time.monotonic() < deadline:
            for name, proc in self._procs.items():
                if proc.poll() is not None:
                    pytest.fail(f"airflow {name} exited {proc.returncode} while starting:\n{self.log(name)}")
            with contextlib.suppress(requests.RequestException, ValueError):
                health = requests.get(f"{self._url}/api/v2/monitor/health", timeout=3).json()
                # Every component heartbeats: a deferred run can resume (triggerer) and be scheduled (scheduler).
                if all(part.get("status") == "healthy" for part in health.values()):
                    return
            time.sleep(0.5)
        pytest.fail(f"Airflow was not healthy after {START_TIMEOUT} s: {health}\n{self.log('api-server')}")

    def stop(self) -> None:
        """SIGTERM to each server's process group, SIGKILL to what is left of them after 30 s."""
        procs, self._procs = self._procs, {}
        stop_process_groups(procs.values())


@pytest.fixture(scope="package")
def ui_env() -> dict[str, str]:
    """Extra environment of the Airflow servers (configuration file, ``AIRFLOW_CONN_*``); see the module doc."""
    return {"QUALYS_CMDB_CONFIG": str(SHIPPED_CONFIG)}


@pytest.fixture(scope="package")
def airflow_ui(
    airflow_db: None, ui_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AirflowUI]:
    """Airflow's api-server, scheduler, dag-processor and triggerer on 127.0.0.1 for the tests under tests/ui."""
    ui = AirflowUI(dict(os.environ), ui_env, tmp_path_factory.mktemp("airflow-ui"))
    try:
        ui.start()
        yield ui
    finally:
        ui.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's Chromium through Playwright's sync API (headless)."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make install` installs Debian's chromium")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the test item, so that ``page`` knows whether the test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A page in a new browser context (no cookies: log in with :func:`login`)."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(30_000)
    new_page = context.new_page()
    try:
        yield new_page
    finally:
        report = getattr(request.node, "report_call", None)
        failed_png = ARTIFACTS / f"FAILED-{re.sub(r'[^A-Za-z0-9_.-]+', '_', request.node.name)}.png"
        if report is not None and report.failed:
            with contextlib.suppress(Exception):
                ARTIFACTS.mkdir(exist_ok=True)
                _full_page_png(new_page, failed_png)
        elif report is not None and report.passed:
            failed_png.unlink(missing_ok=True)  # a picture of an earlier failure would mislead
        context.close()


def login(page: Any, airflow_ui: AirflowUI, user: str, next_path: str = "/") -> None:
    """Log ``user`` in through SimpleAuthManager's login page; ends on ``next_path``, authenticated."""
    page.goto(f"{airflow_ui.url}/auth/login?next={quote(next_path, safe='')}")
    page.locator("input[name='username']").fill(user)
    page.locator("input[name='password']").fill(airflow_ui.password(user))
    page.get_by_role("button", name="Sign in").click()
    try:
        page.wait_for_url(lambda url: "/auth/login" not in url, timeout=30_000)
    except Exception as exc:
        raise AssertionError(f"login of {user!r} did not leave the login page: {page.inner_text('body')}") from exc
    assert any(cookie["name"] == "_token" for cookie in page.context.cookies()), "no _token cookie after login"
    page.wait_for_load_state("load")


# How much taller than the window the page's content is, counting inner scrolling containers: Airflow's React UI
# scrolls inside a full-height layout, where Playwright's full_page alone would stop at the window's height.
_OVERFLOW_JS = """() => {
  let extra = Math.max(0, document.documentElement.scrollHeight - window.innerHeight);
  for (const el of document.querySelectorAll('*')) {
    const overflow = getComputedStyle(el).overflowY;
    if ((overflow === 'auto' || overflow === 'scroll') && el.scrollHeight > el.clientHeight) {
      extra = Math.max(extra, el.scrollHeight - el.clientHeight);
    }
  }
  return extra;
}"""


def _full_page_png(page: Any, path: Path) -> None:
    """A screenshot of the whole content, the window made as tall as it for the moment (at most 12,000 px)."""
    size = page.viewport_size or {"width": 1400, "height": 900}
    extra = int(page.evaluate(_OVERFLOW_JS))
    if extra > 0:
        page.set_viewport_size({"width": size["width"], "height": min(size["height"] + extra, 12_000)})
        page.wait_for_timeout(300)  # let the layout (and virtualized lists) follow the new size
    try:
        page.screenshot(path=str(path), full_page=True)
    finally:
        if extra > 0:
            page.set_viewport_size(size)


def screenshot(page: Any, name: str) -> Path:
    """A full-page PNG in tests/ui/artifacts/<name>.png (and docs/screenshots/ with UPDATE_SCREENSHOTS=1)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    _full_page_png(page, path)
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, SCREENSHOTS / f"{name}.png")
    return path
