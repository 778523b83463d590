"""Timestamp formats used by the Qualys APIs.

* QPS and FO: ``2024-01-01T00:00:00Z`` (seconds).
* CSAM/GAV top-level dates: ``2025-07-11T14:21:10.000Z`` (milliseconds).
* CSAM agent/sensor/inventory times: epoch milliseconds (ints).
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

BASE_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z: fixed origin of the generated estate's history
DAY_MS = 86_400_000


def iso_s(ms: int) -> str:
    """Format epoch ms as ``YYYY-MM-DDTHH:MM:SSZ``."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms // 1000))


def iso_ms(ms: int) -> str:
    """Format epoch ms as ``YYYY-MM-DDTHH:MM:SS.mmmZ``.

    A CSAM page carries some 100,000 of them (every software row's dates), so the parts come from tables: the time
    of day and the milliseconds made once, each day formatted once and remembered.
    """
    seconds, milli = divmod(ms, 1000)
    day, second = divmod(seconds, 86_400)
    date = _DAYS.get(day)
    if date is None:
        if len(_DAYS) >= 100_000:
            _DAYS.clear()
        date = _DAYS[day] = time.strftime("%Y-%m-%d", time.gmtime(day * 86_400))
    return date + _TIMES_OF_DAY[second] + _MILLISECONDS[milli]


_DAYS: dict[int, str] = {}
_TIMES_OF_DAY = [f"T{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(86_400)]
_MILLISECONDS = [f".{m:03d}Z" for m in range(1000)]

_ISO = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?)?(Z|[+-]\d{2}:?\d{2})?$"
)
_QPS_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def parse_iso(text: str) -> int | None:
    """Parse a lenient ISO-8601 timestamp to epoch ms (UTC when no zone); None if malformed."""
    match = _ISO.match(text.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, frac, zone = match.groups()
    try:
        moment = datetime(
            int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0), tzinfo=UTC
        )
    except ValueError:
        return None
    ms = int(moment.timestamp() * 1000) + (int((frac or "0").ljust(3, "0")[:3]) if frac else 0)
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        ms -= sign * (int(digits[:2]) * 60 + int(digits[2:])) * 60_000
    return ms


def parse_qps_date(text: str) -> int | None:
    """Parse the strict QPS criteria date ``YYYY-MM-DDTHH:MM:SSZ``; None if not in that format."""
    if not _QPS_DATE.match(text.strip()):
        return None
    return parse_iso(text)


def wall_ms() -> int:
    """Real UTC wall-clock time in epoch ms."""
    return time.time_ns() // 1_000_000
