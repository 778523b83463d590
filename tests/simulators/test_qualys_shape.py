"""Estate shape of the Qualys simulator: target averages of list sizes and the cloud fraction."""

from __future__ import annotations

from typing import Any

import pytest

from simulators.qualys.estate import Estate
from simulators.qualys.server import QualysSimulator, build_parser
from simulators.qualys.shape import EstateShape, ShapeLike

BENCH_SHAPE = "software=120,ports=8,interfaces=2,volumes=3,cloud=0.1"
OTHER_SHAPE = {"software": 60, "ports": 3, "interfaces": 1.5, "volumes": 1.2, "cloud": 0.35}
SIZES = ("software", "ports", "interfaces", "volumes")

# Asset summaries of today's unshaped Estate(2000, 1, 400), which must never change:
# index -> (assetId, name, address, hardware, (software, ports, interfaces, volumes), cloud provider).
UNSHAPED_2000_1 = {
    0: (10000004, "nyc-mob00031.mgmt.acme-demo.net", "10.40.0.2", "Smartphone", (8, 1, 1, 0), None),
    4: (10000011, "vm-fra-app31707.internal.cloudapp.net", "10.110.0.6", "Cloud Instance", (167, 5, 1, 2), "azure"),
    7: (10001124, "SYD-WS55464.corp.acme-demo.com", "10.20.0.9", "Assembled", (49, 2, 2, 1), None),
    123: (10011068, "sgp-sw74068.mgmt.acme-demo.net", "10.30.0.125", "Server Load Balancer", (1, 4, 8, 0), None),
    1999: (10249958, "chi-lnx30112.dc1.acme-demo.net", "10.10.7.251", "Server", (216, 4, 3, 5), None),
}


def _assets(estate: Estate) -> list[dict[str, Any]]:
    assets = estate.summary()["assets"]
    assert isinstance(assets, list)
    return assets


def _means(estate: Estate) -> dict[str, float]:
    assets = _assets(estate)
    means = {key: sum(a[key] for a in assets) / len(assets) for key in SIZES}
    means["cloud"] = sum(1 for a in assets if a["cloud_provider"]) / len(assets)
    return means


@pytest.mark.parametrize("shape", [BENCH_SHAPE, OTHER_SHAPE], ids=["bench", "other"])
def test_estate_means_hit_the_shape(shape: str | dict[str, float]) -> None:
    estate = Estate(3000, 1, 400, shape=shape)
    means = _means(estate)
    targets = EstateShape.of(shape)
    assert targets is not None
    for key in SIZES:
        target = getattr(targets, key)
        assert abs(means[key] / target - 1) <= 0.05, (key, means[key], target)
    assert targets.cloud is not None
    assert abs(means["cloud"] - targets.cloud) <= 0.02, means["cloud"]
    assert estate.summary()["shape"] == targets.targets()


def test_shaped_estate_stays_varied_and_realistic() -> None:
    estate = Estate(3000, 1, 400, shape=BENCH_SHAPE)
    profiles = [estate.profile(i) for i in range(estate.size)]
    network = [p for p in profiles if p.archetype.name == "network"]
    servers = [p for p in profiles if p.archetype.name in ("windows_server", "linux_server")]
    assert network and servers
    # Network devices: no volumes, little or no software; servers carry more software than the average.
    assert all(p.n_volumes == 0 and p.n_software <= 6 for p in network)
    assert any(p.n_software == 0 for p in network)
    assert sum(p.n_software for p in servers) / len(servers) > 120
    # Values vary per asset and stay within the limits (software_max, port pools, volume names).
    assert len({p.n_software for p in profiles}) > 100
    assert len({p.n_ports for p in profiles}) > 5
    assert len({p.n_volumes for p in profiles}) > 3
    assert max(p.n_software for p in profiles) <= 400
    for index in range(0, estate.size, 97):
        detail = estate.detail(index)
        prof = detail.profile
        assert (len(detail.ports), len(detail.interfaces), len(detail.volumes), len(detail.software)) == (
            prof.n_ports,
            prof.n_ifaces,
            prof.n_volumes,
            prof.n_software,
        )


def test_software_max_still_caps_software_rows() -> None:
    estate = Estate(3000, 2, 150, shape="software=90")
    counts = [estate.profile(i).n_software for i in range(estate.size)]
    assert max(counts) <= 150
    assert abs(sum(counts) / len(counts) / 90 - 1) <= 0.05


def test_shaped_estate_is_deterministic() -> None:
    first = _assets(Estate(3000, 5, 400, shape=BENCH_SHAPE))
    second = _assets(Estate(3000, 5, 400, shape=EstateShape.parse(BENCH_SHAPE)))
    assert first == second
    other_seed = _assets(Estate(3000, 6, 400, shape=BENCH_SHAPE))
    assert [a["software"] for a in first] != [a["software"] for a in other_seed]


def test_no_shape_is_exactly_todays_estate() -> None:
    unshaped = _assets(Estate(2000, 1, 400))
    for index, expected in UNSHAPED_2000_1.items():
        a = unshaped[index]
        sizes = tuple(a[key] for key in SIZES)
        got = (a["assetId"], a["name"], a["address"], a["hardware_category2"], sizes, a["cloud_provider"])
        assert got == expected, index
    empties: list[ShapeLike] = [None, "", {}, EstateShape()]
    for empty in empties:
        estate = Estate(2000, 1, 400, shape=empty)
        assert estate.shape is None
        assert _assets(estate) == unshaped
        assert "shape" not in estate.summary()
    means = _means(Estate(2000, 1, 400))
    assert round(means["software"]) == 145 and round(means["cloud"], 2) == 0.11


def test_shape_parsing_and_errors() -> None:
    shape = EstateShape.parse(" software=120, ports=8 ,cloud=0.1 ")
    assert shape.targets() == {"software": 120.0, "ports": 8.0, "cloud": 0.1}
    assert str(shape) == "software=120,ports=8,cloud=0.1"
    for bad in ("software", "bogus=1", "software=x", "software=1,software=2", "interfaces=0.5", "cloud=1.5"):
        with pytest.raises(ValueError):
            EstateShape.parse(bad)
    with pytest.raises(ValueError, match="out of reach"):
        Estate(3000, 1, 400, shape="software=1000")
    with pytest.raises(ValueError, match="out of reach"):
        Estate(3000, 1, 400, shape="ports=40")


def test_simulator_and_cli_take_a_shape() -> None:
    args = build_parser().parse_args(["--shape", BENCH_SHAPE])
    assert args.shape == EstateShape.parse(BENCH_SHAPE)
    assert build_parser().parse_args([]).shape is None
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--shape", "software=abc"])
    sim = QualysSimulator(port=0, assets=300, seed=3, shape={"software": 100, "cloud": 0.2})
    assert sim.subscription.estate.shape == EstateShape(software=100, cloud=0.2)
    assert QualysSimulator(port=0, assets=300, seed=3).subscription.estate.shape is None


def test_millisecond_timestamps_are_formatted_as_strftime_formats_them() -> None:
    """CSAM dates come from lookup tables (a page has some 100,000); they must read as the plain formatting does."""
    import random
    import time

    from simulators.qualys.timefmt import iso_ms

    rng = random.Random(5)
    moments = [rng.randrange(-(10**12), 4 * 10**12) for _ in range(20_000)]
    moments += [0, -1, 999, 1000, 86_399_999, 86_400_000, -86_400_000, 1_767_225_600_000]
    for ms in moments:
        assert iso_ms(ms) == time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"
