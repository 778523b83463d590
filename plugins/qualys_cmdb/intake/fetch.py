"""*fetch*: page through Qualys for a schedule's windows and store every raw page in the sync queue.

Which assets a run fetches (QS-2):

* a manual run with a ``since`` param, or a backfill run, fetches its own window (``since`` or the data interval
  start, up to the data interval end or now) and leaves the schedule's watermark alone;
* any other run first finishes a window an earlier run left unfinished (from its stored cursor), then fetches
  everything modified after the watermark (the end of the last complete window), or after "Download Assets
  Since" on the first run, up to the data interval end (or now).

Requests go one at a time, in order; the next page is asked for while the current one is compressed and stored.
So at most two pages are held (each spooled to disk when large). After each page the cursor is saved, so a run
stopped by the max transaction lifetime (PR-3), a rate-limit block or a crash resumes where it stopped.

Page groups: with the schedule's ``pages_per_run``, a run stops asking for pages of its mainline windows once it has
stored that many, and *hands over*: the cursor stays the schedule's resume point, exactly as after a lifetime stop,
and the DAG starts a new run at once (``continue_sync``), which fetches the next group while this one goes on to
parse, stage, classify and load what it has. A ``since`` or backfill window is never cut: it is not the schedule's
resume point.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from qualys_cmdb.config import Properties, QualysCmdbConfig, Schedule, Source
from qualys_cmdb.hooks.qualys import Page, QualysHook
from qualys_cmdb.hooks.qualys_protocol import QualysError, QualysRateLimited
from qualys_cmdb.qql import to_csam_filters
from qualys_cmdb.staging import store
from qualys_cmdb.staging.locks import Step, schedule_held

log = logging.getLogger(__name__)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class RunInfo:
    """What the fetch needs to know about the Airflow run."""

    run_id: str
    run_type: str = "manual"
    data_interval_start: datetime | None = None
    data_interval_end: datetime | None = None
    since: datetime | None = None  # the manual ``since`` param


@dataclass
class Window:
    """Assets modified in ``(since, until]``, fetched from ``cursor`` on."""

    since: datetime
    until: datetime
    cursor: int = 0
    mainline: bool = True  # part of the watermark chain (not a backfill / ad-hoc window)
    done: bool = False
    pages: int = 0

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["since"], out["until"] = self.since.isoformat(), self.until.isoformat()
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Window:
        values = {k: v for k, v in data.items() if k != "run_id"}
        values["since"] = datetime.fromisoformat(values["since"])
        values["until"] = datetime.fromisoformat(values["until"])
        return cls(**values)


@dataclass
class FetchResult:
    """What one fetch did."""

    pages: int = 0
    assets: int = 0
    api_calls: int = 0
    bytes: int = 0
    errors: int = 0
    refetched: int = 0  # pages downloaded again after they failed to parse
    stopped_reason: str | None = None
    stopped_by_lifetime: bool = False  # the max transaction lifetime stopped it (HK-4 logs it as terminated)
    handed_over: bool = False  # it stored the schedule's ``pages_per_run``: a new run fetches the next page group
    queue_ids: list[int] = field(default_factory=list)


def plan_windows(
    schedule: Schedule, state: dict[str, Any] | None, run: RunInfo, now: datetime, earlier: list[Window] | None
) -> list[Window]:
    """The windows this run fetches (see the module docstring)."""
    if earlier and not all(w.done for w in earlier):
        return earlier  # the same run again (task retry or clear): carry on
    until = min(run.data_interval_end or now, now)
    if run.since is not None or run.run_type == "backfill":
        since = run.since or run.data_interval_start or schedule.download_assets_since or EPOCH
        return [Window(since, until, mainline=False)]
    windows: list[Window] = []
    start = schedule.download_assets_since or EPOCH
    if state:
        resume = state.get("resume")
        if resume:
            windows.append(Window.from_json(resume))
            start = windows[-1].until
        elif state.get("watermark"):
            start = state["watermark"]
    if until > start:
        windows.append(Window(start, until))
    return windows


def fetch_assets(
    engine: Engine,
    hook: QualysHook,
    *,
    schedule: Schedule,
    source: Source,
    properties: Properties,
    run: RunInfo,
    app_log: store.AppLog,
    clock: Callable[[], float] = time.monotonic,
) -> FetchResult:
    """Fetch the run's windows into the sync queue; returns the counts. Raises on errors a re-run cannot fix.

    Holds the schedule's fetch lock: a second run of the schedule waits, then plans its windows from the watermark
    and resume point the first one left.
    """

    def waiting() -> None:
        app_log.info("fetch", f"another run of schedule {schedule.name} is fetching; waiting for it to finish")

    with schedule_held(engine, Step.FETCH, schedule.name, on_wait=waiting):
        store.start_run(engine, schedule.name, source.name, run.run_id)
        previous = store.get_run(engine, schedule.name, run.run_id)
        earlier = [Window.from_json(w) for w in (previous or {}).get("windows") or []]
        windows = plan_windows(schedule, store.get_state(engine, schedule.name), run, datetime.now(UTC), earlier)
        return _Fetch(engine, hook, schedule, source, properties, run, app_log, clock, windows).run()


def fetch_stop(engine: Engine, schedule: str, run_id: str) -> tuple[dict[str, Any], str]:
    """Where a fetch stopped by the lifetime left off (the first unfinished window of the run and its cursor), and
    what carries on from there (HK-4)."""
    windows = [Window.from_json(w) for w in ((store.get_run(engine, schedule, run_id) or {}).get("windows") or [])]
    window = next((w for w in windows if not w.done), None)
    if window is None:
        return {}, "nothing: every window of the run was fetched"
    position = {
        "window": f"{window.since.isoformat()} - {window.until.isoformat()}",
        "cursor": window.cursor,
        "pages": window.pages,
    }
    if window.mainline:
        return position, f"the next run fetches this window from after asset id {window.cursor} (the resume point)"
    return position, (
        f"clearing this run's fetch task fetches the rest of its window from after asset id {window.cursor} "
        "(a backfill or 'since' window is not the schedule's resume point)"
    )


@dataclass
class _Fetch:
    """One fetch step: pages through its windows, storing each page and the cursor after it."""

    engine: Engine
    hook: QualysHook
    schedule: Schedule
    source: Source
    properties: Properties
    run_info: RunInfo
    app_log: store.AppLog
    clock: Callable[[], float]
    windows: list[Window]
    result: FetchResult = field(default_factory=FetchResult)

    def run(self) -> FetchResult:
        started = self.clock()
        deadline = started + self.properties.max_transaction_lifetime_minutes * 60
        log = self.app_log
        log.info(
            "fetch",
            f"fetch started: {len(self.windows)} window(s) from {self.source.name} ({self.source.api})",
            windows=[w.to_json() for w in self.windows],
        )
        try:
            self._refetch_failed_pages()
            for window in self.windows:
                if window.done:
                    continue
                if window.cursor:
                    log.info(
                        "fetch",
                        f"resuming window {window.since.isoformat()} - {window.until.isoformat()} "
                        f"after asset id {window.cursor}",
                    )
                self.result.stopped_reason = self._window(window, deadline)
                if self.result.stopped_reason or self.result.handed_over:
                    break
        except QualysRateLimited as exc:
            self.result.stopped_reason = f"rate limited: {exc}"
            log.warning("fetch", f"stopped: {exc}")
        except QualysError as exc:
            log.error("fetch", f"fetch failed: {exc}")
            self._finish("failed", str(exc))
            raise
        self._finish("stopped" if self.result.stopped_reason else "fetched", self.result.stopped_reason)
        r = self.result
        log.info(
            "fetch",
            f"fetch {'stopped' if r.stopped_reason else 'finished'}: {r.pages} page(s), {r.assets} asset(s), "
            f"{r.api_calls} API call(s) in {self.clock() - started:.1f} s"
            + ("; handed over: the next run fetches the next page group" if r.handed_over else ""),
            stopped_reason=r.stopped_reason,
            handed_over=r.handed_over,
        )
        return r

    def _window(self, window: Window, deadline: float) -> str | None:
        """Fetch one window to its end; returns why it stopped early, or None when the window is complete.

        Requests stay one at a time and in order, but the next page is asked for as soon as this one's cursor is
        known, before this one is compressed and stored: Qualys prepares the next page meanwhile. A page is
        stored, with the cursor after it, before the next one is looked at, so a stop or a crash loses nothing
        (a page fetched ahead and not stored is fetched again by the next run).
        """
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="qualys-page") as ahead:
            pending: Future[Page] | None = None
            try:
                while not window.done:
                    if pending is None:
                        stop = self._lifetime_stop(window, deadline)
                        if stop:
                            return stop
                        if self._group_full(window):
                            self._hand_over(window)
                            return None
                        pending = ahead.submit(self._request, replace(window))
                    page, pending = pending.result(), None
                    try:
                        following = _next_cursor(page, window.cursor)
                        if (
                            following is not None
                            and not self._lifetime_stop(window, deadline, warn=False)
                            and not self._group_full(window, storing=1)  # never ask for a page past the group
                        ):
                            pending = ahead.submit(self._request, replace(window, cursor=following))
                        stopped = self._store(window, page)
                    finally:
                        page.close()
                    if stopped:
                        return stopped
                return None
            finally:
                if pending is not None:  # fetched ahead of a stop or an error: not stored, fetched again later
                    with contextlib.suppress(Exception):
                        pending.result().close()

    def _refetch_failed_pages(self) -> None:
        """Download again the schedule's pages that arrived but failed to parse (truncated, malformed).

        The watermark moved past such a page when it was stored, so no later window asks for it again: without
        this, its assets would stay unstaged until someone re-queued it with ``--refetch``. Each page is tried up
        to :data:`MAX_AUTO_REFETCHES` times; after that it stays Error for a person to look at.
        """
        for queue_id in failed_pages(self.engine, self.schedule.name):
            note = refetch_page(
                self.engine,
                self.hook,
                self.schedule,
                self.source,
                self.properties,
                queue_id,
                who=f"run {self.run_info.run_id} (automatic, after a parse error)",
                automatic=True,
            )
            self.result.refetched += 1
            self.result.queue_ids.append(queue_id)
            self.app_log.warning("fetch", f"page that failed to parse downloaded again: {note}", queue_id=queue_id)

    def _request(self, window: Window) -> Page:
        """The window's page after its cursor (in the worker thread: one request at a time uses the hook)."""
        return request_page(self.hook, self.schedule, self.source, self.properties, window)

    def _group_full(self, window: Window, storing: int = 0) -> bool:
        """Whether this run has stored its page group (``pages_per_run``; ``storing``: pages about to be stored)."""
        group = self.schedule.pages_per_run
        return bool(group and window.mainline and self.result.pages + storing >= group)

    def _hand_over(self, window: Window) -> None:
        """Stop at the end of the run's page group: the window's cursor is the schedule's resume point already."""
        self.result.handed_over = True
        self.app_log.info(
            "fetch",
            f"page group of {self.schedule.pages_per_run} page(s) stored; the next run of {self.schedule.name} "
            f"fetches on from after asset id {window.cursor} while this one loads what it has",
            cursor=window.cursor,
        )

    def _lifetime_stop(self, window: Window, deadline: float, warn: bool = True) -> str | None:
        """Why no further page may be asked for (the max transaction lifetime is reached), or None."""
        if self.clock() < deadline:
            return None
        reason = (
            f"max transaction lifetime of {self.properties.max_transaction_lifetime_minutes} min reached "
            f"after {self.result.pages} page(s); the next run resumes after asset id {window.cursor}"
        )
        if warn:
            self.result.stopped_by_lifetime = True
            self.app_log.warning("fetch", f"lifetime exceeded: {reason}", cursor=window.cursor)
        return reason

    def _store(self, window: Window, page: Page) -> str | None:
        """Queue one page and move the cursor on, in one transaction; an unreadable page stops the run."""
        envelope = page.envelope
        self.result.bytes += page.raw_bytes
        readable = envelope.response_code is not None
        for problem in page.retried:  # the task log has them from the hook; the application log too
            self.app_log.warning("fetch", problem, cursor=window.cursor)
        self.app_log.debug(
            "fetch",
            f"page {window.pages + 1}: HTTP {page.status}, {envelope.count} assets, hasMore={envelope.has_more}, "
            f"next cursor {envelope.next_cursor}",
        )
        with self.engine.begin() as conn:
            if readable and envelope.count == 0 and not envelope.has_more:
                window.done = True  # an empty window (HTTP 204, or zero matches): nothing to keep
                self._save_progress(conn, window)
                return None
            queue_id = store.enqueue_download(
                conn,
                source=self.source.name,
                schedule=self.schedule.name,
                run_id=self.run_info.run_id,
                api=self.source.api,
                fmt=page.format,
                page_no=window.pages + 1,
                request={**page.request, "since": window.since.isoformat(), "until": window.until.isoformat()},
                cursor=str(window.cursor),
                next_cursor=envelope.next_cursor,
                has_more=envelope.has_more,
                record_count=envelope.count,
                payload=page.payload,
                payload_bytes=page.raw_bytes,
                status="Queued" if readable else "Error",
                notes=None if readable else unreadable_note(page),
            )
            self.result.queue_ids.append(queue_id)
            self.result.pages += 1
            window.pages += 1
            if readable:
                self.result.assets += envelope.count
                _supersede_unreadable(conn, self.schedule.name, str(window.cursor), queue_id)
                if envelope.has_more:
                    window.cursor = int(envelope.next_cursor or window.cursor)
                else:
                    window.done = True
            else:
                self.result.errors += 1
            self._save_progress(conn, window)
        if not readable:
            what = "empty response (HTTP 200 without a body)" if not page.raw_bytes else "unreadable page"
            self.app_log.error("fetch", f"{what} stored as Error (queue record {queue_id})", queue_id=queue_id)
            return f"{what} from Qualys (queue record {queue_id})"
        return None

    def _save_progress(self, conn: Any, window: Window) -> None:
        """Persist the cursor after every page: the run's windows, and the schedule's resume point / watermark."""
        r = self.result
        store.update_run(
            conn,
            self.schedule.name,
            self.run_info.run_id,
            windows=[w.to_json() for w in self.windows],
            pages=r.pages,
            assets_fetched=r.assets,
            api_calls=self.hook.api_calls,
            bytes=r.bytes,
        )
        if not window.mainline:
            return
        name, source, last = self.schedule.name, self.source.name, str(window.cursor)
        if window.done:
            store.save_state(conn, name, source, watermark=window.until, resume=None, last_fetched_id=last)
        else:
            resume = {**window.to_json(), "run_id": self.run_info.run_id}
            store.save_state(conn, name, source, resume=resume, last_fetched_id=last)

    def _finish(self, status: str, reason: str | None) -> None:
        self.result.api_calls = self.hook.api_calls
        with self.engine.begin() as conn:
            store.update_run(
                conn,
                self.schedule.name,
                self.run_info.run_id,
                status=status,
                stopped_reason=reason,
                fetch_finished_at=datetime.now(UTC),
                windows=[w.to_json() for w in self.windows],
                api_calls=self.hook.api_calls,
                add_errors=self.result.errors,
            )


def _next_cursor(page: Page, cursor: int) -> int | None:
    """The cursor of the page after ``page`` (fetched at ``cursor``), or None when the window ends with it."""
    envelope = page.envelope
    if envelope.response_code is None or not envelope.has_more:
        return None
    return int(envelope.next_cursor or cursor)


UNREADABLE_NOTE = (
    "the response's envelope (responseCode, paging fields) cannot be read: the page is truncated or not in the "
    "expected format. Kept as received; the run stops here and the next run fetches this page again."
)


def _supersede_unreadable(conn: Any, schedule: str, cursor: str, queue_id: int) -> None:
    """A page that was unreadable when it arrived never moved the cursor: the page now read at the same cursor is
    that page downloaded again. Its Error record says so and leaves the Error list (nothing of it is lost)."""
    from sqlalchemy import update

    from qualys_cmdb.staging.schema import sync_queue

    conn.execute(
        update(sync_queue)
        .where(
            sync_queue.c.direction == "download",
            sync_queue.c.schedule == schedule,
            sync_queue.c.status == "Error",
            sync_queue.c.attempts == 0,
            sync_queue.c.cursor == cursor,
            sync_queue.c.id < queue_id,
        )
        .values(
            status="Success",
            notes=sync_queue.c.notes + f" Downloaded again as queue record {queue_id}; nothing of it is lost.",
        )
    )


def unreadable_note(page: Page) -> str:
    """The queue note of a page whose envelope cannot be read; an empty body says so (it leaves nothing to show)."""
    if not page.raw_bytes:
        return f"Qualys answered HTTP {page.status} with an empty body. " + UNREADABLE_NOTE
    return UNREADABLE_NOTE


def request_page(hook: QualysHook, schedule: Schedule, source: Source, properties: Properties, window: Window) -> Page:
    """Ask Qualys for the window's next page, with the schedule's filters and detail flags."""
    if source.api == "csam":
        return hook.csam_page(
            cursor=window.cursor,
            page_size=properties.download_batch_size,
            since=window.since,
            until=window.until,
            qql=to_csam_filters(schedule.qql),
            tag=schedule.tag_filter,
            details=schedule.details.model_dump(),
        )
    return hook.hostasset_page(
        cursor=window.cursor,
        page_size=properties.download_batch_size,
        since=window.since,
        until=window.until,
        tag=schedule.tag_filter,
    )


#: How often a page that failed to parse is downloaded again by the following runs before it is left to a person.
MAX_AUTO_REFETCHES = 3


def failed_pages(engine: Engine, schedule: str) -> list[int]:
    """The schedule's downloaded pages that failed to parse and may be downloaded again automatically.

    Parse errors only (``attempts`` >= 1): a page whose envelope was unreadable when it arrived never moved the
    cursor, so the next window fetches it anyway.
    """
    from sqlalchemy import select

    from qualys_cmdb.staging.schema import sync_queue

    with engine.connect() as conn:
        rows = conn.execute(
            select(sync_queue.c.id)
            .where(
                sync_queue.c.direction == "download",
                sync_queue.c.schedule == schedule,
                sync_queue.c.status == "Error",
                sync_queue.c.attempts >= 1,
                sync_queue.c.refetches < MAX_AUTO_REFETCHES,
            )
            .order_by(sync_queue.c.id)
        )
        return [int(r[0]) for r in rows]


def refetch_page(
    engine: Engine,
    hook: QualysHook,
    schedule: Schedule,
    source: Source,
    properties: Properties,
    queue_id: int,
    *,
    who: str,
    automatic: bool = False,
) -> str:
    """Download a queue record's page again (same window, cursor and page size; current filters), replace its
    stored response and queue it to be parsed again; an unreadable answer leaves it Error. Returns a note."""
    from sqlalchemy import select

    from qualys_cmdb.staging.schema import sync_queue

    with engine.connect() as conn:
        row = conn.execute(select(sync_queue).where(sync_queue.c.id == queue_id)).mappings().first()
    if row is None:
        return f"queue record {queue_id}: not found"
    request = row["request"]
    window = Window(
        datetime.fromisoformat(request["since"]),
        datetime.fromisoformat(request["until"]),
        cursor=int(row["cursor"] or 0),
    )
    # The page size it was asked with: a smaller one would leave the rest of the original page to no one.
    sized = properties.model_copy(
        update={"download_batch_size": int(request.get("page_size") or properties.download_batch_size)}
    )
    page = request_page(hook, schedule, source, sized, window)
    try:
        readable = page.envelope.response_code is not None
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        attempt = f" (automatic download {int(row['refetches']) + 1} of {MAX_AUTO_REFETCHES})" if automatic else ""
        note = (
            f"downloaded again by {who} at {stamp}{attempt}: {page.envelope.count} assets, {page.raw_bytes} bytes"
            if readable
            else f"downloaded again by {who} at {stamp}{attempt}, and the answer was unreadable again"
        )
        with engine.begin() as conn:
            store.mark(
                conn,
                [queue_id],
                "Queued" if readable else "Error",
                note,
                payload=page.payload.read(),
                payload_bytes=page.raw_bytes,
                record_count=page.envelope.count,
                next_cursor=page.envelope.next_cursor,
                has_more=page.envelope.has_more,
                format=page.format,
                parsed_at=None,
                parsed_assets=None,
                processor_id=None,
                refetches=sync_queue.c.refetches + (1 if automatic else 0),
            )
    finally:
        page.close()
    return f"queue record {queue_id}: {note}"


def refetch_record(engine: Engine, config: QualysCmdbConfig, queue_id: int, who: str = "a user") -> str:
    """Download a queue record's page again by hand (``qcmdb queue requeue ID --refetch``, the Sync queue page's
    Refetch); ``who`` did it (the note says so).

    For a page that arrived truncated or malformed, once the cause is fixed.
    """
    from sqlalchemy import select

    from qualys_cmdb.staging.schema import sync_queue

    with engine.connect() as conn:
        name = conn.execute(select(sync_queue.c.schedule).where(sync_queue.c.id == queue_id)).scalar()
    if name is None:
        return f"queue record {queue_id}: not found"
    schedule = config.schedule(name)
    source = config.source(schedule.source)
    hook = QualysHook.for_source(source, config.properties)
    try:
        return refetch_page(engine, hook, schedule, source, config.properties, queue_id, who=who)
    finally:
        hook.close()
