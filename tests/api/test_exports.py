"""Exports: CSV parses with the csv module, has a header row, and its sums equal the JSON's
(and the store's); every format and dimension."""

from __future__ import annotations

import csv
import io

import pytest

from support.apiserver import LiveApi

pytestmark = pytest.mark.network

HEADERS = {
    "country": ["country", "name"],
    "asn": ["asn", "organization"],
    "city": ["country", "city", "latitude", "longitude"],
    "peer": ["peer", "name"],
}
VALUES = ["sent", "received", "total", "packets", "flows", "percent"]


@pytest.mark.parametrize("by", ["country", "asn", "city", "peer"])
def test_csv_and_json_exports_agree(api: LiveApi, by: str) -> None:
    params = {"since": "3d", "by": by}
    with api.client(api.tokens["viewer"]) as c:
        as_csv = c.get("/api/metrics/geo/export", params={**params, "format": "csv"})
        as_json = c.get("/api/metrics/geo/export", params={**params, "format": "json"})
    assert as_csv.status_code == 200 and as_json.status_code == 200
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert as_json.headers["content-type"] == "application/json"
    assert f"trafficatlas-{by}-" in as_csv.headers["content-disposition"]
    reader = csv.reader(io.StringIO(as_csv.text))
    header = next(reader)
    assert header == HEADERS[by] + VALUES
    rows = [dict(zip(header, r, strict=True)) for r in reader]
    data = as_json.json()
    meta = data["metadata"]
    assert len(rows) == len(data["rows"]) == meta["rows"] > 0
    for col in ("sent", "received", "total", "packets", "flows"):
        assert sum(int(r[col]) for r in rows) == sum(r[col] for r in data["rows"])
    expected = api.expected()
    assert sum(int(r["total"]) for r in rows) == meta["totals"]["total_bytes"]
    assert meta["totals"]["total_bytes"] == expected["total_bytes"]
    assert sum(int(r["sent"]) for r in rows) == expected["tx_bytes"]
    assert sum(int(r["received"]) for r in rows) == expected["rx_bytes"]
    assert sum(float(r["percent"]) for r in rows) == pytest.approx(100.0, abs=1e-3)
    assert meta["by"] == by and meta["generated_at"].endswith("Z")
    assert meta["since"] <= meta["until"]
    assert any(d["name"] == "bundled-country" for d in meta["source_databases"])
    assert "CC BY 4.0" in meta["attribution"]
    for csv_row, json_row in zip(rows, data["rows"], strict=True):
        for key in HEADERS[by]:
            value = json_row[key]
            assert csv_row[key] == ("" if value is None else str(value))


def test_export_honours_filters_and_peer_scope(api: LiveApi) -> None:
    params = {"since": "3d", "by": "peer", "format": "json"}
    with api.client(api.tokens["peer"]) as c:
        own = c.get("/api/metrics/geo/export", params=params).json()
    with api.client(api.tokens["viewer"]) as c:
        swiss = c.get(
            "/api/metrics/geo/export", params={**params, "by": "country", "country": "CH"}
        ).json()
    assert [r["peer"] for r in own["rows"]] == ["peer-a"]
    assert own["metadata"]["filters"] == {"peer": ["peer-a"]}
    assert own["metadata"]["totals"]["total_bytes"] == api.expected(peer="peer-a")["total_bytes"]
    assert [r["country"] for r in swiss["rows"]] == ["CH"]
