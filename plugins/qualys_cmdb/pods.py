"""The Qualys platforms (PODs): API server and gateway URL of each (reference/qualys-api.md §1)."""

from __future__ import annotations

from typing import NamedTuple


class Platform(NamedTuple):
    """One Qualys platform: the API server (FO + QPS) and the gateway (JWT, CSAM/GAV)."""

    name: str
    api_url: str
    gateway_url: str


PLATFORMS: dict[str, Platform] = {
    p.name: p
    for p in (
        Platform("US1", "https://qualysapi.qualys.com", "https://gateway.qg1.apps.qualys.com"),
        Platform("US2", "https://qualysapi.qg2.apps.qualys.com", "https://gateway.qg2.apps.qualys.com"),
        Platform("US3", "https://qualysapi.qg3.apps.qualys.com", "https://gateway.qg3.apps.qualys.com"),
        Platform("US4", "https://qualysapi.qg4.apps.qualys.com", "https://gateway.qg4.apps.qualys.com"),
        Platform("EU1", "https://qualysapi.qualys.eu", "https://gateway.qg1.apps.qualys.eu"),
        Platform("EU2", "https://qualysapi.qg2.apps.qualys.eu", "https://gateway.qg2.apps.qualys.eu"),
        Platform("EU3", "https://qualysapi.qg3.apps.qualys.it", "https://gateway.qg3.apps.qualys.it"),
        Platform("IN1", "https://qualysapi.qg1.apps.qualys.in", "https://gateway.qg1.apps.qualys.in"),
        Platform("CA1", "https://qualysapi.qg1.apps.qualys.ca", "https://gateway.qg1.apps.qualys.ca"),
        Platform("AE1", "https://qualysapi.qg1.apps.qualys.ae", "https://gateway.qg1.apps.qualys.ae"),
        Platform("UK1", "https://qualysapi.qg1.apps.qualys.co.uk", "https://gateway.qg1.apps.qualys.co.uk"),
        Platform("AU1", "https://qualysapi.qg1.apps.qualys.com.au", "https://gateway.qg1.apps.qualys.com.au"),
        Platform("KSA1", "https://qualysapi.qg1.apps.qualysksa.com", "https://gateway.qg1.apps.qualysksa.com"),
    )
}


def platform(name: str) -> Platform:
    """Return the platform called ``name`` (case-insensitive), or raise KeyError listing the known ones."""
    try:
        return PLATFORMS[name.upper()]
    except KeyError:
        raise KeyError(f"unknown Qualys POD {name!r}; known: {', '.join(PLATFORMS)}") from None
