"""*load* through IRE (PR-5, CM-6, SY-6, BY-1, BY-2): approved, changed assets in batches; every item checked.

An asset is marked *loaded* only when the CMDB confirmed its CI and every item that belongs to it; otherwise it is
*failed* with the CMDB's message and can be retried after a fix. Outcomes are stored batch by batch, so a crash or
a 429 storm loses nothing: the next run sends what is still approved. Assets whose payload equals what the CMDB last
confirmed are never sent (BY-1).
"""

from __future__ import annotations

from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from sqlalchemy import Engine, bindparam, text

from qualys_cmdb.classify.mappings import Mappings
from qualys_cmdb.hooks.servicenow import IreOutcome, ServiceNowHook
from qualys_cmdb.load.payload import Payload, build_payload
from qualys_cmdb.staging.locks import Step, schedule_held
from qualys_cmdb.staging.schema import SCHEMA

MAX_IRE_BATCH = 500  # ServiceNow's guideline per identifyreconcile call (reference §2.7)


@dataclass
class LoadResult:
    """What one load did."""

    sent: int = 0
    loaded: int = 0
    failed: int = 0
    calls: int = 0
    operations: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)


def waiting(engine: Engine, schedule: str, state: str, limit: int) -> list[tuple[str, int]]:
    sql = f"""
        SELECT source, asset_id FROM "{SCHEMA}".asset_classification
        WHERE schedule = :schedule AND state = :state AND payload_hash IS DISTINCT FROM loaded_hash
        ORDER BY source, asset_id LIMIT :limit
    """
    with engine.connect() as conn:
        return [(s, int(a)) for s, a in conn.execute(text(sql), {"schedule": schedule, "state": state, "limit": limit})]


def _asset_of(payload: Payload) -> list[tuple[str, int]]:
    """For every item index, the asset it belongs to (dependents follow their main item)."""
    owners: list[tuple[str, int]] = []
    order = sorted(payload.main_index.items(), key=lambda kv: kv[1])
    for n, (key, start) in enumerate(order):
        end = order[n + 1][1] if n + 1 < len(order) else len(payload.items)
        owners.extend([key] * (end - start))
    return owners


def load_approved(
    engine: Engine, hook: ServiceNowHook, mappings: Mappings, schedule: str, batch_size: int = 200
) -> LoadResult:
    """Send every approved, changed asset of ``schedule`` to IRE; record each outcome.

    Holds the schedule's load lock: a second run of the schedule waits, then finds what the first one confirmed
    (and sends nothing twice). Each batch's outcomes move its assets out of 'approved', so the batches walk through
    them all once. While the CMDB works on one batch, the next one is read and built (the request waits in a thread
    of its own, the wait frees the interpreter); its outcomes are stored before the next batch is sent.
    """
    batch_size = max(1, min(batch_size, MAX_IRE_BATCH))
    result = LoadResult()
    calls_before = hook.calls
    with schedule_held(engine, Step.LOAD, schedule), ThreadPoolExecutor(1, "ire-request") as requests:
        payload = _next_batch(engine, mappings, schedule, batch_size, in_flight=set())
        while payload is not None:
            answer = requests.submit(
                hook.identify_reconcile, payload.items, mappings.discovery_source, relations=payload.relations
            )
            following = _next_batch(engine, mappings, schedule, batch_size, in_flight=set(payload.main_index))
            _record_batch(engine, payload, answer.result(), result)
            payload = following
    result.calls = hook.calls - calls_before
    return result


def _next_batch(
    engine: Engine, mappings: Mappings, schedule: str, batch_size: int, in_flight: set[tuple[str, int]]
) -> Payload | None:
    """The payload of the next ``batch_size`` approved assets that are not in the batch being sent."""
    keys = [k for k in waiting(engine, schedule, "approved", batch_size + len(in_flight)) if k not in in_flight]
    return build_payload(engine, mappings, keys[:batch_size]) if keys else None


def _record_batch(engine: Engine, payload: Payload, outcomes: list[IreOutcome], result: LoadResult) -> None:
    """Check every item of one batch's outcomes; store its assets' outcomes and add them to ``result``."""
    owners = _asset_of(payload)
    problems: dict[tuple[str, int], list[str]] = defaultdict(list)
    for outcome, owner in zip(outcomes, owners, strict=True):
        if not outcome.ok:
            problems[owner].append(
                f"{outcome.class_name or payload.items[outcome.index]['className']}: "
                f"{outcome.message or 'not confirmed by the CMDB'}"
            )
            for err in outcome.errors:
                code = str(err.get("error", "?"))
                result.errors[code] = result.errors.get(code, 0) + 1
    loaded, failed = [], []
    for key, index in payload.main_index.items():
        main = outcomes[index]
        result.sent += 1
        if key in problems:
            failed.append({"source": key[0], "asset_id": key[1], "reason": "; ".join(problems[key])[:4000]})
        else:
            op = main.operation or "?"
            result.operations[op] = result.operations.get(op, 0) + 1
            note = ("truncated: " + ", ".join(payload.truncated[key])) if key in payload.truncated else None
            loaded.append(
                {
                    "source": key[0],
                    "asset_id": key[1],
                    "sys_id": main.sys_id,
                    "cls": main.class_name,
                    "op": op,
                    "note": note,
                }
            )
    record_outcomes(engine, loaded, failed)
    result.loaded += len(loaded)
    result.failed += len(failed)


def record_outcomes(engine: Engine, loaded: list[dict[str, object]], failed: list[dict[str, object]]) -> None:
    """Store a batch's outcomes in one transaction (executemany)."""
    with engine.begin() as conn:
        if loaded:
            conn.execute(
                text(f"""
                    UPDATE "{SCHEMA}".asset_classification
                    SET state = 'loaded', loaded_hash = payload_hash, loaded_at = now(), cmdb_sys_id = :sys_id,
                        cmdb_class = :cls, last_operation = :op, reason = :note
                    WHERE source = :source AND asset_id = :asset_id
                """).bindparams(bindparam("note")),
                loaded,
            )
        if failed:
            conn.execute(
                text(f"""
                    UPDATE "{SCHEMA}".asset_classification SET state = 'failed', reason = :reason
                    WHERE source = :source AND asset_id = :asset_id
                """),
                failed,
            )


def preview_pending(
    engine: Engine, hook: ServiceNowHook, mappings: Mappings, schedule: str, batch_size: int = 200
) -> int:
    """BY-2: ask IRE's dry run what it would do with each pending asset; store INSERT/UPDATE and the CI matched."""
    keys = waiting(engine, schedule, "pending", 1_000_000)
    done = 0
    for start in range(0, len(keys), max(1, min(batch_size, MAX_IRE_BATCH))):
        batch = keys[start : start + batch_size]
        payload = build_payload(engine, mappings, batch)
        outcomes = hook.identify_reconcile(
            payload.items, mappings.discovery_source, relations=payload.relations, mode="query"
        )
        rows = [
            {
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
                    WHERE source = :source AND asset_id = :asset_id
                """),
                rows,
            )
        done += len(rows)
    return done
