"""upload of a CMDB → Qualys run (RS-3 … RS-6): the uploader of the vendor app, in batches.

Three passes over the schedule's Queued upload items (its own run's, and Error items someone re-queued):

1. **known addresses**: ``asset/ip`` list, restricted to the queued addresses (up to 1,000 per call), marks every
   address the subscription already has as Skipped. Nothing Qualys has is ever added again or overwritten.
2. **add**: ``asset/ip`` add in batches of the upload batch size, with the schedule's tracking method and VM/PC
   flags. When Qualys refuses a batch because of an address, the batch is split in halves until the refused
   address is isolated: it becomes Error with Qualys's message, the rest go through.
3. **assignments**: the NETWORK_RANGE tag's ranges (read fresh, extended, written back) or the asset group's
   members (``edit`` ``add_ips``) get the batch's addresses; addresses already covered are Skipped.

When Qualys refuses a batch and its message names addresses of the batch, only those become Error and the rest
is sent again at once; when it names none, the batch is split in halves until the refused address is isolated.

Each Qualys exchange of a batch is kept as an Upload record of the sync queue (request, raw response, status,
processor). A rate-limit block longer than the retry policy waits stops the run cleanly: the items stay Queued
and the next run carries on. A crash leaves items Processing; the next upload returns them to Queued first, and
pass 1 recognises an address that reached Qualys before the crash.
"""

from __future__ import annotations

import gzip
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, func, insert, text

from qualys_cmdb.export.selection import IPV4_PATTERN
from qualys_cmdb.hooks.qualys_protocol import QualysRateLimited
from qualys_cmdb.hooks.qualys_vm_protocol import (
    QualysRefused,
    chunks,
    compress,
    covered,
    ip_to_int,
    parse_ranges,
)
from qualys_cmdb.staging.schema import SCHEMA, sync_queue

if TYPE_CHECKING:
    from qualys_cmdb.config import ReverseSchedule
    from qualys_cmdb.hooks.qualys import QualysHook

LIST_CHUNK = 1000
#: FO codes that are about the call, not about one of its addresses: splitting the batch would not help.
CALL_CODES = frozenset({"1901", "1903", "1904", "1907", "1908", "1922"})


@dataclass
class UploadResult:
    """Counts of one upload (items of all kinds)."""

    added: int = 0
    skipped: int = 0
    errors: int = 0
    assigned: int = 0
    assignment_skipped: int = 0
    assignment_errors: int = 0
    batches: int = 0
    qualys_calls: int = 0
    stopped_reason: str | None = None
    stopped_by_lifetime: bool = False
    left_queued: int = 0
    messages: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Outcome:
    """What became of one address."""

    status: str  # Success | Skipped | Error
    message: str
    code: str | None = None


class Uploader:
    """Runs the three passes for one schedule."""

    def __init__(
        self,
        engine: Engine,
        hook: QualysHook,
        schedule: ReverseSchedule,
        *,
        run_id: str,
        batch_size: int,
        processor: str,
        deadline: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.hook = hook
        self.schedule = schedule
        self.run_id = run_id
        self.batch_size = batch_size
        self.processor = processor
        self.deadline = deadline
        self.clock = clock
        self.result = UploadResult()
        self._page = 0

    # ------------------------------------------------------------------------------------------ driver
    def run(self) -> UploadResult:
        calls_before = self.hook.api_calls
        self._reset_processing()
        self._fail_invalid()
        try:
            self._skip_known()
            while self._add_batch():
                pass
            for kind in ("tag", "group"):
                while self._assign_batch(kind):
                    pass
        except QualysRateLimited as exc:
            self.result.stopped_reason = f"Qualys rate limit: {exc}"
        except _LifetimeReached as exc:
            self.result.stopped_reason = str(exc)
            self.result.stopped_by_lifetime = True
        finally:
            self.result.qualys_calls = self.hook.api_calls - calls_before
            self.result.left_queued = self._count_queued()
        return self.result

    def _time_left(self) -> None:
        if self.deadline is not None and self.clock() >= self.deadline:
            raise _LifetimeReached(
                "max transaction lifetime reached; the remaining items stay Queued and the next run carries on"
            )

    # ------------------------------------------------------------------------------------------ pass 1
    def _skip_known(self) -> None:
        with self.engine.connect() as conn:
            addresses = list(
                conn.execute(
                    text(
                        f'SELECT DISTINCT address FROM "{SCHEMA}".upload_item '
                        "WHERE schedule = :s AND kind = 'ip' AND status = 'Queued' ORDER BY address"
                    ),
                    {"s": self.schedule.name},
                ).scalars()
            )
        for chunk in chunks(addresses, LIST_CHUNK):
            self._time_left()
            ranges = self.hook.ips_in_subscription(chunk)
            known = [a for a in chunk if covered(ip_to_int(a), ranges)]
            exchanges = [{"action": "list", "ips": len(chunk), "already_in_qualys": len(known)}]
            with self.engine.begin() as conn:
                self._record_in(conn, "list", exchanges, "Success", f"{len(known)} of {len(chunk)} address(es) known")
                if known:
                    conn.execute(
                        text(
                            f"UPDATE \"{SCHEMA}\".upload_item SET status = 'Skipped', updated_at = now(), "
                            "processed_at = now(), last_run_id = :run, processor_id = :p, message = :m "
                            "WHERE schedule = :s AND kind = 'ip' AND status = 'Queued' AND address = ANY(:a)"
                        ),
                        {
                            "s": self.schedule.name,
                            "run": self.run_id,
                            "p": self.processor,
                            "a": known,
                            "m": "already in the Qualys subscription: left as it is, not overwritten",
                        },
                    )
                    self.result.skipped += len(known)

    # ------------------------------------------------------------------------------------------ pass 2
    def _add_batch(self) -> bool:
        self._time_left()
        claimed = self._claim("ip")
        if not claimed:
            return False
        by_address = _group(claimed)
        exchanges: list[dict[str, Any]] = []
        try:
            outcomes = self._add(sorted(by_address, key=ip_to_int), exchanges)
        except Exception as exc:
            self._release(claimed, f"not sent yet: {exc}")
            self._record("add", exchanges, "Error", f"stopped: {exc}")
            raise
        self._settle(by_address, outcomes, exchanges, "add")
        for outcome in outcomes.values():
            if outcome.status == "Success":
                self.result.added += 1
            elif outcome.status == "Skipped":
                self.result.skipped += 1
            else:
                self.result.errors += 1
        return True

    def _add(self, addresses: list[str], exchanges: list[dict[str, Any]]) -> dict[str, Outcome]:
        """Add ``addresses``; on an address refusal, split until the refused ones are isolated."""
        ips = compress(ip_to_int(a) for a in addresses)
        try:
            message = self.hook.add_ips(
                ips,
                tracking_method=self.schedule.tracking_method,
                enable_vm=self.schedule.enable_vm,
                enable_pc=self.schedule.enable_pc,
            )
        except QualysRefused as exc:
            exchanges.append({"action": "add", "ips": ips, "code": exc.code, "text": exc.text})
            if exc.code in CALL_CODES:
                raise
            named = _named_in(exc.text, addresses)
            if len(addresses) == 1 or named:
                refused = named or addresses
                outcomes = {a: Outcome("Error", f"Qualys refused the address: {exc.text}", exc.code) for a in refused}
                rest = [a for a in addresses if a not in outcomes]
                return {**outcomes, **(self._add(rest, exchanges) if rest else {})}
            middle = len(addresses) // 2  # Qualys did not say which: split until the refused ones are isolated
            return {**self._add(addresses[:middle], exchanges), **self._add(addresses[middle:], exchanges)}
        exchanges.append({"action": "add", "ips": ips, "text": message})
        modules = "VM" + (" and PC" if self.schedule.enable_pc else "") if self.schedule.enable_vm else "PC"
        note = f"added with tracking {self.schedule.tracking_method}, {modules} enabled: {message}"
        return {a: Outcome("Success", note) for a in addresses}

    # ------------------------------------------------------------------------------------------ pass 3
    def _assign_batch(self, kind: str) -> bool:
        self._time_left()
        self._fail_orphans(kind)
        claimed = self._claim(kind)
        if not claimed:
            return False
        target_id = int(claimed[0]["target_id"])
        target = str(claimed[0]["target"])
        same = [c for c in claimed if c["target_id"] == target_id]
        if len(same) < len(claimed):
            self._release([c for c in claimed if c["target_id"] != target_id], None)
        by_address = _group(same)
        exchanges: list[dict[str, Any]] = []
        try:
            if kind == "tag":
                outcomes = self._extend_tag(target_id, target, sorted(by_address, key=ip_to_int), exchanges)
            else:
                outcomes = self._extend_group(target_id, target, sorted(by_address, key=ip_to_int), exchanges)
        except Exception as exc:
            self._release(same, f"not assigned yet: {exc}")
            self._record(kind, exchanges, "Error", f"stopped: {exc}")
            raise
        self._settle(by_address, outcomes, exchanges, kind)
        for outcome in outcomes.values():
            if outcome.status == "Success":
                self.result.assigned += 1
            elif outcome.status == "Skipped":
                self.result.assignment_skipped += 1
            else:
                self.result.assignment_errors += 1
        return True

    def _extend_tag(
        self, tag_id: int, name: str, addresses: list[str], exchanges: list[dict[str, Any]]
    ) -> dict[str, Outcome]:
        tag = self.hook.tag(tag_id)
        exchanges.append({"action": "get tag", "id": tag_id, "ruleType": tag.rule_type, "ruleText": tag.rule_text})
        if tag.rule_type != "NETWORK_RANGE":
            why = f"tag {name!r} is now a {tag.rule_type} tag; only NETWORK_RANGE tags take addresses"
            return {a: Outcome("Error", why) for a in addresses}
        current = (tag.rule_text or "").strip().strip(",")
        try:
            ranges = parse_ranges(current)
        except ValueError as exc:
            return {
                a: Outcome("Error", f"the ruleText of tag {name!r} cannot be extended safely: {exc}") for a in addresses
            }
        new = [a for a in addresses if not covered(ip_to_int(a), ranges)]
        outcomes = {
            a: Outcome("Skipped", f"already within the ranges of tag {name!r}") for a in addresses if a not in new
        }
        if not new:
            return outcomes
        rule_text = ",".join(p for p in [current, *compress(ip_to_int(a) for a in new)] if p)
        try:
            updated = self.hook.set_tag_rule_text(tag_id, rule_text)
        except QualysRefused as exc:
            exchanges.append(
                {"action": "update tag", "id": tag_id, "ruleText": rule_text, "code": exc.code, "text": exc.text}
            )
            return {
                **outcomes,
                **{a: Outcome("Error", f"Qualys refused the tag update: {exc.text}", exc.code) for a in new},
            }
        exchanges.append({"action": "update tag", "id": tag_id, "ruleText": updated.rule_text})
        return {
            **outcomes,
            **{a: Outcome("Success", f"added to the ranges of NETWORK_RANGE tag {name!r}") for a in new},
        }

    def _extend_group(
        self, group_id: int, title: str, addresses: list[str], exchanges: list[dict[str, Any]]
    ) -> dict[str, Outcome]:
        group = self.hook.asset_group(group_id)
        exchanges.append({"action": "list group", "id": group_id, "found": group is not None})
        if group is None:
            why = f"asset group {title!r} (id {group_id}) no longer exists in Qualys; fix the schedule's asset_group"
            return {a: Outcome("Error", why) for a in addresses}
        members = parse_ranges(group.ip_set)
        new = [a for a in addresses if not covered(ip_to_int(a), members)]
        outcomes = {a: Outcome("Skipped", f"already in asset group {title!r}") for a in addresses if a not in new}
        return {**outcomes, **self._add_to_group(group_id, title, new, exchanges)}

    def _add_to_group(
        self, group_id: int, title: str, addresses: list[str], exchanges: list[dict[str, Any]]
    ) -> dict[str, Outcome]:
        if not addresses:
            return {}
        ips = compress(ip_to_int(a) for a in addresses)
        try:
            message = self.hook.add_ips_to_group(group_id, ips)
        except QualysRefused as exc:
            exchanges.append(
                {"action": "edit group", "id": group_id, "add_ips": ips, "code": exc.code, "text": exc.text}
            )
            if exc.code in CALL_CODES:
                raise
            if len(addresses) == 1:
                return {addresses[0]: Outcome("Error", f"Qualys refused the group edit: {exc.text}", exc.code)}
            middle = len(addresses) // 2
            return {
                **self._add_to_group(group_id, title, addresses[:middle], exchanges),
                **self._add_to_group(group_id, title, addresses[middle:], exchanges),
            }
        exchanges.append({"action": "edit group", "id": group_id, "add_ips": ips, "text": message})
        return {a: Outcome("Success", f"added to asset group {title!r}: {message}") for a in addresses}

    def _fail_orphans(self, kind: str) -> None:
        """Assignment items whose address could not be added to Qualys end as Error, saying why."""
        with self.engine.begin() as conn:
            conn.execute(
                text(f"""
                UPDATE "{SCHEMA}".upload_item a
                SET status = 'Error', updated_at = now(), processed_at = now(), last_run_id = :run,
                    message = 'not assigned: the address was not added to Qualys (' || coalesce(i.message, '') || ')'
                FROM "{SCHEMA}".upload_item i
                WHERE a.schedule = :s AND a.kind = :kind AND a.status = 'Queued'
                  AND i.schedule = a.schedule AND i.run_id = a.run_id AND i.kind = 'ip' AND i.address = a.address
                  AND i.status = 'Error'
                """),
                {"s": self.schedule.name, "kind": kind, "run": self.run_id},
            )

    # ------------------------------------------------------------------------------------------ bookkeeping
    def _claim(self, kind: str) -> list[dict[str, Any]]:
        """Lock the next ``batch_size`` addresses' Queued items of ``kind`` and mark them Processing.

        Every queued item of a claimed address comes along (a re-queued item and this run's item for the same
        address), so an address is sent to Qualys once.
        """
        ready = (
            ""
            if kind == "ip"
            else (
                f' AND EXISTS (SELECT 1 FROM "{SCHEMA}".upload_item i WHERE i.schedule = u.schedule '
                "AND i.run_id = u.run_id AND i.kind = 'ip' AND i.address = u.address "
                "AND i.status IN ('Success', 'Skipped'))"
            )
        )
        with self.engine.begin() as conn:
            rows = conn.execute(
                text(f"""
                WITH batch AS (
                    SELECT DISTINCT address, target FROM (
                        SELECT u.address, u.target FROM "{SCHEMA}".upload_item u
                        WHERE u.schedule = :s AND u.kind = :kind AND u.status = 'Queued'{ready}
                        ORDER BY u.target_id NULLS FIRST, u.id
                        LIMIT :n FOR UPDATE SKIP LOCKED
                    ) first_items
                )
                UPDATE "{SCHEMA}".upload_item u SET status = 'Processing', attempts = attempts + 1,
                    processor_id = :p, last_run_id = :run, updated_at = now()
                FROM batch
                WHERE u.schedule = :s AND u.kind = :kind AND u.status = 'Queued'{ready}
                  AND u.address = batch.address AND u.target = batch.target
                RETURNING u.id, u.address, u.target, u.target_id
                """),
                {"s": self.schedule.name, "kind": kind, "p": self.processor, "run": self.run_id, "n": self.batch_size},
            ).mappings()
            return [dict(r) for r in rows]

    def _release(self, items: list[dict[str, Any]], message: str | None) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                text(
                    f"UPDATE \"{SCHEMA}\".upload_item SET status = 'Queued', updated_at = now(), "
                    "message = coalesce(:m, message) WHERE id = ANY(:ids)"
                ),
                {"ids": [int(i["id"]) for i in items], "m": message},
            )

    def _fail_invalid(self) -> None:
        """A re-queued item whose address is still not IPv4 goes back to Error at once."""
        with self.engine.begin() as conn:
            conn.execute(
                text(
                    f"UPDATE \"{SCHEMA}\".upload_item SET status = 'Error', updated_at = now(), last_run_id = :run, "
                    "message = quote_literal(address) || ' is not an IPv4 address; correct ip_address in the CMDB' "
                    "WHERE schedule = :s AND status = 'Queued' AND address !~ :ipv4"
                ),
                {"s": self.schedule.name, "run": self.run_id, "ipv4": IPV4_PATTERN},
            )

    def _reset_processing(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                text(
                    f"UPDATE \"{SCHEMA}\".upload_item SET status = 'Queued', updated_at = now(), "
                    "message = 'interrupted while processing; queued again' "
                    "WHERE schedule = :s AND status = 'Processing'"
                ),
                {"s": self.schedule.name},
            )

    def _settle(
        self, by_address: dict[str, list[int]], outcomes: dict[str, Outcome], exchanges: list[dict[str, Any]], step: str
    ) -> None:
        ids: list[int] = []
        statuses: list[str] = []
        messages: list[str] = []
        codes: list[str | None] = []
        for address, item_ids in by_address.items():
            outcome = outcomes[address]
            for item_id in item_ids:
                ids.append(item_id)
                statuses.append(outcome.status)
                messages.append(outcome.message)
                codes.append(outcome.code)
        refused = sum(1 for o in outcomes.values() if o.status == "Error")
        status = "Error" if refused == len(outcomes) and outcomes else "Success"
        note = f"{len(outcomes)} address(es): " + ", ".join(
            f"{n} {s.lower()}"
            for s in ("Success", "Skipped", "Error")
            if (n := sum(o.status == s for o in outcomes.values()))
        )
        with self.engine.begin() as conn:
            queue_id = self._record_in(conn, step, exchanges, status, note)
            conn.execute(
                text(f"""
                UPDATE "{SCHEMA}".upload_item u
                SET status = v.status, message = v.message, qualys_code = v.code, queue_id = :q,
                    processed_at = now(), updated_at = now()
                FROM (SELECT unnest(CAST(:ids AS bigint[])) AS id, unnest(CAST(:statuses AS text[])) AS status,
                             unnest(CAST(:messages AS text[])) AS message, unnest(CAST(:codes AS text[])) AS code) v
                WHERE u.id = v.id
                """),
                {"ids": ids, "statuses": statuses, "messages": messages, "codes": codes, "q": queue_id},
            )

    def _record(self, step: str, exchanges: list[dict[str, Any]], status: str, note: str) -> None:
        with self.engine.begin() as conn:
            self._record_in(conn, step, exchanges, status, note)

    def _record_in(self, conn: Connection, step: str, exchanges: list[dict[str, Any]], status: str, note: str) -> int:
        """One Upload record of the sync queue: what was asked of Qualys and what it answered."""
        self._page += 1
        self.result.batches += 1
        body = json.dumps(exchanges, indent=1).encode()
        return int(
            conn.execute(
                insert(sync_queue)
                .values(
                    direction="upload",
                    source=self.schedule.source,
                    schedule=self.schedule.name,
                    run_id=self.run_id,
                    status=status,
                    api="qps" if step == "tag" else "fo",  # tags are QPS; list, add and groups are FO
                    format="json",
                    page_no=self._page,
                    request={"step": step, "calls": len(exchanges)},
                    record_count=len(exchanges),
                    payload=gzip.compress(body),
                    payload_bytes=len(body),
                    processor_id=self.processor,
                    attempts=1,
                    notes=note,
                    processed_at=func.now(),
                )
                .returning(sync_queue.c.id)
            ).scalar_one()
        )

    def _count_queued(self) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    text(f"SELECT count(*) FROM \"{SCHEMA}\".upload_item WHERE schedule = :s AND status = 'Queued'"),
                    {"s": self.schedule.name},
                ).scalar_one()
            )


class _LifetimeReached(Exception):
    pass


_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")


def _named_in(message: str | None, addresses: list[str]) -> list[str]:
    """The batch's addresses that Qualys's refusal names (then only they are refused, no splitting needed)."""
    named = set(_IPV4.findall(message or ""))
    return [a for a in addresses if a in named]


def _group(items: list[dict[str, Any]]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for item in items:
        out.setdefault(str(item["address"]), []).append(int(item["id"]))
    return out


def requeue_items(engine: Engine, item_ids: list[int], who: str = "user") -> list[int]:
    """Put Error items back to Queued (the next run of their schedule sends them); returns the ids re-queued."""
    with engine.begin() as conn:
        rows = conn.execute(
            text(f"""
            UPDATE "{SCHEMA}".upload_item SET status = 'Queued', updated_at = now(),
                message = 're-queued by ' || :who || ' at ' || to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI')
                          || ' UTC (was: ' || coalesce(message, '') || ')'
            WHERE id = ANY(:ids) AND status = 'Error'
            RETURNING id
            """),
            {"ids": item_ids, "who": who},
        ).scalars()
        return sorted(int(r) for r in rows)
