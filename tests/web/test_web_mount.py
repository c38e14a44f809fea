"""mount_web: the built dashboard, the not-built page, SPA fallback, caching, API paths kept."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from trafficatlas.web import DEFAULT_DIST, is_built, mount_web

INDEX = '<!doctype html><html><body><div id="app"></div><script src="/assets/index-3f2a1b.js"></script></body></html>'
SCRIPT = "console.log('trafficatlas');\n"


def make_dist(root: Path) -> Path:
    dist = root / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text(INDEX)
    (dist / "assets" / "index-3f2a1b.js").write_text(SCRIPT)
    (dist / "assets" / "index-9c8d7e.css").write_text("body{margin:0}")
    (dist / "favicon.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"/>')
    return dist


def make_app(dist: Path) -> FastAPI:
    app = FastAPI()

    @app.get("/api/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/api/auth/login")
    def login() -> dict[str, bool]:
        return {"ok": True}

    mount_web(app, dist)
    return app


@contextlib.contextmanager
def serve(app: FastAPI) -> Iterator[httpx.Client]:
    """Run ``app`` with uvicorn on 127.0.0.1 in a thread; yields a client for it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        sock.close()


def raw_get(client: httpx.Client, target: str) -> tuple[int, bytes]:
    """GET with the request target sent as is (clients normalise '..' away)."""
    url = client.base_url
    assert url.host is not None and url.port is not None
    with socket.create_connection((url.host, url.port), timeout=10) as s:
        s.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


@pytest.fixture
def built(tmp_path: Path) -> Iterator[httpx.Client]:
    with serve(make_app(make_dist(tmp_path))) as client:
        yield client


@pytest.fixture
def unbuilt(tmp_path: Path) -> Iterator[httpx.Client]:
    with serve(make_app(tmp_path / "dist")) as client:
        yield client


def test_root_serves_index_revalidated_with_security_headers(built: httpx.Client) -> None:
    r = built.get("/")
    assert r.status_code == 200
    assert r.text == INDEX
    assert r.headers["content-type"].startswith("text/html")
    assert r.headers["cache-control"] == "no-cache"
    assert "etag" in r.headers
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["x-content-type-options"] == "nosniff"


def test_hashed_assets_are_immutable(built: httpx.Client) -> None:
    r = built.get("/assets/index-3f2a1b.js")
    assert r.status_code == 200
    assert r.text == SCRIPT
    assert "javascript" in r.headers["content-type"]
    assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
    css = built.get("/assets/index-9c8d7e.css")
    assert css.headers["content-type"].startswith("text/css")


def test_other_files_are_revalidated(built: httpx.Client) -> None:
    r = built.get("/favicon.svg")
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-cache"
    assert "content-security-policy" not in r.headers


@pytest.mark.parametrize(
    "path", ["/countries", "/asn", "/peers/wg-7", "/live", "/settings/", "/login?next=%2Fpeers"]
)
def test_client_routes_fall_back_to_the_page(built: httpx.Client, path: str) -> None:
    r = built.get(path)
    assert r.status_code == 200
    assert r.text == INDEX
    assert r.headers["cache-control"] == "no-cache"


@pytest.mark.parametrize("path", ["/assets/index-000000.js", "/assets/nothing", "/robots.txt"])
def test_missing_files_are_404_not_the_page(built: httpx.Client, path: str) -> None:
    r = built.get(path)
    assert r.status_code == 404
    assert INDEX not in r.text
    assert r.headers["cache-control"] == "no-store"


def test_api_routes_still_answer(built: httpx.Client) -> None:
    assert built.get("/api/health").json() == {"status": "ok"}
    assert built.post("/api/auth/login").json() == {"ok": True}


@pytest.mark.parametrize(
    "path", ["/api", "/api/", "/api/nope", "/api/metrics/geo/nowhere", "/metrics", "/metrics/x"]
)
def test_unknown_api_paths_are_json_404(built: httpx.Client, path: str) -> None:
    r = built.get(path)
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/json"
    assert r.json() == {"detail": "Not Found"}


def test_prefix_lookalikes_are_client_routes(built: httpx.Client) -> None:
    # only the whole first segment is reserved
    assert built.get("/apis").text == INDEX
    assert built.get("/metricsboard").text == INDEX


def test_writes_to_pages_are_refused(built: httpx.Client) -> None:
    r = built.post("/countries")
    assert r.status_code == 405
    assert r.headers["allow"] == "GET, HEAD"


def test_head_and_conditional_get(built: httpx.Client) -> None:
    head = built.head("/peers")
    assert head.status_code == 200
    assert head.content == b""
    etag = built.get("/").headers["etag"]
    again = built.get("/peers", headers={"If-None-Match": etag})
    assert again.status_code == 304
    asset = built.get("/assets/index-3f2a1b.js")
    cached = built.get("/assets/index-3f2a1b.js", headers={"If-None-Match": asset.headers["etag"]})
    assert cached.status_code == 304


def test_no_escape_from_the_folder(tmp_path: Path, built: httpx.Client) -> None:
    (tmp_path / "secret.txt").write_text("do not serve")
    for target in ["/../secret.txt", "/assets/../../secret.txt", "/%2e%2e/secret.txt"]:
        status, body = raw_get(built, target)
        assert b"do not serve" not in body
        assert status in (200, 404)
    assert built.get("/" + "a" * 5000 + ".js").status_code == 404
    assert built.get("/x%00y.js").status_code == 404


def test_unbuilt_serves_build_instructions(tmp_path: Path, unbuilt: httpx.Client) -> None:
    for path in ["/", "/countries", "/assets/index-3f2a1b.js"]:
        r = unbuilt.get(path)
        assert r.status_code == 503
        assert r.headers["content-type"].startswith("text/html")
        assert r.headers["cache-control"] == "no-store"
        assert "web UI is not built" in r.text
        assert "npm ci" in r.text
        assert "npm run build" in r.text
        assert "scripts/build_frontend.sh" in r.text
        assert str(tmp_path / "dist") in r.text
    assert unbuilt.get("/api/health").json() == {"status": "ok"}
    assert unbuilt.get("/api/nope").status_code == 404


def test_building_while_running_takes_effect(tmp_path: Path, unbuilt: httpx.Client) -> None:
    assert unbuilt.get("/").status_code == 503
    make_dist(tmp_path)
    r = unbuilt.get("/overview")
    assert r.status_code == 200
    assert r.text == INDEX


def test_default_folder_is_in_the_package() -> None:
    assert DEFAULT_DIST.parent.name == "web"
    assert DEFAULT_DIST.name == "dist"
    assert (DEFAULT_DIST.parent / "mount.py").is_file()
    assert is_built(DEFAULT_DIST) == (DEFAULT_DIST / "index.html").is_file()
    assert not is_built(DEFAULT_DIST / "no-such-folder")
