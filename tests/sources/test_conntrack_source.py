"""ConntrackSource reading real files and real child processes (no privileges needed).

The kernel's table is stood in for by a file (``proc_path``) or by a script named in
``conntrack_command`` that prints conntrack's output; the privileged end-to-end test runs the
real thing in network namespaces.
"""

from __future__ import annotations

import os
import stat
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from trafficatlas.errors import ConfigError
from trafficatlas.sources.conntrack import (
    ConntrackFlows,
    ConntrackMetrics,
    ConntrackSettings,
    ConntrackSource,
)
from trafficatlas.sources.conntrack_io import DestroyEvents, check_netns, thread_path

from support.conntrack_lines import Entry, cli_line, event_line, proc_line

WAN = "198.51.100.1"
A = Entry(6, "10.0.0.2", "192.0.2.10", "192.0.2.10", WAN, 40000, 443, 10, 1000, 8, 8000, ct_id=7)
B = Entry(17, "10.0.0.3", "192.0.2.20", "192.0.2.20", WAN, 40001, 53, 2, 120, 2, 300, ct_id=8)


def write_table(path: Path, *entries: Entry, cli: bool = False) -> None:
    render = cli_line if cli else proc_line
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(render(e) + "\n" for e in entries))
    tmp.replace(path)  # readers see the old or the new table, never half of one


def script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_polls_a_table_file(tmp_path: Path) -> None:
    table = tmp_path / "nf_conntrack"
    write_table(table, A)
    src = ConntrackSource(ConntrackSettings(proc_path=table, use_events=False))
    src.start()
    try:
        assert src.metrics.baseline == 1
        write_table(table, A.grown(opk=1, oby=100, rpk=2, rby=2000), B)
        out = src.poll()
        assert out.flows.totals() == {"flows": 2, "packets": 7, "bytes": 2520}
        m = src.metrics
        assert (m.polls, m.entries, m.tracked, m.deltas, m.flows_emitted) == (2, 2, 2, 2, 4)
        assert m.poll_duration_s > 0
        assert m.read_duration_s <= m.poll_duration_s
    finally:
        src.stop()


def test_bad_lines_in_the_table_are_counted(tmp_path: Path) -> None:
    table = tmp_path / "nf_conntrack"
    table.write_text(proc_line(A) + "\nipv4     2 tcp      6 116 TIME_WAIT src=10.0.0.9 dst=1\n")
    src = ConntrackSource(ConntrackSettings(proc_path=table, use_events=False))
    src.start()
    try:
        assert src.metrics.parse.truncated == 1
        assert src.metrics.as_dict()["parse_errors_truncated"] == 1
        assert src.metrics.baseline == 1
    finally:
        src.stop()


def test_sink_thread_gets_flows(tmp_path: Path) -> None:
    table = tmp_path / "nf_conntrack"
    write_table(table)
    got: list[ConntrackFlows] = []
    arrived = threading.Event()

    def sink(flows: ConntrackFlows) -> None:
        got.append(flows)
        arrived.set()

    src = ConntrackSource(
        ConntrackSettings(proc_path=table, use_events=False, poll_interval_s=0.05), sink=sink
    )
    src.start()
    try:
        write_table(table, B)
        assert arrived.wait(5), "no flows reached the sink"
    finally:
        src.stop()
    assert sum(g.flows.totals()["bytes"] for g in got) == 420
    assert src.metrics.polls >= 2


def test_falls_back_to_the_conntrack_command(tmp_path: Path) -> None:
    listing = tmp_path / "listing.txt"
    write_table(listing, A, cli=True)
    fake = script(tmp_path / "fake-conntrack", f'[ "$1" = -L ] || exit 2\ncat "{listing}"\n')
    settings = ConntrackSettings(
        proc_path=tmp_path / "absent", conntrack_command=str(fake), use_events=False
    )
    src = ConntrackSource(settings)
    src.start()
    try:
        write_table(listing, A.grown(oby=50, opk=1), B, cli=True)
        out = src.poll()
        assert out.flows.totals() == {"flows": 2, "packets": 5, "bytes": 470}
    finally:
        src.stop()


def test_failing_conntrack_command_is_a_config_error(tmp_path: Path) -> None:
    fake = script(tmp_path / "conntrack", "echo 'Operation not permitted' >&2\nexit 1\n")
    settings = ConntrackSettings(
        proc_path=tmp_path / "absent", conntrack_command=str(fake), use_events=False
    )
    with pytest.raises(ConfigError, match="Operation not permitted"):
        ConntrackSource(settings).start()


def test_no_table_and_no_command(tmp_path: Path) -> None:
    settings = ConntrackSettings(
        proc_path=tmp_path / "absent", conntrack_command="no-such-conntrack-here"
    )
    with pytest.raises(ConfigError, match="conntrack"):
        ConntrackSource(settings).start()


def test_events_need_the_command(tmp_path: Path) -> None:
    table = tmp_path / "nf_conntrack"
    write_table(table)
    settings = ConntrackSettings(proc_path=table, conntrack_command="no-such-conntrack-here")
    with pytest.raises(ConfigError, match="use_events"):
        ConntrackSource(settings).start()


def test_destroy_events_child_process(tmp_path: Path) -> None:
    lines = tmp_path / "events.txt"
    lines.write_text(event_line(A) + "\n" + event_line(B) + "\nnot an event\n")
    fake = script(tmp_path / "fake-ct", f'cat "{lines}"\nexec sleep 30\n')
    overruns: list[int] = []
    events = DestroyEvents(str(fake), None, 65536, lambda: overruns.append(1))
    events.start(ready_timeout_s=0.1)
    try:
        deadline = time.monotonic() + 5
        table, arrivals = events.drain()
        while len(table) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
            more, t = events.drain()
            table = more if not len(table) else table
            arrivals = t if not len(arrivals) else arrivals
        assert len(table) == 2
        assert table.stats.malformed == 1
        assert list(table.ct_id) == [7, 8]
        assert np.all(arrivals <= time.monotonic())
        assert events.alive()
        pid = events.pid
        assert pid is not None
    finally:
        events.stop()
    assert not events.alive()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_destroy_events_child_restarts(tmp_path: Path) -> None:
    fake = script(tmp_path / "fake-ct", "exit 3\n")
    events = DestroyEvents(str(fake), None, 65536, lambda: None)
    with pytest.raises(ConfigError, match="status 3"):
        events.start(ready_timeout_s=1)
    events.stop()
    runs = tmp_path / "runs"
    flaky = script(tmp_path / "flaky-ct", f'echo x >> "{runs}"\nexec sleep 0.3\n')
    events = DestroyEvents(str(flaky), None, 65536, lambda: None)
    events.start(ready_timeout_s=0.05)
    try:
        deadline = time.monotonic() + 5
        while events.alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        with pytest.raises(ConfigError):  # the restarted child exits at once again
            events.ensure_running()
        assert events.restarts == 1
        assert runs.read_text().count("x") == 2
    finally:
        events.stop()


def test_netns_names_are_checked() -> None:
    with pytest.raises(ConfigError, match="invalid network namespace"):
        check_netns("../etc")
    with pytest.raises(ConfigError, match="not found"):
        check_netns("trafficatlas-no-such-namespace")
    with pytest.raises(ConfigError, match="not found"):
        ConntrackSource(ConntrackSettings(netns="trafficatlas-no-such-namespace")).start()


def test_proc_paths_follow_the_thread() -> None:
    assert thread_path(Path("/proc/net/nf_conntrack")) == Path("/proc/thread-self/net/nf_conntrack")
    assert thread_path(Path("/tmp/x")) == Path("/tmp/x")


def test_metrics_have_help_text() -> None:
    m = ConntrackMetrics()
    names = set(m.as_dict())
    for name in m.HELP:
        assert name in names
    assert {k for k in names if not k.startswith("parse_")} == set(m.HELP)


def test_garbage_table_without_newlines_is_counted(tmp_path: Path) -> None:
    table = tmp_path / "nf_conntrack"
    table.write_bytes(b"\x00garbage" * 300_000 + b"\n" + proc_line(A).encode())
    src = ConntrackSource(ConntrackSettings(proc_path=table, use_events=False))
    src.start()
    try:
        assert src.metrics.parse.malformed >= 1
        assert src.metrics.baseline == 1
    finally:
        src.stop()
