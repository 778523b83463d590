"""Shared pieces of the FO handlers: the SIMPLE_RETURN envelope, :class:`FoError`, the call context and
parameter validation (HTTP 400 with CODE 1901/1903/1904/1905/1908/1922, section 6.4 of the reference)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from xml.sax.saxutils import escape

from simulators.qualys import ipsets
from simulators.qualys.accounts import Account
from simulators.qualys.replies import Reply
from simulators.qualys.subscription import Subscription
from simulators.qualys.timefmt import iso_s
from simulators.qualys.unverified import text


class FoError(Exception):
    """An FO failure answered with a SIMPLE_RETURN."""

    def __init__(self, status: int, code: int | None, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass(slots=True)
class FoCall:
    """One FO action call: subscription, merged query/form parameters, method, caller."""

    sub: Subscription
    params: dict[str, list[str]]
    method: str
    path: str
    base_url: str
    account: Account | None = None

    @property
    def action(self) -> str:
        """The ``action`` parameter."""
        return self.value("action") or ""

    def value(self, name: str) -> str | None:
        """First value of a parameter, or None."""
        values = self.params.get(name)
        return values[0] if values else None

    def given(self, name: str) -> bool:
        """Whether the parameter is present (even empty)."""
        return name in self.params

    def check_params(self, allowed: Iterable[str], unsupported: Iterable[str] = ()) -> None:
        """1901 for unknown parameters; 1905 for real ones the simulator does not implement."""
        allowed_set = set(allowed) | {"action"}
        unknown = sorted(name for name in self.params if name not in allowed_set and name not in set(unsupported))
        if unknown:
            raise FoError(400, 1901, text("fo.unrecognized", params=", ".join(unknown)))
        skipped = sorted(name for name in self.params if name in set(unsupported))
        if skipped:
            raise FoError(400, 1905, text("fo.param_not_supported", params=", ".join(skipped)))

    def require_post(self) -> None:
        """1908 unless the call is a POST (write actions)."""
        if self.method != "POST":
            raise FoError(400, 1908, text("fo.post_required", method=self.method, action=self.action))

    def require(self, *names: str) -> None:
        """1903 when a required parameter is missing or empty."""
        missing = [name for name in names if not (self.value(name) or "").strip()]
        if missing:
            raise FoError(400, 1903, text("fo.missing", params=", ".join(missing)))

    def only_one(self, *names: str) -> None:
        """1904 when more than one of ``names`` is given."""
        present = [name for name in names if self.given(name)]
        if len(present) > 1:
            raise FoError(400, 1904, text("fo.only_one", params=", ".join(present)))

    def flag(self, name: str) -> bool | None:
        """A 0/1 parameter (None when absent); 1905 for any other value."""
        raw = self.value(name)
        if raw is None:
            return None
        if raw.strip() not in ("0", "1"):
            raise FoError(400, 1905, text("fo.bad_value", name=name, value=raw))
        return raw.strip() == "1"

    def integer(self, name: str, minimum: int = 0) -> int | None:
        """An integer parameter (None when absent or empty); 1905 when malformed."""
        raw = (self.value(name) or "").strip()
        if not raw:
            return None
        if not raw.isdigit() or int(raw) < minimum:
            raise FoError(400, 1905, text("fo.bad_value", name=name, value=raw))
        return int(raw)

    def integers(self, name: str, ranges: bool = False) -> list[tuple[int, int]] | None:
        """Comma-separated integers (and ``a-b`` ranges when allowed) as (low, high) pairs; 1905 when malformed."""
        raw = (self.value(name) or "").strip()
        if not raw:
            return None
        result: list[tuple[int, int]] = []
        for piece in raw.split(","):
            part = piece.strip()
            low_text, dash, high_text = part.partition("-")
            if dash and ranges and low_text.strip().isdigit() and high_text.strip().isdigit():
                low, high = int(low_text), int(high_text)
                if low <= high:
                    result.append((low, high))
                    continue
            elif part.isdigit():
                result.append((int(part), int(part)))
                continue
            raise FoError(400, 1905, text("fo.bad_value", name=name, value=raw))
        return result

    def names(self, name: str) -> list[str] | None:
        """A comma-separated list of names (None when absent)."""
        raw = self.value(name)
        if raw is None:
            return None
        return [n for n in (p.strip() for p in raw.split(",")) if n]

    def ips(self, name: str, cap: int | None = None) -> list[ipsets.Range] | None:
        """An IP list parameter (None when absent); 1905 for bad syntax or more than ``cap`` addresses."""
        raw = self.value(name)
        if raw is None:
            return None
        try:
            ranges = ipsets.parse(raw)
        except ipsets.IpSyntaxError as exc:
            raise FoError(400, 1905, text("fo.bad_ips", value=exc.part)) from None
        if cap is not None and ipsets.size(ranges) > cap:
            raise FoError(400, 1905, text("fo.too_many_ips", name=name, limit=cap))
        return ipsets.merge(ranges)


def cdata(value: str) -> str:
    """A CDATA section (FO outputs wrap free text this way)."""
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def simple_return(
    sub: Subscription, status: int, code: int | None, message: str, items: list[tuple[str, str]] | None = None
) -> Reply:
    """A ``SIMPLE_RETURN`` document."""
    lines = [
        '<?xml version="1.0" encoding="UTF-8" ?>\n',
        f'<!DOCTYPE SIMPLE_RETURN SYSTEM "{sub.api_url}/api/2.0/simple_return.dtd">\n',
        "<SIMPLE_RETURN>\n  <RESPONSE>\n",
        f"    <DATETIME>{iso_s(sub.estate.now_ms())}</DATETIME>\n",
    ]
    if code is not None:
        lines.append(f"    <CODE>{code}</CODE>\n")
    lines.append(f"    <TEXT>{escape(message)}</TEXT>\n")
    if items:
        lines.append("    <ITEM_LIST>\n")
        for key, value in items:
            lines.append(
                f"      <ITEM>\n        <KEY>{escape(key)}</KEY>\n        <VALUE>{escape(value)}</VALUE>\n"
                "      </ITEM>\n"
            )
        lines.append("    </ITEM_LIST>\n")
    lines.append("  </RESPONSE>\n</SIMPLE_RETURN>\n")
    return Reply(status, ["".join(lines).encode()], "text/xml;charset=UTF-8")
