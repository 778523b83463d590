"""The operator UI: a FastAPI app the plugin mounts on Airflow's API server at ``/qualys-cmdb``.

Pages (server-rendered, no JavaScript needed, nothing fetched from the internet): overview reports, approve assets,
failed assets, assets and software lists behind the reports, sync queue (with raw responses), upload items, the
application log, and sources and schedules. See :mod:`qualys_cmdb.ui.security` for who may do what.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, FastAPI, Form, HTTPException, Request, status
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from qualys_cmdb.ui import exports, spreadsheet, views
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
    from qualys_cmdb.staging.migrate import is_current, upgrade

    engine = get_engine()
    key = str(engine.url)
    if key not in _MIGRATED:
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
        request_path=request.url.path,
        query=dict(request.query_params),
        **context,
    )
    return HTMLResponse(html)


def _back(request: Request, path: str, message: str, error: bool = False) -> RedirectResponse:
    """Back to a page after a change, saying what happened (reports are recomputed for the next view)."""
    REPORT_CACHE.clear()
    base = str(request.scope.get("root_path") or PREFIX).rstrip("/")
    target = path if path.startswith(base) else base + path
    separator = "&" if "?" in target else "?"
    return RedirectResponse(
        f"{target}{separator}{urlencode({'err' if error else 'msg': message})}", status_code=status.HTTP_303_SEE_OTHER
    )


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
        login = f"/auth/login?next={request.url.path}"
        hint = f'<p><a href="{login}">Log in to Airflow</a></p>' if exc.status_code == 401 else ""
        body = _ENV.get_template("error.html").render(status=exc.status_code, detail=str(exc.detail), hint=hint)
        return HTMLResponse(body, status_code=exc.status_code)

    _overview_routes(app)
    _approval_routes(app)
    _list_routes(app)
    _queue_routes(app)
    _admin_routes(app)
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
        cards = []
        for report_id in chosen["reports"]:
            report = REPORT_CACHE.get(engine, report_id, base, source or None, 12)
            cards.append({"report": report, "spec": REPORTS[report_id], "svg": render_chart(report)})
        config = _config()
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
        )

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
    from qualys_cmdb.approval.decisions import Decision, Selection, decide, retry_failed

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
    ) -> RedirectResponse:
        check_csrf(request, user, csrf_token)
        decision, _, scope = action.partition(":")
        if decision not in ("approved", "rejected") or scope not in ("selected", "page", "run"):
            raise HTTPException(status.HTTP_400_BAD_REQUEST, "action must be approved|rejected:selected|page|run")
        chosen_decision: Decision = "approved" if decision == "approved" else "rejected"
        dag_ids = _dag_ids(_config())
        engine = _engine()
        who = username(user)
        back_to = _safe_path(back, "/approvals")
        if scope == "run":
            if not run_id or not schedule or schedule not in dag_ids:
                return _back(request, back_to, "choose a schedule and one of its runs", error=True)
            require_run(user, {dag_ids[schedule]})
            n = decide(engine, Selection(schedule, run_id=run_id), chosen_decision, who, note="all of a run, in the UI")
            return _back(request, back_to, f"{n} asset(s) of run {run_id} {decision}")
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
        return _back(request, back_to, f"{n} asset(s) {decision}")

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
        return _back(request, back_to, f"{n} asset(s) will be sent again by the schedule's next run")


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
            request, user, "queue.html", title="Sync queue", page=page, schedules=[s.name for s in config.schedules]
        )

    @app.get("/queue/{queue_id}/raw")
    def raw(request: Request, user: User, queue_id: int, download: bool = False) -> Response:
        found = views.raw_response(_engine(), queue_id)
        if found is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no sync-queue record {queue_id}")
        record, body = found
        extension = "json" if record["format"] == "json" else "xml"
        if download:
            name = f"{record['direction']}-{queue_id}.{extension}"
            return Response(
                body,
                media_type="application/octet-stream",
                headers={"Content-Disposition": f'attachment; filename="{name}"'},
            )
        preview = body[: views.RAW_PREVIEW_BYTES].decode("utf-8", errors="replace")
        return _render(
            request,
            user,
            "raw.html",
            title=f"Record {queue_id}",
            record=record,
            preview=preview,
            size=len(body),
            truncated=len(body) > views.RAW_PREVIEW_BYTES,
        )

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
        message = f"{len(done)} record(s) re-queued; the schedule's next run processes them"
        return _back(request, _safe_path(back, "/queue"), message)

    @app.get("/uploads", response_class=HTMLResponse)
    def uploads(request: Request, user: User) -> HTMLResponse:
        params = dict(request.query_params)
        page = views.upload_items(_engine(), **exports.upload_filters(params), page=_int(params.get("page"), 1))
        config = _config()
        reverse = [s.name for s in config.schedules if s.direction == "cmdb_to_qualys"]
        return _render(request, user, "uploads.html", title="Upload items", page=page, schedules=reverse)

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
        message = f"{len(done)} item(s) re-queued; the schedule's next run sends them"
        return _back(request, _safe_path(back, "/uploads"), message)


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
