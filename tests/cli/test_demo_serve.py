"""The demo runs the real runtime; `top` answers while it runs (socket) and after (file)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.network


def cli(*args: str, data_dir: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TRAFFICATLAS_DATA_DIR": str(data_dir)}
    return subprocess.run(
        [sys.executable, "-m", "trafficatlas", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def start_demo(data_dir: Path, duration: float, history: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "trafficatlas",
            "demo",
            "--duration",
            str(duration),
            "--port",
            "0",
            "--history-days",
            str(history),
            "--data-dir",
            str(data_dir),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_socket(data_dir: Path, proc: subprocess.Popen[str], timeout: float = 60) -> None:
    sock = data_dir / "trafficatlas.sock"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sock.exists():
            return
        if proc.poll() is not None:
            raise AssertionError(f"demo exited early: {proc.stderr.read() if proc.stderr else ''}")
        time.sleep(0.2)
    raise AssertionError("the demo's socket never appeared")


def finish(proc: subprocess.Popen[str]) -> dict[str, object]:
    out, err = proc.communicate(timeout=90)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    summary: dict[str, object] = json.loads(out.strip().splitlines()[-1])["demo"]
    return summary


def test_demo_top_while_running_and_after_restart(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    proc = start_demo(data, duration=14, history=0.25)
    try:
        wait_socket(data, proc)
        sock = next(data.glob("*.sock"))
        assert stat.S_IMODE(sock.stat().st_mode) == 0o600  # only its owner may connect
        live = cli("top", "--by", "country", "--since", "2d", "--json", data_dir=data)
        assert live.returncode == 0, live.stderr
        result = json.loads(live.stdout)
        assert result["totals"]["bytes"] > 0
        assert result["rows"][0]["key"]["country"]
        summary = finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    exporter = summary["flowexport"]
    assert isinstance(exporter, dict)
    assert summary["sent_flows"] == exporter["flows"]  # every generated flow decoded
    assert summary["dropped_batches"] == 0
    assert not [k for k in exporter if k.startswith("decode_errors")]
    assert summary["pipeline_flows"] > summary["sent_flows"]  # history went through too

    # stopped: `top` reads the store file directly, and everything flushed is there
    after = cli("top", "--by", "country", "--since", "2d", "--json", data_dir=data)
    assert after.returncode == 0, after.stderr
    first = json.loads(after.stdout)["totals"]
    assert first["flows"] == summary["pipeline_flows"]

    # restart on the same data dir: history survives, new flows add up
    proc = start_demo(data, duration=6, history=0)
    try:
        second_summary = finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    again = json.loads(cli("top", "--by", "asn", "--since", "2d", "--json", data_dir=data).stdout)
    assert again["totals"]["flows"] == first["flows"] + second_summary["pipeline_flows"]


def test_top_without_store_is_clear(tmp_path: Path) -> None:
    res = cli("top", data_dir=tmp_path / "empty")
    assert res.returncode == 2
    assert "no store" in res.stderr
