"""The demo runs the real runtime; `top` answers while it runs (socket) and after (file)."""

from __future__ import annotations

import json
import os
import signal
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


def test_repeated_ctrl_c_still_stops_cleanly(tmp_path: Path) -> None:
    """A terminal's Ctrl-C reaches every process of the group and `uv run` forwards it again:
    repeated SIGINTs must not cut the graceful stop short (summary printed, temp data removed,
    no native objects left behind)."""
    env = {**os.environ, "TMPDIR": str(tmp_path)}  # the demo's temporary data dir lands here
    proc = subprocess.Popen(
        [sys.executable, "-m", "trafficatlas", "demo", "--port", "0", "--history-days", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        data = wait_for_data_dir(tmp_path, proc)
        wait_socket(data, proc)
        # Ctrl-C, then more of it every 20 ms (bounded) until the demo has removed its data dir,
        # its last step: whatever moment of the shutdown a repeated signal hits, the stop must
        # complete. (Not later: once Python finalizes, the default action would apply.)
        for _ in range(1500):
            if proc.poll() is not None or not data.exists():
                break
            proc.send_signal(signal.SIGINT)
            time.sleep(0.02)
        out, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "leaked" not in err, err[-3000:]
    assert json.loads(out.strip().splitlines()[-1])["demo"]["sent_flows"] >= 0
    assert not data.exists()  # the temporary data dir was removed at exit


def wait_for_data_dir(parent: Path, proc: subprocess.Popen[str], timeout: float = 60) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = list(parent.glob("trafficatlas-demo-*"))
        if found:
            return found[0]
        if proc.poll() is not None:
            raise AssertionError("demo exited early")
        time.sleep(0.05)
    raise AssertionError("the demo's data dir never appeared")
