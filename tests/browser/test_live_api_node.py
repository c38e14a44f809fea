"""The Live page on an API node (role = api, no pipeline): Chromium shows why there is no live
view, with the server's reason, instead of an empty page, and does not reconnect. A real API
node on 127.0.0.1 over a shared store, serving the built dashboard."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from demo_browser import SCREENSHOTS

from trafficatlas.api.app import create_app
from trafficatlas.runtime import Runtime
from trafficatlas.web import DEFAULT_DIST, is_built

from support.apiserver import ADMIN_PASSWORD, FAST_ARGON2, serve
from support.roles import SharedStore, settings

pytestmark = [pytest.mark.browser, pytest.mark.network]


@pytest.fixture
def api_node(tmp_path: Path) -> Iterator[str]:
    """An API node's base URL (admin password ADMIN_PASSWORD)."""
    if not is_built(DEFAULT_DIST):
        pytest.skip("the dashboard is not built (scripts/build_frontend.sh)")
    rt = Runtime(
        settings(tmp_path, "api", auth=dict(FAST_ARGON2)),
        store_opener=SharedStore(tmp_path / "shared.duckdb"),
    )
    rt.start()
    try:
        app = create_app(rt, admin_password=ADMIN_PASSWORD, console=io.StringIO())
        with serve(app) as url:
            yield url
    finally:
        rt.stop()


def test_live_page_on_an_api_node_explains_and_stays_closed(browser: Any, api_node: str) -> None:
    ctx = browser.new_context(base_url=api_node, viewport={"width": 1280, "height": 800})
    ctx.set_default_timeout(15_000)
    try:
        login = ctx.request.post(
            "/api/auth/login", data={"username": "admin", "password": ADMIN_PASSWORD}
        )
        assert login.ok, login.text()
        page = ctx.new_page()
        errors: list[str] = []
        sockets: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("websocket", lambda ws: sockets.append(ws.url))
        page.goto("/live")
        notice = page.get_by_test_id("live-unavailable")
        notice.wait_for()
        text = notice.inner_text()
        assert "The live view runs on collectors; this node serves history only." in text
        assert "no live view on this node (role = api)" in text  # the server's reason
        status = page.locator(".live-status")
        assert status.get_attribute("data-status") == "unavailable"
        assert status.locator("button").count() == 0
        time.sleep(2.5)  # past the first two reconnect delays (1 s, 2 s)
        assert len(sockets) == 1, sockets
        assert page.get_by_role("alert").count() == 0
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "live-api-node.png"), full_page=True)
        notice.get_by_role("link", name="overview").click()
        page.wait_for_url(f"{api_node}/")  # the overview, over stored traffic
        page.get_by_role("heading", name="Overview").wait_for()
        assert not errors, errors
    finally:
        ctx.close()
