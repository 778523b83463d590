"""Fault injection state, driven by ``POST/DELETE /sim/control/faults`` (everything off by default).

Families: ``csam`` (gateway ``/rest/2.0`` and ``/am/v1``), ``qps`` (``/qps/...``), ``fo``
(``/api/...``), ``auth`` (``POST /auth``) and ``any``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from simulators import fault_rules
from simulators.fault_rules import FaultError
from simulators.qualys.ratelimit import FoLimiter, GatewayLimiter

FAMILIES = ("csam", "qps", "fo", "auth", "any")
STATUS_CODES = (202, 500, 502, 503, 504, 520)


@dataclass(slots=True)
class _Rule:
    family: str
    remaining: int
    code: int = 0
    fraction: float = 0.5


def _family(value: object) -> str:
    return fault_rules.family(value, FAMILIES)


_count = fault_rules.count
_rules = fault_rules.rules


@dataclass
class Faults:
    """Mutable fault configuration; every ``take_*`` consumes one occurrence."""

    latency_ms: int = 0
    status: list[_Rule] = field(default_factory=list)
    truncate: list[_Rule] = field(default_factory=list)
    disconnect: list[_Rule] = field(default_factory=list)
    empty_body: list[_Rule] = field(default_factory=list)
    invalid_utf8: list[_Rule] = field(default_factory=list)
    csam_failed: int = 0
    csam_no_response_code: int = 0
    csam_no_response_code_status: int = 200
    missing_has_more: int = 0
    clamp_page_size: int | None = None
    csam_query_cap: int | None = None
    gzip: bool = False
    max_get_url: int = 8192
    gateway_limiter: GatewayLimiter | None = None
    gateway_rate_limit: dict[str, object] | None = None
    fo_rate_limit: dict[str, object] | None = None
    fo_limiter: FoLimiter = field(default_factory=lambda: FoLimiter.from_config(None))
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    # ------------------------------------------------------------------ configuration
    def apply(self, spec: dict[str, object]) -> None:
        """Merge a control-API fault document into the current state."""
        known = {
            "latency_ms",
            "status",
            "truncate",
            "disconnect",
            "empty_body",
            "invalid_utf8",
            "csam_failed",
            "csam_no_response_code",
            "missing_has_more",
            "gateway_rate_limit",
            "fo_rate_limit",
            "clamp_page_size",
            "csam_query_cap",
            "gzip",
            "max_get_url",
        }
        unknown = set(spec) - known
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
            if "truncate" in spec:
                for rule in _rules(spec["truncate"], "truncate"):
                    fraction = float(str(rule.get("fraction", 0.5)))
                    if not 0.0 < fraction < 1.0:
                        raise FaultError("truncate fraction must be between 0 and 1")
                    self.truncate.append(
                        _Rule(_family(rule.get("family")), _count(rule.get("count")), fraction=fraction)
                    )
            if "disconnect" in spec:
                for rule in _rules(spec["disconnect"], "disconnect"):
                    self.disconnect.append(_Rule(_family(rule.get("family")), _count(rule.get("count"))))
            if "empty_body" in spec:
                for rule in _rules(spec["empty_body"], "empty_body"):
                    self.empty_body.append(_Rule(_family(rule.get("family")), _count(rule.get("count"))))
            if "invalid_utf8" in spec:
                for rule in _rules(spec["invalid_utf8"], "invalid_utf8"):
                    self.invalid_utf8.append(_Rule(_family(rule.get("family")), _count(rule.get("count"))))
            if "csam_failed" in spec:
                self.csam_failed = _count(spec["csam_failed"], 0)
            if "csam_no_response_code" in spec:
                value = spec["csam_no_response_code"]
                if isinstance(value, dict):
                    self.csam_no_response_code = _count(value.get("count"))
                    self.csam_no_response_code_status = _count(value.get("http_status"), 200)
                else:
                    self.csam_no_response_code = _count(value, 0)
            if "missing_has_more" in spec:
                self.missing_has_more = _count(spec["missing_has_more"], 0)
            if "clamp_page_size" in spec:
                value = spec["clamp_page_size"]
                if value is True:
                    self.clamp_page_size = 100
                elif value in (False, None, 0):
                    self.clamp_page_size = None
                else:
                    self.clamp_page_size = _count(value)
            if "csam_query_cap" in spec:
                value = spec["csam_query_cap"]
                self.csam_query_cap = None if value in (None, False, 0) else _count(value)
            if "gzip" in spec:
                self.gzip = bool(spec["gzip"])
            if "max_get_url" in spec:
                self.max_get_url = _count(spec["max_get_url"], 8192)
            if "gateway_rate_limit" in spec:
                config = spec["gateway_rate_limit"]
                if config is None:
                    self.gateway_limiter, self.gateway_rate_limit = None, None
                elif isinstance(config, dict):
                    self.gateway_limiter = GatewayLimiter.from_config(config)
                    self.gateway_rate_limit = dict(config)
                else:
                    raise FaultError("gateway_rate_limit must be an object or null")
            if "fo_rate_limit" in spec:
                config = spec["fo_rate_limit"]
                if config is not None and not isinstance(config, dict):
                    raise FaultError("fo_rate_limit must be an object or null")
                try:
                    self.fo_limiter = FoLimiter.from_config(config)
                except ValueError as exc:
                    raise FaultError(str(exc)) from exc
                self.fo_rate_limit = dict(config) if config else None

    def reset(self) -> None:
        """Back to the defaults (no faults, FO limits = standard profile)."""
        fresh = Faults()
        with self._lock:
            for name in (
                "latency_ms",
                "status",
                "truncate",
                "disconnect",
                "empty_body",
                "invalid_utf8",
                "csam_failed",
                "csam_no_response_code",
                "csam_no_response_code_status",
                "missing_has_more",
                "clamp_page_size",
                "csam_query_cap",
                "gzip",
                "max_get_url",
                "gateway_limiter",
                "gateway_rate_limit",
                "fo_rate_limit",
                "fo_limiter",
            ):
                setattr(self, name, getattr(fresh, name))

    def describe(self) -> dict[str, object]:
        """Current configuration as JSON-able data."""
        with self._lock:
            return {
                "latency_ms": self.latency_ms,
                "status": [{"family": r.family, "code": r.code, "count": r.remaining} for r in self.status],
                "truncate": [{"family": r.family, "count": r.remaining, "fraction": r.fraction} for r in self.truncate],
                "disconnect": [{"family": r.family, "count": r.remaining} for r in self.disconnect],
                "empty_body": [{"family": r.family, "count": r.remaining} for r in self.empty_body],
                "invalid_utf8": [{"family": r.family, "count": r.remaining} for r in self.invalid_utf8],
                "csam_failed": self.csam_failed,
                "csam_no_response_code": self.csam_no_response_code,
                "missing_has_more": self.missing_has_more,
                "clamp_page_size": self.clamp_page_size,
                "csam_query_cap": self.csam_query_cap,
                "gzip": self.gzip,
                "max_get_url": self.max_get_url,
                "gateway_rate_limit": self.gateway_rate_limit,
                "fo_rate_limit": self.fo_rate_limit or {"profile": "standard"},
            }

    # ------------------------------------------------------------------ consumption
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
        """HTTP status to answer this request with, if a status fault is pending for its family."""
        with self._lock:
            rule = self._take(self.status, family)
            return rule.code if rule else None

    def take_truncate(self, family: str) -> float | None:
        """Fraction of the data to keep, if a truncate fault is pending."""
        with self._lock:
            rule = self._take(self.truncate, family)
            return rule.fraction if rule else None

    def take_empty_body(self, family: str) -> bool:
        """Whether to answer this data response with HTTP 200 and an empty body (seen from gateways in front of the
        real service)."""
        with self._lock:
            return self._take(self.empty_body, family) is not None

    def take_disconnect(self, family: str) -> bool:
        """Whether to drop the connection in the middle of this data response's body."""
        with self._lock:
            return self._take(self.disconnect, family) is not None

    def take_invalid_utf8(self, family: str) -> bool:
        """Whether to corrupt this data response with an invalid UTF-8 byte."""
        with self._lock:
            return self._take(self.invalid_utf8, family) is not None

    def take_counter(self, name: str) -> bool:
        """Consume one occurrence of a counted CSAM fault (csam_failed, csam_no_response_code, ...)."""
        with self._lock:
            value = int(getattr(self, name))
            if value <= 0:
                return False
            setattr(self, name, value - 1)
            return True
