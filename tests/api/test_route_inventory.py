"""Every registered route: 401 without credentials, 403 with the wrong role or scope.

The table below must name every route of the app (a new route without an entry fails the
test), with the credential that must be refused: a viewer for admin routes, a peer for routes
that show every peer, a peer asking for another peer on peer-scoped data routes, and an API
token for routes that need a login session. Only health and login are open; /metrics is open
only when configured so (this server requires a token for it).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import websockets.sync.client as ws_client
from fastapi.routing import APIRoute, APIWebSocketRoute
from websockets.exceptions import InvalidStatus

from support.apiserver import ADMIN_PASSWORD, LiveApi

pytestmark = pytest.mark.network

OPEN = {("GET", "/api/health"), ("POST", "/api/auth/login")}
OTHER_PEER = {"peer": "peer-b"}
TOKEN_BODY = {"name": "x", "scope": "read"}
USER_BODY = {"username": "newbie", "password": "a long enough password", "role": "viewer"}

# (method, path) -> (wrong credential, request extras for the wrong-credential request)
ROUTES: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {
    ("GET", "/api/openapi.json"): ("peer", {}),
    ("GET", "/api/docs"): ("peer", {}),
    ("GET", "/api/metrics/geo/countries"): ("peer", {"params": OTHER_PEER}),
    ("GET", "/api/metrics/geo/asn"): ("peer", {"params": OTHER_PEER}),
    ("GET", "/api/metrics/geo/cities"): ("peer", {"params": OTHER_PEER}),
    ("GET", "/api/metrics/geo/map"): ("peer", {"params": OTHER_PEER}),
    ("GET", "/api/metrics/geo/export"): ("peer", {"params": OTHER_PEER}),
    ("GET", "/api/metrics/timeseries"): ("peer", {"params": OTHER_PEER}),
    ("GET", "/api/metrics/peers"): ("peer", {"params": OTHER_PEER}),
    ("GET", "/api/metrics/peers/{peer_id}/geo"): ("peer", {}),
    ("PATCH", "/api/metrics/peers/{peer_id}"): ("viewer", {"json": {"name": "x"}}),
    ("GET", "/api/flows"): ("peer", {"params": OTHER_PEER}),
    ("GET", "/api/geoip"): ("peer", {}),
    ("POST", "/api/geoip/update"): ("viewer", {}),
    ("GET", "/api/lookup"): ("peer", {"params": {"ip": "8.8.8.8"}}),
    ("GET", "/api/users"): ("viewer", {}),
    ("POST", "/api/users"): ("viewer", {"json": USER_BODY}),
    ("PATCH", "/api/users/{username}"): ("viewer", {"json": {"disabled": True}}),
    ("GET", "/api/tokens"): ("viewer", {}),
    ("POST", "/api/tokens"): ("viewer", {"json": TOKEN_BODY}),
    ("DELETE", "/api/tokens/{token_id}"): ("viewer", {}),
    ("GET", "/api/audit"): ("viewer", {}),
    ("POST", "/api/auth/logout"): ("admin", {}),
    ("GET", "/api/auth/session"): ("admin", {}),
    ("POST", "/api/auth/password"): (
        "admin",
        {"json": {"current_password": ADMIN_PASSWORD, "new_password": "x" * 20}},
    ),
    ("POST", "/api/auth/totp/setup"): ("admin", {}),
    ("POST", "/api/auth/totp/enable"): ("admin", {"json": {"code": "123456"}}),
    ("POST", "/api/auth/totp/disable"): ("admin", {"json": {"password": ADMIN_PASSWORD}}),
    ("GET", "/metrics"): ("peer", {}),
    ("WS", "/api/live"): ("peer", {"params": OTHER_PEER}),
}
PATH_VALUES = {"peer_id": "peer-b", "username": "viewer", "token_id": "0123456789ab"}


def walk(routes: list[Any]) -> Iterator[APIRoute | APIWebSocketRoute]:
    for route in routes:
        if isinstance(route, APIRoute | APIWebSocketRoute):
            yield route
        elif hasattr(route, "original_router"):  # include_router(): the router's own routes
            yield from walk(route.original_router.routes)


def registered(api: LiveApi) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for route in walk(api.app.routes):
        if isinstance(route, APIRoute):
            out |= {(m, route.path) for m in route.methods if m != "HEAD"}
        else:
            out.add(("WS", route.path))
    # cross-check with the served schema, which FastAPI builds from the same routes
    schema = api.app.openapi()["paths"]
    documented = {(m.upper(), path) for path, ops in schema.items() for m in ops}
    assert documented <= out
    return out


def concrete(path: str) -> str:
    return path.format(**PATH_VALUES)


def ws_status(api: LiveApi, path: str, token: str | None, params: dict[str, str]) -> int:
    url = api.base_url.replace("http://", "ws://") + path
    if params:
        url += "?" + str(httpx.QueryParams(params))
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with ws_client.connect(url, additional_headers=headers, open_timeout=10):
            return 101
    except InvalidStatus as exc:
        return exc.response.status_code


def test_route_inventory_requires_auth_and_role(api: LiveApi) -> None:
    routes = registered(api)
    assert routes - OPEN == set(ROUTES), "every route needs an entry in ROUTES"
    with api.client() as anonymous:
        for method, path in sorted(ROUTES):
            wrong, extras = ROUTES[(method, path)]
            if method == "WS":
                assert ws_status(api, path, None, {}) == 401
                status = ws_status(api, path, api.tokens[wrong], extras.get("params", {}))
                assert status == 403, (method, path)
                assert ws_status(api, path, api.tokens["peer"], {}) == 101  # its own: fine
                continue
            r = anonymous.request(method, concrete(path))
            assert r.status_code == 401, (method, path, r.text)
            assert r.headers["www-authenticate"] == "Bearer"
            with api.client(api.tokens[wrong]) as c:
                r = c.request(method, concrete(path), **extras)
            assert r.status_code == 403, (method, path, r.text)
            assert r.json()["detail"]


def test_open_routes_answer_without_credentials(api: LiveApi) -> None:
    with api.client() as c:
        assert c.get("/api/health").json()["status"] == "ok"
        r = c.post("/api/auth/login", json={"username": "admin", "password": "wrong password"})
        assert r.status_code == 401


def test_bad_credentials_are_401(api: LiveApi) -> None:
    with api.client("tat_0123456789ab_forged") as c:
        assert c.get("/api/metrics/geo/countries").status_code == 401
    with api.client(headers={"Authorization": "Basic YWRtaW46YWRtaW4="}) as c:
        r = c.get("/api/metrics/geo/countries")
        assert r.status_code == 401 and "Bearer" in r.json()["detail"]
    with api.client(cookies={"trafficatlas_session": "made-up"}) as c:
        assert c.get("/api/metrics/geo/countries").status_code == 401
