"""Airflow's REST API as `make e2e` drives it: a JWT of the SimpleAuthManager user ``admin``, DAG runs, task
instances (state, try, worker hostname), Human-in-the-loop answers, and the plugin's pages under /qualys-cmdb.

Every wait polls with a deadline and, when it passes, says what it waited for, what it saw last and where the
components' logs are.
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import quote, unquote_plus

import requests
from e2e_env import LOGS

T = TypeVar("T")
FINISHED = {"success", "failed"}


class WaitTimeout(RuntimeError):
    """A wait's deadline passed."""


class Budget:
    """The whole e2e's deadline (``time.monotonic()``): no wait goes beyond it, so a broken run still ends in time."""

    end = float("inf")

    @classmethod
    def start(cls, seconds: float) -> None:
        cls.end = time.monotonic() + seconds


def wait_for(what: str, probe: Callable[[], T | None], timeout: float, interval: float = 1.0) -> T:
    """Poll ``probe`` until it returns something other than None (or False); fail after ``timeout`` seconds (or
    when the e2e's :class:`Budget` runs out)."""
    deadline = min(time.monotonic() + timeout, Budget.end)
    if deadline == Budget.end:
        what += " (within what is left of the e2e's time budget)"
    last: Any = None
    while True:
        try:
            last = probe()
        except requests.RequestException as exc:  # the api-server busy or restarting: try again until the deadline
            last = exc
        if last is not None and last is not False and not isinstance(last, Exception):
            return last  # type: ignore[no-any-return]
        if time.monotonic() > deadline:
            raise WaitTimeout(f"waited {timeout:.0f} s for {what}; last seen: {last!r}; component logs in {LOGS}/")
        time.sleep(interval)


@dataclass(frozen=True)
class TaskTry:
    """One try of a task instance, as the REST API reports it."""

    task_id: str
    map_index: int
    try_number: int
    state: str | None
    hostname: str
    queued: datetime | None = None  # when the scheduler queued it for a worker
    started: datetime | None = None
    ended: datetime | None = None  # None: still running (or never ran)

    @property
    def label(self) -> str:
        return self.task_id if self.map_index < 0 else f"{self.task_id}[{self.map_index}]"


class AirflowApi:
    """The REST API of the api-server at ``url``, as ``admin``."""

    def __init__(self, url: str, password: str) -> None:
        self.url = url
        self.password = password
        self.session = requests.Session()
        self._token_at = 0.0

    def login(self) -> None:
        """A fresh JWT (``POST /auth/token``) for every later request."""
        response = requests.post(
            f"{self.url}/auth/token", json={"username": "admin", "password": self.password}, timeout=30
        )
        response.raise_for_status()
        self.session.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
        self._token_at = time.monotonic()

    def call(self, method: str, path: str, expect: tuple[int, ...] = (200,), **kwargs: Any) -> Any:
        if time.monotonic() - self._token_at > 600:
            self.login()
        response = self.session.request(method, f"{self.url}{path}", timeout=60, **kwargs)
        if response.status_code not in expect:
            raise RuntimeError(f"{method} {path} answered {response.status_code}: {response.text[:600]}")
        return response.json() if response.content and "json" in response.headers.get("content-type", "") else None

    # ------------------------------------------------------------------------------------------------------ DAGs
    def wait_for_dags(self, dag_ids: list[str], timeout: float) -> None:
        """Until the dag-processor has serialized every DAG of ``dag_ids`` (and reported no import error)."""

        def parsed() -> bool | None:
            errors = self.call("GET", "/api/v2/importErrors")["import_errors"]
            if errors:
                raise RuntimeError(f"DAG import errors: {[(e['filename'], e['stack_trace'][-400:]) for e in errors]}")
            known = {d["dag_id"] for d in self.call("GET", "/api/v2/dags", params={"limit": 100})["dags"]}
            return set(dag_ids) <= known or None

        wait_for(f"the DAGs {dag_ids} to be parsed", parsed, timeout, interval=2)

    def unpause(self, dag_id: str) -> None:
        self.call("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": False})

    def trigger(self, dag_id: str) -> str:
        """A manual run of ``dag_id`` (unpaused first: the scheduler leaves paused DAGs alone); its run id."""
        self.unpause(dag_id)
        run = self.call("POST", f"/api/v2/dags/{dag_id}/dagRuns", json={"logical_date": None})
        return str(run["dag_run_id"])

    def runs(self, dag_id: str, run_type: str | None = None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"limit": 100, "order_by": "run_after"}
        if run_type:
            params["run_type"] = run_type
        return list(self.call("GET", f"/api/v2/dags/{dag_id}/dagRuns", params=params)["dag_runs"])

    def run_state(self, dag_id: str, run_id: str) -> str:
        return str(self.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id)}")["state"])

    def wait_run(self, dag_id: str, run_id: str, timeout: float) -> str:
        """Until the run finishes; fails (naming the failed tasks) unless it succeeded."""
        state = wait_for(
            f"run {run_id} of {dag_id} to finish",
            lambda: (s := self.run_state(dag_id, run_id)) in FINISHED and s,
            timeout,
            interval=2,
        )
        if state != "success":
            failed = [t.label for t in self.task_tries(dag_id, run_id) if t.state not in ("success", "skipped")]
            raise RuntimeError(
                f"run {run_id} of {dag_id} ended {state}; tasks not successful: {failed} "
                f"(task logs in {LOGS}/tasks/dag_id={dag_id}/)"
            )
        return state

    # ---------------------------------------------------------------------------------------------- task instances
    def task_tries(self, dag_id: str, run_id: str) -> list[TaskTry]:
        """The latest try of every task instance of the run."""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id)}/taskInstances"
        tis = self.call("GET", path, params={"limit": 1000})["task_instances"]
        return sorted((_try(ti) for ti in tis), key=lambda t: (t.task_id, t.map_index))

    def tasks_started_by(self, moment: datetime) -> list[TaskTry]:
        """The latest try of every task instance of any DAG and run that started by ``moment`` (every page)."""
        found: list[TaskTry] = []
        while True:
            page = self.call(
                "GET",
                "/api/v2/dags/~/dagRuns/~/taskInstances",
                params={"start_date_lte": moment.isoformat(), "limit": 100, "offset": len(found)},
            )
            found += [_try(ti) for ti in page["task_instances"]]
            if not page["task_instances"] or len(found) >= int(page["total_entries"]):
                return found

    def tries_of(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> list[TaskTry]:
        """Every try of one task instance, oldest first."""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id)}/taskInstances/{task_id}/{map_index}/tries"
        tries = self.call("GET", path)["task_instances"]
        return sorted((_try(ti) for ti in tries), key=lambda t: t.try_number)

    def wait_task(self, dag_id: str, run_id: str, task_id: str, states: set[str], timeout: float) -> TaskTry:
        """Until the task instance (unmapped) is in one of ``states``; its try."""

        def probe() -> TaskTry | None:
            tries = [t for t in self.task_tries(dag_id, run_id) if t.task_id == task_id]
            return tries[0] if tries and tries[0].state in states else None

        return wait_for(f"task {task_id} of {dag_id} run {run_id} to be {'/'.join(sorted(states))}", probe, timeout)

    # ------------------------------------------------------------------------------------------ human in the loop
    def answer_hitl(self, dag_id: str, run_id: str, task_id: str, option: str) -> dict[str, Any]:
        """Answer a Human-in-the-loop task (``PATCH …/hitlDetails``)."""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id)}/taskInstances/{task_id}/-1/hitlDetails"
        return dict(self.call("PATCH", path, json={"chosen_options": [option]}))

    def hitl_waiting(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """The run's Human-in-the-loop requests nobody answered yet."""
        details = self.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id)}/hitlDetails")
        return [d for d in details["hitl_details"] if not d.get("response_received")]

    # ----------------------------------------------------------------------------------------------------- plugin
    def approve_run_in_plugin(self, schedule: str, run_id: str) -> list[str]:
        """Approve every pending asset of a run as a person does on the plugin's "Approve assets" page: the page (for
        its CSRF token), its form post, and the confirmation page's form when it asks first. Returns what the pages
        said (the confirmation's question, the redirect)."""
        page = self.session.get(f"{self.url}/qualys-cmdb/approvals", params={"schedule": schedule}, timeout=60)
        page.raise_for_status()
        token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text)
        if not token:
            raise RuntimeError("the plugin's approvals page carries no CSRF token")
        form = {"csrf_token": token.group(1), "action": "approved:run", "schedule": schedule, "run_id": run_id}
        said = []
        response = self._post_form("/qualys-cmdb/approvals/decide", form)
        if response.status_code == 200 and 'name="confirmed"' in response.text:  # "Approve N assets of run …?"
            question = re.search(r'<p id="question">(.*?)</p>', response.text, re.S)
            said.append(html.unescape(question.group(1)) if question else "a confirmation page")
            action = re.search(r'<form method="post" action="([^"]+)"', response.text)
            hidden = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', response.text)
            if not action:
                raise RuntimeError("the plugin's confirmation page has no form")
            response = self._post_form(html.unescape(action.group(1)), {k: html.unescape(v) for k, v in hidden})
        if response.status_code != 303:
            raise RuntimeError(f"the plugin's approval answered {response.status_code}: {response.text[:600]}")
        said.append(unquote_plus(response.headers.get("location", "")))
        return said

    def _post_form(self, path: str, form: dict[str, str]) -> requests.Response:
        return self.session.post(f"{self.url}{path}", data=form, allow_redirects=False, timeout=60)


def _try(ti: dict[str, Any]) -> TaskTry:
    return TaskTry(
        task_id=str(ti["task_id"]),
        map_index=int(ti.get("map_index", -1)),
        try_number=int(ti.get("try_number") or 0),
        state=ti.get("state"),
        hostname=str(ti.get("hostname") or ""),
        queued=_moment(ti.get("queued_when")),
        started=_moment(ti.get("start_date")),
        ended=_moment(ti.get("end_date")),
    )


def _moment(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None
