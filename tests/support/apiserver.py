"""A real trafficatlas API on 127.0.0.1 (uvicorn, port picked by the kernel) over real
DuckDB/SQLite files, with traffic written through the store API and credentials of every role.
"""

from __future__ import annotations

import contextlib
import io
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import uvicorn
from fastapi import FastAPI

from trafficatlas.aggregate.rows import AggregateRows
from trafficatlas.api.app import create_app
from trafficatlas.api.server import _Server
from trafficatlas.auth.models import Role, Scope
from trafficatlas.runtime import Runtime
from trafficatlas.settings import Settings, load_settings

from support.storedata import random_rows

ADMIN_PASSWORD = "correct horse battery staple"
VIEWER_PASSWORD = "viewer password 1234"
PEER_PASSWORD = "peer-a password 1234"
# argon2id at a cost that keeps the suite fast (production defaults are 64 MiB, t=3)
FAST_ARGON2 = {"argon2_memory_kib": 8192, "argon2_time_cost": 1, "argon2_parallelism": 1}


@dataclass
class LiveApi:
    """A running server and credentials for every role."""

    base_url: str
    runtime: Runtime
    app: FastAPI
    settings: Settings
    tokens: dict[str, str] = field(default_factory=dict)  # admin, viewer, peer (peer-a)
    console: str = ""
    rows: AggregateRows | None = None  # what was written to the store

    def expected(self, **match: Any) -> dict[str, int]:
        """Sums of the seeded rows whose columns equal ``match`` (lists: any of)."""
        assert self.rows is not None
        mask = np.ones(len(self.rows), dtype=bool)
        for name, value in match.items():
            values = value if isinstance(value, list) else [value]
            column = getattr(self.rows, name)
            mask &= np.isin(column, np.array(values, dtype=column.dtype))
        direction = self.rows.direction[mask]
        b = self.rows.bytes[mask]
        return {
            "total_bytes": int(b.sum()),
            "tx_bytes": int(b[direction == 1].sum()),
            "rx_bytes": int(b[direction == 2].sum()),
            "packets": int(self.rows.packets[mask].sum()),
            "flows": int(self.rows.flows[mask].sum()),
        }

    def client(self, token: str | None = None, **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        headers.update(kwargs.pop("headers", {}))
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=30, **kwargs)

    def login(self, username: str, password: str, **kwargs: Any) -> httpx.Client:
        """A client holding a session cookie (and its CSRF token in ``client.csrf``)."""
        c = self.client()
        r = c.post("/api/auth/login", json={"username": username, "password": password, **kwargs})
        assert r.status_code == 200, r.text
        c.headers["X-CSRF-Token"] = r.json()["csrf_token"]
        return c

    @property
    def metadata_path(self) -> Path:
        return self.settings.store.resolved_metadata_path(self.settings.data_dir)


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "data_dir": str(data_dir),
        "auth": dict(FAST_ARGON2),
        "store": {"flow_detail": {"enabled": True}},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    return load_settings(None, **base)


def seed_rows(now: float) -> AggregateRows:
    """Two days of traffic in 10-minute steps, 6 rows each, ending in the current minute."""
    end = int(now) - int(now) % 60
    start = end - 2 * 86_400
    rows = random_rows(np.random.default_rng(5), start, 2 * 144, 6)
    rows.ts[:] = start + (rows.ts - start) * 10  # spread: one bucket every 10 minutes
    return rows


@contextlib.contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Run ``app`` on 127.0.0.1 in a thread; yields the base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = _Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        sock.close()


@contextlib.contextmanager
def live_api(data_dir: Path, seed: bool = True, **overrides: Any) -> Iterator[LiveApi]:
    """Runtime + app + server, an admin/viewer/peer account and token of each role."""
    settings = make_settings(data_dir, **overrides)
    runtime = Runtime(settings)
    runtime.start()
    try:
        store = runtime.require_store()
        rows = seed_rows(time.time()) if seed else None
        if rows is not None:
            store.write(rows)
        console = io.StringIO()
        app = create_app(runtime, admin_password=ADMIN_PASSWORD, console=console)
        svc = app.state.ctx.auth
        if svc.store.user("viewer") is None:  # a restart on the same data dir keeps them
            svc.add_user("test", "viewer", VIEWER_PASSWORD, Role.VIEWER)
            svc.add_user("test", "peer-a-user", PEER_PASSWORD, Role.PEER, "peer-a")
        tokens = {
            "admin": svc.create_token("test", "admin", Scope.ADMIN)[0],
            "viewer": svc.create_token("test", "viewer", Scope.READ)[0],
            "peer": svc.create_token("test", "peer-a", Scope.READ, "peer-a")[0],
        }
        with serve(app) as url:
            yield LiveApi(url, runtime, app, settings, tokens, console.getvalue(), rows)
    finally:
        runtime.stop()
