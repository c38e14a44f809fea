"""The committed frontend/openapi.json is the app's schema, so the dashboard's generated client
cannot drift from the API; every operation has a stable, readable id."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute

from trafficatlas.api.app import create_app
from trafficatlas.api.models.common import ERROR_CODES
from trafficatlas.api.schema import FRONTEND_SCHEMA, openapi_schema, render
from trafficatlas.runtime import Runtime
from trafficatlas.settings import Settings

from support.apiserver import ADMIN_PASSWORD

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / FRONTEND_SCHEMA
SCRIPT = ROOT / "scripts" / "export_openapi.py"
GENERATED_TS = ROOT / "frontend" / "src" / "generated" / "openapi.ts"
OPENAPI_TS = ROOT / "frontend" / "node_modules" / ".bin" / "openapi-typescript"


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return openapi_schema()


def test_committed_schema_is_the_apps(schema: dict[str, Any]) -> None:
    committed = COMMITTED.read_text(encoding="utf-8")
    assert committed == render(schema), (
        "frontend/openapi.json differs from the API: run `uv run python scripts/export_openapi.py`"
        " and rebuild the frontend (scripts/build_frontend.sh)"
    )


def test_every_operation_has_a_stable_readable_id(schema: dict[str, Any]) -> None:
    ids = [op["operationId"] for item in schema["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", i) for i in ids), ids
    assert {"geo_countries", "peers_list", "peer_geo", "auth_login", "health"} <= set(ids)


def walk(routes: list[Any]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):  # include_router(): the router's own routes
            yield from walk(route.original_router.routes)


def test_every_route_names_its_operation_id(tmp_path: Path) -> None:
    """Ids written in the route, not derived from function names a refactoring may change."""
    app = create_app(
        Runtime(Settings(data_dir=tmp_path)), admin_password=ADMIN_PASSWORD, console=io.StringIO()
    )
    try:
        routes = [r for r in walk(app.routes) if r.include_in_schema]
    finally:
        app.state.ctx.metadata.close()
    assert len(routes) > 20
    assert [r.path for r in routes if r.operation_id is None] == []


def test_schema_describes_the_live_feed_and_error_codes(schema: dict[str, Any]) -> None:
    components = schema["components"]["schemas"]
    live = components["LiveMessage"]
    assert set(live["required"]) >= {"type", "totals", "countries", "asns", "points", "peers"}
    asn = components["LiveAsn"]["properties"]
    assert {"asn", "organization", "tx_bytes", "rx_bytes"} <= set(asn)
    code = components["ErrorResponse"]["properties"]["code"]
    assert tuple(code["enum"]) == ERROR_CODES and "totp_required" in ERROR_CODES
    peer = components["PeerRow"]["properties"]
    assert {"last_handshake", "endpoint"} <= set(peer)
    # every $ref points at a component that exists
    refs = set(re.findall(r'"#/components/schemas/([^"]+)"', json.dumps(schema)))
    assert refs <= set(components)


def test_the_script_writes_and_checks(tmp_path: Path) -> None:
    out = tmp_path / "openapi.json"
    run = [sys.executable, str(SCRIPT), "--output", str(out)]
    stale = subprocess.run([*run, "--check"], capture_output=True, text=True, check=False)
    assert stale.returncode == 1 and "out of date" in stale.stderr
    wrote = subprocess.run(run, capture_output=True, text=True, check=False)
    assert wrote.returncode == 0, wrote.stderr
    assert out.read_text(encoding="utf-8") == COMMITTED.read_text(encoding="utf-8")
    fresh = subprocess.run([*run, "--check"], capture_output=True, text=True, check=False)
    assert fresh.returncode == 0, fresh.stderr


@pytest.mark.skipif(
    not OPENAPI_TS.exists() or shutil.which("node") is None,
    reason="frontend/node_modules is not installed (npm ci in frontend/)",
)
def test_committed_typescript_types_match_the_schema(tmp_path: Path) -> None:
    """What the build generates from openapi.json is what is committed (offline, from
    node_modules)."""
    out = tmp_path / "openapi.ts"
    done = subprocess.run(
        [str(OPENAPI_TS), str(COMMITTED), "-o", str(out)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT / "frontend",
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert out.read_text(encoding="utf-8") == GENERATED_TS.read_text(encoding="utf-8"), (
        "src/generated/openapi.ts is stale: run `npm run gen:api` in frontend/"
    )
