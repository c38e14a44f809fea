"""Exports for reports: every row of one dimension as CSV (with a header row) or JSON."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from trafficatlas.api.deps import Authenticated, Ctx, scoped
from trafficatlas.api.errors import error_doc
from trafficatlas.api.models.common import Totals
from trafficatlas.api.models.traffic import (
    ExportBy,
    ExportFormat,
    ExportMetadata,
    ExportResponse,
    ExportRow,
    SourceDatabase,
)
from trafficatlas.api.params import TimeRange, filters, time_range
from trafficatlas.enrich.countries import country_name
from trafficatlas.query import Filters, TopRow, top
from trafficatlas.runtime import Runtime
from trafficatlas.store import Store

router = APIRouter(
    prefix="/api/metrics/geo", tags=["export"], responses=error_doc(400, 401, 403, 503)
)

VALUE_COLUMNS = ("sent", "received", "total", "packets", "flows", "percent")
KEY_COLUMNS: dict[str, tuple[str, ...]] = {
    "country": ("country", "name"),
    "asn": ("asn", "organization"),
    "city": ("country", "city", "latitude", "longitude"),
    "peer": ("peer", "name"),
}


def _row(by: str, x: TopRow) -> ExportRow:
    k, a = x.key, x.attrs
    fields: dict[str, Any] = {}
    if by == "country":
        fields = {"country": k["country"], "name": country_name(str(k["country"]))}
    elif by == "asn":
        fields = {"asn": int(k["asn"]), "organization": a.get("as_org")}
    elif by == "city":
        fields = {"country": k["country"], "city": k["city"]}
        fields["latitude"], fields["longitude"] = a.get("lat"), a.get("lon")
    else:
        fields = {"peer": k["peer"], "name": a.get("peer_name")}
    return ExportRow(
        **fields,
        sent=x.bytes_sent,
        received=x.bytes_received,
        total=x.bytes,
        packets=x.packets,
        flows=x.flows,
        percent=round(x.percent, 6),
    )


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).isoformat().replace("+00:00", "Z")


def build_export(
    store: Store, runtime: Runtime, by: ExportBy, f: Filters, rng: TimeRange
) -> ExportResponse:
    """Every group of ``by`` (no limit: exports are never cut) with metadata."""
    from trafficatlas.enrich.bundled import attribution

    r = top(store, [by], f, None, rng.since, rng.until)
    dbs = runtime.geo.databases() if runtime.geo is not None else []
    meta = ExportMetadata(
        by=by,
        requested_since=r.requested_since,
        requested_until=r.requested_until,
        since=_iso(r.since),
        until=_iso(r.until),
        generated_at=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        filters={name: list(values) for name, values in f.conditions()},
        source_databases=[
            SourceDatabase(
                name=d.name,
                build_date=_iso(d.build_epoch)[:10] if d.build_epoch else None,
                license=d.license,
            )
            for d in dbs
        ],
        attribution=attribution(),
        rows=len(r.rows),
        totals=Totals.of(r.totals),
    )
    return ExportResponse(metadata=meta, rows=[_row(by, x) for x in r.rows])


def _cell(value: Any) -> Any:
    # Spreadsheets run cells starting with these as formulas (names come from databases).
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value


def to_csv(export: ExportResponse) -> str:
    """The rows as CSV: a header row, then one row per group."""
    columns = KEY_COLUMNS[export.metadata.by] + VALUE_COLUMNS
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in export.rows:
        data = row.model_dump()
        writer.writerow([_cell(data[c]) for c in columns])
    return out.getvalue()


@router.get(
    "/export",
    operation_id="geo_export",
    response_model=ExportResponse,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
async def export(
    ctx: Ctx,
    principal: Authenticated,
    rng: Annotated[TimeRange, Depends(time_range)],
    where: Annotated[Filters, Depends(filters)],
    format: Annotated[ExportFormat, Query(description="csv or json.")] = "csv",
    by: Annotated[ExportBy, Query(description="One row per country, asn, city or peer.")] = (
        "country"
    ),
) -> Response:
    """Download traffic by country/ASN/city/peer: CSV (sent, received, total, ...) or JSON."""
    f = scoped(where, principal)
    result = await run_in_threadpool(build_export, ctx.store(), ctx.runtime, by, f, rng)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    name = f"trafficatlas-{by}-{stamp}.{format}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if format == "csv":
        return Response(to_csv(result), media_type="text/csv; charset=utf-8", headers=headers)
    return Response(result.model_dump_json(), media_type="application/json", headers=headers)
