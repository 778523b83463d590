"""The run-time side of the latency model (:mod:`simulators.latency`), shared by both simulators.

* :class:`ModelledStats`: per request family, how many requests were worked on, their modelled and actual
  server seconds, the time they waited at a gate, and the peak number worked on at once (``peak_in_flight``
  is counted with or without a profile).
* :class:`Pacer`: holds a request until its modelled time has passed since it started being worked on; the
  wait ends early when the profile is replaced or cleared (so a test or a benchmark never has to sit out a
  long modelled time).
* :class:`FifoSemaphore`: N requests worked on at once, up to Q more waiting in arrival order, the rest
  refused (ServiceNow's API_INT semaphore).
* :class:`SessionLocks`: one request at a time per session id (ServiceNow's session synchronisation).
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from simulators.latency import LatencyProfile


def profile_from_body(body: bytes) -> LatencyProfile | None:
    """The profile of a ``POST /sim/control/latency`` body: a profile document, or ``null`` (none).

    ValueError (with a message that names the problem) for anything else."""
    text = body.decode("utf-8").strip() if body else ""
    if not text:
        raise ValueError('the body must be a latency profile object ({"scale": 0.1, ...}, {} = defaults) or null')
    document = json.loads(text)
    if document is None:
        return None
    if not isinstance(document, dict):
        raise ValueError("the body must be a latency profile object or null")
    return LatencyProfile.from_json(document)


def latency_control(
    method: str, body: bytes, set_latency: Callable[[LatencyProfile | None], None], current: Callable[[], Pacer | None]
) -> tuple[int, object]:
    """``GET|POST|DELETE /sim/control/latency`` of either simulator: (status, JSON answer). POST puts the body's
    profile in force (:func:`profile_from_body`), DELETE clears it; every answer is the profile in force, or null."""
    if method == "POST":
        try:
            set_latency(profile_from_body(body))
        except (ValueError, TypeError, UnicodeDecodeError) as exc:
            return 400, {"error": f"invalid latency profile: {exc}"}
    elif method == "DELETE":
        set_latency(None)
    elif method != "GET":
        return 405, {"error": "latency takes GET, POST or DELETE"}
    pacer = current()
    return 200, pacer.profile.to_json() if pacer is not None else None


@dataclass(slots=True)
class _Family:
    requests: int = 0
    rejected: int = 0
    modelled_s: float = 0.0
    server_s: float = 0.0
    queued_s: float = 0.0
    in_flight: int = 0
    waiting: int = 0
    peak_in_flight: int = 0

    def document(self) -> dict[str, int | float]:
        return {
            "requests": self.requests,
            "rejected": self.rejected,
            "modelled_s": self.modelled_s,
            "server_s": self.server_s,
            "queued_s": self.queued_s,
            "in_flight": self.in_flight,
            "waiting": self.waiting,
            "peak_in_flight": self.peak_in_flight,
        }


class ModelledStats:
    """Per-family counters (the ``modelled`` object of ``GET /sim/control/stats``).

    ``requests``: requests worked on (past every gate); ``rejected``: refused by a gate (semaphore queue full,
    concurrency or rate limit); ``modelled_s``: their modelled seconds (after ``scale``; 0 without a profile);
    ``server_s``: seconds from the start of the work to the reply being ready, the modelled wait included;
    ``queued_s``: seconds spent waiting at a gate; ``in_flight`` / ``waiting``: being worked on / waiting at
    a gate now; ``peak_in_flight``: the most worked on at once since the last reset.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._families: dict[str, _Family] = {}

    def _family(self, family: str) -> _Family:
        counters = self._families.get(family)
        if counters is None:
            counters = self._families[family] = _Family()
        return counters

    @contextmanager
    def waiting(self, family: str) -> Iterator[None]:
        """Count a request as waiting at a gate while the block runs."""
        with self._lock:
            self._family(family).waiting += 1
        try:
            yield
        finally:
            with self._lock:
                self._family(family).waiting -= 1

    def enter(self, family: str) -> None:
        """A request of ``family`` starts being worked on."""
        with self._lock:
            counters = self._family(family)
            counters.in_flight += 1
            counters.peak_in_flight = max(counters.peak_in_flight, counters.in_flight)

    def leave(self, family: str, modelled_s: float, server_s: float, queued_s: float, rejected: bool = False) -> None:
        """A request entered with :meth:`enter` is done."""
        with self._lock:
            counters = self._family(family)
            counters.in_flight -= 1
            if rejected:
                counters.rejected += 1
            else:
                counters.requests += 1
                counters.modelled_s += modelled_s
                counters.server_s += server_s
            counters.queued_s += queued_s

    def reject(self, family: str, queued_s: float) -> None:
        """A request refused at a gate before it was worked on."""
        with self._lock:
            counters = self._family(family)
            counters.rejected += 1
            counters.queued_s += queued_s

    def snapshot(self) -> dict[str, dict[str, int | float]]:
        """JSON-able copy, families sorted."""
        with self._lock:
            return {name: counters.document() for name, counters in sorted(self._families.items())}

    def reset(self) -> None:
        """Zero the counters; requests in flight or waiting stay counted as such (and set the new peak)."""
        with self._lock:
            for counters in self._families.values():
                counters.requests = counters.rejected = 0
                counters.modelled_s = counters.server_s = counters.queued_s = 0.0
                counters.peak_in_flight = counters.in_flight


class Pacer:
    """A profile in force; :meth:`pace` holds a request until its modelled time is over."""

    def __init__(self, profile: LatencyProfile) -> None:
        self.profile = profile
        self._ended = threading.Event()

    def scaled(self, seconds: float) -> float:
        """``seconds`` of the model at the profile's ``scale``."""
        return seconds * self.profile.scale

    def pace(self, started: float, modelled_s: float) -> None:
        """Sleep until ``modelled_s`` after ``started`` (a ``time.monotonic()`` reading); no sleep when the
        work already took longer, none either once :meth:`end` was called."""
        deadline = started + modelled_s
        remaining = deadline - time.monotonic()
        while remaining > 0 and not self._ended.wait(remaining):  # a timed wait may wake a hair early
            remaining = deadline - time.monotonic()

    def end(self) -> None:
        """The profile is replaced, cleared or the simulator stops: wake every request it holds."""
        self._ended.set()


class FifoSemaphore:
    """``threads`` holders at once, at most ``queue`` waiters served in arrival order, the rest refused."""

    def __init__(self, threads: int, queue: int) -> None:
        self.threads = max(1, threads)
        self.queue = max(0, queue)
        self._lock = threading.Lock()
        self._running = 0
        self._waiters: deque[threading.Event] = deque()

    def acquire(self) -> bool:
        """Take a thread, waiting in line if needed; False (at once) when the line is full."""
        with self._lock:
            if self._running < self.threads and not self._waiters:
                self._running += 1
                return True
            if len(self._waiters) >= self.queue:
                return False
            turn = threading.Event()
            self._waiters.append(turn)
        turn.wait()  # release() hands its thread over: _running already counts this request
        return True

    def release(self) -> None:
        """Give the thread back, to the first in line if there is one."""
        with self._lock:
            if self._waiters:
                self._waiters.popleft().set()
            else:
                self._running -= 1


class SessionLocks:
    """One request at a time per session id; waiters of one session are served in arrival order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sessions: dict[str, FifoSemaphore] = {}
        self._users: dict[str, int] = {}

    def acquire(self, session: str) -> None:
        """Wait for the session's turn."""
        with self._lock:
            gate = self._sessions.get(session)
            if gate is None:
                gate = self._sessions[session] = FifoSemaphore(1, 1 << 30)
            self._users[session] = self._users.get(session, 0) + 1
        gate.acquire()

    def release(self, session: str) -> None:
        """End the session's current request (the next in line goes on)."""
        with self._lock:
            gate = self._sessions[session]
            self._users[session] -= 1
            if not self._users[session]:
                del self._users[session]
                del self._sessions[session]
        gate.release()
