"""*load* through IRE (PR-5, CM-6, SY-6, BY-1, BY-2): approved, changed assets in batches; every item checked.

An asset is marked *loaded* only when the CMDB confirmed its CI and every item that belongs to it; otherwise it is
*failed* with the CMDB's message and can be retried after a fix. Outcomes are stored batch by batch, so a crash or
a 429 storm loses nothing: the next run sends what is still approved. Assets whose payload equals what the CMDB last
confirmed are never sent (BY-1).
"""

from __future__ import annotations

import logging
import queue
import re
import threading
from collections import defaultdict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, Engine, bindparam, text

from qualys_cmdb.classify.identifiers import shared_identifiers
from qualys_cmdb.classify.mappings import Mappings
from qualys_cmdb.config import IRE_CONCURRENCY_MAX
from qualys_cmdb.hooks.servicenow import IreOutcome, ServiceNowHook
from qualys_cmdb.lifetime import Lifetime
from qualys_cmdb.load.payload import Payload, SkippedRows, build_payload
from qualys_cmdb.staging.locks import Step, schedule_held
from qualys_cmdb.staging.schema import SCHEMA

MAX_IRE_BATCH = 500  # ServiceNow's guideline per identifyreconcile call (reference §2.7)
MAX_IRE_CONCURRENCY = IRE_CONCURRENCY_MAX  # the most batches in flight at once (properties.ire_concurrency)
REASON_CHARS = 200  # a failed asset's reason: one readable line; the whole answer goes to failure_detail
DETAIL_CHARS = 200_000  # the whole answer, kept within reason (a CMDB error page is not a novel)
_PAYLOAD_EXCERPT = re.compile(r"\s*'?[\[{][\[{\s]*\"")  # where a message starts quoting the payload item (JSON)

log = logging.getLogger(__name__)


@dataclass
class LoadResult:
    """What one load did."""

    sent: int = 0
    loaded: int = 0
    failed: int = 0
    calls: int = 0
    operations: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    shared_ci: int = 0  # assets held because another Qualys asset holds the CI the CMDB matched them to
    by_siblings: int = 0  # recorded without a call: another schedule of the source wrote the same values
    refused: list[tuple[str, str]] = field(default_factory=list)  # ("source/asset id", reason), for the task log
    switches: list[tuple[str, str]] = field(default_factory=list)  # ("source/asset id", "class sys_id") switched
    skipped: SkippedRows = field(default_factory=SkippedRows)  # detail rows not sent (nameless, duplicate software …)
    batches: int = 0  # batches sent
    peak_in_flight: int = 0  # the most IRE requests in flight at once
    stopped_reason: str | None = None  # the max transaction lifetime stopped it with approved assets left

    def add(self, recorded: Recorded) -> None:
        """Count what :func:`record_outcomes` stored for a batch."""
        self.loaded += recorded.loaded
        self.failed += len(recorded.failed)
        self.shared_ci += recorded.shared_ci
        self.refused += [(f"{r['source']}/{r['asset_id']}", str(r["reason"])) for r in recorded.failed]
        if recorded.shared_ci:
            self.errors["SHARED_CI"] = self.errors.get("SHARED_CI", 0) + recorded.shared_ci


@dataclass
class Recorded:
    """What :func:`record_outcomes` stored: assets loaded, assets failed (with their reason), and how many of
    those were held because another Qualys asset holds their CI (their keepers go back to be sent again)."""

    loaded: int = 0
    failed: list[dict[str, object]] = field(default_factory=list)
    shared_ci: int = 0
    restored: list[tuple[str, str, int]] = field(default_factory=list)  # (schedule, source, asset id) to send again


def one_line(text: str, limit: int = REASON_CHARS) -> str:
    """``text`` as one readable line of at most ``limit`` characters: white space runs (line breaks too) become one
    space, a quoted payload item (IRE repeats the JSON it refused) is left out, and a longer text ends in "…"."""
    line = " ".join(str(text).split())
    excerpt = _PAYLOAD_EXCERPT.search(line)
    if excerpt and excerpt.start() > 0:
        line = line[: excerpt.start()].rstrip(" :,'") + " …"
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def short_reason(code: str, class_name: str, message: str, more: int = 0) -> str:
    """The reason shown for a refused asset: error code, class and message on one line (:func:`one_line`), and how
    many more errors its whole answer (``failure_detail``) holds."""
    suffix = f" (+{more} more)" if more > 0 else ""
    return one_line(f"{code} {class_name}: {message}", REASON_CHARS - len(suffix)) + suffix


def waiting(
    engine: Engine, schedule: str, state: str, limit: int, classified_by: datetime | None = None
) -> list[tuple[str, int]]:
    """The first ``limit`` assets of ``schedule`` in ``state`` that differ from what the CMDB last confirmed; with
    ``classified_by``, only those classified by then."""
    sql = f"""
        SELECT source, asset_id FROM "{SCHEMA}".asset_classification
        WHERE schedule = :schedule AND state = :state AND payload_hash IS DISTINCT FROM loaded_hash
          AND (CAST(:by AS timestamptz) IS NULL OR classified_at <= CAST(:by AS timestamptz))
        ORDER BY source, asset_id LIMIT :limit
    """
    params = {"schedule": schedule, "state": state, "limit": limit, "by": classified_by}
    with engine.connect() as conn:
        return [(s, int(a)) for s, a in conn.execute(text(sql), params)]


def load_cutoff(engine: Engine, schedule: str, run_id: str) -> datetime:
    """Where a page-group run's load stops: at the end of its own run's classify (the latest moment it classified an
    asset; when it classified none, the end of its classify step, else now). What a later run classifies meanwhile
    is left to that run's load, so each load ends with its own group and the next run of the schedule can start
    fetching while the CMDB stays busy; what earlier runs left approved is sent."""
    sql = f"""
        SELECT coalesce(
            (SELECT max(classified_at) FROM "{SCHEMA}".asset_classification
             WHERE schedule = :schedule AND classified_run = :run),
            (SELECT max(finished_at) FROM "{SCHEMA}".run_step
             WHERE schedule = :schedule AND run_id = :run AND step = 'classify'),
            clock_timestamp())
    """
    with engine.connect() as conn:
        return conn.execute(text(sql), {"schedule": schedule, "run": run_id}).scalar_one()  # type: ignore[no-any-return]


def count_waiting(engine: Engine, schedule: str, state: str = "approved", classified_by: datetime | None = None) -> int:
    """How many of the schedule's assets in ``state`` differ from what the CMDB last confirmed (would be sent); with
    ``classified_by``, of those classified by then."""
    sql = f"""
        SELECT count(*) FROM "{SCHEMA}".asset_classification
        WHERE schedule = :schedule AND state = :state AND payload_hash IS DISTINCT FROM loaded_hash
          AND (CAST(:by AS timestamptz) IS NULL OR classified_at <= CAST(:by AS timestamptz))
    """
    params = {"schedule": schedule, "state": state, "by": classified_by}
    with engine.connect() as conn:
        return int(conn.execute(text(sql), params).scalar_one())


def even_batches(waiting: int, batch_size: int, concurrency: int) -> int:
    """The batch size that sends ``waiting`` assets in as few waves of ``concurrency`` batches as ``batch_size``
    allows, every batch of about the same size: a page group's load (a few thousand assets) ends when its slowest
    batch does, and a group of 600 cut 500 + 100 on two connections would take as long as 500 alone, where
    300 + 300 takes about 60 % of it (an IRE request's time grows with the CIs and items it carries)."""
    if waiting <= 0:
        return batch_size
    batches = -(-waiting // batch_size)
    batches = -(-batches // concurrency) * concurrency  # whole waves
    return max(1, min(batch_size, -(-waiting // batches)))


def load_approved(
    engine: Engine,
    hook: ServiceNowHook,
    mappings: Mappings,
    schedule: str,
    batch_size: int = 200,
    *,
    concurrency: int = 1,
    source: str | None = None,
    lifetime: Lifetime | None = None,
    group_run: str | None = None,
) -> LoadResult:
    """Send every approved, changed asset of ``schedule`` to IRE (with ``group_run``, the id of a page-group run:
    those classified by the end of that run's classify, see :func:`load_cutoff`); record each outcome. Once ``lifetime``
    is over it sends no further batch (the batches in flight finish and are recorded): the assets not sent stay
    approved for the next run.

    Holds the load lock of the schedule's ``source``: a second run of the schedule, or another schedule of the
    source, waits, then finds what the first one confirmed and sends nothing twice (an asset another schedule of
    the source already wrote with the same values is recorded without a call, see :func:`sent_by_siblings`).
    Each batch's outcomes move its assets out of 'approved', so the batches walk through them all once.

    Up to ``concurrency`` requests are in flight at once (``properties.ire_concurrency``), each waiting in a thread
    of its own (the wait frees the interpreter) on an HTTP session of its own (see
    :class:`~qualys_cmdb.hooks.servicenow.ServiceNowHook`). One more batch waits, built, for the first connection
    that is free, so a connection goes on at once when its answer comes and never waits for this thread; and this
    thread builds the batch after that meanwhile, from approved assets no batch sent or waiting holds. It stores each
    batch's outcomes as it completes, one batch at a time, in the order they complete.

    A request that fails (the hook raises after its own retries) records nothing of its batch: its assets stay
    approved and the next run sends them again. No further batch is sent (the one waiting for a connection is taken
    back if no connection has taken it yet); those in flight finish and are recorded (what the CMDB confirmed is never
    left unrecorded), then the first failure is raised. The lifetime stops the same way.
    """
    batch_size = max(1, min(batch_size, MAX_IRE_BATCH))
    concurrency = max(1, min(concurrency, MAX_IRE_CONCURRENCY))
    result = LoadResult()
    calls_before = hook.calls
    failure: BaseException | None = None
    stopping = False  # the lifetime is over: send nothing more
    submitted = 0  # batches handed to the connections
    in_flight: dict[Future[list[IreOutcome]], Payload] = {}  # sent or waiting for a connection, not recorded yet
    completed: queue.SimpleQueue[Future[list[IreOutcome]]] = queue.SimpleQueue()  # in the order they complete
    requests = _RequestsInFlight()

    def sending() -> set[tuple[str, int]]:
        return {key for sent in in_flight.values() for key in sent.main_index}

    def send(payload: Payload) -> list[IreOutcome]:
        with requests:
            return hook.identify_reconcile(payload.items, mappings.discovery_source, relations=payload.relations)

    def take_back_the_waiting() -> None:
        for answer in in_flight:
            answer.cancel()  # only a batch no connection has taken yet: it records nothing and stays approved

    with schedule_held(engine, Step.LOAD, source or schedule), ThreadPoolExecutor(concurrency, "ire-request") as pool:
        cutoff = load_cutoff(engine, schedule, group_run) if group_run else None
        if group_run and concurrency > 1:  # a group's load: its connections finish together
            batch_size = even_batches(count_waiting(engine, schedule, classified_by=cutoff), batch_size, concurrency)
        payload = _next_batch(engine, mappings, schedule, batch_size, set(), result, cutoff)
        while True:
            while payload is not None and len(in_flight) <= concurrency and failure is None and not stopping:
                if submitted and lifetime is not None and lifetime.exceeded():
                    stopping = True
                    take_back_the_waiting()
                    break
                answer = pool.submit(send, payload)
                submitted += 1
                in_flight[answer] = payload
                answer.add_done_callback(completed.put)
                payload = _next_batch(engine, mappings, schedule, batch_size, sending(), result, cutoff)
            if not in_flight:
                break
            done = completed.get()
            sent = in_flight.pop(done)
            if done.cancelled():  # taken back before a connection took it: never sent
                continue
            result.batches += 1
            error = done.exception()
            if error is not None:  # nothing of the batch is recorded: its assets stay approved for the next run
                if failure is None:
                    failure = error
                    take_back_the_waiting()
                else:
                    log.warning("another IRE batch of %d asset(s) failed too: %s", len(sent.main_index), error)
                continue
            recorded = _record_batch(engine, schedule, sent, done.result(), result)
            if any(r[0] == schedule for r in recorded.restored) and payload is None:
                # a CI's keeper goes back: there is one more batch
                payload = _next_batch(engine, mappings, schedule, batch_size, sending(), result, cutoff)
    result.calls = hook.calls - calls_before
    result.peak_in_flight = requests.peak
    if failure is not None:
        raise failure
    if stopping and lifetime is not None:  # said once the batches in flight are recorded: what was really sent
        result.stopped_reason = lifetime.reason(f"{result.batches} batch(es), {result.sent} asset(s) sent")
    return result


class _RequestsInFlight:
    """Counts the IRE requests in flight (``with``: one request), and the most at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.now = 0
        self.peak = 0

    def __enter__(self) -> None:
        with self._lock:
            self.now += 1
            self.peak = max(self.peak, self.now)

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self.now -= 1


def sent_by_siblings(engine: Engine, schedule: str, hashes: dict[tuple[str, int], str]) -> int:
    """BY-12: the CI is written once. The assets of ``hashes`` that another schedule of the source has loaded with
    exactly what this schedule would send (same digest of the items, see :meth:`Payload.sent_hashes`) are already
    in the CMDB as this schedule would write them: record them as loaded, with no call. Returns how many."""
    if not hashes:
        return 0
    with engine.begin() as conn:
        return int(
            conn.execute(
                text(f"""
                    UPDATE "{SCHEMA}".asset_classification c
                    SET state = 'loaded', loaded_hash = c.payload_hash, loaded_at = now(), cmdb_sys_id = o.cmdb_sys_id,
                        cmdb_class = o.cmdb_class, last_operation = 'NO_CHANGE', failure_code = NULL,
                        failure_detail = NULL, sent_hash = o.sent_hash,
                        reason = 'written by schedule ' || o.schedule || ', the same values'
                    FROM unnest(CAST(:s AS text[]), CAST(:i AS bigint[]), CAST(:h AS text[])) AS k(source, asset_id, h),
                         "{SCHEMA}".asset_classification o
                    WHERE c.schedule = :schedule AND c.source = k.source AND c.asset_id = k.asset_id
                      AND c.state = 'approved'
                      AND o.source = k.source AND o.asset_id = k.asset_id AND o.schedule <> :schedule
                      AND o.state = 'loaded' AND o.cmdb_sys_id IS NOT NULL AND o.sent_hash = k.h
                """),
                {
                    "schedule": schedule,
                    "s": [k[0] for k in hashes],
                    "i": [k[1] for k in hashes],
                    "h": list(hashes.values()),
                },
            ).rowcount
            or 0
        )


def _next_batch(
    engine: Engine,
    mappings: Mappings,
    schedule: str,
    batch_size: int,
    in_flight: set[tuple[str, int]],
    result: LoadResult,
    cutoff: datetime | None = None,
) -> Payload | None:
    """The payload of the next ``batch_size`` approved assets that are not in the batch being sent (assets another
    schedule of the source already wrote the same way are recorded on the way, and not sent).

    Which of their identifiers other staged assets hold too is read for each batch (see
    :func:`~qualys_cmdb.classify.identifiers.shared_identifiers`): the source's staging changes while a load runs
    (the next page group's run, another schedule of the source stages), and an identifier that has become shared
    must not identify anything, nor appear twice in one payload (IRE refuses the whole payload)."""
    while True:
        keys = [
            k for k in waiting(engine, schedule, "approved", batch_size + len(in_flight), cutoff) if k not in in_flight
        ]
        if not keys:
            return None
        payload = build_payload(engine, mappings, schedule, keys[:batch_size])
        skipped = sent_by_siblings(engine, schedule, payload.sent_hashes())
        if not skipped:
            return payload
        result.by_siblings += skipped
        still = set(waiting_among(engine, schedule, list(payload.main_index)))
        if still:
            return payload.without(set(payload.main_index) - still)


def sources_of(engine: Engine, schedule: str) -> set[str]:
    """The sources of the schedule's classified assets (one, for a schedule)."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(f'SELECT DISTINCT source FROM "{SCHEMA}".asset_classification WHERE schedule = :schedule'),
            {"schedule": schedule},
        )
        return {str(r[0]) for r in rows}


def waiting_among(engine: Engine, schedule: str, keys: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """Those of ``keys`` still approved and changed (not recorded meanwhile)."""
    sql = f"""
        SELECT source, asset_id FROM "{SCHEMA}".asset_classification
        WHERE schedule = :schedule AND state = 'approved' AND payload_hash IS DISTINCT FROM loaded_hash
          AND (source, asset_id) IN (SELECT * FROM unnest(CAST(:s AS text[]), CAST(:i AS bigint[])))
    """
    with engine.connect() as conn:
        rows = conn.execute(text(sql), {"schedule": schedule, "s": [k[0] for k in keys], "i": [k[1] for k in keys]})
        return [(str(s), int(a)) for s, a in rows]


def _record_batch(
    engine: Engine, schedule: str, payload: Payload, outcomes: list[IreOutcome], result: LoadResult
) -> Recorded:
    """Check every item of one batch's outcomes; store its assets' outcomes and add them to ``result``."""
    owners = payload.owners()
    hashes = payload.sent_hashes()
    result.skipped.update(payload.skipped)
    problems: dict[tuple[str, int], list[tuple[str, str, str]]] = defaultdict(list)  # (code, class, message)
    answers: dict[tuple[str, int], list[str]] = defaultdict(list)  # the CMDB's whole answer, item by item
    codes: dict[tuple[str, int], str] = {}
    for outcome, owner in zip(outcomes, owners, strict=True):
        if not outcome.ok:
            cls = str(outcome.class_name or payload.items[outcome.index]["className"])
            errors = outcome.errors or ({"error": "NOT_CONFIRMED", "message": "not confirmed by the CMDB"},)
            for err in errors:
                code, message = str(err.get("error", "?")), str(err.get("message", ""))
                problems[owner].append((code, cls, message))
                answers[owner].append(f"{cls} (payload item {outcome.index}): {code}: {message}")
            for err in outcome.errors:
                code = str(err.get("error", "?"))
                codes.setdefault(owner, code[:40])
                result.errors[code] = result.errors.get(code, 0) + 1
    loaded, failed = [], []
    for key, index in payload.main_index.items():
        main = outcomes[index]
        result.sent += 1
        if key in problems:
            first, *others = problems[key]
            failed.append(
                {
                    "source": key[0],
                    "asset_id": key[1],
                    "built_from": payload.built_from.get(key),
                    "reason": short_reason(*first, more=len(others)),
                    "detail": "\n".join(answers[key])[:DETAIL_CHARS],
                    "code": codes.get(key, "NOT_CONFIRMED"),
                }
            )
        else:
            op = main.operation or "?"
            result.operations[op] = result.operations.get(op, 0) + 1
            if op == "UPDATE_WITH_SWITCH":
                result.switches.append((f"{key[0]}/{key[1]}", f"{main.class_name} {main.sys_id}"))
            notes = [("truncated: " + ", ".join(payload.truncated[key]))] if key in payload.truncated else []
            note = "; ".join(notes + payload.notes.get(key, [])) or None
            loaded.append(
                {
                    "source": key[0],
                    "asset_id": key[1],
                    "sys_id": main.sys_id,
                    "cls": main.class_name,
                    "op": op,
                    "note": note,
                    "sent_hash": hashes[key],
                    "built_from": payload.built_from.get(key),
                }
            )
    unnamed = [
        (schedule, str(r["source"]), int(str(r["asset_id"])))
        for r in loaded
        if (r["source"], r["asset_id"]) in payload.unnamed
    ]
    recorded = record_outcomes(engine, schedule, loaded, failed, send_again=unnamed)
    result.add(recorded)
    return recorded


def record_outcomes(
    engine: Engine,
    schedule: str,
    loaded: list[dict[str, object]],
    failed: list[dict[str, object]],
    send_again: list[tuple[str, str, int]] | None = None,
) -> Recorded:
    """Store a batch's outcomes for ``schedule`` in one transaction (executemany).

    BY-10: when the CMDB confirms an asset as a CI another Qualys asset already holds (or two assets of the batch
    as one CI), two different assets would share one CI and overwrite each other on every run (a cloned MAC
    address, a placeholder serial, a reused or truncated name led identification astray). The asset that held the
    CI first keeps it; the others are held as failed (``SHARED_CI``) with a reason that names the keeper and the
    CI; and the keeper goes back to *approved*, so that the CI gets the keeper's data again (a held asset's values
    may have been written over it). ``send_again`` (assets sent without their shared name) go back too: known to
    the CMDB by their Qualys asset id now, they get their name without the risk of a match by name.

    A failed asset's ``reason`` is stored as one readable line (:func:`one_line`, at most :data:`REASON_CHARS`
    characters); its ``detail`` (or, without one, a reason that had to be cut) is kept whole in ``failure_detail``.

    An outcome carries ``built_from``, the classification's payload_hash its items were built from (None: as it is
    now). When a classify of another run changed the classification while the batch was in flight (a page group
    that made the asset's serial shared, a re-run), the outcome is of the old values: a loaded asset records the CI
    and that the old payload is loaded (``loaded_hash``) but keeps the state and reason classify gave it, so the new
    payload goes to approval and the next load like any change; a failure of the old payload is not recorded at all.
    """
    as_built = "payload_hash IS NOT DISTINCT FROM coalesce(:built_from, payload_hash)"  # not changed in flight
    with engine.begin() as conn:
        held, restored = _shared_ci(conn, schedule, loaded)
        restored += [k for k in send_again or [] if (k[1], k[2]) not in held and k not in restored]
        loaded = [
            {"sent_hash": None, "built_from": None, **r, "schedule": schedule}
            for r in loaded
            if (r["source"], r["asset_id"]) not in held
        ]
        failed = [
            {"built_from": None, **f, "schedule": schedule, "code": f.get("code") or "CMDB_ERROR"} for f in failed
        ]
        failed += [{"built_from": None, **h, "schedule": schedule} for h in held.values()]
        failed = [{**f, **_reason_and_detail(f)} for f in failed]
        if loaded:
            conn.execute(
                text(f"""
                    UPDATE "{SCHEMA}".asset_classification
                    SET state = CASE WHEN {as_built} THEN 'loaded' ELSE state END,
                        reason = CASE WHEN {as_built} THEN :note ELSE reason END,
                        failure_code = CASE WHEN {as_built} THEN NULL ELSE failure_code END,
                        failure_detail = CASE WHEN {as_built} THEN NULL ELSE failure_detail END,
                        loaded_hash = coalesce(:built_from, payload_hash), loaded_at = now(), cmdb_sys_id = :sys_id,
                        cmdb_class = :cls, last_operation = :op, load_attempt_at = NULL, load_attempt_hash = NULL,
                        sent_hash = :sent_hash
                    WHERE schedule = :schedule AND source = :source AND asset_id = :asset_id
                """).bindparams(bindparam("note"), bindparam("sent_hash"), bindparam("built_from")),
                loaded,
            )
        if failed:
            conn.execute(
                text(f"""
                    UPDATE "{SCHEMA}".asset_classification
                    SET state = 'failed', reason = :reason, failure_code = :code, failure_detail = :detail,
                        load_attempt_at = NULL, load_attempt_hash = NULL
                    WHERE schedule = :schedule AND source = :source AND asset_id = :asset_id AND {as_built}
                """).bindparams(bindparam("built_from")),
                failed,
            )
        if restored:
            conn.execute(
                text(f"""
                    UPDATE "{SCHEMA}".asset_classification SET state = 'approved', loaded_hash = NULL
                    WHERE schedule = :schedule AND source = :source AND asset_id = :asset_id AND state = 'loaded'
                """),
                [{"schedule": k, "source": s, "asset_id": a} for k, s, a in restored],
            )
    return Recorded(len(loaded), failed, len(held), restored)


def _reason_and_detail(failed: dict[str, object]) -> dict[str, object]:
    """A failed row's one-line reason and its whole answer (None when the reason says it all)."""
    reason = str(failed.get("reason") or "")
    line = one_line(reason)
    detail = failed.get("detail") or (reason if line != reason else None)
    return {"reason": line, "detail": str(detail)[:DETAIL_CHARS] if detail else None}


def _shared_ci(
    conn: Connection, schedule: str, loaded: list[dict[str, object]]
) -> tuple[dict[tuple[object, object], dict[str, object]], list[tuple[str, str, int]]]:
    """The loaded outcomes that would make two Qualys assets share one CI (as failed rows), and the keepers."""
    if not loaded:
        return {}, []
    holders: dict[str, tuple[str, int, str | None, str | None]] = {}
    rows = conn.execute(
        text(f"""
            SELECT c.cmdb_sys_id, c.source, c.asset_id, coalesce(s.name, s.dns_name, s.netbios_name, s.ip_address),
                   c.schedule
            FROM "{SCHEMA}".asset_classification c
            LEFT JOIN "{SCHEMA}".staged_asset s ON s.source = c.source AND s.asset_id = c.asset_id
            WHERE c.state = 'loaded' AND c.cmdb_sys_id = ANY(:sys_ids)
            ORDER BY c.loaded_at, c.source, c.asset_id
        """),
        {"sys_ids": sorted({str(r["sys_id"]) for r in loaded})},
    )
    for sys_id, source, asset_id, name, holder_schedule in rows:  # who has held the CI longest (maybe of this batch)
        holders.setdefault(str(sys_id), (str(source), int(asset_id), name, str(holder_schedule)))
    held: dict[tuple[object, object], dict[str, object]] = {}
    restored: list[tuple[str, str, int]] = []
    for row in loaded:
        sys_id = str(row["sys_id"])
        keeper = holders.get(sys_id)
        if keeper is None:  # the first asset of the batch confirmed as this CI keeps it
            holders[sys_id] = (str(row["source"]), int(str(row["asset_id"])), None, schedule)
            continue
        if (keeper[0], keeper[1]) == (row["source"], row["asset_id"]):
            continue  # the same Qualys asset (maybe seen by another schedule of the source): the same CI
        held[(row["source"], row["asset_id"])] = {
            "source": row["source"],
            "asset_id": row["asset_id"],
            "code": "SHARED_CI",
            "reason": (
                f"SHARED_CI {row['cls']}: the CMDB matched it to CI {sys_id}, which Qualys asset {keeper[1]} of "
                f"source {keeper[0]} holds"
            ),
            "detail": (
                f"SHARED_CI: the CMDB matched this asset to CI {sys_id} ({row['cls']}), which Qualys asset "
                f"{keeper[1]}{f' ({keeper[2]})' if keeper[2] else ''} of source {keeper[0]} holds: two Qualys assets "
                "would share one CI and overwrite each other. Held, and the CI gets the other asset's data again. "
                "Check what identified them as one (a cloned MAC address, a placeholder serial, a reused or "
                "truncated name); retry after a fix, or leave it if they really are one machine."
            ),
        }
        again = (keeper[3] or schedule, keeper[0], keeper[1])
        if again not in restored:
            restored.append(again)
    return held, restored


def preview_pending(
    engine: Engine, hook: ServiceNowHook, mappings: Mappings, schedule: str, batch_size: int = 200
) -> int:
    """BY-2: ask IRE's dry run what it would do with each pending asset; store INSERT/UPDATE and the CI matched."""
    keys = waiting(engine, schedule, "pending", 1_000_000)
    shared = shared_identifiers(engine, {k[0] for k in keys})
    done = 0
    for start in range(0, len(keys), max(1, min(batch_size, MAX_IRE_BATCH))):
        batch = keys[start : start + batch_size]
        payload = build_payload(engine, mappings, schedule, batch, shared)
        outcomes = hook.identify_reconcile(
            payload.items, mappings.discovery_source, relations=payload.relations, mode="query"
        )
        rows = [
            {
                "schedule": schedule,
                "source": key[0],
                "asset_id": key[1],
                "op": outcomes[i].operation or "ERROR",
                "sys_id": outcomes[i].sys_id if outcomes[i].sys_id not in (None, "Unknown") else None,
            }
            for key, i in payload.main_index.items()
        ]
        with engine.begin() as conn:
            conn.execute(
                text(f"""
                    UPDATE "{SCHEMA}".asset_classification
                    SET preview_operation = :op, preview_sys_id = :sys_id, preview_at = now()
                    WHERE schedule = :schedule AND source = :source AND asset_id = :asset_id
                """),
                rows,
            )
        done += len(rows)
    return done
