"""Advisory locks that serialise the steps of one schedule in the staging database, whoever runs them.

``max_active_runs=1`` only holds for runs the scheduler starts. ``airflow dags test``, manual CLI runs, backfills
and a zombie's retry can run two runs of one schedule at once, and their steps then race: a second parser took a
record the first was still parsing, and a second stage computed its changes, then deleted detail rows whose landing
rows the first had already cleared (every staged detail row was lost). So the database decides:

* **fetch** and **load** hold a *session* lock on the schedule for their whole step: a second run waits, then
  plans from the state the first left (its watermark, the outcomes it stored);
* **stage** takes a *transaction* lock on the schedule's **source** (several schedules may share a source, and its
  staged data is one copy), **classify** one on the schedule, so what they read and write belong to one moment;
* **parse** holds a session lock on each queue record while it parses it; a record marked Processing whose lock is
  free was left by a parser that died, and only such a record may be claimed again.

A lock held by a crashed process is released with its connection. Locks are PostgreSQL advisory locks: keys in
the two-integer space are (step, hash of the schedule or source name); queue records use the one-bigint space.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Mapping
from enum import IntEnum

from sqlalchemy import Connection, Engine, TextClause, text

log = logging.getLogger(__name__)

#: High bits that keep queue-record keys apart from any other bigint advisory lock on the database.
_RECORD_TAG = 0x51C3 << 40


class Step(IntEnum):
    """The lock namespace of each serialised step (the first key of a two-integer advisory lock)."""

    FETCH = 0x51C30001  # per schedule
    STAGE = 0x51C30002  # per source
    LOAD = 0x51C30003  # per schedule
    CLASSIFY = 0x51C30004  # per schedule


def lock_for_transaction(conn: Connection, step: Step, name: str) -> None:
    """Wait for, then hold until the end of ``conn``'s transaction, the lock of ``step`` on ``name`` (a schedule's,
    or for stage a source's)."""
    conn.execute(text("SELECT pg_advisory_xact_lock(:step, hashtext(:name))"), {"step": int(step), "name": name})


@contextlib.contextmanager
def schedule_held(
    engine: Engine, step: Step, schedule: str, on_wait: Callable[[], None] | None = None
) -> Iterator[None]:
    """Hold the lock of ``step`` on ``schedule`` for the block (a session lock on a connection of its own).

    When another run holds it, ``on_wait`` is called once (to say so in the logs) and the block waits for it.
    """
    params = {"step": int(step), "schedule": schedule}
    with _session_lock(
        engine,
        text("SELECT pg_try_advisory_lock(:step, hashtext(:schedule))"),
        text("SELECT pg_advisory_lock(:step, hashtext(:schedule))"),
        text("SELECT pg_advisory_unlock(:step, hashtext(:schedule))"),
        params,
        on_wait,
    ) as held:
        assert held
        yield


@contextlib.contextmanager
def record_held(engine: Engine, queue_id: int) -> Iterator[bool]:
    """Try to hold the lock on one queue record for the block; yields whether it is held (never waits)."""
    params = {"key": _RECORD_TAG | int(queue_id)}
    with _session_lock(
        engine,
        text("SELECT pg_try_advisory_lock(:key)"),
        None,
        text("SELECT pg_advisory_unlock(:key)"),
        params,
        None,
    ) as held:
        yield held


@contextlib.contextmanager
def _session_lock(
    engine: Engine,
    try_sql: TextClause,
    wait_sql: TextClause | None,
    unlock_sql: TextClause,
    params: Mapping[str, object],
    on_wait: Callable[[], None] | None,
) -> Iterator[bool]:
    conn = engine.connect()
    held = False
    try:
        held = bool(conn.execute(try_sql, params).scalar())
        conn.commit()
        if not held and wait_sql is not None:
            if on_wait is not None:
                on_wait()
            conn.execute(wait_sql, params)
            conn.commit()
            held = True
        yield held
    finally:
        try:
            if held:
                conn.execute(unlock_sql, params)
                conn.commit()
        except Exception:  # the lock must never outlive the block: drop the connection, which releases it
            log.warning("could not release an advisory lock; closing its connection instead", exc_info=True)
            conn.invalidate()
        conn.close()
