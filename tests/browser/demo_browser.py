"""What the browser tests share: Chromium's flags, the demo's credentials, a logged-in API client."""

from __future__ import annotations

import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import httpx

CHROMIUM = Path("/usr/bin/chromium")
# What a headless Chromium needs in a container, and nothing that talks to the outside.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--metrics-recording-only",
]
ADMIN_PASSWORD = "browser-test-password-1"
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"


@dataclass
class Demo:
    """A running demo: its base URL, data dir and log files."""

    url: str
    data_dir: Path
    proc: subprocess.Popen[bytes]
    stderr: Path
    client: httpx.Client | None = None

    def api(self) -> httpx.Client:
        """An HTTP client logged in as admin, made once (logins are rate-limited per address)."""
        if self.client is None:
            c = httpx.Client(base_url=self.url, timeout=30)
            r = c.post("/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
            assert r.status_code == 200, r.text
            self.client = c
        return self.client


def free_port() -> int:
    """A port the kernel says is free on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
