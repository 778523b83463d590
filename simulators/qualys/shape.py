"""Estate shape: target averages of the per-asset list sizes and the cloud fraction.

Without a shape the estate is exactly the archetype model of :mod:`simulators.qualys.archetypes`
(over 2,000 assets about 145 software rows, 6 open ports, 2.1 interfaces, 1.8 volumes, 11% cloud).
An :class:`EstateShape` asks for other averages (``software=120,ports=8,interfaces=2,volumes=3,cloud=0.1``)
while keeping each archetype's character:

* every archetype's uniform integer draw ``randint(lo, hi)`` becomes the floor of a continuous uniform
  draw over ``[lo * k, hi * k + 1)`` -- the same distribution when ``k == 1`` -- with one scale ``k`` per
  attribute for the whole estate, so servers keep more software than desktops, network devices keep no
  volumes and little software, and so on.  The interval is then kept inside the attribute's limits (the
  software catalog of the platform and ``software_max``; the archetype's port pool; 1..64 interfaces;
  the platform's volume names), without piling assets up on a limit;
* ``k`` is solved (bisection on the exact expected mean) against the estate's actual archetype mix,
  including the assets that own a hardware pair of the seed table, so the mean over a large estate lands
  on the target up to sampling noise;
* the cloud fraction re-weights the ``cloud`` archetype against the others (the other archetypes keep
  their relative weights); the one-asset-per-hardware-pair coverage is kept and accounted for.

A target out of reach (``software`` above what ``software_max`` and the catalogs allow, more ports than the
port pools hold, ``interfaces`` below 1, ...) is refused with :class:`ValueError`.  The shape only changes
how profiles are drawn; a given ``(assets, seed, software_max, shape)`` is as deterministic as before.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields

from simulators.qualys import hardware as hw
from simulators.qualys import software as sw
from simulators.qualys.archetypes import (
    ARCHETYPES,
    CLOUD_PROVIDERS,
    IOT_UNIDENTIFIED_RATIO,
    PORT_PROFILES,
    WEIGHTED,
    Archetype,
    archetypes_for_pair,
    volume_names,
)
from simulators.qualys.operating_systems import OS_CATALOG, os_indices, platform_of

__all__ = ["MAX_INTERFACES", "ArchSpans", "EstateShape", "ShapeLike", "ShapeTable", "build_table"]

MAX_INTERFACES = 64
# Assets whose software inventory was never collected (only archetypes with at least 20 rows).
SOFTWARE_MISSING_RATIO = 0.03
SOFTWARE_MISSING_MIN = 20
_CLOUD = "cloud"
_K_MAX = 128.0
_EPS = 1e-9
_WEIGHT_SCALE = 1_000_000
# A span: ``int(start + random() * width)`` is the drawn value.
Span = tuple[float, float]


@dataclass(frozen=True, slots=True)
class EstateShape:
    """Target averages per asset (None: as the archetypes give) and the cloud fraction."""

    software: float | None = None
    ports: float | None = None
    interfaces: float | None = None
    volumes: float | None = None
    cloud: float | None = None

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"shape {f.name} must be a finite number, not {value!r}")
            if value < 0:
                raise ValueError(f"shape {f.name} must be >= 0, not {value}")
            object.__setattr__(self, f.name, float(value))
        if self.interfaces is not None and self.interfaces < 1:
            raise ValueError(f"shape interfaces must be >= 1 (every asset has one), not {self.interfaces}")
        if self.cloud is not None and self.cloud > 1:
            raise ValueError(f"shape cloud is a fraction (0..1), not {self.cloud}")

    @classmethod
    def parse(cls, text: str) -> EstateShape:
        """Parse ``software=120,ports=8,interfaces=2,volumes=3,cloud=0.1`` (any subset, any order)."""
        values: dict[str, float] = {}
        known = {f.name for f in fields(cls)}
        for item in text.split(","):
            item = item.strip()
            if not item:
                continue
            name, sep, raw = item.partition("=")
            name = name.strip().lower()
            if not sep or name not in known:
                raise ValueError(f"bad shape item {item!r}: expected one of {', '.join(sorted(known))} as name=number")
            if name in values:
                raise ValueError(f"shape {name} given twice")
            try:
                values[name] = float(raw)
            except ValueError:
                raise ValueError(f"shape {name}: {raw.strip()!r} is not a number") from None
        return cls(**values)

    @classmethod
    def of(cls, value: ShapeLike) -> EstateShape | None:
        """An :class:`EstateShape` from a shape, a ``name=value,...`` string or a mapping; None if empty."""
        if value is None:
            return None
        if isinstance(value, str):
            shape = cls.parse(value)
        elif isinstance(value, EstateShape):
            shape = value
        else:
            unknown = set(value) - {f.name for f in fields(cls)}
            if unknown:
                raise ValueError(f"unknown shape item(s): {', '.join(sorted(unknown))}")
            shape = cls(**{name: float(v) for name, v in value.items() if v is not None})
        return shape if shape.targets() else None

    def targets(self) -> dict[str, float]:
        """The targets that are set."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}

    def __str__(self) -> str:
        return ",".join(f"{name}={value:g}" for name, value in self.targets().items())


ShapeLike = EstateShape | Mapping[str, float] | str | None


@dataclass(frozen=True, slots=True)
class ArchSpans:
    """The shaped draws of one archetype (software and volumes per software platform)."""

    software: dict[str, Span]
    ports: Span
    interfaces: Span
    volumes: dict[str, Span]


@dataclass(frozen=True, slots=True)
class ShapeTable:
    """Everything :func:`simulators.qualys.profiles.make_profile` needs to draw a shaped profile."""

    shape: EstateShape
    archetypes: tuple[Archetype, ...]
    cumulative: tuple[int, ...]
    total: int
    spans: dict[str, ArchSpans]
    scales: dict[str, float]
    expected: dict[str, float]

    def pick(self, rng: random.Random) -> Archetype:
        """Draw an archetype (same draw as the unshaped model when the weights are unchanged)."""
        return self.archetypes[bisect_right(self.cumulative, rng.randrange(self.total))]


# ----------------------------------------------------------------------------- maths
def _floor_integral(x: float) -> float:
    n = math.floor(x)
    return n * (n - 1) / 2 + n * (x - n)


def _floor_mean(span: Span) -> float:
    """Mean of ``int(start + U * width)`` for U uniform on [0, 1)."""
    start, width = span
    if width <= 0:
        return float(math.floor(start))
    return (_floor_integral(start + width) - _floor_integral(start)) / width


def _span(lo: int, hi: int, k: float, low: int, high: int) -> Span:
    """``randint(lo, hi)`` scaled by ``k``, as a continuous interval kept inside ``low..high``."""
    top = high + 1
    a = min(max(lo * k, low), top)
    b = min(max(hi * k + 1, low), top)
    if b - a <= 2 * _EPS:
        return float(min(math.floor(a), high)), 0.0
    return a, b - a - _EPS


# ----------------------------------------------------------------------------- estate mix
def _platform_mix(arch: Archetype) -> dict[str, float]:
    """Probability of each software platform for an archetype (mirrors the OS draw of ``make_profile``)."""
    providers: tuple[tuple[str | None, int], ...] = CLOUD_PROVIDERS if arch.name == _CLOUD else ((None, 1),)
    provider_total = sum(w for _, w in providers)
    mix: dict[str, float] = {}
    for provider, provider_weight in providers:
        for os_key in arch.os_keys:
            p = provider_weight / provider_total / len(arch.os_keys)
            key = "linux_server" if provider not in (None, "aws") and os_key == "linux_cloud" else os_key
            choices = [(os_indices(key), 1.0)]
            if arch.name == "iot":
                choices = [
                    (os_indices("unidentified")[:1], IOT_UNIDENTIFIED_RATIO),
                    (choices[0][0], 1 - IOT_UNIDENTIFIED_RATIO),
                ]
            for indices, q in choices:
                for i in indices:
                    platform = platform_of(OS_CATALOG[i])
                    mix[platform] = mix.get(platform, 0.0) + p * q / len(indices)
    return mix


def _weights(cloud: float | None, assets: int, covered: list[int]) -> tuple[tuple[str, int], ...]:
    """Archetype weights for the assets that do not own a seed-table hardware pair."""
    if cloud is None:
        return WEIGHTED
    free = assets - len(covered)
    fraction = cloud
    if free > 0:
        covered_cloud = sum(
            archetypes_for_pair(hw.HARDWARE_PAIRS[p]).count(_CLOUD) / len(archetypes_for_pair(hw.HARDWARE_PAIRS[p]))
            for p in covered
        )
        fraction = min(1.0, max(0.0, (cloud * assets - covered_cloud) / free))
    others = tuple((name, w) for name, w in WEIGHTED if name != _CLOUD)
    if fraction >= 1:
        return ((_CLOUD, 1),)
    rest = sum(w for _, w in others)
    cloud_weight = round(fraction * rest * _WEIGHT_SCALE / (1 - fraction))
    scaled = tuple((name, w * _WEIGHT_SCALE) for name, w in others)
    return (*scaled, (_CLOUD, cloud_weight)) if cloud_weight else scaled


def _mix(weights: tuple[tuple[str, int], ...], assets: int, covered: list[int]) -> dict[str, float]:
    """Expected number of assets per archetype (or shares for an empty estate)."""
    total = sum(w for _, w in weights)
    free = assets - len(covered) if assets else 1
    counts: dict[str, float] = {name: free * w / total for name, w in weights}
    for p in covered:
        names = archetypes_for_pair(hw.HARDWARE_PAIRS[p])
        for name in names:
            counts[name] = counts.get(name, 0.0) + 1 / len(names)
    return {name: n for name, n in counts.items() if n > 0}


# ----------------------------------------------------------------------------- per-attribute spans
def _software_spans(arch: Archetype, k: float, software_max: int, platforms: Iterable[str]) -> dict[str, Span]:
    spans = {}
    for platform in platforms:
        cap = min(software_max, len(sw.CATALOG[platform]))
        high = min(arch.software_range[1], cap)
        low = min(arch.software_range[0], high)
        spans[platform] = _span(low, high, k, 0, cap)
    return spans


def _ports_span(arch: Archetype, k: float) -> Span:
    return _span(*arch.port_range, k, 0, len(PORT_PROFILES[arch.ports]))


def _interfaces_span(arch: Archetype, k: float) -> Span:
    return _span(*arch.iface_range, k, 1, MAX_INTERFACES)


def _volume_spans(arch: Archetype, k: float, platforms: Iterable[str]) -> dict[str, Span]:
    return {p: _span(*arch.volume_range, k, 0, len(volume_names(p))) for p in platforms}


def build_table(shape: EstateShape, software_max: int, assets: int, covered_pairs: Iterable[int]) -> ShapeTable:
    """Solve the per-attribute scales of ``shape`` for an estate; ValueError if a target is out of reach.

    ``covered_pairs`` are the seed-table hardware pairs (indices into ``HARDWARE_PAIRS``) forced on
    some assets of the estate; their archetypes count in the expected means.
    """
    covered = list(covered_pairs)
    weights = _weights(shape.cloud, assets, covered)
    counts = _mix(weights, assets, covered)
    total_count = sum(counts.values())
    platforms = {name: _platform_mix(ARCHETYPES[name]) for name in ARCHETYPES}

    def software_mean(k: float) -> float:
        acc = 0.0
        for name, n in counts.items():
            arch = ARCHETYPES[name]
            kept = 1 - SOFTWARE_MISSING_RATIO if arch.software_range[0] >= SOFTWARE_MISSING_MIN else 1.0
            spans = _software_spans(arch, k, software_max, platforms[name])
            acc += n * kept * sum(share * _floor_mean(spans[p]) for p, share in platforms[name].items())
        return acc / total_count

    def ports_mean(k: float) -> float:
        return sum(n * _floor_mean(_ports_span(ARCHETYPES[name], k)) for name, n in counts.items()) / total_count

    def interfaces_mean(k: float) -> float:
        return sum(n * _floor_mean(_interfaces_span(ARCHETYPES[name], k)) for name, n in counts.items()) / total_count

    def volumes_mean(k: float) -> float:
        acc = 0.0
        for name, n in counts.items():
            spans = _volume_spans(ARCHETYPES[name], k, platforms[name])
            acc += n * sum(share * _floor_mean(spans[p]) for p, share in platforms[name].items())
        return acc / total_count

    means = {"software": software_mean, "ports": ports_mean, "interfaces": interfaces_mean, "volumes": volumes_mean}
    scales: dict[str, float] = {}
    expected: dict[str, float] = {}
    for name, mean in means.items():
        target: float | None = getattr(shape, name)
        k = 1.0 if target is None else _solve(name, target, mean, software_max)
        scales[name] = k
        expected[name] = mean(k)
    if counts:
        expected["cloud"] = counts.get(_CLOUD, 0.0) / total_count

    spans = {
        name: ArchSpans(
            software=_software_spans(arch, scales["software"], software_max, sorted(sw.CATALOG)),
            ports=_ports_span(arch, scales["ports"]),
            interfaces=_interfaces_span(arch, scales["interfaces"]),
            volumes=_volume_spans(arch, scales["volumes"], sorted(sw.CATALOG)),
        )
        for name, arch in ARCHETYPES.items()
    }
    cumulative: list[int] = []
    running = 0
    for _, w in weights:
        running += w
        cumulative.append(running)
    return ShapeTable(
        shape=shape,
        archetypes=tuple(ARCHETYPES[name] for name, _ in weights),
        cumulative=tuple(cumulative),
        total=running,
        spans=spans,
        scales=scales,
        expected=expected,
    )


def _solve(name: str, target: float, mean: Callable[[float], float], software_max: int) -> float:
    """Smallest scale whose expected mean reaches ``target`` (bisection; the mean is monotone in k)."""
    lowest, highest = mean(0.0), mean(_K_MAX)
    if target < lowest - 1e-6 or target > highest * 1.0001 + 1e-6:
        limit = f" with software_max={software_max}" if name == "software" else ""
        raise ValueError(
            f"shape {name}={target:g} is out of reach: the estate can average {lowest:.3g} to {highest:.4g}{limit}"
        )
    lo, hi = 0.0, _K_MAX
    for _ in range(64):
        mid = (lo + hi) / 2
        if mean(mid) < target:
            lo = mid
        else:
            hi = mid
    return hi
