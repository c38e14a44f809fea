"""Serve the built dashboard from a folder: hashed assets cached for good, the page revalidated.

Client-side routes (``/countries``, ``/peers/wg-1``...) get ``index.html`` so a reload or a shared
link works; paths under ``/api`` and ``/metrics`` never reach the mount, so the app's router
answers them: a JSON 404 for an API typo instead of a page, a 405 for a method an API path does
not take. The folder is checked on every request, so building the UI while the server
runs takes effect without a restart.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Final

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, Response
from starlette.routing import Match, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from trafficatlas.web.notbuilt import not_built_page

DEFAULT_DIST: Final = Path(__file__).resolve().parent / "dist"
# First path segments owned by the API: never answered with the SPA page.
RESERVED_PREFIXES: Final = ("api", "metrics")
ASSETS_DIR: Final = "assets"

# Vite puts a content hash in every asset name: a changed file gets a new name.
IMMUTABLE: Final = "public, max-age=31536000, immutable"
# The page names the current assets: always ask the server (ETag makes that a cheap 304).
REVALIDATE: Final = "no-cache"
# What the page may load: only this origin (the map ships its shapes; no tile server, no CDN).
# ECharts and Vue set inline style attributes, hence 'unsafe-inline' for styles only.
CSP: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self'; connect-src 'self'; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
PAGE_HEADERS: Final = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def is_built(dist: Path) -> bool:
    """Whether ``dist`` holds a built UI (its ``index.html``)."""
    return (dist / "index.html").is_file()


def _reserved(path: str) -> bool:
    # ``path`` is relative to the mount at "/" and normalised ("api/x/../y" is "api/y").
    return any(path == p or path.startswith(p + os.sep) for p in RESERVED_PREFIXES)


def _looks_like_file(path: str) -> bool:
    # A missing "/assets/x.js" must be a 404, not the page (the browser would run HTML as JS).
    if path == os.curdir:  # the root itself
        return False
    first, _, _ = path.partition(os.sep)
    return first == ASSETS_DIR or "." in os.path.basename(path)


class WebFiles(StaticFiles):
    """ASGI app for the dashboard folder: files, SPA fallback, caching and security headers."""

    def __init__(self, dist: Path) -> None:
        super().__init__(directory=dist, check_dir=False)
        self.dist = dist

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The base class insists the folder exists; an unbuilt UI has a page of its own.
        self.config_checked = True
        await super().__call__(scope, receive, send)

    async def get_response(self, path: str, scope: Scope) -> Response:
        """The file, the SPA page, or a 404/405/503 that says why."""
        # Raised, not answered: the app's exception handlers shape the JSON (with its code).
        if _reserved(path):  # only "/x/../api/..." gets here (see WebMount)
            raise HTTPException(404)
        if scope["method"] not in ("GET", "HEAD"):
            raise HTTPException(405, headers={"Allow": "GET, HEAD"})
        if not is_built(self.dist):
            headers = {"Cache-Control": "no-store", **PAGE_HEADERS}
            return HTMLResponse(not_built_page(self.dist), status_code=503, headers=headers)
        try:
            full_path, st = self.lookup_path(path)
        except (OSError, ValueError):  # name too long, NUL byte: cannot be one of our files
            full_path, st = "", None
        if st is not None and stat.S_ISREG(st.st_mode):
            response = self.file_response(full_path, st, scope)
            if path.startswith(ASSETS_DIR + os.sep):
                response.headers["Cache-Control"] = IMMUTABLE
            else:
                response.headers["Cache-Control"] = REVALIDATE
                if path.endswith(".html"):
                    response.headers.update(PAGE_HEADERS)
            response.headers["X-Content-Type-Options"] = "nosniff"
            return response
        if _looks_like_file(path):
            return Response(
                "Not Found",
                status_code=404,
                media_type="text/plain",
                headers={"Cache-Control": "no-store"},
            )
        return self._page(scope)

    def _page(self, scope: Scope) -> Response:
        full_path, st = self.lookup_path("index.html")
        if st is None:  # removed between the check and now (a rebuild in progress)
            return Response("Service Unavailable", status_code=503, media_type="text/plain")
        response = self.file_response(full_path, st, scope)
        response.headers["Cache-Control"] = REVALIDATE
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers.update(PAGE_HEADERS)
        return response


class WebMount(Mount):
    """The mount at ``/`` that leaves ``/api`` and ``/metrics`` to the app's router.

    A mount at ``/`` matches every path fully, and Starlette prefers a full match to the partial
    one of a route with another method: POST to a GET-only API path would get the mount's 404
    instead of a 405. Not matching API paths lets the router answer (404 or 405 with Allow).
    """

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        path: str = scope["path"]
        root = scope.get("root_path", "")
        if root and path.startswith(root + "/"):
            path = path[len(root) :]
        if path.lstrip("/").split("/", 1)[0] in RESERVED_PREFIXES:
            return Match.NONE, {}
        return super().matches(scope)


def mount_web(app: FastAPI, dist: Path | None = None) -> None:
    """Serve the dashboard at ``/`` of ``app`` from ``dist`` (default: the packaged build).

    Call it after every API route is registered: the mount answers every path no earlier route
    matched, except under ``/api`` and ``/metrics`` (the router's JSON 404 or 405).
    """
    files = WebFiles(dist if dist is not None else DEFAULT_DIST)
    app.router.routes.append(WebMount("/", app=files, name="web"))
