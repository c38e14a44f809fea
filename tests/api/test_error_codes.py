"""Every error answer carries a stable `code`, also those FastAPI and Starlette raise themselves:
unknown paths, wrong methods, request validation; and the schema documents them. A real server
on 127.0.0.1 (the module's shared one)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import websockets.exceptions
import websockets.sync.client as ws_client

from trafficatlas.api.models.common import ErrorResponse, ValidationErrorResponse
from trafficatlas.api.schema import openapi_schema

from support.apiserver import LiveApi

pytestmark = pytest.mark.network


def error(r: httpx.Response, status: int, code: str) -> ErrorResponse:
    """The body of ``r``, checked against the documented error model."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    body = ErrorResponse.model_validate_json(r.content)
    assert body.code == code
    return body


@pytest.mark.parametrize("path", ["/api/nope", "/api/metrics/geo/nowhere", "/api", "/metrics/x"])
def test_unknown_api_path_is_404_not_found(api: LiveApi, path: str) -> None:
    with api.client(api.tokens["admin"]) as c:
        body = error(c.get(path), 404, "not_found")
    assert body.detail == "Not Found"  # what the dashboard reads as "no such route"


def test_unknown_path_needs_no_credentials_to_be_404(api: LiveApi) -> None:
    with api.client() as c:
        error(c.post("/api/nope/deeper"), 404, "not_found")


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("POST", "/api/metrics/geo/countries", "GET"),
        ("DELETE", "/api/health", "GET"),
        ("PUT", "/api/users", "GET, POST"),
        ("POST", "/metrics", "GET"),
    ],
)
def test_wrong_method_is_405_with_allow(api: LiveApi, method: str, path: str, allow: str) -> None:
    with api.client(api.tokens["admin"]) as c:
        r = c.request(method, path)
    body = error(r, 405, "method_not_allowed")
    assert body.detail == "Method Not Allowed"
    assert sorted(r.headers["allow"].split(", ")) == sorted(allow.split(", "))


def test_writes_to_dashboard_pages_are_405_with_code(api: LiveApi) -> None:
    with api.client(api.tokens["admin"]) as c:
        r = c.post("/countries")
    error(r, 405, "method_not_allowed")
    assert r.headers["allow"] == "GET, HEAD"


@pytest.mark.parametrize(
    ("params", "field", "mentions"),
    [
        ({"limit": 0}, "limit", "greater than"),  # FastAPI's own validation
        ({"proto": "tcp"}, "proto", "integer"),
        ({"since": "yesterday-ish"}, "since", "not a time"),  # raised by the range dependency
        ({"since": "1h", "until": "2h"}, "until", "later than"),
    ],
)
def test_bad_query_parameter_is_422_with_code_and_field(
    api: LiveApi, params: dict[str, Any], field: str, mentions: str
) -> None:
    with api.client(api.tokens["viewer"]) as c:
        r = c.get("/api/metrics/geo/countries", params=params)
    assert r.status_code == 422, r.text
    body = ValidationErrorResponse.model_validate_json(r.content)
    assert body.code == "invalid_parameter" and body.field == field
    # FastAPI's list of issues stays the detail: where, what, and the value refused
    assert body.detail[0].loc[:2] == ["query", field]  # list parameters add the index
    assert mentions in body.detail[0].msg
    assert body.detail[0].input == str(params[field])


def test_bad_body_field_is_422_with_the_field(api: LiveApi) -> None:
    with api.client() as c:
        missing = c.post("/api/auth/login", json={"username": "admin"})
        not_json = c.post(
            "/api/auth/login", content=b"{", headers={"Content-Type": "application/json"}
        )
    body = ValidationErrorResponse.model_validate_json(missing.content)
    assert missing.status_code == 422 and body.code == "invalid_parameter"
    assert body.field == "password" and body.detail[0].loc == ["body", "password"]
    assert not_json.status_code == 422
    assert ValidationErrorResponse.model_validate_json(not_json.content).code == "invalid_parameter"


def test_routes_own_http_errors_get_codes(api: LiveApi) -> None:
    with api.client(api.tokens["admin"]) as c:
        peer = error(c.get("/api/metrics/peers/no-such-peer/geo"), 404, "not_found")
        token = error(c.delete("/api/tokens/no-such-token"), 404, "not_found")
        last_admin = error(c.patch("/api/users/admin", json={"role": "viewer"}), 409, "conflict")
    assert "no-such-peer" in peer.detail and "no-such-token" in token.detail
    assert "last enabled admin" in last_admin.detail


def test_live_handshake_refusal_has_a_code(api: LiveApi) -> None:
    url = api.base_url.replace("http://", "ws://") + "/api/live"
    with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
        ws_client.connect(url, open_timeout=10)
    response = refused.value.response
    assert response.status_code == 401
    assert json.loads(response.body or b"{}")["code"] == "unauthenticated"


def test_schema_documents_the_error_models() -> None:
    schema = openapi_schema()
    components = schema["components"]["schemas"]
    assert "HTTPValidationError" not in components and "ValidationError" not in components
    assert set(components["ErrorResponse"]["required"]) == {"detail", "code"}
    assert {"not_found", "method_not_allowed", "invalid_parameter"} <= set(
        components["ErrorResponse"]["properties"]["code"]["enum"]
    )
    invalid = components["ValidationErrorResponse"]
    assert set(invalid["required"]) == {"detail", "code", "field"}
    assert invalid["properties"]["code"]["const"] == "invalid_parameter"
    answers = [
        op["responses"]["422"]
        for item in schema["paths"].values()
        for op in item.values()
        if "422" in op["responses"]
    ]
    assert len(answers) > 10
    refs = {a["content"]["application/json"]["schema"]["$ref"] for a in answers}
    assert refs == {"#/components/schemas/ValidationErrorResponse"}
    assert components["LiveUnavailable"]["properties"]["type"]["const"] == "unavailable"
