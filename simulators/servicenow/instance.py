"""The simulated instance: store, accounts, rules, transform settings, properties, faults and stats.

One :class:`Instance` is shared by every request handler of a running simulator.  Rules, the
transform configuration and properties are persisted in the store's meta table, so a file-backed
instance keeps them across restarts (faults, tokens and stats are not persisted).
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field

from simulators.latency import LatencyProfile
from simulators.pacing import ModelledStats
from simulators.servicenow.auth import Auth
from simulators.servicenow.faults import Faults
from simulators.servicenow.identification_rules import Rules
from simulators.servicenow.pacing import ServiceNowPacer
from simulators.servicenow.store import Store

DEFAULT_PROPERTIES: dict[str, object] = {
    "glide.class.upgrade.enabled": True,
    "glide.class.downgrade.enabled": True,
    "glide.class.switch.enabled": True,
    "glide.identification_engine.skip_sys_object_source_matching": False,
    "glide.identification_engine.skip_duplicates": True,
    "glide.identification_engine.skip_duplicates.threshold": 5,
    "glide.invalid_query.returns_no_rows": False,
}

_SYS_ID_SEGMENT = re.compile(r"/[0-9a-f]{32}(?=/|$)")


def endpoint_key(path: str) -> str:
    """Normalise a request path for statistics (sys_ids -> ``{sys_id}``, no trailing slash)."""
    return _SYS_ID_SEGMENT.sub("/{sys_id}", path).rstrip("/") or "/"


def family_of(path: str) -> str | None:
    """Fault family of a request path (None for control and unknown paths)."""
    if path.startswith("/oauth_token.do"):
        return "oauth"
    if re.match(r"^/api/now/(v[12]/)?identifyreconcile", path):
        return "ire"
    if re.match(r"^/api/now/(v[12]/)?import/", path):
        return "import"
    if re.match(r"^/api/now/(v[12]/)?(table|cmdb)/", path):
        return "table"
    return None


@dataclass
class TransformConfig:
    """Coalesce settings of the ``u_qualys_computer_import`` transform maps."""

    coalesce: list[str] = field(default_factory=lambda: ["serial_number", "name"])
    copy_empty_fields: bool = False
    coalesce_case_sensitive: bool = False
    coalesce_empty_fields: bool = False

    def describe(self) -> dict[str, object]:
        """JSON form."""
        return {
            "coalesce": list(self.coalesce),
            "copy_empty_fields": self.copy_empty_fields,
            "coalesce_case_sensitive": self.coalesce_case_sensitive,
            "coalesce_empty_fields": self.coalesce_empty_fields,
        }

    def apply(self, spec: dict[str, object]) -> None:
        """Merge a control document; raises ValueError on bad input."""
        unknown = set(spec) - {"coalesce", "copy_empty_fields", "coalesce_case_sensitive", "coalesce_empty_fields"}
        if unknown:
            raise ValueError(f"unknown transform keys: {sorted(unknown)}")
        if "coalesce" in spec:
            value = spec["coalesce"]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError("coalesce must be a list of target field names")
            self.coalesce = list(value)
        for name in ("copy_empty_fields", "coalesce_case_sensitive", "coalesce_empty_fields"):
            if name in spec:
                setattr(self, name, bool(spec[name]))


class Stats:
    """Request counters per endpoint, status, method+endpoint and IRE operation / error code."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.total = 0
        self.by_endpoint: dict[str, int] = {}
        self.by_method_endpoint: dict[str, int] = {}
        self.by_status: dict[str, int] = {}
        self.ire_operations: dict[str, int] = {}
        self.ire_errors: dict[str, int] = {}
        self.unsupported_queries: dict[str, int] = {}
        self.modelled = ModelledStats()

    @staticmethod
    def _bump(counter: dict[str, int], key: str, n: int = 1) -> None:
        counter[key] = counter.get(key, 0) + n

    def record(self, method: str, path: str, status: int) -> None:
        """Count one request."""
        key = endpoint_key(path)
        with self._lock:
            self.total += 1
            self._bump(self.by_endpoint, key)
            self._bump(self.by_method_endpoint, f"{method} {key}")
            self._bump(self.by_status, str(status))

    def record_ire(self, outcomes: list[tuple[str, list[str]]]) -> None:
        """Count IRE item outcomes: operation of successful items, error codes of failed ones."""
        with self._lock:
            for operation, errors in outcomes:
                if errors:
                    self._bump(self.ire_operations, "ERROR")
                    for code in errors:
                        self._bump(self.ire_errors, code)
                else:
                    self._bump(self.ire_operations, operation)

    def record_unsupported_query(self, table: str, reasons: list[str]) -> None:
        """Count a Table API query that matched nothing because the simulator cannot evaluate it."""
        with self._lock:
            for reason in dict.fromkeys(reasons):
                self._bump(self.unsupported_queries, f"{table}: {reason}")

    def snapshot(self) -> dict[str, object]:
        """JSON-able copy."""
        with self._lock:
            return {
                "total": self.total,
                "by_endpoint": dict(sorted(self.by_endpoint.items())),
                "by_method_endpoint": dict(sorted(self.by_method_endpoint.items())),
                "by_status": dict(sorted(self.by_status.items())),
                "ire_operations": dict(sorted(self.ire_operations.items())),
                "ire_errors": dict(sorted(self.ire_errors.items())),
                "unsupported_queries": dict(sorted(self.unsupported_queries.items())),
                "modelled": self.modelled.snapshot(),
            }

    def reset(self) -> None:
        """Zero every counter."""
        with self._lock:
            self.total = 0
            for counter in (
                self.by_endpoint,
                self.by_method_endpoint,
                self.by_status,
                self.ire_operations,
                self.ire_errors,
                self.unsupported_queries,
            ):
                counter.clear()
        self.modelled.reset()


class Instance:
    """Everything a request handler needs."""

    def __init__(
        self,
        data_path: str | None,
        username: str,
        password: str,
        oauth_client_id: str,
        oauth_client_secret: str,
        discovery_sources: tuple[str, ...],
        seed: int = 1,
        token_ttl_seconds: int = 1800,
        latency: LatencyProfile | None = None,
    ) -> None:
        self.store = Store(data_path, seed, discovery_sources)
        self.auth = Auth(username, password, oauth_client_id, oauth_client_secret, token_ttl_seconds, seed)
        self.faults = Faults()
        self.stats = Stats()
        self.import_sets = 0
        stored_rules = self.store.meta("identification_rules")
        self.rules = Rules(json.loads(stored_rules) if stored_rules else None)
        self.transform = TransformConfig()
        stored_transform = self.store.meta("transform")
        if stored_transform:
            self.transform.apply(json.loads(stored_transform))
        self.properties: dict[str, object] = dict(DEFAULT_PROPERTIES)
        stored_properties = self.store.meta("properties")
        if stored_properties:
            self.properties.update(json.loads(stored_properties))
        self.pacer: ServiceNowPacer | None = None
        self.set_latency(latency)

    def set_latency(self, profile: LatencyProfile | None) -> None:
        """Put ``profile`` in force (None: answer as fast as the simulator can); requests held by the previous
        profile's modelled wait are let go, those already past its gates finish under it."""
        previous, self.pacer = self.pacer, ServiceNowPacer(profile) if profile is not None else None
        if previous is not None:
            previous.end()

    def save_settings(self) -> None:
        """Persist rules, transform configuration and properties."""
        with self.store.lock, self.store.transaction():
            self.store.set_meta("identification_rules", json.dumps(self.rules.specs))
            self.store.set_meta("transform", json.dumps(self.transform.describe()))
            self.store.set_meta("properties", json.dumps(self.properties))
