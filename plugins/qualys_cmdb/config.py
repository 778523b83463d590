"""Typed configuration: API sources, schedules and properties from one YAML file, with clear validation errors.

The file is ``include/config/qualys_cmdb.yaml`` by default (in the working directory, else the copy shipped in the
package: see :data:`DEFAULTS_DIR`); ``QUALYS_CMDB_CONFIG`` names another one. Every problem
is reported with its place (``schedules[2].interval: ...``), all at once; an invalid file yields no configuration
at all, so no DAG is ever half-built from it. Credentials never appear here: a source names the Airflow connection
that holds them.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Discriminator, Field, ValidationError, field_validator
from pydantic import Tag as UnionTag

from qualys_cmdb.pods import PLATFORMS
from qualys_cmdb.qql import QqlError, QqlFilter, parse_qql

CONFIG_ENV = "QUALYS_CMDB_CONFIG"
#: The project's configuration, relative to the working directory (an Astro-style project's ``include/``).
DEFAULT_CONFIG = Path("include") / "config" / "qualys_cmdb.yaml"
_PACKAGE_DIR = Path(__file__).resolve().parent
#: The default configuration and mappings shipped with the package: ``qualys_cmdb/defaults/`` in an installed wheel
#: (built from the repository's ``include/``, see pyproject.toml), ``include/`` itself next to ``plugins/`` in a source
#: checkout or an editable install.
DEFAULTS_DIR = (
    _PACKAGE_DIR / "defaults" if (_PACKAGE_DIR / "defaults").is_dir() else _PACKAGE_DIR.parents[1] / "include"
)

#: The most IRE batches a load keeps in flight at once (``properties.ire_concurrency``).
IRE_CONCURRENCY_MAX = 16

#: Page-size limits of the two asset APIs (reference/qualys-api.md §3.2 and §4.3).
PAGE_SIZE_LIMIT = {"csam": 300, "hostasset": 1000}

_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
#: Longest source or schedule name. Names are stored in VARCHAR(128) staging columns and become DAG ids behind a
#: 16-character prefix (``qualys_to_cmdb__``, ``cmdb_to_qualys__``) and task ids (``fetch_tags__<source>``), which
#: Airflow caps at 250 characters; 100 fits all of them with room to spare.
NAME_MAX_LENGTH = 100
#: A schedule's Qualys tag filter is one tag name; QPS tag names are at most 255 characters.
TAG_NAME_MAX_LENGTH = 255
#: A QQL filter is a handful of ``token:`value``` pairs; anything longer is a paste gone wrong.
FILTER_MAX_LENGTH = 2000
_DURATION = re.compile(r"^(\d+)\s*([smhd])$")
_PRESETS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
}
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


class ConfigError(ValueError):
    """An invalid configuration file: ``problems`` holds one ``place: message`` line per problem."""

    def __init__(self, path: Path | str, problems: list[str]) -> None:
        self.path = str(path)
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"invalid Qualys CMDB configuration {self.path} ({len(problems)} problem(s)):\n{lines}")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DetailFlags(_Model):
    """Which asset details a schedule fetches and stages (QS-4). Cloud metadata always comes along."""

    ports: bool = True
    volumes: bool = True
    interfaces: bool = True
    software: bool = True
    processors: bool = True


class Source(_Model):
    """A Qualys subscription to read from (SRC-1, SRC-2); credentials live in the Airflow connection."""

    name: Annotated[str, Field(pattern=_NAME, max_length=NAME_MAX_LENGTH)]
    active: bool = True
    pod: str | None = None
    api_url: str | None = None
    gateway_url: str | None = None
    api: Literal["csam", "hostasset"] = "csam"
    connection_id: Annotated[str, Field(min_length=1)]
    qualys_to_cmdb: bool = True
    cmdb_to_qualys: bool = False
    #: SRC-5: pull the source's software catalog into staging (the ``qualys_software_catalog`` DAG, HK-5) ...
    sync_software_catalog: bool = False
    #: ... and write its new and changed products to the CMDB's Software table (needs sync_software_catalog).
    sync_software_catalog_to_cmdb: bool = False

    @field_validator("pod")
    @classmethod
    def _known_pod(cls, value: str | None) -> str | None:
        if value is not None and value.upper() not in PLATFORMS:
            raise ValueError(f"unknown POD {value!r}; use one of {', '.join(PLATFORMS)} or set api_url/gateway_url")
        return value.upper() if value else value

    @field_validator("api_url", "gateway_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^\s/]+", value):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value.rstrip("/") if value else value


class Schedule(_Model):
    """A Qualys → CMDB sync schedule: one DAG (QS-1 … QS-7)."""

    name: Annotated[str, Field(pattern=_NAME, max_length=NAME_MAX_LENGTH)]
    active: bool = True
    source: str
    direction: Literal["qualys_to_cmdb"] = "qualys_to_cmdb"
    interval: str | None = None
    download_assets_since: datetime | None = None
    qql_filter: Annotated[str | None, Field(max_length=FILTER_MAX_LENGTH)] = None
    tag_filter: Annotated[str | None, Field(min_length=1, max_length=TAG_NAME_MAX_LENGTH)] = None
    details: DetailFlags = DetailFlags()
    auto_approve: bool = False
    batch_approval: bool = False  # approve or reject the whole run in Airflow's "Required actions" (HITL)
    approval_wait_minutes: Annotated[int, Field(ge=0, le=10080)] = 60
    approval_poll_seconds: Annotated[float, Field(gt=0, le=3600)] = 30.0
    target_class: Annotated[str | None, Field(pattern=r"^[a-z][a-z0-9_]*$")] = None
    #: QS-5: the schedule's target transform map, named by its import set table (the transform-map path sends the
    #: schedule's rows there); None: ``properties.transform_map_table``.
    transform_map_table: Annotated[str | None, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=80)] = None
    #: BY-7: an asset Qualys has not modified for this many days before the schedule's watermark is stale (its CI is
    #: listed by ``qcmdb stale list`` and the Overview); None: stale assets are not looked for.
    stale_after_days: Annotated[int | None, Field(ge=1, le=3650)] = None
    #: BY-7: after each run, set the install_status of stale assets' CIs (those only this sync looks after); opt-in.
    retire_stale_cis: bool = False
    #: The install_status a retired CI gets: Absent (100, "no longer discovered") or Retired (7).
    stale_ci_status: Literal["absent", "retired"] = "absent"
    #: Page groups: a run hands over to a new run of the schedule once it has stored this many pages, and carries on
    #: with them (parse … load) while the next run fetches the following ones: a first sync of a large estate loads
    #: its first assets into the CMDB while Qualys still sends the rest. None: a run fetches everything it selects.
    pages_per_run: Annotated[int | None, Field(ge=1, le=100_000)] = None

    @field_validator("interval")
    @classmethod
    def _valid_interval(cls, value: str | None) -> str | None:
        if value is None or value.strip().lower() in ("", "manual", "none"):
            return None
        value = value.strip()
        if _DURATION.match(value) or value in _PRESETS:
            if _DURATION.match(value) and int(_DURATION.match(value).group(1)) == 0:  # type: ignore[union-attr]
                raise ValueError("an interval must be longer than zero")
            return value
        from croniter import croniter

        if not croniter.is_valid(value):
            raise ValueError(
                f"{value!r} is neither a duration (15m, 1h, 1d), a preset ({', '.join(_PRESETS)}), "
                "a cron expression, nor 'manual'"
            )
        return value

    @field_validator("download_assets_since")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value

    @field_validator("qql_filter", "tag_filter")
    @classmethod
    def _one_line(cls, value: str | None) -> str | None:
        if value is not None and any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
            raise ValueError("must be one line of printable characters (no tab, line break or control character)")
        return value

    @field_validator("qql_filter")
    @classmethod
    def _valid_qql(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_qql(value)
            except QqlError as exc:
                raise ValueError(str(exc)) from None
        return value

    @property
    def dag_id(self) -> str:
        """The DAG built for this schedule."""
        return f"qualys_to_cmdb__{self.name}"

    @property
    def qql(self) -> list[QqlFilter]:
        """The schedule's QQL filter as equality filters."""
        return parse_qql(self.qql_filter or "")

    def timetable_spec(self) -> timedelta | str | None:
        """A ``timedelta`` for a duration, a cron string for cron/presets, ``None`` for on-demand."""
        if self.interval is None:
            return None
        match = _DURATION.match(self.interval)
        if match:
            return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
        return _PRESETS.get(self.interval, self.interval)


TRACKING_METHODS = ("IP", "DNS", "NETBIOS")


class ReverseSchedule(_Model):
    """A CMDB → Qualys schedule (RS-1 … RS-6): push the addresses of a CMDB table's CIs into Qualys; one DAG."""

    name: Annotated[str, Field(pattern=_NAME, max_length=NAME_MAX_LENGTH)]
    active: bool = True
    source: str
    direction: Literal["cmdb_to_qualys"]
    interval: str | None = None
    table: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    query: str = ""  # ServiceNow encoded query, e.g. ip_addressISNOTEMPTY^operational_status=1
    tracking_method: Literal["IP", "DNS", "NETBIOS"] = "IP"
    asset_tag: Annotated[str | None, Field(min_length=1)] = None  # a NETWORK_RANGE tag's name
    asset_group: Annotated[str | None, Field(min_length=1)] = None  # an asset group's title
    enable_vm: bool = True
    enable_pc: bool = False

    _interval = field_validator("interval")(Schedule._valid_interval.__func__)  # type: ignore[attr-defined]

    @field_validator("tracking_method", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("query")
    @classmethod
    def _no_ordering(cls, value: str) -> str:
        value = value.strip().strip("^")
        if "ORDERBY" in value:
            raise ValueError("leave ORDERBY out of the query: the sync reads the table in sys_id order to page safely")
        return value

    @property
    def dag_id(self) -> str:
        """The DAG built for this schedule."""
        return f"cmdb_to_qualys__{self.name}"

    @property
    def assignment(self) -> tuple[str, str] | None:
        """``("tag", name)``, ``("group", title)`` or None."""
        if self.asset_tag:
            return "tag", self.asset_tag
        if self.asset_group:
            return "group", self.asset_group
        return None

    def timetable_spec(self) -> timedelta | str | None:
        """A ``timedelta`` for a duration, a cron string for cron/presets, ``None`` for on-demand."""
        return Schedule.timetable_spec(self)  # type: ignore[arg-type]


def _direction(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("direction") or "qualys_to_cmdb")
    return str(getattr(value, "direction", "qualys_to_cmdb"))


AnySchedule = Annotated[
    Annotated[Schedule, UnionTag("qualys_to_cmdb")] | Annotated[ReverseSchedule, UnionTag("cmdb_to_qualys")],
    Discriminator(_direction),
]
_DIRECTIONS = ("qualys_to_cmdb", "cmdb_to_qualys")


class HousekeepingSchedules(_Model):
    """HK-8: how often each housekeeping DAG runs (guide 2.2: "you can always update or change the frequency of
    scheduled jobs"): a duration (``6h``), a cron expression, a preset (``@daily``) or ``manual`` (only when
    triggered). The defaults are the vendor app's."""

    qualys_asset_tags: str | None = "@daily"
    qualys_asset_groups: str | None = "@daily"
    qualys_host_id_updater: str | None = "@hourly"
    qualys_queue_cleanup: str | None = "@daily"
    qualys_software_catalog: str | None = "0 */4 * * *"

    _valid = field_validator("*")(Schedule._valid_interval.__func__)  # type: ignore[attr-defined]

    def timetable_spec(self, dag_id: str) -> timedelta | str | None:
        """What the DAG's ``schedule`` gets: a ``timedelta`` for a duration, the cron expression or preset as
        written, ``None`` for manual."""
        value: str | None = getattr(self, dag_id)
        if value is None:
            return None
        match = _DURATION.match(value)
        if match:
            return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
        return value


class Properties(_Model):
    """Global properties, with the vendor app's defaults and ranges (PR-1 … PR-7)."""

    download_batch_size: Annotated[int, Field(ge=1, le=1000)] = 100
    download_processors: Annotated[int, Field(ge=1, le=32)] = 3
    upload_batch_size: Annotated[int, Field(ge=1, le=1000)] = 10
    max_transaction_lifetime_minutes: Annotated[int, Field(ge=10, le=60)] = 10
    api_timeout_ms: Annotated[int, Field(ge=1000, le=3_600_000)] = 480_000
    insertion_method: Literal["ire", "transform_map"] = "ire"
    software_catalog_page_size: Annotated[int, Field(ge=1, le=300)] = 300
    allow_asset_group_sync: bool = False
    debug_logging: bool = False
    cmdb_connection_id: Annotated[str, Field(min_length=1)] = "servicenow_default"
    ire_batch_size: Annotated[int, Field(ge=1, le=500)] = 200
    #: IRE batches the load keeps in flight at once, each on an HTTP session of its own (no cookies shared: a
    #: client keeping the JSESSIONID cookies serialises its parallel calls onto one node, reference §1.7). 2 by
    #: default: the guidance to serialise calls (reference §2.7) is for many CIs that depend on the same parent,
    #: and our batches never share one (each asset is its own parent CI, its related rows hang under it), so lock
    #: contention does not argue for 1; but inbound REST shares the API_INT semaphore pool, a few threads per
    #: node, with every other integration of the instance (when it is exhausted the node answers 429 to all of
    #: them), so the sync leaves most of it to others. Raise it on an instance with more nodes and quiet
    #: integrations; 1 sends one batch at a time.
    ire_concurrency: int = 2
    transform_map_table: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")] = "u_qualys_computer_import"
    copy_empty_fields: bool = False
    #: Execution timeout of every task other than fetch and upload (those stop by the max transaction lifetime and
    #: get it plus room for the call in flight): a backstop that fails a task stuck on something no timeout covers.
    #: Generous by default, as a first load of a large estate writes many IRE batches in one task.
    task_timeout_minutes: Annotated[int, Field(ge=10, le=1440)] = 240
    #: HK-3, the daily queue cleanup (``qualys_queue_cleanup``): days a sync-queue record in Success, and one in
    #: Error, is kept with its stored response (the guide's 30 and 60), then days the application log (with the
    #: terminated-runs log) and processed CMDB → Qualys upload items are kept. 0 keeps nothing processed.
    queue_retention_success_days: Annotated[int, Field(ge=0, le=36500)] = 30
    queue_retention_error_days: Annotated[int, Field(ge=0, le=36500)] = 60
    app_log_retention_days: Annotated[int, Field(ge=0, le=36500)] = 90
    upload_item_retention_days: Annotated[int, Field(ge=0, le=36500)] = 180
    #: HK-8: the frequency of each housekeeping DAG.
    housekeeping_schedules: HousekeepingSchedules = HousekeepingSchedules()

    @field_validator("ire_concurrency", mode="before")
    @classmethod
    def _concurrency(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= IRE_CONCURRENCY_MAX:
            raise ValueError(
                f"must be a whole number from 1 to {IRE_CONCURRENCY_MAX} (IRE batches in flight at once), not "
                f"{value!r}; the default 2 leaves most of the instance's API_INT semaphore to other integrations, "
                "1 sends one batch at a time"
            )
        return value


class QualysCmdbConfig(_Model):
    """The whole configuration file."""

    #: A configuration without sources builds no DAG, so every sync stops: only valid when confirmed with this.
    allow_empty: bool = False
    sources: list[Source] = []
    schedules: list[AnySchedule] = []
    properties: Properties = Properties()

    def source(self, name: str) -> Source:
        """The source called ``name``."""
        for src in self.sources:
            if src.name == name:
                return src
        raise KeyError(f"no source named {name!r}")

    def schedule(self, name: str) -> Schedule:
        """The Qualys → CMDB schedule called ``name``."""
        for sch in self.schedules:
            if sch.name == name and isinstance(sch, Schedule):
                return sch
        raise KeyError(f"no Qualys → CMDB schedule named {name!r}")

    def reverse_schedule(self, name: str) -> ReverseSchedule:
        """The CMDB → Qualys schedule called ``name``."""
        for sch in self.schedules:
            if sch.name == name and isinstance(sch, ReverseSchedule):
                return sch
        raise KeyError(f"no CMDB → Qualys schedule named {name!r}")

    def active_intake_schedules(self) -> list[Schedule]:
        """Active Qualys → CMDB schedules whose source is active and allows that direction, in file order."""
        out = []
        for sch in self.schedules:
            src = self.source(sch.source)
            if isinstance(sch, Schedule) and sch.active and src.active and src.qualys_to_cmdb:
                out.append(sch)
        return out

    def active_reverse_schedules(self) -> list[ReverseSchedule]:
        """Active CMDB → Qualys schedules whose source is active and allows that direction, in file order."""
        out = []
        for sch in self.schedules:
            src = self.source(sch.source)
            if isinstance(sch, ReverseSchedule) and sch.active and src.active and src.cmdb_to_qualys:
                out.append(sch)
        return out

    def warnings(self) -> list[str]:
        """Settings that are valid but probably not what the user wants (shown by the CLI and the DAG)."""
        out = []
        for i, sch in enumerate(self.schedules):
            if isinstance(sch, ReverseSchedule) and not sch.enable_vm:
                out.append(
                    f"schedules[{i}].enable_vm: VM is off for {sch.name!r}, so the pushed addresses will not be "
                    "scanned for vulnerabilities; keep it on unless you only want Policy Compliance"
                )
            if isinstance(sch, ReverseSchedule) and not sch.query:
                out.append(
                    f"schedules[{i}].query: {sch.name!r} pushes every CI of {sch.table} with an address; "
                    "add filter conditions (e.g. operational_status=1) to push only what should be scanned"
                )
            if sch.active and not self.source(sch.source).active:
                out.append(f"schedules[{i}].source: source {sch.source!r} is inactive, so {sch.name!r} builds no DAG")
            if isinstance(sch, Schedule) and sch.transform_map_table and self.properties.insertion_method == "ire":
                out.append(
                    f"schedules[{i}].transform_map_table: {sch.name!r} names a transform map, but the CMDB is written "
                    "through IRE (properties.insertion_method: ire), so it is not used; its CI-class rules (or "
                    "target_class) choose where the assets go"
                )
        for i, src in enumerate(self.sources):
            if src.sync_software_catalog_to_cmdb and not src.sync_software_catalog:
                out.append(
                    f"sources[{i}].sync_software_catalog_to_cmdb: not used, as {src.name!r} does not sync its "
                    "software catalog; set sync_software_catalog: true too"
                )
        if "ire_concurrency" in self.properties.model_fields_set and self.properties.insertion_method != "ire":
            out.append(
                "properties.ire_concurrency: not used, as the CMDB is written through the transform map "
                "(properties.insertion_method: transform_map), one import row at a time"
            )
        return out + self._housekeeping_warnings()

    def housekeeping_dag_ids(self) -> list[str]:
        """The housekeeping DAGs this configuration builds (HK-1 … HK-6), in the order they are built."""
        if not self.sources:
            return []
        active = {s.name for s in self.sources if s.active}
        dags = ["qualys_asset_tags"] if active else []
        if active and self.properties.allow_asset_group_sync:
            dags.append("qualys_asset_groups")
        if any(isinstance(s, ReverseSchedule) and s.source in active for s in self.schedules):
            dags.append("qualys_host_id_updater")
        if any(s.active and s.sync_software_catalog for s in self.sources):
            dags.append("qualys_software_catalog")
        return [*dags, "qualys_queue_cleanup"]

    def _housekeeping_warnings(self) -> list[str]:
        """A frequency set for a housekeeping DAG this configuration does not build is not used: say why."""
        built = set(self.housekeeping_dag_ids())
        why = {
            "qualys_asset_tags": "no source is active",
            "qualys_asset_groups": "asset groups are not fetched (properties.allow_asset_group_sync: false)",
            "qualys_host_id_updater": "no CMDB → Qualys schedule pushes addresses into an active source",
            "qualys_queue_cleanup": "no source is declared",
            "qualys_software_catalog": "no active source has sync_software_catalog: true",
        }
        return [
            f"properties.housekeeping_schedules.{dag_id}: not used, as the DAG is not built: {why[dag_id]}"
            for dag_id in sorted(self.properties.housekeeping_schedules.model_fields_set - built)
        ]

    def transform_map_table(self, schedule: Schedule) -> str:
        """QS-5: the import set table (target transform map) the schedule's assets go through."""
        return schedule.transform_map_table or self.properties.transform_map_table


def config_path(path: str | Path | None = None) -> Path:
    """The file to read: ``path``, else ``$QUALYS_CMDB_CONFIG``, else ``include/config/qualys_cmdb.yaml`` if the
    working directory has one, else the default configuration shipped with the package."""
    if path:
        return Path(path)
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    return DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else DEFAULTS_DIR / "config" / "qualys_cmdb.yaml"


def load_config(path: str | Path | None = None) -> QualysCmdbConfig:
    """Read and validate the configuration; raise :class:`ConfigError` listing every problem."""
    file = config_path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(file, [f"cannot read the file: {exc.strerror or exc}"]) from None
    return parse_config(text, file)


def parse_config(text: str, origin: str | Path = "<string>") -> QualysCmdbConfig:
    """Validate YAML ``text``; ``origin`` names it in messages."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "YAML"
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(origin, [f"{where}: not valid YAML ({problem})"]) from None
    empty_file = raw is None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(origin, ["(top level): expected a mapping with sources, schedules and properties"])
    problems = _no_sources(raw, empty_file)
    try:
        config = QualysCmdbConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(origin, problems + [_describe(err) for err in exc.errors()]) from None
    problems += _cross_check(config)
    if problems:
        raise ConfigError(origin, problems)
    return config


def _no_sources(raw: dict[str, Any], empty_file: bool) -> list[str]:
    """The problem of a file without sources: it would build no DAG and so silently stop every sync.

    Checked on the raw mapping, so it is reported together with any other problem of the file.
    """
    if raw.get("sources") or raw.get("allow_empty") is True:
        return []
    what = "the file is empty" if empty_file else "no source is declared"
    return [
        f"sources: {what}, so no DAG would be built and every sync would stop; declare at least one source "
        "(and its schedules), or, to switch every sync off on purpose, set allow_empty: true at the top level"
    ]


def _place(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if part in _DIRECTIONS:
            continue  # the union's tag, not a place in the file
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _describe(err: Any) -> str:
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    msg = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown setting (check the spelling)"
    elif err["type"] == "missing":
        msg = "required setting is missing"
    elif err["type"] == "union_tag_invalid":
        msg = f"direction must be one of {', '.join(_DIRECTIONS)}"
    elif err["type"] == "string_too_long" and loc and loc[-1] == "name":
        msg = f"{msg}; shorten it, as a name becomes part of DAG ids, task ids and staging keys"
    return f"{_place(loc)}: {msg}"


def _cross_check(config: QualysCmdbConfig) -> list[str]:
    problems: list[str] = []
    sources: dict[str, Source] = {}
    for i, src in enumerate(config.sources):
        if src.name in sources:
            problems.append(f"sources[{i}].name: {src.name!r} is used by another source; names must be unique")
        sources[src.name] = src
        if src.pod is None:
            needed = "gateway_url" if src.api == "csam" else "api_url"
            if getattr(src, needed) is None:
                problems.append(f"sources[{i}]: set pod (one of {', '.join(PLATFORMS)}) or {needed} for a PCP")
    names: set[str] = set()
    tables: dict[str, str] = {}
    batch = config.properties.download_batch_size
    for i, sch in enumerate(config.schedules):
        if sch.name in names:
            problems.append(f"schedules[{i}].name: {sch.name!r} is used by another schedule; names must be unique")
        names.add(sch.name)
        found = sources.get(sch.source)
        if found is None:
            known = ", ".join(sources) or "none defined"
            problems.append(f"schedules[{i}].source: no source named {sch.source!r} (known: {known})")
            continue
        src = found
        if isinstance(sch, ReverseSchedule):
            problems.extend(_check_reverse(config, i, sch, src, tables))
            continue
        if sch.qql_filter and src.api != "csam":
            problems.append(
                f"schedules[{i}].qql_filter: QQL filters need a source with api: csam "
                f"(source {src.name!r} reads hostasset; use tag_filter instead)"
            )
        if sch.retire_stale_cis and sch.stale_after_days is None:
            problems.append(
                f"schedules[{i}].retire_stale_cis: set stale_after_days too: it says after how many days without a "
                "change reported by Qualys an asset counts as stale and its CI is retired"
            )
        limit = PAGE_SIZE_LIMIT[src.api]
        if sch.active and batch > limit:
            problems.append(
                f"properties.download_batch_size: {batch} exceeds the {src.api} API's page limit of {limit} "
                f"(used by schedule {sch.name!r})"
            )
    return problems


def _check_reverse(
    config: QualysCmdbConfig, i: int, sch: ReverseSchedule, src: Source, tables: dict[str, str]
) -> list[str]:
    """Cross-field rules of a CMDB → Qualys schedule that need no network (the CMDB and Qualys checks need it)."""
    problems = []
    if sch.table in tables:
        problems.append(
            f"schedules[{i}].table: {sch.table} already has the CMDB → Qualys schedule {tables[sch.table]!r}; "
            "one schedule per table (put both filters into one query with ^NQ)"
        )
    tables.setdefault(sch.table, sch.name)
    if sch.asset_tag and sch.asset_group:
        problems.append(
            f"schedules[{i}]: choose an asset_tag or an asset_group, not both ({sch.asset_tag!r} / {sch.asset_group!r})"
        )
    if not sch.enable_vm and not sch.enable_pc:
        problems.append(f"schedules[{i}]: enable_vm and enable_pc are both off; Qualys needs at least one module")
    if sch.asset_group and not config.properties.allow_asset_group_sync:
        problems.append(
            f"schedules[{i}].asset_group: asset groups are not fetched from Qualys; "
            "set properties.allow_asset_group_sync: true to use one"
        )
    if sch.active and src.active and not src.cmdb_to_qualys:
        problems.append(
            f"schedules[{i}].source: source {src.name!r} does not allow CMDB → Qualys sync; "
            "set cmdb_to_qualys: true on it"
        )
    return problems
