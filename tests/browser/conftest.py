"""A `trafficatlas demo` subprocess and Debian's Chromium driven by Playwright (sync API)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from demo_browser import ADMIN_PASSWORD, CHROMIUM, CHROMIUM_ARGS, Demo, free_port


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """`trafficatlas demo` on a free port with a known admin password; stopped with SIGINT."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    tmp = tmp_path_factory.mktemp("demo")
    port = free_port()
    out, err = tmp / "stdout.log", tmp / "stderr.log"
    env = {**os.environ, "TRAFFICATLAS_ADMIN_PASSWORD": ADMIN_PASSWORD}
    with out.open("wb") as so, err.open("wb") as se:
        proc = subprocess.Popen(
            [sys.executable, "-m", "trafficatlas", "demo", "--port", str(port),
             "--history-days", "1", "--rate", "60", "--data-dir", str(tmp / "data")],
            stdout=so, stderr=se, env=env,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"the demo exited early:\n{err.read_text()}")
            try:
                if httpx.get(f"{url}/api/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"the demo did not answer:\n{err.read_text()}")
            time.sleep(0.2)
        running = Demo(url, tmp / "data", proc, err)
        yield running
        if running.client is not None:
            running.client.close()
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # what Ctrl-C does
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise AssertionError("the demo did not stop on SIGINT") from None
    log = err.read_text()
    assert proc.returncode == 0, log
    assert "Traceback" not in log, log
    assert f"Dashboard: {url}/" in log and ADMIN_PASSWORD in log, log


@pytest.fixture(scope="session")
def browser(demo: Demo) -> Iterator[Any]:
    """Debian's Chromium, headless, with background networking off."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="session")
def auth_state(demo: Demo, browser: Any, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Storage state of a logged-in admin (one login for the whole session)."""
    ctx = browser.new_context(base_url=demo.url)
    try:
        r = ctx.request.post(
            "/api/auth/login", data={"username": "admin", "password": ADMIN_PASSWORD}
        )
        assert r.ok, r.text()
        path = tmp_path_factory.mktemp("state") / "state.json"
        ctx.storage_state(path=str(path))
        return str(path)
    finally:
        ctx.close()


@pytest.fixture
def page(demo: Demo, browser: Any, auth_state: str) -> Iterator[Any]:
    """A logged-in desktop page (1440x900, dark theme)."""
    ctx = browser.new_context(
        base_url=demo.url,
        storage_state=auth_state,
        viewport={"width": 1440, "height": 900},
        accept_downloads=True,
        timezone_id="UTC",  # custom ranges in the URL are local times
    )
    ctx.set_default_timeout(15_000)
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield pg
    finally:
        ctx.close()
    assert not errors, errors
