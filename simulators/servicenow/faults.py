"""Fault injection and rate limiting, driven by ``POST/DELETE /sim/control/faults`` (all off by default).

Families: ``table`` (Table API and CMDB Meta API), ``ire`` (``/identifyreconcile...``), ``import``
(Import Set API), ``oauth`` (``/oauth_token.do``) and ``any``.

* ``latency_ms``: sleep before every answer.
* ``status``: ``{"family", "code", "count"}`` (or a list): the next ``count`` requests of the family
  answer ``code`` (500 = JSON envelope, 502/503/504 = load-balancer HTML page).
* ``throttle``: ``{"count", "family"}``: the next ``count`` requests answer a semaphore-style 429 with
  no rate-limit headers.
* ``after_commit``: ``{"family", "count", "answer"}`` (or a list): the next ``count`` requests of the family are
  processed and committed, then their answer is lost, as when a load balancer or a proxy gives up on a request
  the instance went on to finish: ``answer`` ``"drop"`` closes the connection without a response (the client
  sees a dropped connection), ``504`` (default) sends the load balancer's gateway-timeout page.
* ``rate_limit``: ``{"limit", "window_sec", "family"}`` or null: a rate-limit rule for all users,
  counted per user in fixed windows (``window_sec`` default 3600); matching responses carry
  ``X-RateLimit-Limit``/``-Reset``/``-Rule`` and the request over the limit gets 429 + ``Retry-After``.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from dataclasses import dataclass, field

from simulators import fault_rules
from simulators.fault_rules import FaultError

FAMILIES = ("table", "ire", "import", "oauth", "any")
STATUS_CODES = (500, 502, 503, 504)


@dataclass(slots=True)
class _Rule:
    family: str
    remaining: int
    code: int = 0


@dataclass(slots=True)
class RateDecision:
    """Outcome of a rate-limit check: headers to send and, when denied, the Retry-After seconds."""

    headers: list[tuple[str, str]]
    denied: bool = False
    retry_after: int = 0
    limit: int = 0
    window_sec: int = 3600


def _family(value: object) -> str:
    return fault_rules.family(value, FAMILIES)


_count = fault_rules.count
_rules = fault_rules.rules


@dataclass
class Faults:
    """Mutable fault configuration; every ``take_*`` consumes one occurrence."""

    latency_ms: int = 0
    status: list[_Rule] = field(default_factory=list)
    throttle: list[_Rule] = field(default_factory=list)
    after_commit: list[_Rule] = field(default_factory=list)  # code 0 = drop the connection, else that status
    rate_limit: dict[str, object] | None = None
    _windows: dict[tuple[str, int], int] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def apply(self, spec: dict[str, object]) -> None:
        """Merge a control-API fault document into the current state."""
        unknown = set(spec) - {"latency_ms", "status", "throttle", "after_commit", "rate_limit"}
        if unknown:
            raise FaultError(f"unknown fault keys: {sorted(unknown)}")
        with self._lock:
            if "latency_ms" in spec:
                self.latency_ms = _count(spec["latency_ms"], 0)
            if "status" in spec:
                for rule in _rules(spec["status"], "status"):
                    code = _count(rule.get("code"), 503)
                    if code not in STATUS_CODES:
                        raise FaultError(f"status code must be one of {STATUS_CODES}")
                    self.status.append(_Rule(_family(rule.get("family")), _count(rule.get("count")), code))
            if "throttle" in spec:
                for rule in _rules(spec["throttle"], "throttle"):
                    self.throttle.append(_Rule(_family(rule.get("family")), _count(rule.get("count")), 429))
            if "after_commit" in spec:
                for rule in _rules(spec["after_commit"], "after_commit"):
                    answer = rule.get("answer", 504)
                    if answer not in ("drop", 504):
                        raise FaultError('after_commit answer must be "drop" or 504')
                    code = 0 if answer == "drop" else 504
                    self.after_commit.append(_Rule(_family(rule.get("family")), _count(rule.get("count")), code))
            if "rate_limit" in spec:
                config = spec["rate_limit"]
                if config is None:
                    self.rate_limit = None
                elif isinstance(config, dict):
                    limit = _count(config.get("limit"), 0)
                    window = _count(config.get("window_sec"), 3600)
                    if limit < 1 or window < 1:
                        raise FaultError("rate_limit needs limit >= 1 and window_sec >= 1")
                    self.rate_limit = {"limit": limit, "window_sec": window, "family": _family(config.get("family"))}
                else:
                    raise FaultError("rate_limit must be an object or null")
                self._windows.clear()

    def reset(self) -> None:
        """Everything off."""
        with self._lock:
            self.latency_ms = 0
            self.status.clear()
            self.throttle.clear()
            self.after_commit.clear()
            self.rate_limit = None
            self._windows.clear()

    def describe(self) -> dict[str, object]:
        """Current configuration as JSON-able data."""
        with self._lock:
            return {
                "latency_ms": self.latency_ms,
                "status": [{"family": r.family, "code": r.code, "count": r.remaining} for r in self.status],
                "throttle": [{"family": r.family, "count": r.remaining} for r in self.throttle],
                "after_commit": [
                    {"family": r.family, "count": r.remaining, "answer": r.code or "drop"} for r in self.after_commit
                ],
                "rate_limit": dict(self.rate_limit) if self.rate_limit else None,
            }

    @staticmethod
    def _take(rules: list[_Rule], family: str) -> _Rule | None:
        for rule in rules:
            if rule.remaining > 0 and rule.family in (family, "any"):
                rule.remaining -= 1
                if rule.remaining == 0:
                    rules.remove(rule)
                return rule
        return None

    def take_status(self, family: str) -> int | None:
        """Injected HTTP status for this request, if one is pending for its family."""
        with self._lock:
            rule = self._take(self.status, family)
            return rule.code if rule else None

    def take_after_commit(self, family: str) -> int | None:
        """For a request processed and committed: None to answer it, 0 to drop the connection, else a status."""
        with self._lock:
            rule = self._take(self.after_commit, family)
            return rule.code if rule else None

    def take_throttle(self, family: str) -> bool:
        """Whether this request gets a semaphore-style 429."""
        with self._lock:
            return self._take(self.throttle, family) is not None

    def check_rate(self, family: str, username: str) -> RateDecision:
        """Count one request of ``username`` against the rate-limit rule (if any applies)."""
        with self._lock:
            rule = self.rate_limit
            if rule is None or (rule["family"] != "any" and rule["family"] != family) or family == "oauth":
                return RateDecision([])
            limit = int(str(rule["limit"]))
            window = int(str(rule["window_sec"]))
            now = time.time()
            start = int(now // window) * window
            reset = start + window
            key = (username, start)
            used = self._windows.get(key, 0)
            rule_id = hashlib.md5(f"rate:{limit}:{window}".encode(), usedforsecurity=False).hexdigest()
            headers = [
                ("X-RateLimit-Limit", str(limit)),
                ("X-RateLimit-Reset", str(reset)),
                ("X-RateLimit-Rule", rule_id),
            ]
            if used >= limit:
                retry = max(1, math.ceil(reset - now))
                return RateDecision(headers, True, retry, limit, window)
            self._windows[key] = used + 1
            return RateDecision(headers, False, 0, limit, window)
