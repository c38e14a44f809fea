"""`trafficatlas serve --role`: parsing, precedence over the file and the environment, the clear
refusal of split roles on DuckDB, and a collector run as its own process."""

from __future__ import annotations

import importlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from trafficatlas.cli.app import build_app


def run(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trafficatlas", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def base_env(tmp_path: Path) -> dict[str, str]:
    """This environment without TRAFFICATLAS_* settings, data in ``tmp_path``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRAFFICATLAS_")}
    return env | {"TRAFFICATLAS_DATA_DIR": str(tmp_path / "data")}


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_help_lists_the_roles() -> None:
    from typer.testing import CliRunner

    result = CliRunner().invoke(build_app(), ["serve", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "--role" in result.output and "all|collector|api" in result.output


@pytest.mark.parametrize("role", ["api", "collector"])
def test_split_role_on_duckdb_is_one_clear_error(tmp_path: Path, role: str) -> None:
    result = run("serve", "--role", role, "--port", "0", env=base_env(tmp_path))
    assert result.returncode == 2
    assert f"error: role '{role}' needs a store that several processes share" in result.stderr
    assert 'store.engine = "clickhouse"' in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_role_is_a_usage_error(tmp_path: Path) -> None:
    result = run("serve", "--role", "everything", env=base_env(tmp_path))
    assert result.returncode == 2
    assert "everything" in result.stderr and "collector" in result.stderr


def test_role_from_file_environment_and_command_line(tmp_path: Path) -> None:
    cfg = tmp_path / "node.toml"
    cfg.write_text('role = "collector"\n')
    env = base_env(tmp_path)
    from_file = run("serve", "-c", str(cfg), env=env)
    assert from_file.returncode == 2 and "role 'collector'" in from_file.stderr
    from_env = run("serve", "-c", str(cfg), env={**env, "TRAFFICATLAS_ROLE": "api"})
    assert from_env.returncode == 2 and "role 'api'" in from_env.stderr  # env beats the file
    flag = run(
        "serve", "-c", str(cfg), "--role", "collector", env={**env, "TRAFFICATLAS_ROLE": "api"}
    )
    assert flag.returncode == 2 and "role 'collector'" in flag.stderr  # the flag beats both


def _clickhouse_store_loadable() -> bool:
    try:
        module = importlib.import_module("trafficatlas.store.clickhouse")
    except Exception:
        return False
    return hasattr(module, "open_clickhouse_store")


@pytest.mark.network
def test_collector_process_runs_while_clickhouse_is_down(tmp_path: Path) -> None:
    """`serve --role collector -c FILE` as its own process, its ClickHouse unreachable: it
    collects into the spool, answers health and metrics, and stops cleanly on SIGTERM."""
    if not _clickhouse_store_loadable():
        pytest.skip("the ClickHouse store (trafficatlas.store.clickhouse) is not in place yet")
    http_port = free_port()
    cfg = tmp_path / "collector.toml"
    cfg.write_text(
        f'data_dir = "{tmp_path / "data"}"\n'
        "[geoip]\nuse_bundled = false\n"
        f'[store]\nengine = "clickhouse"\n'
        f"[store.clickhouse]\nport = {free_port()}\nconnect_timeout_s = 0.5\n"
        "[store.spool]\nretry_s = 0.2\n"
        f'[http]\nhost = "127.0.0.1"\nport = {http_port}\n'
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "trafficatlas", "serve", "--role", "collector", "-c", str(cfg)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=base_env(tmp_path),
    )
    try:
        health = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                health = httpx.get(f"http://127.0.0.1:{http_port}/api/health", timeout=2).json()
                break
            except httpx.TransportError:
                time.sleep(0.2)
        assert health is not None, proc.stderr.read() if proc.stderr else ""
        assert health["role"] == "collector" and health["status"] == "degraded"
        assert health["spool"]["store_available"] is False
        metrics = httpx.get(f"http://127.0.0.1:{http_port}/metrics", timeout=5).text
        assert "trafficatlas_spool_backlog_batches" in metrics
        assert (tmp_path / "data" / "spool" / ".lock").exists()
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
