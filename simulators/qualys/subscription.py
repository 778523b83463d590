"""The simulated Qualys subscription: estate, users, tags, VM state (added IPs, asset groups), faults and stats.

One :class:`Subscription` is shared by every request handler of a running simulator.
"""

from __future__ import annotations

import hashlib
import re
import threading
import uuid

from simulators.latency import LatencyProfile
from simulators.pacing import ModelledStats
from simulators.qualys.accounts import Accounts
from simulators.qualys.estate import Estate
from simulators.qualys.faults import Faults
from simulators.qualys.pacing import QualysPacer
from simulators.qualys.ratelimit import FoLimiter, GatewayLimiter
from simulators.qualys.shape import ShapeLike
from simulators.qualys.tags import TagCatalog
from simulators.qualys.vm import VmState

# POD -> (API server URL, gateway URL) from section 1 of the reference; used in schema locations / DTDs.
PODS: dict[str, tuple[str, str]] = {
    "US1": ("https://qualysapi.qualys.com", "https://gateway.qg1.apps.qualys.com"),
    "US2": ("https://qualysapi.qg2.apps.qualys.com", "https://gateway.qg2.apps.qualys.com"),
    "US3": ("https://qualysapi.qg3.apps.qualys.com", "https://gateway.qg3.apps.qualys.com"),
    "US4": ("https://qualysapi.qg4.apps.qualys.com", "https://gateway.qg4.apps.qualys.com"),
    "EU1": ("https://qualysapi.qualys.eu", "https://gateway.qg1.apps.qualys.eu"),
    "EU2": ("https://qualysapi.qg2.apps.qualys.eu", "https://gateway.qg2.apps.qualys.eu"),
    "EU3": ("https://qualysapi.qg3.apps.qualys.it", "https://gateway.qg3.apps.qualys.it"),
    "IN1": ("https://qualysapi.qg1.apps.qualys.in", "https://gateway.qg1.apps.qualys.in"),
    "CA1": ("https://qualysapi.qg1.apps.qualys.ca", "https://gateway.qg1.apps.qualys.ca"),
    "AE1": ("https://qualysapi.qg1.apps.qualys.ae", "https://gateway.qg1.apps.qualys.ae"),
    "UK1": ("https://qualysapi.qg1.apps.qualys.co.uk", "https://gateway.qg1.apps.qualys.co.uk"),
    "AU1": ("https://qualysapi.qg1.apps.qualys.com.au", "https://gateway.qg1.apps.qualys.com.au"),
    "KSA1": ("https://qualysapi.qg1.apps.qualysksa.com", "https://gateway.qg1.apps.qualysksa.com"),
}

_ID_SEGMENT = re.compile(r"/\d+(?=/|$)")


def endpoint_key(path: str) -> str:
    """Normalise a request path for statistics (numeric ids -> ``{id}``, no trailing slash)."""
    key = _ID_SEGMENT.sub("/{id}", path)
    return key.rstrip("/") or "/"


def family_of(path: str) -> str | None:
    """Fault family of a request path (None for control and unknown paths)."""
    if path == "/auth" or path.startswith("/auth/"):
        return "auth"
    if path.startswith(("/rest/", "/am/")):
        return "csam"
    if path.startswith("/qps/"):
        return "qps"
    if path.startswith("/api/"):
        return "fo"
    return None


class Stats:
    """Request counters per endpoint path (ids as ``{id}``, no trailing slash) and per status code."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.by_endpoint: dict[str, int] = {}
        self.by_method_endpoint: dict[str, int] = {}
        self.by_status: dict[str, int] = {}
        self.by_endpoint_status: dict[str, dict[str, int]] = {}
        self.total = 0
        self.modelled = ModelledStats()

    def record(self, method: str, path: str, status: int) -> None:
        """Count one request."""
        key = endpoint_key(path)
        code = str(status)
        with self._lock:
            self.total += 1
            self.by_endpoint[key] = self.by_endpoint.get(key, 0) + 1
            method_key = f"{method} {key}"
            self.by_method_endpoint[method_key] = self.by_method_endpoint.get(method_key, 0) + 1
            self.by_status[code] = self.by_status.get(code, 0) + 1
            per = self.by_endpoint_status.setdefault(key, {})
            per[code] = per.get(code, 0) + 1

    def snapshot(self) -> dict[str, object]:
        """JSON-able copy."""
        with self._lock:
            return {
                "total": self.total,
                "by_endpoint": dict(sorted(self.by_endpoint.items())),
                "by_status": dict(sorted(self.by_status.items())),
                "by_endpoint_status": {k: dict(sorted(v.items())) for k, v in sorted(self.by_endpoint_status.items())},
                "by_method_endpoint": dict(sorted(self.by_method_endpoint.items())),
                "modelled": self.modelled.snapshot(),
            }

    def reset(self) -> None:
        """Zero every counter."""
        with self._lock:
            self.by_endpoint.clear()
            self.by_method_endpoint.clear()
            self.by_status.clear()
            self.by_endpoint_status.clear()
            self.total = 0
        self.modelled.reset()


class Subscription:
    """Everything a request handler needs."""

    def __init__(
        self,
        assets: int,
        seed: int,
        username: str,
        password: str,
        pod: str,
        jwt_ttl_seconds: int,
        software_max: int,
        shape: ShapeLike = None,
        latency: LatencyProfile | None = None,
    ) -> None:
        self.pod = pod.upper()
        self.api_url, self.gateway_url = PODS.get(self.pod, PODS["US1"])
        self.estate = Estate(assets, seed, software_max, shape)
        self.accounts = Accounts(seed, self.pod, jwt_ttl_seconds)
        self.accounts.upsert(username, password, "active")
        self.tags = TagCatalog()
        self.vm = VmState(self.estate, seed, username)
        self.faults = Faults()
        self.stats = Stats()
        digits = re.sub(r"\D", "", self.pod) or "1"
        letters = re.sub(r"\d", "", self.pod) or "US"
        self.pod_label = f"{letters}POD{digits}"
        self.subscription_uuid = str(
            uuid.UUID(bytes=hashlib.md5(f"sub:{seed}".encode(), usedforsecurity=False).digest())
        )
        self.pacer: QualysPacer | None = None
        self.set_latency(latency)

    def set_latency(self, profile: LatencyProfile | None) -> None:
        """Put ``profile`` in force (None: answer as fast as the simulator can) with fresh limiters; requests
        held by the previous profile's modelled wait are let go."""
        previous, self.pacer = self.pacer, QualysPacer(profile) if profile is not None else None
        if previous is not None:
            previous.end()

    def gateway_limiter(self) -> GatewayLimiter | None:
        """The CSAM search limiter: the ``gateway_rate_limit`` fault's, else the profile's, else none."""
        limiter = self.faults.gateway_limiter
        if limiter is None and self.pacer is not None:
            return self.pacer.gateway_limiter
        return limiter

    def fo_limiter(self) -> FoLimiter:
        """The FO limiter: the ``fo_rate_limit`` fault's, else the profile's, else the Standard level's."""
        faults = self.faults
        if faults.fo_rate_limit is None and self.pacer is not None:
            return self.pacer.fo_limiter
        return faults.fo_limiter

    def reset_vm(self) -> None:
        """Restore the seeded tags and asset groups, drop added IPs and the assets scans created."""
        self.vm.reset()
        self.tags.reset()

    def powered_by(self, user_uuid: str | None) -> str:
        """``X-Powered-By: Qualys:<POD>:<subscription uuid>:<user uuid>``."""
        user = user_uuid or str(uuid.UUID(int=0))
        return f"Qualys:{self.pod_label}:{self.subscription_uuid}:{user}"
