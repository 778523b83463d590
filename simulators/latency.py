"""A latency model for the simulators: how long the real services take, so that a run can be measured against the
limit the APIs set rather than against the CPU of this machine.

A request's *modelled* server time is a function of what it asks for (see :meth:`QualysLatency.csam_page_s` and
:meth:`ServiceNowLatency.ire_s`). A simulator that runs with a profile answers a request no sooner than its modelled
time after it started working on it (its own CPU time counts towards it, so a slow simulator is not slowed twice),
and holds the service's concurrency gate meanwhile: the subscription's concurrent-call limit on the Qualys side,
the instance's API_INT semaphore on the ServiceNow side. Every modelled second is counted (``/sim/control/stats``,
``modelled``), so a benchmark can compute the API-bound time of what it asked for.

The defaults come from published figures where there are any (``../shared/reference/``; cited per field and in
docs/benchmarks.md) and are marked as assumptions where there are none. ``scale`` multiplies every modelled time
(0.25 runs the model four times faster; ratios against the limit computed at the same scale stay meaningful).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class QualysLatency:
    """Qualys: CSAM (gateway) and QPS search pages, and the subscription's limits (reference §7, §9)."""

    # CSAM search page: "about 1-3 s per page [of 300] without software" (reference §9, back-of-envelope from J1,
    # QETL and MCP): 1.0 s per request + 3.3 ms per asset gives 2.0 s for 300 assets.
    csam_request_s: float = 1.0
    csam_per_asset_s: float = 0.0033
    # "With software included, pages can be tens of MB and take much longer" (§9): 0.05 ms per software row
    # (assumption: 300 assets x 120 rows adds 1.8 s); other detail rows (ports, volumes, adapters) 0.02 ms each.
    csam_per_software_row_s: float = 0.00005
    csam_per_detail_row_s: float = 0.00002
    # QPS hostasset search: single-host calls took 0.8-1.5 s in J1's recordings (§9): 0.8 s per request + 5 ms per
    # host returned (assumption).
    qps_request_s: float = 0.8
    qps_per_asset_s: float = 0.005
    # Standard subscription: 2 concurrent calls, 300 calls per hour per API (§7, Qualys "API limits").
    concurrency: int = 2
    rate_limit: int = 300
    rate_window_s: int = 3600

    def csam_page_s(self, assets: int, software_rows: int = 0, detail_rows: int = 0) -> float:
        """Modelled server time of one CSAM search page."""
        return (
            self.csam_request_s
            + assets * self.csam_per_asset_s
            + software_rows * self.csam_per_software_row_s
            + detail_rows * self.csam_per_detail_row_s
        )

    def qps_page_s(self, assets: int) -> float:
        """Modelled server time of one QPS search page."""
        return self.qps_request_s + assets * self.qps_per_asset_s


@dataclass(frozen=True)
class ServiceNowLatency:
    """ServiceNow: IRE and Table API requests, and the instance's semaphore (reference §1.7, §2.7, §7)."""

    # Per REST request (authentication, session, transaction): "~25k requests/h per node" is community folklore
    # later walked back (§1.7), i.e. about 0.14 s of a node's time per request: 0.15 s.
    request_s: float = 0.15
    # IRE per CI: no official throughput exists (§7: "depends on rule complexity; lookup entries and dependent rules
    # are explicitly called slow"). Assumptions: 25 ms per main CI (identification + reconciliation + write), 0.5 ms
    # per related item (software packages and instances: bulk rows), 5 ms per dependent item (a CI of its own with
    # a dependent identification rule and a relation).
    ire_per_ci_s: float = 0.025
    ire_per_related_s: float = 0.0005
    ire_per_dependent_s: float = 0.005
    # Table API: per row returned (assumption).
    table_per_row_s: float = 0.0002
    # Inbound REST runs on the API_INT semaphore, "a few threads per node"; the KB example shows a queue of 50
    # (§1.7): 4 threads, 50 queued; beyond that the node answers 429.
    semaphore: int = 4
    queue: int = 50

    def ire_s(self, cis: int, related: int = 0, dependents: int = 0) -> float:
        """Modelled server time of one identifyreconcile request (``cis`` main items)."""
        return (
            self.request_s
            + cis * self.ire_per_ci_s
            + related * self.ire_per_related_s
            + dependents * self.ire_per_dependent_s
        )

    def table_s(self, rows: int) -> float:
        """Modelled server time of one Table API request returning ``rows`` rows."""
        return self.request_s + rows * self.table_per_row_s


@dataclass(frozen=True)
class LatencyProfile:
    """Both services' models and a time ``scale`` (1.0 = as modelled)."""

    qualys: QualysLatency = field(default_factory=QualysLatency)
    servicenow: ServiceNowLatency = field(default_factory=ServiceNowLatency)
    scale: float = 1.0

    def to_json(self) -> dict[str, Any]:
        """The profile as JSON (what ``--latency-profile`` reads)."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LatencyProfile:
        """Defaults overridden by ``data`` (``{"qualys": {...}, "servicenow": {...}, "scale": x}``); an unknown
        key, a value of the wrong type or out of range is a ValueError that names it."""
        if not isinstance(data, dict):
            raise ValueError("latency profile: must be a JSON object")
        unknown = set(data) - {"qualys", "servicenow", "scale"}
        if unknown:
            raise ValueError(f"latency profile: unknown key(s) {sorted(unknown)}; known: qualys, servicenow, scale")
        profile = cls(scale=_number("scale", data.get("scale", 1.0), float))
        if profile.scale <= 0:
            raise ValueError(f"latency profile: scale must be > 0, not {profile.scale}")
        parts: dict[str, Any] = {}
        for name, part in (("qualys", profile.qualys), ("servicenow", profile.servicenow)):
            given = data.get(name) or {}
            if not isinstance(given, dict):
                raise ValueError(f"latency profile: {name} must be an object of settings")
            known = {f.name: f.type for f in fields(part)}
            bad = set(given) - set(known)
            if bad:
                raise ValueError(f"latency profile: unknown {name} setting(s) {sorted(bad)}; known: {sorted(known)}")
            values = {k: _number(f"{name}.{k}", v, type(getattr(part, k))) for k, v in given.items()}
            for key, value in values.items():
                least = 1 if key in _AT_LEAST_ONE else 0
                if value < least:
                    raise ValueError(f"latency profile: {name}.{key} must be >= {least}, not {value}")
            parts[name] = replace(part, **values)
        return replace(profile, **parts)

    @classmethod
    def load(cls, spec: str) -> LatencyProfile:
        """``default``, a JSON file's path, or inline JSON; ValueError (naming the problem) when it is none."""
        if spec == "default":
            return cls()
        inline = spec.lstrip().startswith("{")
        try:
            text = spec if inline else Path(spec).read_text(encoding="utf-8")
        except OSError as exc:
            raise ValueError(f"latency profile: cannot read {spec!r} ({exc.strerror or exc})") from None
        try:
            data = json.loads(text)
        except ValueError as exc:
            where = "inline JSON" if inline else spec
            raise ValueError(f"latency profile: {where} is not valid JSON ({exc})") from None
        return cls.from_json(data)


#: Settings that must be at least 1 (the others at least 0).
_AT_LEAST_ONE = frozenset({"concurrency", "rate_limit", "rate_window_s", "semaphore"})


def _number(name: str, value: object, kind: type) -> Any:
    """``value`` as ``kind`` (int or float); a bool, a fraction for an int or a non-number is a ValueError."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"latency profile: {name} must be a number, not {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"latency profile: {name} must be a number, not {value!r}") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError(f"latency profile: {name} must be a finite number, not {value!r}")
    if kind is int:
        if not number.is_integer():
            raise ValueError(f"latency profile: {name} must be a whole number, not {value!r}")
        return int(number)
    return number


def latency_profile_arg(spec: str) -> LatencyProfile:
    """``--latency-profile SPEC`` for argparse (``default``, a JSON file or inline JSON)."""
    try:
        return LatencyProfile.load(spec)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
