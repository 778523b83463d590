"""The fetch asks for the next page while it stores the current one; a page fetched ahead is never lost.

Real HTTP to the Qualys simulator, real Postgres. The one fake is a database failure injected into storing a page
(``store.enqueue_download``), standing for a crash of the worker at that moment.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from qualys_cmdb.config import load_config
from qualys_cmdb.hooks.qualys import QualysHook
from qualys_cmdb.intake.fetch import FetchResult, RunInfo, fetch_assets
from qualys_cmdb.staging import store
from qualys_cmdb.staging.schema import sync_queue
from sqlalchemy import select

from tests.conftest import SimHandle, write_config


def _fetch(staging: Any, run_id: str) -> tuple[FetchResult, QualysHook]:
    config = load_config()
    schedule, source = config.schedule("t"), config.source("sim")
    hook = QualysHook.for_source(source, config.properties)
    try:
        result = fetch_assets(
            staging,
            hook,
            schedule=schedule,
            source=source,
            properties=config.properties,
            run=RunInfo(run_id),
            app_log=store.AppLog(staging),
        )
    finally:
        hook.close()
    return result, hook


@pytest.mark.parametrize("api", ["csam", "hostasset"])
def test_the_next_page_is_requested_before_the_current_one_is_stored(
    staging: Any, qualys_sim: SimHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, api: str
) -> None:
    write_config(tmp_path, monkeypatch, api=api, batch=10)  # 40 assets: 4 pages
    auth = 1 if api == "csam" else 0  # CSAM needs a JWT first
    sent = threading.Condition()
    requests_sent: list[int] = [0]
    calls_when_stored: list[int] = []
    original_send, original_enqueue = QualysHook._send, store.enqueue_download

    def send(self: QualysHook, *args: Any, **kwargs: Any) -> Any:
        with sent:
            requests_sent[0] += 1
            sent.notify_all()
        return original_send(self, *args, **kwargs)

    def enqueue(*args: Any, **kwargs: Any) -> int:
        # Page n is stored: wait (on the event, not the clock) until page n + 1 has been asked for. A fetch that did
        # not ask ahead would never get there, and the limit ends the wait with the count it saw.
        page_no = int(kwargs["page_no"])
        with sent:
            sent.wait_for(lambda: requests_sent[0] >= auth + min(page_no + 1, 4), timeout=120)
            calls_when_stored.append(requests_sent[0])
        return original_enqueue(*args, **kwargs)

    monkeypatch.setattr(QualysHook, "_send", send)
    monkeypatch.setattr(store, "enqueue_download", enqueue)
    result, hook = _fetch(staging, "ahead")
    assert result.pages == 4 and result.assets == 40
    # when page n is stored, page n + 1 has been asked for already (the last page has no next one), and no more
    assert calls_when_stored == [auth + 2, auth + 3, auth + 4, auth + 4]
    assert hook.api_calls == auth + 4  # still the API's minimum: nothing is asked twice


def test_a_crash_while_a_page_was_fetched_ahead_loses_nothing(
    staging: Any, qualys_sim: SimHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(tmp_path, monkeypatch, batch=10)
    original_enqueue = store.enqueue_download
    stored: list[int] = []

    def enqueue_then_crash(*args: Any, **kwargs: Any) -> int:
        if len(stored) == 2:
            raise ConnectionError("the staging database went away (injected)")
        stored.append(original_enqueue(*args, **kwargs))
        return stored[-1]

    monkeypatch.setattr(store, "enqueue_download", enqueue_then_crash)
    with pytest.raises(ConnectionError):
        _fetch(staging, "crashed")
    with staging.connect() as conn:
        assert conn.execute(select(sync_queue.c.record_count)).scalars().all() == [10, 10]
    state = store.get_state(staging, "t")
    assert state and state["resume"]  # the cursor after page 2: page 3 (fetched ahead, not stored) comes again

    monkeypatch.setattr(store, "enqueue_download", original_enqueue)
    result, _ = _fetch(staging, "crashed")  # the same run again (task retry)
    assert result.pages == 2 and result.assets == 20
    with staging.connect() as conn:
        pages = conn.execute(select(sync_queue.c.page_no, sync_queue.c.record_count).order_by(sync_queue.c.id)).all()
    assert [tuple(p) for p in pages] == [(1, 10), (2, 10), (3, 10), (4, 10)]
    assert store.get_state(staging, "t")["resume"] is None  # type: ignore[index]
