"""Rolling-window rate limits and concurrency gates (section 7 of the reference).

FO: per-endpoint counters over a rolling window plus a concurrency gate; when both are exceeded the
concurrency error wins.  Gateway: an optional rolling window on the CSAM search endpoint, and with a latency
profile a concurrency gate there too (again, the concurrency error wins).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass

PROFILES: dict[str, tuple[int, int, int]] = {
    # name: (calls per window, window seconds, concurrent calls)
    "express": (50, 86_400, 1),
    "standard": (300, 3_600, 2),
    "enterprise": (750, 3_600, 5),
    "premium": (2_000, 3_600, 10),
    "unlimited": (1_000_000, 3_600, 1_000),
}


@dataclass(slots=True)
class Decision:
    """Outcome of a rate/concurrency check."""

    allowed: bool
    reason: str  # "ok", "rate" or "concurrency"
    limit: int
    window_sec: int
    remaining: int
    to_wait_sec: int
    concurrency_limit: int
    running: int


class RollingWindow:
    """Calls allowed per rolling window."""

    def __init__(self, limit: int, window_sec: float) -> None:
        self.limit = max(0, int(limit))
        self.window_sec = max(1e-3, float(window_sec))
        self._calls: deque[float] = deque()

    def _trim(self, now: float) -> None:
        while self._calls and self._calls[0] <= now - self.window_sec:
            self._calls.popleft()

    def peek(self, now: float) -> tuple[int, int]:
        """(remaining calls, seconds until the next call is allowed)."""
        self._trim(now)
        remaining = self.limit - len(self._calls)
        if remaining > 0:
            return remaining, 0
        if not self._calls:
            return 0, math.ceil(self.window_sec)
        return 0, max(1, math.ceil(self._calls[0] + self.window_sec - now))

    def take(self, now: float) -> None:
        """Record one call."""
        self._calls.append(now)


class FoLimiter:
    """Per-endpoint FO rate windows and concurrency gates."""

    def __init__(self, limit: int, window_sec: int, concurrency: int, towait_only_when_blocked: bool = False) -> None:
        self.limit = limit
        self.window_sec = window_sec
        self.concurrency = concurrency
        self.towait_only_when_blocked = towait_only_when_blocked
        self._lock = threading.Lock()
        self._windows: dict[str, RollingWindow] = {}
        self._running: dict[str, int] = {}

    @classmethod
    def from_config(cls, config: dict[str, object] | None) -> FoLimiter:
        """Build from ``{"profile": name}`` or ``{"limit", "window_sec", "concurrency"}``.

        ``None`` means the default ``standard`` profile.
        """
        config = config or {"profile": "standard"}
        profile = str(config.get("profile", "") or "")
        if profile:
            if profile not in PROFILES:
                raise ValueError(f"unknown FO rate-limit profile {profile!r}; use one of {sorted(PROFILES)}")
            limit, window, concurrency = PROFILES[profile]
        else:
            base = PROFILES["standard"]
            limit = int(str(config.get("limit", base[0])))
            window = int(str(config.get("window_sec", base[1])))
            concurrency = int(str(config.get("concurrency", base[2])))
        return cls(limit, window, concurrency, bool(config.get("towait_only_when_blocked", False)))

    def acquire(self, endpoint: str) -> Decision:
        """Check and, when allowed, count a call and mark it running (call :meth:`release` after)."""
        now = time.monotonic()
        with self._lock:
            window = self._windows.setdefault(endpoint, RollingWindow(self.limit, self.window_sec))
            running = self._running.get(endpoint, 0)
            remaining, to_wait = window.peek(now)
            if running >= self.concurrency:
                return Decision(
                    False,
                    "concurrency",
                    self.limit,
                    self.window_sec,
                    remaining,
                    max(1, to_wait),
                    self.concurrency,
                    running,
                )
            if remaining <= 0:
                return Decision(False, "rate", self.limit, self.window_sec, 0, to_wait, self.concurrency, running)
            window.take(now)
            self._running[endpoint] = running + 1
            return Decision(True, "ok", self.limit, self.window_sec, remaining - 1, 0, self.concurrency, running)

    def peek(self, endpoint: str) -> Decision:
        """The current state of an endpoint without counting a call (for rejected requests' headers)."""
        now = time.monotonic()
        with self._lock:
            window = self._windows.setdefault(endpoint, RollingWindow(self.limit, self.window_sec))
            remaining, to_wait = window.peek(now)
            return Decision(
                True,
                "ok",
                self.limit,
                self.window_sec,
                remaining,
                to_wait,
                self.concurrency,
                self._running.get(endpoint, 0),
            )

    def release(self, endpoint: str) -> None:
        """Mark a call finished."""
        with self._lock:
            self._running[endpoint] = max(0, self._running.get(endpoint, 0) - 1)

    def headers(self, decision: Decision) -> list[tuple[str, str]]:
        """FO response headers for a decision."""
        concurrency = [
            ("X-Concurrency-Limit-Limit", str(decision.concurrency_limit)),
            ("X-Concurrency-Limit-Running", str(decision.running)),
        ]
        if decision.reason == "concurrency":
            return concurrency
        rate = [
            ("X-RateLimit-Limit", str(decision.limit)),
            ("X-RateLimit-Window-Sec", str(decision.window_sec)),
            ("X-RateLimit-Remaining", str(decision.remaining)),
        ]
        if decision.reason == "rate" or not self.towait_only_when_blocked:
            rate.append(("X-RateLimit-ToWait-Sec", str(decision.to_wait_sec)))
        return rate + concurrency


class GatewayLimiter:
    """Optional rolling window on the CSAM search endpoint (429 when exceeded), and an optional concurrency
    gate (429 too; a call let through is running until :meth:`release`)."""

    def __init__(
        self,
        limit: int,
        window_sec: float,
        to_wait_sec: int | None,
        empty_headers: bool,
        concurrency: int | None = None,
    ) -> None:
        self.window = RollingWindow(limit, window_sec)
        self.to_wait_sec = to_wait_sec
        self.empty_headers = empty_headers
        self.concurrency = concurrency
        self.running = 0
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config: dict[str, object]) -> GatewayLimiter:
        """Build from ``{"limit", "window_sec", "to_wait_sec", "empty_headers"}``."""
        to_wait = config.get("to_wait_sec")
        return cls(
            int(str(config.get("limit", 300))),
            float(str(config.get("window_sec", 3600))),
            int(str(to_wait)) if to_wait is not None else None,
            bool(config.get("empty_headers", False)),
        )

    def check(self) -> tuple[bool, list[tuple[str, str]]]:
        """(allowed, headers) for one call; counts the call when allowed (call :meth:`release` when it ends).

        A call over the concurrency limit is refused (and not counted in the window) even when the window has
        room; it is told to wait 1 s (an assumption: nothing documents the gateway's answer)."""
        now = time.monotonic()
        with self._lock:
            remaining, to_wait = self.window.peek(now)
            busy = self.concurrency is not None and self.running >= self.concurrency
            allowed = remaining > 0 and not busy
            if allowed:
                self.window.take(now)
                self.running += 1
                remaining -= 1
            elif busy:
                to_wait = max(1, to_wait)
            elif self.to_wait_sec is not None:
                to_wait = self.to_wait_sec
        values = [
            ("X-RateLimit-Limit", str(self.window.limit)),
            ("X-RateLimit-Window-Sec", str(int(self.window.window_sec))),
            ("X-RateLimit-Remaining", str(remaining)),
            ("X-RateLimit-ToWait-Sec", str(to_wait)),
            ("X-ConcurrencyLimit-Limit", str(self.concurrency or 2)),
        ]
        if self.empty_headers:
            values = [(name, "") for name, _ in values]
        return allowed, values

    def release(self) -> None:
        """A call let through by :meth:`check` has ended."""
        with self._lock:
            self.running = max(0, self.running - 1)
