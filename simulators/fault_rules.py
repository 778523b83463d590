"""Reading the fault documents of the simulators' control APIs (shared by both simulators)."""

from __future__ import annotations


class FaultError(ValueError):
    """A control request asked for an impossible fault."""


def family(value: object, families: tuple[str, ...]) -> str:
    """A fault family, checked against the simulator's ``families`` (default ``any``)."""
    name = str(value or "any")
    if name not in families:
        raise FaultError(f"family must be one of {families}, got {name!r}")
    return name


def count(value: object, default: int = 1) -> int:
    """A non-negative integer (a count, a code, milliseconds)."""
    try:
        number = int(str(value)) if value is not None else default
    except ValueError as exc:
        raise FaultError(f"expected an integer, got {value!r}") from exc
    if number < 0:
        raise FaultError("counts must be >= 0")
    return number


def rules(spec: object, what: str) -> list[dict[str, object]]:
    """One rule object or a list of them."""
    if isinstance(spec, dict):
        return [spec]
    if isinstance(spec, list) and all(isinstance(s, dict) for s in spec):
        return list(spec)
    raise FaultError(f"{what} must be an object or a list of objects")
