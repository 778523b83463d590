"""The operator UI: a FastAPI app the plugin mounts on Airflow's API server at ``/qualys-cmdb``.

Pages (server-rendered, no JavaScript needed, nothing fetched from the internet): overview reports, approve assets,
failed assets, assets and software lists behind the reports, sync queue (with raw responses), upload items, the
application log, and sources and schedules. See :mod:`qualys_cmdb.ui.security` for who may do what.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from fastapi import Depends, FastAPI, Form, HTTPException, Request, status
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from qualys_cmdb.ui import actions, airflow_state, exports, pretty, spreadsheet, views
from qualys_cmdb.ui.security import check_csrf, csrf_token, may_run, require_run, username

TEMPLATES = Path(__file__).with_name("templates")
PREFIX = "/qualys-cmdb"

#: Columns a person can choose on the approval list (SY-7), with their headings; the first ones are the default.
APPROVAL_COLUMNS = {
    "name": "Name",
    "ip_address": "IP address",
    "os": "Operating system",
    "hardware_category_1": "Hardware category",
    "target_class": "Target class",
    "preview_operation": "IRE would",
    "schedule": "Schedule",
    "dns_name": "DNS name",
    "netbios_name": "NetBIOS name",
    "mac_address": "MAC address",
    "hardware_category_2": "Hardware subcategory",
    "hardware_manufacturer": "Manufacturer",
    "preview_sys_id": "Matched CI",
    "tags": "Tags",
    "source": "Source",
    "classified_run": "Run",
    "last_modified_date": "Modified in Qualys",
}
DEFAULT_APPROVAL_COLUMNS = list(APPROVAL_COLUMNS)[:7]
REFRESH_CHOICES = (0, 30, 60, 300, 900)


async def current_user(request: Request) -> Any:
    """Airflow's own authentication (UI cookie or Bearer token): 401 without, 403 with an invalid token."""
    from airflow.api_fastapi.core_api.security import bearer_scheme, get_user

    return await get_user(request, None, await bearer_scheme(request))


User = Annotated[Any, Depends(current_user)]

_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


async def refuse_nul_characters(request: Request, user: User) -> None:
    """400 when a query parameter, a path parameter or a form field (its name or its value) holds a NUL character.

    PostgreSQL text cannot hold U+0000: a NUL typed into a filter or a form would otherwise fail the page's query with
    a database error (a 500). One check for every page and endpoint (a dependency of the app), after authentication,
    before any endpoint reads its input.
    """
    inputs = [
        *(("query parameter", k, v) for k, v in request.query_params.multi_items()),
        *(("path parameter", k, str(v)) for k, v in request.path_params.items()),
    ]
    if request.headers.get("content-type", "").startswith(_FORMS):
        form = await request.form()  # parsed once per request: the endpoint gets the same form
        inputs += [("form field", k, v) for k, v in form.multi_items() if isinstance(v, str)]
    for kind, name, value in inputs:
        if "\0" in name or "\0" in value:
            shown = name.replace("\0", "\\u0000")
            raise HTTPException(
                status.HTTP_400_BAD_REQUEST,
                f"the {kind} '{shown}' holds a NUL character (\\u0000), which no value here can contain: "
                "remove it and try again",
            )


def _env() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
    env.filters["utc"] = views.utc
    env.filters["number"] = lambda n: f"{int(n or 0):,}"
    return env


_ENV = _env()


_MIGRATED: set[str] = set()


def _engine() -> Any:
    """The staging engine, migrated to the package's schema once per process."""
    from qualys_cmdb.staging.database import get_engine
    from qualys_cmdb.staging.head import surely_current

    engine = get_engine()
    key = str(engine.url)
    if key not in _MIGRATED:
        if not surely_current(engine):  # checked without loading Alembic (0.2 s) when nothing is to be done
            from qualys_cmdb.staging.migrate import is_current, upgrade

            if not is_current(engine):
                upgrade(engine)
        _MIGRATED.add(key)
    return engine


def _config() -> Any:
    from qualys_cmdb.config import load_config

    return load_config()


def _dag_ids(config: Any) -> dict[str, str]:
    """schedule name -> its DAG id."""
    return {s.name: s.dag_id for s in config.schedules}


def _int(value: str | None, default: int, low: int = 1, high: int = 10_000) -> int:
    try:
        return min(high, max(low, int(value or default)))
    except ValueError:
        return default


def _render(request: Request, user: Any, template: str, **context: Any) -> HTMLResponse:
    base = str(request.scope.get("root_path") or PREFIX).rstrip("/")
    html = _ENV.get_template(template).render(
        base=base,
        user=username(user),
        csrf=csrf_token(user),
        message=request.query_params.get("msg"),
        error=request.query_params.get("err"),
        warning=request.query_params.get("warn"),
        request_path=request.url.path,
        query=dict(request.query_params),
        **context,
    )
    return HTMLResponse(html)


def _back(request: Request, path: str, message: str, error: bool = False, warning: bool = False) -> RedirectResponse:
    """Back to a page after a change, saying what happened (reports are recomputed for the next view): a success,
    an error, or a warning (done, but nothing or not everything was). The message replaces whatever message the
    page's address carried: an earlier success never stands next to a new error."""
    REPORT_CACHE.clear()
    if not (error or warning) and request.url.path.endswith(DECISION_PATHS):  # counts changed: their figures too
        from qualys_cmdb.ui.report_figures import refresh_after_decisions

        refresh_after_decisions(_engine(), None, by="decisions in the UI")
    base = str(request.scope.get("root_path") or PREFIX).rstrip("/")
    target = _without_flash(path if path.startswith(base) else base + path)
    separator = "&" if "?" in target else "?"
    kind = "err" if error else "warn" if warning else "msg"
    return RedirectResponse(f"{target}{separator}{urlencode({kind: message})}", status_code=status.HTTP_303_SEE_OTHER)


FLASH_PARAMS = ("msg", "err", "warn")
#: The endpoints whose changes (approve, reject, retry) change the Overview's counts.
DECISION_PATHS = ("/approvals/decide", "/failed/retry", "/failed/retry-matching")


def _without_flash(target: str) -> str:
    """``target`` (a path with a query string) without the messages of an earlier change."""
    path, _, query = target.partition("?")
    kept = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k not in FLASH_PARAMS]
    return f"{path}?{urlencode(kept)}" if kept else path


def _safe_path(value: str | None, default: str) -> str:
    """A same-site path to return to (never another host)."""
    if value and value.startswith("/") and not value.startswith("//"):
        return value
    return default


def _asset_list(engine: Any, request: Request, state: str | None = None) -> dict[str, Any]:
    """One page of the asset list for the request's filters (``state`` forced when given): the template context."""
    from qualys_cmdb.ui.listing import list_assets

    params = dict(request.query_params)
    filters = exports.asset_filters(params, state)
    page = _int(params.get("page"), 1)
    page_size = _int(params.get("page_size"), 50, 5, 500)
    rows, total = list_assets(engine, filters, page=page, page_size=page_size, sort=params.get("sort") or "name")
    pages = max(1, -(-total // page_size))
    return {"rows": rows, "total": total, "page": page, "page_size": page_size, "pages": pages, "filters": filters}


def create_app() -> FastAPI:
    """The app the plugin mounts."""
    app = FastAPI(
        title="Qualys CMDB sync",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        dependencies=[Depends(refuse_nul_characters)],
    )

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> Response:
        if "text/html" not in request.headers.get("accept", ""):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)
        return await _error_page(request, exc)

    _overview_routes(app)
    _approval_routes(app)
    _list_routes(app)
    _queue_routes(app)
    _admin_routes(app)
    _operator_routes(app)
    from qualys_cmdb.ui import asset_detail

    asset_detail.routes(app)
    _export_routes(app)
    return app


# ---------------------------------------------------------------------------------------------- overview
class _ReportCache:
    """Reports for ``ttl`` seconds: whole-estate software reports read every install row (seconds on large estates),
    and an overview refreshing every 30 s for several people should not repeat that work each time."""

    def __init__(self, ttl: float = 60.0) -> None:
        self.ttl = ttl
        self._entries: dict[tuple[str, str | None, str, int], tuple[float, Any]] = {}

    def get(self, engine: Any, report_id: str, base: str, source: str | None, limit: int) -> Any:
        import time

        from qualys_cmdb.ui.reports import build_report

        key = (report_id, source, base, limit)
        now = time.monotonic()
        hit = self._entries.get(key)
        if hit and now - hit[0] < self.ttl:
            return hit[1]
        report = build_report(engine, report_id, base_url=base, source=source, limit=limit)
        self._entries[key] = (now, report)
        return report

    def clear(self) -> None:
        self._entries.clear()


REPORT_CACHE = _ReportCache()


def _overview_routes(app: FastAPI) -> None:
    from qualys_cmdb.ui import report_figures
    from qualys_cmdb.ui.charts import render_chart
    from qualys_cmdb.ui.reports import REPORTS, build_report

    def prefs(engine: Any, user: Any) -> dict[str, Any]:
        stored = views.get_preference(engine, username(user), "overview") or {}
        order = [r for r in stored.get("reports", []) if r in REPORTS] or list(REPORTS)
        return {"reports": order, "refresh": int(stored.get("refresh", 0) or 0)}

    @app.get("/", response_class=HTMLResponse)
    def overview(request: Request, user: User, source: str | None = None) -> HTMLResponse:
        engine = _engine()
        chosen = prefs(engine, user)
        base = str(request.scope.get("root_path") or PREFIX).rstrip("/")
        config = _config()
        known = not source or source in {s.name for s in config.sources}
        # the figures computed when runs finished and after decisions: read, not counted (see report_figures)
        figures = report_figures.read(
            engine, chosen["reports"], base_url=base, source=source or None, limit=12, store_missing=known
        )
        cards = [{"report": r, "spec": REPORTS[r.id], "svg": render_chart(r)} for r in figures.reports]
        return _render(
            request,
            user,
            "overview.html",
            title="Overview",
            cards=cards,
            all_reports=REPORTS,
            chosen=chosen,
            refresh_choices=REFRESH_CHOICES,
            sources=[s.name for s in config.sources],
            source=source or "",
            figures=figures,
        )

    @app.post("/overview/refresh")
    def refresh_figures(
        request: Request,
        user: User,
        csrf_token: Annotated[str | None, Form()] = None,
        source: Annotated[str | None, Form()] = None,
        everything: Annotated[str | None, Form()] = None,
    ) -> RedirectResponse:
        """Count the reports' figures again now: those whose data changed since they were counted, or every one
        (``everything``). Any signed-in user may: it changes no data, it only counts it again."""
        check_csrf(request, user, csrf_token)
        done = report_figures.refresh(_engine(), by=f"{username(user)} (Refresh)", force=bool(everything))
        back_to = "/" + (f"?{urlencode({'source': source})}" if source else "")
        said = f"{len(done.counted)} counted, {len(done.unchanged)} unchanged since they were counted"
        return _back(request, back_to, f"Figures recomputed in {done.seconds:.1f} s ({said})")

    @app.post("/overview/preferences")
    async def save_overview(request: Request, user: User) -> RedirectResponse:
        form = await request.form()
        check_csrf(request, user, str(form.get("csrf_token") or ""))
        shown = {str(v) for v in form.getlist("show")} & set(REPORTS)

        def position(report_id: str) -> tuple[int, int]:
            raw = str(form.get(f"order_{report_id}") or "")
            return (int(raw) if raw.isdigit() else 10_000, list(REPORTS).index(report_id))

        order = sorted(shown, key=position)
        raw_refresh = str(form.get("refresh") or "0")
        refresh = int(raw_refresh) if raw_refresh.isdigit() and int(raw_refresh) in REFRESH_CHOICES else 0
        views.set_preference(_engine(), username(user), "overview", {"reports": order, "refresh": refresh})
        return _back(request, "/", "Overview preferences saved")

    @app.get("/api/reports")
    def reports_json(request: Request, user: User, source: str | None = None) -> dict[str, Any]:
        engine = _engine()
        base = str(request.scope.get("root_path") or PREFIX).rstrip("/")
        out = {}
        for report_id in REPORTS:
            report = build_report(engine, report_id, base_url=base, source=source or None, limit=1000)
            out[report_id] = {
                "title": report.title,
                "total": report.total,
                "unit": report.unit,
                "rows": [{"label": b.label, "value": b.value, "href": b.href} for b in report.rows],
            }
        return out


# ---------------------------------------------------------------------------------------------- approvals
def _asset_keys(values: list[str]) -> dict[str, dict[str, list[int]]]:
    """``source|asset_id|schedule`` form values grouped by schedule and source."""
    out: dict[str, dict[str, list[int]]] = {}
    for value in values:
        parts = value.split("|")
        if len(parts) != 3 or not parts[1].isdigit():
            raise HTTPException(status.HTTP_400_BAD_REQUEST, f"not an asset reference: {value!r}")
        source, asset_id, schedule = parts
        out.setdefault(schedule, {}).setdefault(source, []).append(int(asset_id))
    return out


def _approval_columns(engine: Any, user: Any) -> list[str]:
    """The columns the user chose for the approval list (or the default ones)."""
    stored = views.get_preference(engine, username(user), "approval_columns") or []
    return [c for c in stored if c in APPROVAL_COLUMNS] or DEFAULT_APPROVAL_COLUMNS


def _approval_routes(app: FastAPI) -> None:
    from qualys_cmdb.approval.decisions import Decision, Selection, counts, decide, retry_failed

    @app.get("/approvals", response_class=HTMLResponse)
    def approvals(request: Request, user: User) -> HTMLResponse:
        engine = _engine()
        listing = _asset_list(engine, request, "pending")
        config = _config()
        return _render(
            request,
            user,
            "approvals.html",
            title="Approve assets",
            **listing,
            columns=_approval_columns(engine, user),
            all_columns=APPROVAL_COLUMNS,
            schedules=[s.name for s in config.active_intake_schedules()],
            runs=views.runs_of(engine, listing["filters"].schedule),
            may_decide={s: may_run(user, d) for s, d in _dag_ids(config).items()},
            **_run_choices(engine, config, listing["filters"]),
        )

    @app.post("/approvals/columns")
    def save_columns(
        request: Request,
        user: User,
        csrf_token: Annotated[str | None, Form()] = None,
        columns: Annotated[list[str] | None, Form()] = None,
        back: Annotated[str | None, Form()] = None,
    ) -> RedirectResponse:
        check_csrf(request, user, csrf_token)
        chosen = [c for c in (columns or []) if c in APPROVAL_COLUMNS]
        views.set_preference(_engine(), username(user), "approval_columns", chosen or DEFAULT_APPROVAL_COLUMNS)
        return _back(request, _safe_path(back, "/approvals"), "Columns saved")

    @app.post("/approvals/decide")
    def decide_assets(
        request: Request,
        user: User,
        action: Annotated[str, Form()],
        csrf_token: Annotated[str | None, Form()] = None,
        assets: Annotated[list[str] | None, Form()] = None,
        page_assets: Annotated[list[str] | None, Form()] = None,
        run_id: Annotated[str | None, Form()] = None,
        schedule: Annotated[str | None, Form()] = None,
        back: Annotated[str | None, Form()] = None,
        run_key: Annotated[str | None, Form()] = None,
        confirmed: Annotated[str | None, Form()] = None,
    ) -> Response:
        check_csrf(request, user, csrf_token)
        decision, _, scope = action.partition(":")
        if decision not in ("approved", "rejected") or scope not in ("selected", "page", "run"):
            raise HTTPException(status.HTTP_400_BAD_REQUEST, "action must be approved|rejected:selected|page|run")
        chosen_decision: Decision = "approved" if decision == "approved" else "rejected"
        dag_ids = _dag_ids(_config())
        engine = _engine()
        who = username(user)
        back_to = _safe_path(back, "/approvals")
        if scope == "run":  # the schedule is the chosen run's; a confirmation with the count first
            schedule, run_id = actions.run_key(run_key) or (schedule, run_id)
            if not run_id or not schedule or schedule not in dag_ids:
                return _back(request, back_to, "choose one of the runs first", error=True)
            require_run(user, {dag_ids[schedule]})
            verb = "approve" if decision == "approved" else "reject"
            pending = counts(engine, schedule, run_id).get("pending", 0)
            if not pending:
                message = f"no asset of run {run_id} ({schedule}) waits for a decision: nothing to {verb}"
                return _back(request, back_to, message, warning=True)
            if not confirmed:
                return _confirm(
                    request,
                    user,
                    heading=f"{verb.capitalize()} all of a run",
                    question=f"{verb.capitalize()} {_assets(pending)} of run {run_id} (schedule {schedule})?",
                    action="/approvals/decide",
                    fields={"action": action, "run_key": f"{schedule}|{run_id}", "back": back_to},
                    button=f"{verb.capitalize()} {_assets(pending)}",
                    danger=decision == "rejected",
                    back=back_to,
                )
            n = decide(engine, Selection(schedule, run_id=run_id), chosen_decision, who, note="all of a run, in the UI")
            return _back(request, back_to, f"{n:,} asset(s) of run {run_id} {decision}", warning=n == 0)
        chosen = assets if scope == "selected" else page_assets
        if not chosen:
            return _back(request, back_to, "select at least one asset first", error=True)
        grouped = _asset_keys(chosen)
        unknown = sorted(set(grouped) - set(dag_ids))
        if unknown:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, f"unknown schedule(s): {', '.join(unknown)}")
        require_run(user, {dag_ids[s] for s in grouped})
        n = 0
        for sched, by_source in grouped.items():
            for source, ids in by_source.items():
                n += decide(engine, Selection(sched, asset_ids=tuple(ids), source=source), chosen_decision, who)
        return _back(request, back_to, f"{n:,} asset(s) {decision}", warning=n == 0)

    @app.get("/failed", response_class=HTMLResponse)
    def failed(request: Request, user: User) -> HTMLResponse:
        config = _config()
        return _render(
            request,
            user,
            "failed.html",
            title="Failed assets",
            schedules=[s.name for s in config.active_intake_schedules()],
            codes=views.failure_codes(_engine()),
            **_asset_list(_engine(), request, "failed"),
            may_retry={s: may_run(user, d) for s, d in _dag_ids(config).items()},
        )

    @app.post("/failed/retry")
    def retry(
        request: Request,
        user: User,
        csrf_token: Annotated[str | None, Form()] = None,
        assets: Annotated[list[str] | None, Form()] = None,
        back: Annotated[str | None, Form()] = None,
    ) -> RedirectResponse:
        check_csrf(request, user, csrf_token)
        back_to = _safe_path(back, "/failed")
        if not assets:
            return _back(request, back_to, "select at least one asset first", error=True)
        grouped = _asset_keys(assets)
        dag_ids = _dag_ids(_config())
        unknown = sorted(set(grouped) - set(dag_ids))
        if unknown:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, f"unknown schedule(s): {', '.join(unknown)}")
        require_run(user, {dag_ids[s] for s in grouped})
        n = 0
        for sched, by_source in grouped.items():
            for source, ids in by_source.items():
                n += retry_failed(_engine(), Selection(sched, asset_ids=tuple(ids), source=source), username(user))
        return _back(request, back_to, f"{n:,} asset(s) will be sent again by the schedule's next run", warning=n == 0)


# ---------------------------------------------------------------------------------------------- report lists
def _list_routes(app: FastAPI) -> None:
    from qualys_cmdb.ui.listing import SoftwareFilters, list_software

    @app.get("/assets", response_class=HTMLResponse)
    def assets(request: Request, user: User) -> HTMLResponse:
        listing = _asset_list(_engine(), request)
        active = listing["filters"].to_params()
        return _render(request, user, "assets.html", title="Assets", active_filters=active, **listing)

    @app.get("/software", response_class=HTMLResponse)
    def software(request: Request, user: User) -> HTMLResponse:
        params = dict(request.query_params)
        filters = SoftwareFilters.from_query(params)
        page = _int(params.get("page"), 1)
        page_size = _int(params.get("page_size"), 50, 5, 500)
        sort = params.get("sort") or "name"
        rows, total = list_software(_engine(), filters, page=page, page_size=page_size, sort=sort)
        return _render(
            request,
            user,
            "software.html",
            title="Software",
            rows=rows,
            total=total,
            page=page,
            page_size=page_size,
            pages=max(1, -(-total // page_size)),
            active_filters=filters.to_params(),
        )


# ---------------------------------------------------------------------------------------------- queue and uploads
def _queue_routes(app: FastAPI) -> None:
    from qualys_cmdb.export.upload import requeue_items
    from qualys_cmdb.staging import store
    from qualys_cmdb.staging.schema import sync_queue, upload_item

    @app.get("/queue", response_class=HTMLResponse)
    def queue(request: Request, user: User) -> HTMLResponse:
        params = dict(request.query_params)
        page = views.queue_records(_engine(), **exports.queue_filters(params), page=_int(params.get("page"), 1))
        config = _config()
        return _render(
            request,
            user,
            "queue.html",
            title="Sync queue",
            page=page,
            schedules=[s.name for s in config.schedules],
            may_requeue={s.name: may_run(user, s.dag_id) for s in config.schedules},
        )

    @app.get("/queue/{queue_id}/raw")
    def raw(request: Request, user: User, queue_id: int, download: bool = False) -> Response:
        """The record's response, indented (JSON / XML), or downloaded as it came; both streamed: a 30 MB page is
        decompressed and written out a piece at a time, never held whole."""
        found = actions.raw_record(_engine(), queue_id)
        if found is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no sync-queue record {queue_id}")
        record, payload = found
        extension = "json" if record["format"] == "json" else "xml"
        if download:
            name = f"{record['direction']}-{queue_id}.{extension}"
            return StreamingResponse(
                pretty.gunzip_chunks(payload),
                media_type="application/octet-stream",
                headers={"Content-Disposition": f'attachment; filename="{name}"'},
            )
        config = _config()
        dag_id = next((s.dag_id for s in config.schedules if s.name == record["schedule"]), None)
        page = _render(
            request,
            user,
            "raw.html",
            title=f"Record {queue_id}",
            record=record,
            size=record.get("payload_bytes") or 0,
            body_marker=RAW_BODY_MARKER,
            may_requeue=dag_id is not None and may_run(user, dag_id),
        ).body
        head, _, tail = bytes(page).decode().partition(RAW_BODY_MARKER)

        def body() -> Any:
            yield head
            yield from pretty.pretty_html(payload, extension)
            yield tail

        return StreamingResponse(body(), media_type="text/html; charset=utf-8")

    @app.post("/queue/requeue")
    def requeue(
        request: Request,
        user: User,
        csrf_token: Annotated[str | None, Form()] = None,
        ids: Annotated[list[int] | None, Form()] = None,
        back: Annotated[str | None, Form()] = None,
    ) -> RedirectResponse:
        done = _requeue(request, user, csrf_token, ids, sync_queue, lambda e, i, who: store.requeue(e, i, who=who))
        if done is None:
            return _back(request, _safe_path(back, "/queue"), "select at least one record first", error=True)
        message = f"{len(done):,} record(s) re-queued; the schedule's next run processes them"
        return _back(request, _safe_path(back, "/queue"), message, warning=not done)

    @app.get("/uploads", response_class=HTMLResponse)
    def uploads(request: Request, user: User) -> HTMLResponse:
        params = dict(request.query_params)
        page = views.upload_items(_engine(), **exports.upload_filters(params), page=_int(params.get("page"), 1))
        config = _config()
        reverse = [s.name for s in config.schedules if s.direction == "cmdb_to_qualys"]
        may_requeue = {s.name: may_run(user, s.dag_id) for s in config.schedules if s.name in reverse}
        return _render(
            request, user, "uploads.html", title="Upload items", page=page, schedules=reverse, may_requeue=may_requeue
        )

    @app.post("/uploads/requeue")
    def requeue_uploads(
        request: Request,
        user: User,
        csrf_token: Annotated[str | None, Form()] = None,
        ids: Annotated[list[int] | None, Form()] = None,
        back: Annotated[str | None, Form()] = None,
    ) -> RedirectResponse:
        done = _requeue(request, user, csrf_token, ids, upload_item, requeue_items)
        if done is None:
            return _back(request, _safe_path(back, "/uploads"), "select at least one item first", error=True)
        message = f"{len(done):,} item(s) re-queued; the schedule's next run sends them"
        return _back(request, _safe_path(back, "/uploads"), message, warning=not done)


def _requeue(
    request: Request,
    user: Any,
    token: str | None,
    ids: list[int] | None,
    table: Any,
    requeue: Callable[[Any, list[int], str], list[int]],
) -> list[int] | None:
    """Re-queue rows of the sync queue or the upload items for a user allowed to run their schedules' DAGs;
    None when nothing was selected."""
    check_csrf(request, user, token)
    if not ids:
        return None
    engine = _engine()
    dag_ids = _dag_ids(_config())
    schedules = views.schedules_of(engine, table, ids)
    unknown = sorted(schedules - set(dag_ids))
    if unknown:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"schedule(s) no longer configured: {', '.join(unknown)}")
    require_run(user, {dag_ids[s] for s in schedules})
    return requeue(engine, ids, username(user))


# ---------------------------------------------------------------------------------------------- log and sources
def _admin_routes(app: FastAPI) -> None:
    from qualys_cmdb.export.host_ids import not_scanned_counts

    @app.get("/log", response_class=HTMLResponse)
    def log(request: Request, user: User) -> HTMLResponse:
        params = dict(request.query_params)
        engine = _engine()
        page = views.log_entries(engine, **exports.log_filters(params), page=_int(params.get("page"), 1))
        config = _config()
        return _render(
            request,
            user,
            "log.html",
            title="Application log",
            page=page,
            levels=views.LEVELS,
            schedules=[s.name for s in config.schedules],
            runs=views.log_runs(engine, params.get("schedule") or None),
        )

    @app.get("/terminated", response_class=HTMLResponse)
    def terminated(request: Request, user: User) -> HTMLResponse:
        """HK-4: the steps stopped by the max transaction lifetime or killed by Airflow, and what resumed them."""
        from qualys_cmdb.staging.terminated import describe_position, terminated_runs

        schedule = request.query_params.get("schedule") or None
        page = _int(request.query_params.get("page"), 1)
        rows, total = terminated_runs(_engine(), schedule=schedule, limit=50, offset=(page - 1) * 50)
        config = _config()
        return _render(
            request,
            user,
            "terminated.html",
            title="Terminated runs",
            rows=rows,
            total=total,
            page=page,
            pages=max(1, -(-total // 50)),
            schedules=[s.name for s in config.schedules] + config.housekeeping_dag_ids(),
            position=describe_position,
        )

    @app.get("/sources", response_class=HTMLResponse)
    def sources(request: Request, user: User) -> HTMLResponse:
        config = _config()
        engine = _engine()
        states = views.schedule_states(engine)
        counts = views.classification_counts(engine)
        unscanned = not_scanned_counts(engine)
        return _render(
            request,
            user,
            "sources.html",
            title="Sources and schedules",
            config=config,
            states=states,
            counts=counts,
            unscanned=unscanned,
            **_schedule_context(engine, config, user),
        )

    @app.post("/sources/{name}/test")
    def test_source(
        request: Request,
        user: User,
        name: str,
        csrf_token: Annotated[str | None, Form()] = None,
    ) -> RedirectResponse:
        check_csrf(request, user, csrf_token)
        from qualys_cmdb.hooks.qualys import QualysHook
        from qualys_cmdb.staging import store

        config = _config()
        try:
            source = config.source(name)
        except KeyError:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no source named {name!r}") from None
        require_run(user, {s.dag_id for s in config.schedules if s.source == name} or {f"qualys_to_cmdb__{name}"})
        hook = QualysHook.for_source(source, config.properties)
        try:
            ok, message = hook.test_connection()
        finally:
            hook.close()
        store.AppLog(_engine(), source=name).write("info" if ok else "error", "test connection", message)
        return _back(request, "/sources", f"{name}: {message}", error=not ok)


# ---------------------------------------------------------------------------------------------- CSV and Excel
def _download(chunks: Any, columns: Any, fmt: spreadsheet.Format, stem: str, title: str) -> Response:
    """Every row of ``chunks`` as a CSV (streamed as it is read) or Excel file (written to a temporary file first: a
    workbook is a zip whose index comes last), to save under ``stem-<UTC date>.<fmt>``."""
    chunks = iter(chunks)
    first = next(chunks, None)  # the query runs now: a failure is an error page, not a cut-off file
    rows = itertools.chain([first] if first else [], chunks)
    headers = {
        "Content-Disposition": f'attachment; filename="{spreadsheet.filename(stem, fmt)}"',
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    }
    if fmt == "csv":
        body = spreadsheet.csv_stream(columns, rows, bom=True)
        return StreamingResponse(body, media_type=spreadsheet.MEDIA_TYPES["csv"], headers=headers)
    file = spreadsheet.spooled_xlsx(columns, rows, title=title)
    size = file.seek(0, 2)
    file.seek(0)
    headers["Content-Length"] = str(size)
    return StreamingResponse(spreadsheet.file_chunks(file), media_type=spreadsheet.MEDIA_TYPES["xlsx"], headers=headers)


def _format(fmt: str) -> spreadsheet.Format:
    if fmt not in spreadsheet.FORMATS:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no such download: .{fmt} (there are .csv and .xlsx)")
    return "csv" if fmt == "csv" else "xlsx"


def _export_routes(app: FastAPI) -> None:
    """``<list page>.csv|.xlsx?<the page's query string>``: every row of the list matching the page's filters, in the
    page's order, with its columns (paging ignored). ``/reports/<report id>.csv|.xlsx?source=``: every group of an
    Overview report. Behind the same authentication as the pages: whoever may see a page may download it."""
    from qualys_cmdb.ui.reports import REPORTS

    @app.get("/reports/{report_id}.{fmt}")
    def report_download(request: Request, user: User, report_id: str, fmt: str, source: str | None = None) -> Response:
        chosen = _format(fmt)
        if report_id not in REPORTS:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no report named {report_id!r}")
        base = str(request.scope.get("root_path") or PREFIX).rstrip("/")
        site = f"{request.url.scheme}://{request.url.netloc}"
        engine = _engine()
        title, columns, rows = exports.report_export(engine, report_id, base_url=base, site=site, source=source or None)
        return _download(spreadsheet.chunks_of(rows), columns, chosen, f"{title} report", title)

    @app.get("/{page}.{fmt}")
    def list_download(request: Request, user: User, page: str, fmt: str) -> Response:
        chosen = _format(fmt)
        if page not in exports.LISTS:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no list named {page!r} to download")
        engine = _engine()
        approvals = [(c, APPROVAL_COLUMNS[c]) for c in _approval_columns(engine, user)] if page == "approvals" else []
        export = exports.list_export(page, dict(request.query_params), approvals=approvals)
        chunks = spreadsheet.query_chunks(engine, export.query)
        return _download(chunks, export.columns, chosen, export.stem, export.title)


# ---------------------------------------------------------------------------------------------- operator actions
# Refetch a page, retry everything a filter matches, trigger a schedule's run; confirmation and error pages in the
# layout; what Airflow says about the schedules' DAGs and about the runs waiting for approval.
RAW_BODY_MARKER = "<!--qcmdb:raw-body-->"
REFETCH_NOTES_SHOWN = 5


def _assets(n: int) -> str:
    """``1 asset``, ``1,234 assets``."""
    return f"{n:,} asset" + ("" if n == 1 else "s")


def _confirm(
    request: Request,
    user: Any,
    *,
    heading: str,
    question: str,
    action: str,
    fields: dict[str, str],
    button: str,
    back: str,
    danger: bool = False,
) -> HTMLResponse:
    """A page that asks before a change to many things at once, with the count: the form posts ``fields`` again to
    ``action``, confirmed."""
    base = str(request.scope.get("root_path") or PREFIX).rstrip("/")
    return _render(
        request,
        user,
        "confirm.html",
        title=heading,
        heading=heading,
        question=question,
        action=base + action,
        fields=fields,
        button=button,
        danger=danger,
        cancel=back if back.startswith(base) else base + back,
    )


async def _error_page(request: Request, exc: HTTPException) -> HTMLResponse:
    """An error as a page of the UI: the layout and menu, what went wrong, and a way back (the page the request came
    from, on this site; else the overview). Not logged in: a link to Airflow's login that returns here."""
    base = str(request.scope.get("root_path") or PREFIX).rstrip("/")
    who = ""
    if exc.status_code != status.HTTP_401_UNAUTHORIZED:
        with contextlib.suppress(Exception):  # the user, when known: the header names them
            who = username(await current_user(request))
    referer = urlsplit(request.headers.get("referer") or "")
    same_site = referer.netloc == request.headers.get("host", "") and referer.path.startswith(base)
    back = _without_flash(f"{referer.path}?{referer.query}" if same_site else f"{base}/")
    html = _ENV.get_template("error.html").render(
        base=base,
        user=who,
        csrf="",
        request_path=request.url.path,
        query={},
        title=f"{exc.status_code}",
        status=exc.status_code,
        detail=str(exc.detail),
        login=f"/auth/login?{urlencode({'next': request.url.path})}",
        back=back,
    )
    return HTMLResponse(html, status_code=exc.status_code)


def _run_choices(engine: Any, config: Any, filters: Any) -> dict[str, Any]:
    """For Approve assets: the runs waiting for approval now (with how many assets each waits for), the runs "All of
    a run" offers (each with its schedule and its pending count), and the run it offers first: the filtered run,
    else the run waiting longest, else the newest."""
    from qualys_cmdb.approval.decisions import counts

    dag_ids = {s.name: s.dag_id for s in config.active_intake_schedules()}
    waiting_runs = airflow_state.waiting_runs(dag_ids)
    waits = {(w.schedule, w.run_id): counts(engine, w.schedule, w.run_id).get("pending", 0) for w in waiting_runs}
    waiting = [{"run": w, "pending": waits[(w.schedule, w.run_id)]} for w in waiting_runs]
    runs = [
        actions.PendingRun(r.schedule, r.run_id, r.pending, (r.schedule, r.run_id) in waits)
        for r in actions.pending_runs(engine, filters.schedule)
    ]
    listed = {(r.schedule, r.run_id) for r in runs}
    runs += [
        actions.PendingRun(s, r, n, True)
        for (s, r), n in waits.items()
        if (s, r) not in listed and n and (not filters.schedule or s == filters.schedule)
    ]
    chosen = next(
        (r.key for r in runs if r.run_id == filters.run and filters.schedule in (None, r.schedule)),
        next((r.key for r in runs if r.waiting), runs[0].key if runs else None),
    )
    return {"waiting": waiting, "run_choices": runs, "chosen_run": chosen}


def _schedule_context(engine: Any, config: Any, user: Any) -> dict[str, Any]:
    """For Sources & schedules: each DAG as Airflow sees it (paused, next run, latest run), the runs waiting for
    approval by schedule, and what the user may do (trigger a schedule's DAG, test a source)."""
    from qualys_cmdb.approval.decisions import counts

    dags = airflow_state.dag_states(s.dag_id for s in config.schedules)
    waiting: dict[str, list[dict[str, Any]]] = {}
    intake = {s.name: s.dag_id for s in config.schedules if s.direction == "qualys_to_cmdb"}
    for w in airflow_state.waiting_runs(intake):
        pending = counts(engine, w.schedule, w.run_id).get("pending", 0)
        waiting.setdefault(w.schedule, []).append({"run": w, "pending": pending})
    may_trigger = {s.name: may_run(user, s.dag_id) for s in config.schedules}
    may_test = {
        src.name: all(may_trigger[s.name] for s in config.schedules if s.source == src.name)
        if any(s.source == src.name for s in config.schedules)
        else may_run(user, f"qualys_to_cmdb__{src.name}")
        for src in config.sources
    }
    return {"dags": dags, "waiting": waiting, "may_trigger": may_trigger, "may_test": may_test}


def _operator_routes(app: FastAPI) -> None:
    from qualys_cmdb.approval.decisions import Selection, retry_failed
    from qualys_cmdb.staging.schema import sync_queue

    @app.post("/queue/refetch")
    def refetch(
        request: Request,
        user: User,
        csrf_token: Annotated[str | None, Form()] = None,
        ids: Annotated[list[int] | None, Form()] = None,
        back: Annotated[str | None, Form()] = None,
    ) -> RedirectResponse:
        """Download the selected records' pages again from Qualys (same window, cursor and page size) and queue
        them to be parsed (``qcmdb queue requeue ID --refetch``); a page unreadable again stays Error."""
        from qualys_cmdb.intake.fetch import refetch_record

        back_to = _safe_path(back, "/queue")
        notes: list[str] = []
        config = _config()

        def download_again(engine: Any, chosen: list[int], who: str) -> list[int]:
            known = actions.queue_rows(engine, chosen)
            for queue_id in chosen:
                if known.get(queue_id, ("download",))[0] != "download":
                    notes.append(f"queue record {queue_id}: an upload record, which is never downloaded")
                    continue
                try:
                    notes.append(refetch_record(engine, config, queue_id, who=who))
                except Exception as exc:  # said on the page: Qualys unreachable, refused, …
                    notes.append(f"queue record {queue_id}: could not download it again: {exc}")
            after = actions.queue_rows(engine, chosen)
            return [i for i in chosen if after.get(i) == ("download", "Queued")]

        done = _requeue(request, user, csrf_token, ids, sync_queue, download_again)
        if done is None:
            return _back(request, back_to, "select at least one record first", error=True)
        shown = "; ".join(notes[:REFETCH_NOTES_SHOWN]) + (" …" if len(notes) > REFETCH_NOTES_SHOWN else "")
        message = f"{len(done):,} of {len(notes):,} record(s) downloaded again and queued: {shown}"
        return _back(request, back_to, message, error=len(done) < len(notes))

    @app.post("/failed/retry-matching")
    def retry_matching(
        request: Request,
        user: User,
        csrf_token: Annotated[str | None, Form()] = None,
        matching: Annotated[str | None, Form()] = None,
        confirmed: Annotated[str | None, Form()] = None,
    ) -> Response:
        """Retry every failed asset the Failed assets page's filter (``matching``, its query string) matches, on
        every page: after a confirmation with the count, for a user who may run each schedule concerned."""
        check_csrf(request, user, csrf_token)
        filters = exports.asset_filters(dict(parse_qsl(matching or "")), "failed")
        shown = filters.replace(state=None).to_params()
        back_to = "/failed" + (f"?{urlencode(shown)}" if shown else "")
        engine = _engine()
        keys = actions.failed_keys(engine, filters)
        total = sum(len(ids) for by_source in keys.values() for ids in by_source.values())
        if not total:
            return _back(request, back_to, "no failed asset matches this filter: nothing to retry", warning=True)
        dag_ids = _dag_ids(_config())
        unknown = sorted(set(keys) - set(dag_ids))
        if unknown:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, f"unknown schedule(s): {', '.join(unknown)}")
        require_run(user, {dag_ids[s] for s in keys})
        if not confirmed:
            described = ", ".join(f"{k} {v}" for k, v in shown.items()) or "no filter: every failed asset"
            return _confirm(
                request,
                user,
                heading="Retry everything matching this filter",
                question=f"Retry {_assets(total)} matching {described}? The schedules' next runs send them again.",
                action="/failed/retry-matching",
                fields={"matching": urlencode(shown)},
                button=f"Retry {_assets(total)}",
                back=back_to,
            )
        who = username(user)
        n = sum(
            retry_failed(engine, Selection(schedule, asset_ids=tuple(ids), source=source), who)
            for schedule, by_source in keys.items()
            for source, ids in by_source.items()
        )
        return _back(request, back_to, f"{n:,} asset(s) will be sent again by the schedule's next run", warning=n == 0)

    @app.post("/sources/{name}/trigger")
    def trigger_schedule(
        request: Request,
        user: User,
        name: str,
        csrf_token: Annotated[str | None, Form()] = None,
    ) -> RedirectResponse:
        """A manual run of the schedule's DAG, created by Airflow (as its own Trigger button does), for a user who
        may run that DAG."""
        check_csrf(request, user, csrf_token)
        schedule = next((s for s in _config().schedules if s.name == name), None)
        if schedule is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no schedule named {name!r}")
        require_run(user, {schedule.dag_id})
        dag = airflow_state.dag_states([schedule.dag_id])[schedule.dag_id]
        if not dag.known:
            message = f"Airflow has not loaded {schedule.dag_id} (yet): check its DAG folder and import errors"
            return _back(request, "/sources", message, error=True)
        try:
            run_id = airflow_state.trigger(schedule.dag_id, username(user))
        except ValueError as exc:
            return _back(request, "/sources", f"{schedule.dag_id}: {exc}", error=True)
        if dag.paused:
            message = f"{schedule.dag_id}: run {run_id} queued; the DAG is paused, so it starts once it is unpaused"
            return _back(request, "/sources", message, warning=True)
        return _back(request, "/sources", f"{schedule.dag_id}: run {run_id} triggered")
