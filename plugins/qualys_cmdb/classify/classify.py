"""*classify*: give each staged asset its CMDB class and CI payload, in one set-based statement.

Which assets: those of the schedule's source whose staged content, the mapping version or the schedule's class
override changed since they were last classified (so a mapping change re-classifies everything, BY-6).
How: the schedule's target-class override if set; else the active Computer CI-class rules, lowest priority first;
else the hardware category1 + category2 table (CM-1, CM-2). The CI values come from the field maps (CM-3).
An asset with no class, or with nothing the CMDB can identify it by, is *failed* with the reason.
An asset whose payload equals what the CMDB last confirmed stays *loaded*: it costs no CMDB call (BY-1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, text

from qualys_cmdb.classify.identifiers import (
    identifying_mac_sql,
    normal_mac_sql,
    normal_serial_sql,
    placeholder_serial_sql,
    shared_values_sql,
)
from qualys_cmdb.classify.mappings import Condition, FieldSource, Mappings
from qualys_cmdb.classify.source import SOURCE_COLUMNS, SOURCE_FROM
from qualys_cmdb.staging.locks import Step, lock_for_transaction
from qualys_cmdb.staging.schema import SCHEMA

#: failure_code of an asset classify could not give a class, or nothing to identify it by.
CLASSIFICATION_FAILURES = ("NO_CLASS", "NO_INSTANCE_ID", "NOT_IDENTIFIABLE", "SHARED_IDENTIFIER", "CLASS_CONFLICT")


@dataclass
class ClassifyResult:
    """Counts of one classify step."""

    classified: int = 0
    pending: int = 0
    failed: int = 0
    unchanged_since_load: int = 0
    conflicts: int = 0  # held: another schedule of the source classifies the asset into another class
    by_class: dict[str, int] = field(default_factory=dict)


class _Params:
    """Collects bind parameters while SQL text is generated (values never enter the SQL text)."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def add(self, value: str | list[str] | None) -> str:
        """A typed placeholder for ``value`` (text, or text[] for a list)."""
        name = f"p{len(self.values)}"
        self.values[name] = value
        return f"CAST(:{name} AS {'text[]' if isinstance(value, list) else 'text'})"


def _like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def condition_sql(cond: Condition, params: _Params) -> str:
    """SQL for one rule condition (text comparisons ignore case)."""
    col = f"lower(({SOURCE_COLUMNS[cond.attribute]})::text)"
    value = cond.value
    if cond.op == "equals":
        return f"{col} = lower({params.add(str(value))})"
    if cond.op == "not_equals":
        return f"coalesce({col}, '') <> lower({params.add(str(value))})"
    if cond.op == "in":
        return f"{col} = ANY({params.add([v.lower() for v in value or ()])})"
    if cond.op == "not_in":
        return f"coalesce({col}, '') <> ALL({params.add([v.lower() for v in value or ()])})"
    if cond.op == "contains":
        return f"{col} LIKE {params.add('%' + _like(str(value).lower()) + '%')}"
    if cond.op == "starts_with":
        return f"{col} LIKE {params.add(_like(str(value).lower()) + '%')}"
    if cond.op == "is_empty":
        return f"coalesce({col}, '') = ''"
    if cond.op == "is_not_empty":
        return f"coalesce({col}, '') <> ''"
    raise ValueError(f"unknown operator {cond.op}")


def field_sql(source: FieldSource, columns: dict[str, str] = SOURCE_COLUMNS) -> str:
    """The first non-empty of a field's attributes, as text, transformed if asked."""
    parts = [f"nullif(btrim(({columns[a]})::text), '')" for a in source.attributes]
    expr = parts[0] if len(parts) == 1 else f"coalesce({', '.join(parts)})"
    if source.transform == "bits":  # "64-bit", "x86_64", "amd64" -> 64; "32-bit", "i686", "x86" -> 32
        expr = f"(CASE WHEN {expr} ~ '64' THEN '64' WHEN {expr} ~ '(32|86)' THEN '32' END)"
    return expr


def classify_assets(
    engine: Engine,
    mappings: Mappings,
    *,
    schedule: str,
    source: str,
    run_id: str,
    class_override: str | None,
    below: int | None = None,
) -> ClassifyResult:
    """Classify the schedule's changed assets (with ``below``, only those whose asset id is lower: one batch of
    :func:`qualys_cmdb.classify.batches.classify_in_batches`); returns the counts."""
    params = _Params()
    src, ver, sch = params.add(source), params.add(mappings.version), params.add(schedule)
    override = params.add(class_override)
    rules = mappings.active_rules
    # One CASE picks the first matching rule (lowest priority number); its class and name come from a VALUES list.
    when_rules = " ".join(
        f"WHEN {' AND '.join(condition_sql(c, params) for c in r.conditions)} THEN {n}" for n, r in enumerate(rules)
    )
    rule_rows = (
        ", ".join(f"({n}, {params.add(r.target_class)}, {params.add('rule: ' + r.name)})" for n, r in enumerate(rules))
        or "(NULL, NULL, NULL)"
    )
    hardware = (
        ", ".join(
            f"({params.add(h.category1.lower())}, {params.add(h.category2.lower())}, {params.add(h.target_class)})"
            for h in mappings.hardware
        )
        or "(NULL, NULL, NULL)"
    )
    vm_classes = params.add([c for c in mappings.classes if mappings.is_a(c, "cmdb_ci_vm_object")])
    pairs = [f"{params.add(name)}, {field_sql(fs)}" for name, fs in mappings.ci_fields.items()]
    # jsonb_build_object takes at most 100 arguments: build in chunks and concatenate
    payload = (
        " || ".join(f"jsonb_build_object({', '.join(pairs[i : i + 40])})" for i in range(0, len(pairs), 40))
        or "'{}'::jsonb"
    )
    nic = f'"{SCHEMA}".staged_network_interface'
    shared = shared_values_sql(SCHEMA, src)
    name_field = mappings.ci_fields.get("name")
    shared_name = (
        f"SELECT lower(btrim({field_sql(name_field)})) AS v FROM {SOURCE_FROM} WHERE a.source = {src} "
        "GROUP BY 1 HAVING count(*) > 1"
        if name_field
        else "SELECT NULL::text AS v WHERE false"
    )
    # a network adapter with a MAC address of its own (no other asset of the source has it) identifies the asset
    own_nic = (
        f"EXISTS (SELECT 1 FROM {nic} n WHERE n.source = a.source AND n.asset_id = a.asset_id "
        f"AND {identifying_mac_sql('n.mac_address')} "
        f"AND {normal_mac_sql('n.mac_address')} NOT IN (SELECT v FROM shared_mac))"
    )
    # the CMDB knows the asset (any schedule's load confirmed its CI): its Qualys asset id identifies it
    known = (
        f'EXISTS (SELECT 1 FROM "{SCHEMA}".asset_classification k '
        "WHERE k.source = a.source AND k.asset_id = a.asset_id AND k.cmdb_sys_id IS NOT NULL)"
    )
    # MATERIALIZED: each asset's payload is built once. Inlined, the CTE's expressions would be copied into every
    # place that reads them (the CI, its hash, three failure checks): 7 payloads per asset, and 1.7x the time.
    sql = f"""
        WITH shared_serial AS ({shared["serial"]}),
        shared_mac AS ({shared["mac"]}),
        shared_name AS ({shared_name}),
        changed AS MATERIALIZED (
            SELECT {", ".join(f'{expr} AS "{name}"' for name, expr in SOURCE_COLUMNS.items())},
                   v.content_hash AS _content_hash,
                   CASE {when_rules or "WHEN false THEN NULL"} END AS _rule_no,
                   jsonb_strip_nulls({payload}) AS _payload,
                   {own_nic} AS _has_nic, {known} AS _known
            FROM {SOURCE_FROM}
            JOIN "{SCHEMA}".schedule_asset v
                 ON v.schedule = {sch} AND v.source = a.source AND v.asset_id = a.asset_id
            LEFT JOIN "{SCHEMA}".asset_classification c
                 ON c.schedule = {sch} AND c.source = a.source AND c.asset_id = a.asset_id
            WHERE a.source = {src}
              AND (c.asset_id IS NULL OR c.mapping_version <> {ver} OR c.content_hash <> v.content_hash
                   OR c.class_override IS DISTINCT FROM {override}
                   -- its serial number identified it when classified, and another asset staged since has it too
                   -- (an earlier page group's asset, a clone new in the source): not an identifier any more
                   OR {normal_serial_sql("c.payload ->> 'serial_number'")} IN (SELECT v FROM shared_serial)
                   -- its name or its MAC address identified it, and another asset staged since has it too: judged
                   -- again, it is held (unless the CMDB knows it by its Qualys asset id by now)
                   OR (c.failure_code IS NULL AND NOT (c.target_class = ANY({vm_classes}))
                       AND c.payload ->> 'serial_number' IS NULL
                       AND (c.payload ->> 'name' IS NULL
                            OR lower(btrim(c.payload ->> 'name')) IN (SELECT v FROM shared_name))
                       AND NOT {own_nic} AND NOT {known}))
              {"AND a.asset_id < CAST(:below AS bigint)" if below is not None else ""}
        ),
        hardware(category1, category2, target_class) AS (VALUES {hardware}),
        rules(rule_no, target_class, name) AS (VALUES {rule_rows}),
        decided AS (
            SELECT x.*,
                   x._payload ->> 'serial_number' IS NOT NULL AND (
                       {placeholder_serial_sql("x._payload ->> 'serial_number'")}
                       OR {normal_serial_sql("x._payload ->> 'serial_number'")} IN (SELECT v FROM shared_serial)
                   ) AS _bad_serial,
                   lower(btrim(x._payload ->> 'name')) IN (SELECT v FROM shared_name) AS _shared_name,
                   coalesce({override}, r.target_class, hw.target_class) AS _class,
                   CASE WHEN {override} IS NOT NULL THEN 'schedule override'
                        WHEN r.target_class IS NOT NULL THEN r.name
                        WHEN hw.target_class IS NOT NULL
                        THEN 'hardware: ' || x.hardware_category_1 || ' / ' || x.hardware_category_2 END AS _matched
            FROM changed x
            LEFT JOIN rules r ON r.rule_no = x._rule_no
            LEFT JOIN hardware hw ON hw.category1 = lower(x.hardware_category_1)
                                  AND hw.category2 = lower(x.hardware_category_2)
        ),
        judged AS (
            SELECT d.*,
                   CASE WHEN d._class = ANY({vm_classes}) THEN d._payload
                        ELSE d._payload - 'object_id' END
                   - CASE WHEN d._bad_serial THEN 'serial_number' ELSE '' END AS _ci,
                   CASE
                     WHEN d._class IS NULL THEN
                       'no CI-class rule or hardware mapping matches (os_category_1=' || coalesce(d.os_category_1, '-')
                       || ', os_category_2=' || coalesce(d.os_category_2, '-') || ', hardware_category_1='
                       || coalesce(d.hardware_category_1, '-') || ', hardware_category_2='
                       || coalesce(d.hardware_category_2, '-') || ', os_name=' || coalesce(d.os_name, '-')
                       || '): add a rule or a hardware mapping'
                       || CASE WHEN d.os_name IS NOT NULL AND d.os_category_1 IS NULL
                               THEN ', or a pattern for its OS name to os_names.yaml' ELSE '' END
                     WHEN d._class = ANY({vm_classes}) AND d._payload ->> 'object_id' IS NULL THEN
                       d._class || ' is identified by object_id, and the asset has no cloud instance id'
                     WHEN NOT (d._class = ANY({vm_classes})) AND (d._payload ->> 'serial_number' IS NULL
                          OR d._bad_serial) AND d._payload ->> 'name' IS NULL AND NOT d._has_nic THEN
                       'nothing identifies it in the CMDB: no serial number of its own, no name and no network '
                       || 'adapter with a MAC address of its own'
                     WHEN NOT (d._class = ANY({vm_classes})) AND (d._payload ->> 'serial_number' IS NULL
                          OR d._bad_serial) AND d._shared_name AND NOT d._has_nic AND NOT d._known THEN
                       'SHARED_IDENTIFIER: only its name could identify it, and another asset of the source has the '
                       || 'name ' || quote_literal(d._payload ->> 'name') || ' too: held so that the CMDB does not '
                       || 'merge them into one CI. Give it a serial number or a network adapter in Qualys (or rename '
                       || 'one of them), then retry it'
                   END AS _failure,
                   CASE
                     WHEN d._class IS NULL THEN 'NO_CLASS'
                     WHEN d._class = ANY({vm_classes}) AND d._payload ->> 'object_id' IS NULL THEN 'NO_INSTANCE_ID'
                     WHEN NOT (d._class = ANY({vm_classes})) AND (d._payload ->> 'serial_number' IS NULL
                          OR d._bad_serial) AND d._payload ->> 'name' IS NULL AND NOT d._has_nic THEN 'NOT_IDENTIFIABLE'
                     WHEN NOT (d._class = ANY({vm_classes})) AND (d._payload ->> 'serial_number' IS NULL
                          OR d._bad_serial) AND d._shared_name AND NOT d._has_nic AND NOT d._known
                     THEN 'SHARED_IDENTIFIER'
                   END AS _failure_code
            FROM decided d
        )
        INSERT INTO "{SCHEMA}".asset_classification AS ac
            (source, asset_id, schedule, target_class, matched_by, class_override, mapping_version, content_hash,
             payload, payload_hash, state, reason, failure_code, classified_run, classified_at)
        SELECT j.source, j.asset_id, {sch}, j._class, j._matched, {override}, {ver},
               j._content_hash, j._ci,
               md5(j._ci::text || j._content_hash || coalesce(j._class, '') || {params.add(mappings.sent_maps_digest)}),
               CASE WHEN j._failure IS NOT NULL THEN 'failed' ELSE 'pending' END, j._failure, j._failure_code,
               {params.add(run_id)}, now()
        FROM judged j
        ON CONFLICT (schedule, source, asset_id) DO UPDATE SET
            target_class = excluded.target_class, matched_by = excluded.matched_by,
            class_override = excluded.class_override, mapping_version = excluded.mapping_version,
            content_hash = excluded.content_hash, payload = excluded.payload, payload_hash = excluded.payload_hash,
            classified_run = excluded.classified_run, classified_at = excluded.classified_at,
            state = CASE WHEN excluded.state = 'failed' THEN 'failed'
                         WHEN ac.loaded_hash = excluded.payload_hash THEN 'loaded'
                         WHEN ac.state IN ('approved', 'rejected') AND ac.payload_hash = excluded.payload_hash
                         THEN ac.state
                         ELSE 'pending' END,
            reason = excluded.reason, failure_code = excluded.failure_code, failure_detail = NULL,
            decided_by = CASE WHEN ac.payload_hash = excluded.payload_hash THEN ac.decided_by END,
            decided_at = CASE WHEN ac.payload_hash = excluded.payload_hash THEN ac.decided_at END
        RETURNING source, asset_id
    """
    if below is not None:
        params.values["below"] = below
    result = ClassifyResult()
    with engine.begin() as conn:
        lock_for_transaction(conn, Step.CLASSIFY, schedule)  # one classify of a schedule at a time
        result.classified = len(conn.execute(text(sql), params.values).all())
        result.conflicts = _settle_class_conflicts(conn, schedule, source, run_id)
        counted = conn.execute(
            text(
                f'SELECT state, target_class FROM "{SCHEMA}".asset_classification '
                "WHERE schedule = :schedule AND source = :source AND classified_run = :run"
            ),
            {"schedule": schedule, "source": source, "run": run_id},
        )
        for state, cls in counted:
            if state == "failed":
                result.failed += 1
                continue
            result.by_class[cls] = result.by_class.get(cls, 0) + 1
            if state == "loaded":
                result.unchanged_since_load += 1
            elif state == "pending":
                result.pending += 1
    return result


def _settle_class_conflicts(conn: Connection, schedule: str, source: str, run_id: str) -> int:
    """BY-12: an asset two schedules select, classified into different classes (different overrides or rules),
    would switch its CI's class on every run of either. The schedule that loaded it first (or, before any load,
    classified it first) keeps it; the other holds it as failed ``CLASS_CONFLICT``, naming the other schedule and
    class, until the conflict is gone (then it is pending again). Returns how many this schedule holds."""
    params = {"schedule": schedule, "source": source, "run": run_id}
    mine = f"""
        SELECT m.source, m.asset_id, m.target_class, m.classified_at FROM "{SCHEMA}".asset_classification m
        WHERE m.schedule = :schedule AND m.source = :source AND m.target_class IS NOT NULL
          AND (m.classified_run = :run OR m.failure_code = 'CLASS_CONFLICT')
    """
    rival = f"""
        SELECT DISTINCT ON (m.source, m.asset_id) m.source, m.asset_id, o.schedule AS other, o.target_class AS cls
        FROM ({mine}) m
        JOIN "{SCHEMA}".asset_classification o
             ON o.source = m.source AND o.asset_id = m.asset_id AND o.schedule <> :schedule
        WHERE o.target_class IS NOT NULL AND o.target_class <> m.target_class
          AND o.failure_code IS DISTINCT FROM 'CLASS_CONFLICT'
          AND (o.loaded_at IS NOT NULL OR (o.classified_at, o.schedule) < (m.classified_at, CAST(:schedule AS text)))
        ORDER BY m.source, m.asset_id, o.loaded_at NULLS LAST, o.classified_at
    """
    held = conn.execute(
        text(f"""
            WITH rival AS ({rival})
            UPDATE "{SCHEMA}".asset_classification c
            SET state = 'failed', failure_code = 'CLASS_CONFLICT', failure_detail = NULL, decided_by = NULL,
                decided_at = NULL,
                reason = format('CLASS_CONFLICT: schedule %s classifies this asset as %s, this schedule as %s; held so '
                                'that its CI does not switch class on every run. Make the two schedules agree (class '
                                'override, rules, or their QQL/tag slices), then retry it.', r.other, r.cls,
                                c.target_class)
            FROM rival r
            WHERE c.schedule = :schedule AND c.source = r.source AND c.asset_id = r.asset_id
        """),
        params,
    ).rowcount
    conn.execute(  # conflicts that are gone: the asset waits for a decision again
        text(f"""
            UPDATE "{SCHEMA}".asset_classification c
            SET state = 'pending', failure_code = NULL, reason = NULL, failure_detail = NULL
            WHERE c.schedule = :schedule AND c.source = :source AND c.failure_code = 'CLASS_CONFLICT'
              AND NOT EXISTS (SELECT 1 FROM ({rival}) r WHERE r.source = c.source AND r.asset_id = c.asset_id)
        """),
        params,
    )
    return int(held or 0)
