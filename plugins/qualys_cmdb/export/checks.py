"""Checks of a CMDB → Qualys schedule that need the CMDB and Qualys's reference data (RS-2, RS-4).

The YAML validation cannot know whether a table has an ``ip_address`` field or whether a tag is a NETWORK_RANGE tag:
the CMDB Meta API and the staged tags and asset groups (HK-1, HK-2) can. A tag or group that is not staged yet is
looked up once more in Qualys (the daily refresh may not have seen a new one) before the schedule is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from qualys_cmdb.export.reference import (
    NETWORK_RANGE_TYPES,
    fetch_asset_groups,
    fetch_tags,
    group_titles,
    groups_titled,
    network_range_tag_names,
    tags_named,
)
from qualys_cmdb.hooks.servicenow import ServiceNowRequestError

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from qualys_cmdb.config import Properties, ReverseSchedule
    from qualys_cmdb.hooks.qualys import QualysHook
    from qualys_cmdb.hooks.servicenow import ServiceNowHook


class ScheduleCheckError(ValueError):
    """The schedule cannot run as configured: ``problems`` says what is wrong and what to do, one line each."""

    def __init__(self, schedule: str, problems: list[str]) -> None:
        self.schedule = schedule
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"CMDB → Qualys schedule {schedule!r} cannot run ({len(problems)} problem(s)):\n{lines}")


@dataclass(frozen=True)
class Assignment:
    """Where the schedule puts its addresses besides the subscription: a NETWORK_RANGE tag or an asset group."""

    kind: str  # tag | group
    name: str
    id: int


def check_table(cmdb: ServiceNowHook, table: str) -> str | None:
    """Why ``table`` cannot feed a CMDB → Qualys schedule, or None when it has an ``ip_address`` field."""
    try:
        fields = cmdb.class_attributes(table)
    except ServiceNowRequestError as exc:
        return (
            f"table: {table} is not a CMDB class on this instance ({exc}), so it has no ip_address field to read; "
            "choose a CI table that has one (cmdb_ci_computer, cmdb_ci_server, …)"
        )
    if "ip_address" not in fields:
        return (
            f"table: {table} has no ip_address field, so it holds no addresses to push to Qualys; "
            "choose a table that has one (cmdb_ci_computer, cmdb_ci_server, …)"
        )
    return None


def _tag(engine: Engine, qualys: QualysHook, source: str, name: str) -> tuple[Assignment | None, str | None]:
    found = tags_named(engine, source, name)
    if not found:
        fetch_tags(engine, qualys, source)  # a tag created since the last daily refresh
        found = tags_named(engine, source, name)
    usable = [t for t in found if t["rule_type"] in NETWORK_RANGE_TYPES]
    if len(usable) == 1:
        return Assignment("tag", name, int(usable[0]["tag_id"])), None
    if len(usable) > 1:
        ids = ", ".join(str(t["tag_id"]) for t in usable)
        return (
            None,
            f"asset_tag: {len(usable)} NETWORK_RANGE tags are called {name!r} (ids {ids}); rename one in Qualys",
        )
    if found:
        kinds = ", ".join(sorted({str(t["rule_type"]) for t in found}))
        return None, (
            f"asset_tag: Qualys tag {name!r} is a {kinds} tag; only NETWORK_RANGE tags can take addresses "
            f"(NETWORK_RANGE tags of {source}: {', '.join(network_range_tag_names(engine, source)) or 'none'})"
        )
    return None, (
        f"asset_tag: source {source} has no Qualys tag called {name!r} "
        f"(NETWORK_RANGE tags: {', '.join(network_range_tag_names(engine, source)) or 'none'}); "
        "create it in Qualys as a NETWORK_RANGE tag or fix the name"
    )


def _group(engine: Engine, qualys: QualysHook, source: str, title: str) -> tuple[Assignment | None, str | None]:
    found = groups_titled(engine, source, title)
    if not found:
        fetch_asset_groups(engine, qualys, source)
        found = groups_titled(engine, source, title)
    if len(found) == 1:
        return Assignment("group", title, int(found[0]["group_id"])), None
    if found:
        return None, f"asset_group: {len(found)} asset groups are titled {title!r}; rename one in Qualys"
    known = group_titles(engine, source)
    listed = ", ".join(known[:20]) + (" …" if len(known) > 20 else "")
    return None, (
        f"asset_group: source {source} has no asset group titled {title!r} (groups: {listed or 'none'}); "
        "create it in Qualys or fix the title"
    )


def check_schedule(
    engine: Engine,
    qualys: QualysHook,
    cmdb: ServiceNowHook,
    schedule: ReverseSchedule,
    properties: Properties,
) -> Assignment | None:
    """Check the schedule against the CMDB and Qualys; returns its tag/group, or raises :class:`ScheduleCheckError`."""
    problems = []
    table_problem = check_table(cmdb, schedule.table)
    if table_problem:
        problems.append(table_problem)
    assignment = None
    if schedule.asset_tag:
        assignment, problem = _tag(engine, qualys, schedule.source, schedule.asset_tag)
        if problem:
            problems.append(problem)
    elif schedule.asset_group:
        if not properties.allow_asset_group_sync:
            problems.append("asset_group: set properties.allow_asset_group_sync: true to use asset groups")
        else:
            assignment, problem = _group(engine, qualys, schedule.source, schedule.asset_group)
            if problem:
                problems.append(problem)
    if problems:
        raise ScheduleCheckError(schedule.name, problems)
    return assignment
