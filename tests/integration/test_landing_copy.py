"""Landing rows: software rows a CSAM page prebuilt in COPY text land exactly as the generic row path lands them,
and each product lands once per record."""

from __future__ import annotations

import io
import json

from qualys_cmdb.config import DetailFlags
from qualys_cmdb.intake.csam import parse_csam_page
from qualys_cmdb.intake.landing import LandingWriter
from qualys_cmdb.staging.schema import landing_software, landing_software_product
from sqlalchemy import select

AWKWARD = ["tab\there", "new\nline", "back\\slash \\N", "carriage\rreturn", "ünïcødé ✓", "\\.", "quote ' \" ,"]


def _landed(engine, prebuilt: bool) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:  # type: ignore[no-untyped-def]
    software = [
        {
            "id": 2**63 + n,
            "fullName": name,
            "version": "1.0",
            "installPath": f"C:\\{name}",
            "isIgnored": n % 2 == 0,
            "installDate": "2024-01-02T03:04:05.000Z",
            "lifecycle": {"eolDate": "2030-01-01T00:00:00Z"},
        }
        for n, name in enumerate(AWKWARD)
    ] + [{"id": 1}]  # a row of NULLs but its id
    page = {"assetListData": {"asset": [{"assetId": 7, "softwareListData": {"software": software * 2}}]}}
    (record,) = parse_csam_page(io.BytesIO(json.dumps(page).encode()), "src", DetailFlags())
    assert len(record.software_copy) == len(record.software) == 2 * len(software)
    if not prebuilt:
        record.software_copy = []
    with engine.connect() as conn:
        writer = LandingWriter(conn, queue_id=1)
        writer.add(record)
        writer.close()
        rows = [tuple(r) for r in conn.execute(select(landing_software).order_by(landing_software.c.software_id))]
        products = [
            tuple(r)
            for r in conn.execute(select(landing_software_product).order_by(landing_software_product.c.software_key))
        ]
        conn.rollback()
    return rows, products


def test_prebuilt_copy_lines_land_like_rows(staging) -> None:  # type: ignore[no-untyped-def]
    (fast, fast_products), (generic, generic_products) = _landed(staging, True), _landed(staging, False)
    assert fast == generic and fast_products == generic_products
    assert len(fast) == 2 * len(AWKWARD) + 2  # every install, twice
    assert len(fast_products) == len(AWKWARD) + 1  # every product, once
    names = {r[1]: r[2] for r in fast_products}  # software_key → name
    assert [names[r[3]] for r in fast[2:16:2]] == AWKWARD  # names back exactly, escapes and all
    assert fast[0][-5:] == (1, None, None, None, None)
