"""The OpenAPI schema of the network app, built without a server, for the dashboard's client.

`scripts/export_openapi.py` writes it to `frontend/openapi.json`, the TypeScript types are
generated from that file, and a test compares it with the app's current schema, so the client
cannot drift from the API unnoticed.
"""

from __future__ import annotations

import io
import json
import secrets
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI
    from fastapi.routing import APIRoute

# The committed copy the frontend's types are generated from (relative to the repository root).
FRONTEND_SCHEMA = Path("frontend") / "openapi.json"
_REF = "#/components/schemas/"
VALIDATION_ERROR = (
    "A parameter or body field failed validation: `code` is `invalid_parameter`, `field` "
    "names the first refused one, `detail` lists every issue."
)


def operation_id(route: APIRoute) -> str:
    """Operation id of a route that names none: its function's name.

    Every route names its own (``operation_id="geo_countries"``), so a refactoring cannot
    rename the client's calls; this fallback only keeps new routes readable until they do.
    """
    return route.name


def install(app: FastAPI) -> None:
    """Add what the paths cannot describe to the app's schema: the live feed's messages, and
    the 422 answers' ``code`` and ``field`` (FastAPI documents its plain validation error)."""
    from pydantic.json_schema import models_json_schema

    from trafficatlas.api.models.common import ValidationErrorResponse
    from trafficatlas.api.models.live import LiveMessage, LiveUnavailable

    base = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = base()  # FastAPI's own, cached on the app
        _, extra = models_json_schema(
            [
                (LiveMessage, "serialization"),
                (LiveUnavailable, "serialization"),
                (ValidationErrorResponse, "serialization"),
            ],
            ref_template="#/components/schemas/{model}",
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for name, definition in extra.get("$defs", {}).items():
            if components.setdefault(name, definition) != definition:
                raise RuntimeError(f"two different models are called {name} in the schema")
        _replace_validation_error(schema, ValidationErrorResponse.__name__)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _replace_validation_error(schema: dict[str, Any], model: str) -> None:
    """Point FastAPI's 422 answers at ``model`` (what errors.py answers) and drop FastAPI's own
    validation-error components once nothing refers to them."""
    old = f"{_REF}HTTPValidationError"
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            answer = operation.get("responses", {}).get("422", {})
            body = answer.get("content", {}).get("application/json", {})
            if body.get("schema", {}).get("$ref") == old:
                body["schema"] = {"$ref": f"{_REF}{model}"}
                answer["description"] = VALIDATION_ERROR
    components = schema.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        if name in components and f'"{_REF}{name}"' not in json.dumps(schema):
            del components[name]


def openapi_schema() -> dict[str, Any]:
    """The network app's schema, from a runtime that is never started, on a temporary data dir
    (the routes and models make the schema; no server, store or database is needed)."""
    from trafficatlas.api.app import create_app
    from trafficatlas.runtime import Runtime
    from trafficatlas.settings import Settings

    with tempfile.TemporaryDirectory(prefix="trafficatlas-openapi-") as tmp:
        app = create_app(
            Runtime(Settings(data_dir=Path(tmp))),
            admin_password=secrets.token_urlsafe(18),
            console=io.StringIO(),
        )
        try:
            return app.openapi()
        finally:
            app.state.ctx.metadata.close()


def render(schema: dict[str, Any]) -> str:
    """Stable text of a schema: sorted keys, two-space indent, a final newline."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
