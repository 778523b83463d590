"""``qcmdb``: the command line of the Qualys CMDB sync (config checks, database, queue, connection test, simulators)."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from qualys_cmdb.ui.spreadsheet import Column

#: What ``--format`` of the list commands says in ``--help``.
FORMAT_HELP = (
    "text (default): lines to read; csv: the rows as CSV (UTF-8, RFC 4180) on stdout or in --output; xlsx: an Excel "
    "workbook, written to --output FILE (or to stdout when stdout is redirected to a file or a pipe; refused on a "
    "terminal). A cell that begins with = + - @ gets a leading ' (no formula runs); times are UTC"
)
#: Rows a text listing shows unless --limit says otherwise (csv and xlsx: every row).
TEXT_LIMIT = 200


def _add_output(p: argparse.ArgumentParser, limit: bool = True) -> None:
    """--format and --output (and --limit) of a list command."""
    p.add_argument("--format", choices=["text", "csv", "xlsx"], default="text", help=FORMAT_HELP)
    p.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of stdout")
    if limit:
        p.add_argument(
            "--limit", type=int, help=f"at most this many rows (default: {TEXT_LIMIT} as text, every row as csv/xlsx)"
        )


def _limit(args: argparse.Namespace) -> int | None:
    if args.limit is not None:
        return max(0, int(args.limit))
    return TEXT_LIMIT if args.format == "text" else None


def _xlsx_refused(args: argparse.Namespace) -> bool:
    """An Excel workbook (binary) asked for on a terminal without --output: say how to get it (exit status 2)."""
    if args.format == "xlsx" and not args.output and sys.stdout.isatty():
        print(
            "qcmdb: --format xlsx writes a binary workbook: give --output FILE.xlsx (or redirect stdout to a file)",
            file=sys.stderr,
        )
        return True
    return False


def _write_rows(
    args: argparse.Namespace, columns: Sequence[Any], chunks: Iterable[Sequence[Mapping[str, Any]]], title: str
) -> int:
    """Write the rows of ``chunks`` as args.format (csv or xlsx) to args.output or stdout; how many were written."""
    from qualys_cmdb.ui import spreadsheet

    counted = 0

    def counting() -> Iterator[Sequence[Mapping[str, Any]]]:
        nonlocal counted
        for chunk in chunks:
            counted += len(chunk)
            yield chunk

    if args.format == "csv":
        pieces: Iterable[bytes] = spreadsheet.csv_stream(columns, counting())
    else:
        workbook = spreadsheet.spooled_xlsx(columns, counting(), title=title)
        pieces = spreadsheet.file_chunks(workbook)
    if args.output:
        with open(args.output, "wb") as out:
            for piece in pieces:
                out.write(piece)
        print(f"{counted} row(s) written to {args.output}", file=sys.stderr)
    else:
        sys.stdout.flush()
        stdout = getattr(sys.stdout, "buffer", None)
        for piece in pieces:
            if stdout is not None:
                stdout.write(piece)
            else:  # a text-only stdout (some embedding): CSV is text; xlsx was refused unless stdout is redirected
                sys.stdout.write(piece.decode("utf-8", errors="surrogateescape"))
        (stdout or sys.stdout).flush()
    return counted


def _text_output(args: argparse.Namespace) -> Any:
    """Where a text listing goes: --output FILE, or stdout."""
    import contextlib

    if args.format == "text" and args.output:
        return contextlib.redirect_stdout(open(args.output, "w", encoding="utf-8"))
    return contextlib.nullcontext()


def _config_validate(args: argparse.Namespace) -> int:
    from qualys_cmdb.config import ConfigError, config_path, load_config

    path = config_path(args.file)
    try:
        config = load_config(path)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    dags = [s.dag_id for s in config.active_intake_schedules()] + [s.dag_id for s in config.active_reverse_schedules()]
    print(
        f"{path}: OK — {len(config.sources)} source(s), {len(config.schedules)} schedule(s); "
        f"DAGs: {', '.join(dags) or 'none'}"
    )
    frequencies = config.properties.housekeeping_schedules
    housekeeping = [f"{d} ({getattr(frequencies, d) or 'manual'})" for d in config.housekeeping_dag_ids()]
    print(f"housekeeping DAGs: {', '.join(housekeeping) or 'none'}")
    for warning in config.warnings():
        print(f"warning: {warning}")
    if args.online:
        return _check_online(config)
    return 0


def _check_online(config: Any) -> int:
    """Check the CMDB → Qualys schedules against the CMDB and Qualys's reference data (RS-2, RS-4)."""
    from qualys_cmdb.export.checks import ScheduleCheckError, check_schedule
    from qualys_cmdb.hooks.qualys import QualysHook
    from qualys_cmdb.hooks.servicenow import ServiceNowHook
    from qualys_cmdb.staging.database import get_engine
    from qualys_cmdb.staging.migrate import is_current, upgrade

    engine = get_engine()
    if not is_current(engine):
        upgrade(engine)
    failed = 0
    cmdb = ServiceNowHook.for_properties(config.properties)
    try:
        for schedule in config.active_reverse_schedules():
            qualys = QualysHook.for_source(config.source(schedule.source), config.properties)
            try:
                assignment = check_schedule(engine, qualys, cmdb, schedule, config.properties)
            except ScheduleCheckError as exc:
                failed += 1
                print(str(exc), file=sys.stderr)
                continue
            finally:
                qualys.close()
            where = f"{assignment.kind} {assignment.name!r} (id {assignment.id})" if assignment else "no tag or group"
            print(f"{schedule.name}: OK — {schedule.table} has ip_address; {where}")
    finally:
        cmdb.close()
    return 1 if failed else 0


def _mappings_validate(args: argparse.Namespace) -> int:
    from qualys_cmdb.classify.mappings import MappingError, load_mappings, mappings_dir

    try:
        mappings = load_mappings(args.folder)
    except MappingError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(
        f"{mappings_dir(args.folder)}: OK (version {mappings.version}) — {len(mappings.active_rules)} active CI-class "
        f"rule(s), {len(mappings.hardware)} hardware mapping(s), {len(mappings.related_tables)} related table(s)"
    )
    return 0


def _db(args: argparse.Namespace) -> int:
    from qualys_cmdb.staging.database import check, get_engine
    from qualys_cmdb.staging.migrate import current_revision, head_revision, upgrade

    engine = get_engine()
    if args.action == "upgrade":
        print(f"staging database at revision {upgrade(engine)} (PostgreSQL {check(engine)})")
    else:
        current, head = current_revision(engine), head_revision()
        print(
            f"staging database revision {current or 'none'}; package head {head}"
            f"{'' if current == head else ' — run: qcmdb db upgrade'}"
        )
    return 0


def _embedded(args: argparse.Namespace) -> int:
    from qualys_cmdb.staging.database import embedded_url, home, stop_embedded

    if args.action == "stop":
        print("embedded PostgreSQL stopped" if stop_embedded() else "embedded PostgreSQL is not running")
        return 0
    url = embedded_url(args.database)
    if args.action == "url":
        print(url.render_as_string(hide_password=False))
    else:
        print(
            f"embedded PostgreSQL running under {home() / 'pgdata'}; database {args.database}: "
            f"{url.render_as_string(hide_password=False)}"
        )
    return 0


def _test_connection(args: argparse.Namespace) -> int:
    from qualys_cmdb.config import load_config
    from qualys_cmdb.hooks.qualys import QualysHook
    from qualys_cmdb.staging import store
    from qualys_cmdb.staging.database import get_engine
    from qualys_cmdb.staging.migrate import is_current

    config = load_config(args.config)
    hook = QualysHook.for_source(config.source(args.source), config.properties)
    ok, message = hook.test_connection()
    hook.close()
    print(message)
    engine = get_engine()
    if is_current(engine):  # the application log records API responses (OB-1), once the schema exists
        store.AppLog(engine, source=args.source).write("info" if ok else "error", "test connection", message)
    return 0 if ok else 1


def _queue(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from qualys_cmdb.staging import store
    from qualys_cmdb.staging.database import get_engine
    from qualys_cmdb.staging.schema import sync_queue

    engine = get_engine()
    if args.action == "cleanup":
        return _queue_cleanup(args, engine)
    if args.action == "requeue":
        if args.refetch:
            from qualys_cmdb.config import load_config
            from qualys_cmdb.intake.fetch import refetch_record

            config = load_config(args.config)
            for queue_id in args.ids:
                print(refetch_record(engine, config, queue_id))
        done = store.requeue(engine, args.ids)
        missing = sorted(set(args.ids) - set(done))
        print(f"re-queued {len(done)} record(s): {done}" + (f"; not found: {missing}" if missing else ""))
        print("They are parsed and staged by the schedule's next run (trigger it in Airflow).")
        return 1 if missing else 0
    if _xlsx_refused(args):
        return 2
    if args.format != "text":
        from qualys_cmdb.ui import spreadsheet, views
        from qualys_cmdb.ui.exports import QUEUE_EXPORT_COLUMNS

        rows = views.queue_query(
            direction=None, status=args.status, schedule=args.schedule, run_id=None, newest_first=False
        ).limit(_limit(args))
        _write_rows(args, QUEUE_EXPORT_COLUMNS, spreadsheet.query_chunks(engine, rows), "Sync queue")
        return 0
    query = select(
        sync_queue.c.id,
        sync_queue.c.direction,
        sync_queue.c.schedule,
        sync_queue.c.run_id,
        sync_queue.c.status,
        sync_queue.c.page_no,
        sync_queue.c.record_count,
        sync_queue.c.request,
        sync_queue.c.notes,
    ).order_by(sync_queue.c.id)
    if args.schedule:
        query = query.where(sync_queue.c.schedule == args.schedule)
    if args.status:
        query = query.where(sync_queue.c.status == args.status)
    with _text_output(args), engine.connect() as conn:
        for row in conn.execute(query.limit(_limit(args))):
            if row.direction == "upload":
                what = f"upload   {(row.request or {}).get('step', '')!s:<6} {row.record_count or 0:>3} call(s)"
            else:
                what = f"download page {row.page_no:>4} {row.record_count or 0:>4} assets"
            print(f"{row.id:>8} {row.schedule:<20} {row.status:<10} {what}  {row.notes or ''}")
    return 0


def _queue_cleanup(args: argparse.Namespace, engine: Any) -> int:
    """HK-3 by hand: what the daily ``qualys_queue_cleanup`` DAG does, with the configuration's retention."""
    from qualys_cmdb.config import load_config
    from qualys_cmdb.staging.cleanup import Retention, clean_queue
    from qualys_cmdb.staging.migrate import is_current, upgrade

    if not is_current(engine):
        upgrade(engine)
    props = load_config(args.config).properties
    retention = Retention.of(props)
    print(
        f"retention: Success {retention.success_days} d, Error {retention.error_days} d, application log "
        f"{retention.app_log_days} d, upload items {retention.upload_item_days} d"
        + (" (dry run: nothing is removed)" if args.dry_run else "")
    )
    print(clean_queue(engine, retention, dry_run=args.dry_run).render())
    return 0


def _runs(args: argparse.Namespace) -> int:
    """HK-4: the log of runs whose step stopped at the max transaction lifetime or was killed by Airflow."""
    from qualys_cmdb.staging.database import get_engine
    from qualys_cmdb.staging.migrate import is_current, upgrade
    from qualys_cmdb.staging.terminated import describe_position, terminated_runs

    if _xlsx_refused(args):
        return 2
    engine = get_engine()
    if not is_current(engine):
        upgrade(engine)
    rows, total = terminated_runs(engine, schedule=args.schedule, limit=_limit(args))
    if args.format != "text":
        _write_rows(args, TERMINATED_COLUMNS, [rows], "Terminated runs")
        return 0
    with _text_output(args):
        for r in rows:
            step = r["step"] + (f"[{r['map_index']}]" if r["map_index"] >= 0 else "")
            resumed = (
                f"resumed by {r['resumed_by_run']} at {r['resumed_at']:%Y-%m-%d %H:%M:%S} UTC"
                if r["resumed_at"]
                else "not resumed yet"
            )
            print(
                f"{r['stopped_at']:%Y-%m-%d %H:%M:%S} UTC  {r['schedule']}  {r['run_id']}  {step} (try "
                f"{r['try_number']})  {r['cause']}\n    why: {r['reason']}\n    where: "
                f"{describe_position(r['position'])}\n    resumes: {r['resumes'] or '-'}; {resumed}"
            )
        print(f"{total} terminated run step(s)" + (f" (newest {len(rows)} shown)" if len(rows) < total else ""))
    return 0


#: The columns of ``qcmdb runs terminated --format csv|xlsx``.
TERMINATED_COLUMNS = (
    Column("stopped_at", "Stopped", when=True),
    Column("schedule", "Schedule"),
    Column("run_id", "Run"),
    Column("step", "Step"),
    Column("map_index", "Map index"),
    Column("try_number", "Try"),
    Column("cause", "Cause"),
    Column("reason", "Why"),
    Column("position", "Where", get=lambda r: _position(r)),
    Column("resumes", "What resumes"),
    Column("resumed_by_run", "Resumed by"),
    Column("resumed_at", "Resumed", when=True),
)


def _position(row: Mapping[str, Any]) -> str:
    from qualys_cmdb.staging.terminated import describe_position

    return describe_position(row["position"])


def _catalog(args: argparse.Namespace) -> int:
    """SRC-5: each source's last software-catalog sync (time, key, notes), or run the sync now."""
    import getpass
    import time

    from qualys_cmdb.catalog.sync import catalog_status, render_status, sync_catalog
    from qualys_cmdb.config import load_config
    from qualys_cmdb.staging.database import get_engine
    from qualys_cmdb.staging.migrate import is_current, upgrade

    config = load_config(args.config)
    engine = get_engine()
    if not is_current(engine):
        upgrade(engine)
    if args.action == "sync":
        sources = [config.source(args.source)] if args.source else []
        sources = sources or [s for s in config.sources if s.active and s.sync_software_catalog]
        if not sources:
            print("no active source has sync_software_catalog: true", file=sys.stderr)
            return 2
        for src in sources:
            run_id = f"cli__{getpass.getuser()}__{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
            result = sync_catalog(engine, config, src, run_id)
            print(f"source {src.name}: {result['notes']}")
        return 0
    print(render_status(catalog_status(engine, config)))
    return 0


def _adopt(args: argparse.Namespace) -> int:
    """Migration path: link the CIs the vendor's app created to the staged assets, so the first load updates them."""
    import getpass

    from qualys_cmdb.adopt import apply_plan, plan_adoption, vendor_cis
    from qualys_cmdb.config import load_config
    from qualys_cmdb.hooks.servicenow import ServiceNowHook
    from qualys_cmdb.staging.database import get_engine
    from qualys_cmdb.staging.migrate import is_current, upgrade

    config = load_config(args.config)
    schedule = config.schedule(args.schedule)
    engine = get_engine()
    if not is_current(engine):
        upgrade(engine)
    hook = ServiceNowHook.for_properties(config.properties)
    notes: list[str] = []
    try:
        cis = vendor_cis(hook, notes)
    finally:
        hook.close()
    plan = plan_adoption(engine, schedule.source, schedule.name, cis)
    plan.notes += notes
    if args.apply:
        apply_plan(engine, plan, f"cli:{getpass.getuser()}")
    print(plan.render(applied=args.apply))
    return 0


def _summary(args: argparse.Namespace) -> int:
    from qualys_cmdb.config import load_config
    from qualys_cmdb.staging.database import get_engine
    from qualys_cmdb.summary import intake_summary, render

    if _xlsx_refused(args):
        return 2
    config = load_config(args.config)
    try:
        reverse = config.reverse_schedule(args.schedule)
    except KeyError:
        schedule = config.schedule(args.schedule)
        summary = intake_summary(get_engine(), schedule.name, schedule.source)
        text = render(summary)
    else:
        from qualys_cmdb.export.report import export_summary, render_export

        summary = export_summary(get_engine(), reverse.name, reverse.source)
        text = render_export(summary)
    if args.format == "text":
        with _text_output(args):
            print(text)
    else:
        rows = [{"figure": k, "value": v} for k, v in _flatten(summary)]
        _write_rows(args, SUMMARY_COLUMNS, [rows], f"Summary of {args.schedule}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(summary, indent=2, default=str) + "\n")
        print(f"summary written to {args.json}", file=sys.stdout if args.format == "text" else sys.stderr)
    return 0


#: The columns of ``qcmdb summary --format csv|xlsx``: one row per figure, named by its path in ``--json``'s object.
SUMMARY_COLUMNS = (Column("figure", "Figure"), Column("value", "Value"))


def _flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """``(dotted.path, value)`` of every figure of a nested summary (list items by their index; an empty dict or list
    is one figure without a value)."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else None
    if items is None:
        yield prefix, value
        return
    empty = True
    for key, item in items:
        empty = False
        yield from _flatten(item, f"{prefix}.{key}" if prefix else str(key))
    if empty and prefix:
        yield prefix, None


def _uploads(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from qualys_cmdb.export.upload import requeue_items
    from qualys_cmdb.staging.database import get_engine
    from qualys_cmdb.staging.schema import upload_item

    engine = get_engine()
    if args.action == "requeue":
        done = requeue_items(engine, args.ids)
        missing = sorted(set(args.ids) - set(done))
        print(f"re-queued {len(done)} item(s): {done}" + (f"; not found or not in Error: {missing}" if missing else ""))
        print("The schedule's next run sends them (trigger its cmdb_to_qualys DAG in Airflow).")
        return 1 if missing else 0
    if _xlsx_refused(args):
        return 2
    if args.format != "text":
        from qualys_cmdb.ui import spreadsheet, views
        from qualys_cmdb.ui.exports import UPLOAD_EXPORT_COLUMNS

        rows = views.upload_query(schedule=args.schedule, status=args.status, kind=None, run_id=args.run)
        chunks = spreadsheet.query_chunks(engine, rows.limit(_limit(args)))
        _write_rows(args, UPLOAD_EXPORT_COLUMNS, chunks, "Upload items")
        return 0
    u = upload_item.c
    query = select(u.id, u.schedule, u.kind, u.address, u.target, u.status, u.ci_name, u.message, u.qualys_host_id)
    if args.schedule:
        query = query.where(u.schedule == args.schedule)
    if args.status:
        query = query.where(u.status == args.status)
    if args.run:
        query = query.where((u.run_id == args.run) | (u.last_run_id == args.run))
    with _text_output(args), engine.connect() as conn:
        for row in conn.execute(query.order_by(u.id.desc()).limit(_limit(args))):
            target = f" → {row.target}" if row.target else ""
            host = f" host {row.qualys_host_id}" if row.qualys_host_id else ""
            print(
                f"{row.id:>8} {row.schedule:<16} {row.kind:<5} {row.address:<16}{target} {row.status:<10}"
                f"{host} {row.ci_name or ''}: {row.message or ''}"
            )
    return 0


def _reference(args: argparse.Namespace) -> int:
    from qualys_cmdb.config import load_config
    from qualys_cmdb.export.host_ids import update_host_ids
    from qualys_cmdb.export.reference import fetch_asset_groups, fetch_tags
    from qualys_cmdb.hooks.qualys import QualysHook
    from qualys_cmdb.staging.database import get_engine
    from qualys_cmdb.staging.migrate import is_current, upgrade

    config = load_config(args.config)
    engine = get_engine()
    if not is_current(engine):
        upgrade(engine)
    hook = QualysHook.for_source(config.source(args.source), config.properties)
    try:
        if args.what == "tags":
            result = fetch_tags(engine, hook, args.source)
            print(f"{result.count} tag(s) of {args.source} stored ({result.api_calls} API call(s))")
        elif args.what == "groups":
            result = fetch_asset_groups(engine, hook, args.source)
            print(f"{result.count} asset group(s) of {args.source} stored ({result.api_calls} API call(s))")
        else:
            found = update_host_ids(engine, hook, args.source)
            print(
                f"{found.found} of {found.checked} pushed address(es) now have a Qualys host id; "
                f"{found.not_scanned} not scanned yet ({found.qualys_calls} API call(s))"
            )
    finally:
        hook.close()
    return 0


def _assets(args: argparse.Namespace) -> int:
    """List a schedule's assets by state, or send failed ones again (SY-6) with the next run."""
    import getpass

    from sqlalchemy import text

    from qualys_cmdb.approval.decisions import Selection, retry_failed
    from qualys_cmdb.staging.database import get_engine
    from qualys_cmdb.staging.schema import SCHEMA

    engine = get_engine()
    if args.action == "retry-failed":
        if not args.ids and not args.all:
            print("name the asset ids to retry, or --all for every failed asset of the schedule", file=sys.stderr)
            return 2
        selection = Selection(args.schedule, asset_ids=tuple(args.ids) if args.ids else None)
        done = retry_failed(engine, selection, f"{getpass.getuser()} (qcmdb)")
        if done:  # the Overview's counts changed
            from qualys_cmdb.ui.report_figures import refresh_after_decisions

            refresh_after_decisions(engine, None, by=f"{getpass.getuser()} (qcmdb)")
        print(
            f"{done} failed asset(s) of schedule {args.schedule} will be tried again by its next run "
            "(classification failures are classified again; CMDB failures are sent again)"
        )
        return 0 if done or args.all else 1
    if _xlsx_refused(args):
        return 2
    filters = ["c.schedule = :schedule"]
    limit = _limit(args)
    params: dict[str, object] = {"schedule": args.schedule, "limit": limit}
    if args.state:
        filters.append("c.state = :state")
        params["state"] = args.state
    if args.code:
        filters.append("c.failure_code = :code")
        params["code"] = args.code
    sql = f"""
        SELECT c.source, c.asset_id, coalesce(a.name, a.dns_name, a.ip_address) AS name, c.state, c.target_class,
               c.failure_code, c.cmdb_sys_id, c.reason
        FROM "{SCHEMA}".asset_classification c
        LEFT JOIN "{SCHEMA}".staged_asset a ON a.source = c.source AND a.asset_id = c.asset_id
        WHERE {" AND ".join(filters)} ORDER BY c.source, c.asset_id LIMIT :limit
    """  # noqa: S608 - fixed clauses; every value is a bound parameter
    if args.format != "text":
        from qualys_cmdb.ui import spreadsheet

        chunks = spreadsheet.query_chunks(engine, text(sql), params)
        _write_rows(args, ASSET_LIST_COLUMNS, chunks, f"Assets of {args.schedule}")
        return 0
    with engine.connect() as conn:
        rows = conn.execute(text(sql), params).mappings().all()
    with _text_output(args):
        for row in rows:
            reason = (row["reason"] or "").replace("\n", " ")
            print(
                f"{row['source']}/{row['asset_id']}  {row['state']:<8} {row['target_class'] or '-':<28} "
                f"{row['failure_code'] or '':<18} {row['name'] or ''}" + (f"\n    {reason[:300]}" if reason else "")
            )
        print(f"{len(rows)} asset(s)" + (f" (first {limit})" if len(rows) == limit else ""))
    return 0


#: The columns of ``qcmdb assets list --format csv|xlsx``: what the text shows, the reason whole.
ASSET_LIST_COLUMNS = (
    Column("source", "Source"),
    Column("asset_id", "Asset id"),
    Column("name", "Name"),
    Column("state", "State"),
    Column("target_class", "Target class"),
    Column("failure_code", "Failure code"),
    Column("cmdb_sys_id", "CMDB sys_id"),
    Column("reason", "Reason"),
)


def _stale(args: argparse.Namespace) -> int:
    """BY-7: list a schedule's stale CIs with what retiring would do and why (a dry run), or retire them."""
    import getpass

    from qualys_cmdb.config import load_config
    from qualys_cmdb.hooks.servicenow import ServiceNowHook
    from qualys_cmdb.load.stale import RetirementRules, render, retire_stale_cis, review_stale_cis
    from qualys_cmdb.staging import store
    from qualys_cmdb.staging.database import get_engine

    if _xlsx_refused(args):
        return 2
    config = load_config(args.config)
    schedule = config.schedule(args.schedule)
    if args.days is not None and args.days < 1:
        print("--days must be at least 1", file=sys.stderr)
        return 2
    days = args.days or schedule.stale_after_days
    if days is None:
        print(
            f"schedule {schedule.name} does not look for stale assets: set stale_after_days in its configuration, "
            "or give --days",
            file=sys.stderr,
        )
        return 2
    engine = get_engine()
    hook = ServiceNowHook.for_properties(config.properties)
    try:
        rules = RetirementRules.of(schedule.stale_ci_status, hook)
        if args.action == "list" or args.dry_run:
            result = review_stale_cis(engine, hook, schedule.name, days, rules)
        else:
            app_log = store.AppLog(engine, schedule.source, schedule.name, f"qcmdb stale retire ({getpass.getuser()})")
            result = retire_stale_cis(engine, hook, schedule.name, days, rules, app_log)
    finally:
        hook.close()
    if args.format != "text":
        rows = [{"ci": ci, "asset": ci.asset} for ci in result.cis]
        _write_rows(args, STALE_COLUMNS, [rows], f"Stale CIs of {schedule.name}")
        return 0
    with _text_output(args):
        print(render(result))
    return 0


#: The columns of ``qcmdb stale list|retire --format csv|xlsx``: one row per CI, as the text lists them.
STALE_COLUMNS = (
    Column("source", "Source", get=lambda r: r["asset"].source),
    Column("asset_id", "Asset id", get=lambda r: r["asset"].asset_id),
    Column("name", "Name", get=lambda r: r["asset"].name),
    Column("cmdb_class", "CI class", get=lambda r: r["asset"].cmdb_class),
    Column("sys_id", "sys_id", get=lambda r: r["asset"].sys_id),
    Column("last_modified", "Last modified in Qualys", get=lambda r: r["asset"].last_modified, when=True),
    Column("last_load", "Last loaded", get=lambda r: r["asset"].last_load, when=True),
    Column("retired_at", "Retired", get=lambda r: r["asset"].retired_at, when=True),
    Column("verdict", "Verdict", get=lambda r: r["ci"].verdict),
    Column("done", "Done", get=lambda r: r["ci"].done),
    Column("reason", "Reason", get=lambda r: r["ci"].reason),
)


def _sim(args: argparse.Namespace, rest: list[str]) -> int:
    # The simulators are a separate, optional package (demo and tests); product code never imports them.
    module = importlib.import_module(f"simulators.{args.service}.server")
    module.main(rest)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="qcmdb", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("config", help="check the configuration file")
    p.add_argument("action", choices=["validate"])
    p.add_argument(
        "file",
        nargs="?",
        help="default: $QUALYS_CMDB_CONFIG, else ./include/config/qualys_cmdb.yaml, else the packaged default",
    )
    p.add_argument(
        "--online",
        action="store_true",
        help="also check CMDB → Qualys schedules against the CMDB (ip_address) and Qualys (tag / asset group)",
    )
    p.set_defaults(func=_config_validate)

    p = sub.add_parser("mappings", help="check the mapping files (CI-class rules, hardware table, field maps)")
    p.add_argument("action", choices=["validate"])
    p.add_argument(
        "folder", nargs="?", help="default: $QUALYS_CMDB_MAPPINGS, else ./include/mappings, else the packaged defaults"
    )
    p.set_defaults(func=_mappings_validate)

    p = sub.add_parser("db", help="staging database schema (Alembic)")
    p.add_argument("action", choices=["upgrade", "status"])
    p.set_defaults(func=_db)

    p = sub.add_parser("embedded", help="the embedded PostgreSQL under $QUALYS_CMDB_HOME")
    p.add_argument("action", choices=["start", "stop", "url"])
    p.add_argument("--database", default="qualys_cmdb")
    p.set_defaults(func=_embedded)

    p = sub.add_parser("test-connection", help="check a source's credentials, subscription and modules")
    p.add_argument("source")
    p.add_argument("--config")
    p.set_defaults(func=_test_connection)

    p = sub.add_parser("queue", help="list, re-queue or clean up sync-queue records (Download pages, Upload batches)")
    p.add_argument("action", choices=["list", "requeue", "cleanup"])
    p.add_argument("ids", nargs="*", type=int)
    p.add_argument("--schedule")
    p.add_argument("--status", choices=["Queued", "Processing", "Success", "Error"])
    _add_output(p)
    p.add_argument("--refetch", action="store_true", help="download the page again before re-queueing it")
    p.add_argument("--dry-run", action="store_true", help="cleanup: count what is past its retention, remove nothing")
    p.add_argument("--config")
    p.set_defaults(func=_queue)

    p = sub.add_parser("runs", help="runs stopped by the max transaction lifetime or killed by Airflow")
    p.add_argument("action", choices=["terminated"])
    p.add_argument("--schedule", help="one schedule's (or housekeeping DAG's) entries")
    _add_output(p)
    p.set_defaults(func=_runs)

    p = sub.add_parser("uploads", help="list or re-queue the CMDB → Qualys upload items")
    p.add_argument("action", choices=["list", "requeue"])
    p.add_argument("ids", nargs="*", type=int)
    p.add_argument("--schedule")
    p.add_argument("--run", help="items queued or processed by this DAG run id")
    p.add_argument("--status", choices=["Queued", "Processing", "Success", "Skipped", "Error"])
    _add_output(p)
    p.set_defaults(func=_uploads)

    p = sub.add_parser("assets", help="list a schedule's assets by state, or retry failed ones after a fix")
    p.add_argument("action", choices=["list", "retry-failed"])
    p.add_argument("ids", nargs="*", type=int, help="asset ids (retry-failed)")
    p.add_argument("--schedule", required=True)
    p.add_argument("--state", choices=["pending", "approved", "rejected", "failed", "loaded"])
    p.add_argument("--code", help="failure code, e.g. SHARED_CI, NO_CLASS, TRANSFORM_ERROR or an IRE error code")
    p.add_argument("--all", action="store_true", help="retry-failed: every failed asset of the schedule")
    _add_output(p)
    p.set_defaults(func=_assets)

    p = sub.add_parser("stale", help="CIs of assets Qualys no longer reports: list them (dry run) or retire them")
    p.add_argument("action", choices=["list", "retire"])
    p.add_argument("--schedule", required=True)
    p.add_argument("--days", type=int, help="stale after this many days (default: the schedule's stale_after_days)")
    p.add_argument("--dry-run", action="store_true", help="retire: only say what would be done (as list does)")
    p.add_argument("--config")
    _add_output(p, limit=False)
    p.set_defaults(func=_stale)

    p = sub.add_parser("qualys", help="Qualys reference data: fetch tags or asset groups, update host ids")
    p.add_argument("what", choices=["tags", "groups", "host-ids"])
    p.add_argument("--source", required=True)
    p.add_argument("--config")
    p.set_defaults(func=_reference)

    p = sub.add_parser("catalog", help="software catalog: each source's last sync (status) or sync it now (sync)")
    p.add_argument("action", choices=["status", "sync"])
    p.add_argument("--source", help="sync: the source (default: every active source with sync_software_catalog)")
    p.add_argument("--config")
    p.set_defaults(func=_catalog)

    p = sub.add_parser("adopt", help="link the vendor app's CIs to the staged assets they are (dry run unless --apply)")
    p.add_argument("--schedule", required=True, help="a Qualys → CMDB schedule (its source's staged assets)")
    p.add_argument("--apply", action="store_true", help="record the links (default: only list them)")
    p.add_argument("--config")
    p.set_defaults(func=_adopt)

    p = sub.add_parser("summary", help="what the schedule's last run did and what is staged")
    p.add_argument("--schedule", required=True)
    p.add_argument("--json", help="also write the summary as JSON to this file")
    p.add_argument("--config")
    _add_output(p, limit=False)
    p.set_defaults(func=_summary)

    p = sub.add_parser("bench", help="measure the pipeline on simulated estates (make bench)", add_help=False)

    p = sub.add_parser("sim", help="run a simulator (demo and tests)", add_help=False)
    p.add_argument("service", choices=["qualys", "servicenow"])

    args, rest = parser.parse_known_args(argv)
    if args.command == "sim":
        return _sim(args, rest)
    if args.command == "bench":
        from qualys_cmdb.benchmark import main as bench

        return bench(rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
