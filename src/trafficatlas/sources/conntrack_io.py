"""Reading the conntrack table and its DESTROY events, in this or a named network namespace.

The table is read by a helper thread (entering the namespace with setns(2) first, which only
affects that thread) while the calling thread parses the chunks already read: the kernel's time
to produce /proc/net/nf_conntrack overlaps the parsing. Commands (``conntrack -L``, ``-E``) run
through ``ip netns exec NAME`` when a namespace is named.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import queue
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from trafficatlas.errors import ConfigError
from trafficatlas.logging import get_logger
from trafficatlas.sources.conntrack_parse import ConntrackTable, parse_conntrack

log = get_logger("conntrack")

T = TypeVar("T")
CLONE_NEWNET = 0x40000000
NETNS_DIR = Path("/run/netns")
ACCT_SYSCTL = Path("/proc/sys/net/netfilter/nf_conntrack_acct")
_CHUNK = 1 << 20  # one read(2)
_PARSE_AT_LEAST = 1 << 20  # parse once this much is buffered (per-chunk NumPy overhead)
_NETNS_NAME = re.compile(r"^[A-Za-z0-9_.][A-Za-z0-9_.-]{0,254}$")


def check_netns(name: str) -> Path:
    """The bind-mount path of a named namespace (ConfigError if the name is bad or unknown)."""
    if not _NETNS_NAME.match(name) or name in (".", ".."):
        raise ConfigError(f"invalid network namespace name: {name!r}")
    path = NETNS_DIR / name
    if not path.exists():
        raise ConfigError(f"network namespace {name!r} not found (no {path})")
    return path


def _enter_netns(name: str) -> None:
    """Move the calling thread into namespace ``name`` (only this thread)."""
    path = check_netns(name)
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise ConfigError(f"cannot enter network namespace {name!r}: {os.strerror(err)}")
    finally:
        os.close(fd)


def run_in_netns(netns: str | None, fn: Callable[[], T]) -> T:
    """Run ``fn`` in a helper thread that first enters ``netns`` (or directly when None)."""
    if netns is None:
        return fn()
    box: dict[str, T | BaseException] = {}

    def target() -> None:
        try:
            _enter_netns(netns)
            box["value"] = fn()
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name=f"netns-{netns}", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


def netns_prefix(netns: str | None) -> list[str]:
    """Command prefix that runs a program inside ``netns``."""
    if netns is None:
        return []
    check_netns(netns)
    ip = shutil.which("ip")
    if ip is None:
        raise ConfigError("the `ip` command (iproute2) is needed to run commands in a namespace")
    return [ip, "netns", "exec", netns]


def thread_path(path: Path) -> Path:
    """/proc/net/... as seen by the current thread (its namespace, not the process leader's)."""
    parts = path.parts
    if parts[:3] == ("/", "proc", "net"):
        return Path("/proc/thread-self/net", *parts[3:])
    return path


# -- accounting sysctl ---------------------------------------------------------------------------


def read_acct(netns: str | None) -> int | None:
    """nf_conntrack_acct of the namespace (None when conntrack is not loaded there)."""

    def read() -> int | None:
        try:
            return int(ACCT_SYSCTL.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    return run_in_netns(netns, read)


def enable_acct(netns: str | None) -> bool:
    """Set nf_conntrack_acct=1 in the namespace; False when not permitted."""

    def write() -> bool:
        try:
            ACCT_SYSCTL.write_text("1\n")
        except OSError:
            return False
        return True

    return run_in_netns(netns, write)


# -- table reading -------------------------------------------------------------------------------


class _Stream(Protocol):
    def read(self, size: int = ..., /) -> bytes | None: ...


StreamOpener = Callable[[], contextlib.AbstractContextManager[_Stream]]


def _pipelined_parse(open_stream: StreamOpener, netns: str | None) -> ConntrackTable:
    """Read a stream in a helper thread (in ``netns``) while parsing what has arrived."""
    chunks: queue.SimpleQueue[bytes | BaseException | None] = queue.SimpleQueue()

    def reader() -> None:
        try:
            if netns is not None:
                _enter_netns(netns)
            with open_stream() as stream:
                # /proc/net/nf_conntrack returns one page per read(2): hand the parser whole
                # megabytes, not thousands of pages (each hand-over costs a thread wake-up)
                pending: list[bytes] = []
                size = 0
                while True:
                    data = stream.read(_CHUNK)
                    if not data:
                        break
                    pending.append(data)
                    size += len(data)
                    if size >= _PARSE_AT_LEAST:
                        chunks.put(b"".join(pending))
                        pending, size = [], 0
                if pending:
                    chunks.put(b"".join(pending))
            chunks.put(None)
        except BaseException as exc:
            chunks.put(exc)

    thread = threading.Thread(target=reader, name="conntrack-read", daemon=True)
    thread.start()
    parts: list[ConntrackTable] = []
    pending: list[bytes] = []
    size = 0
    done = False
    while not done:
        item = chunks.get()
        while True:
            if item is None:
                done = True
            elif isinstance(item, BaseException):
                thread.join()
                raise item
            else:
                pending.append(item)
                size += len(item)
            if done or size >= _PARSE_AT_LEAST:
                break
            try:
                item = chunks.get_nowait()
            except queue.Empty:
                break
        if not pending or (not done and size < _PARSE_AT_LEAST):
            continue
        buf = b"".join(pending)
        # parse up to the last full line; a megabyte without any newline is garbage: parse it
        # now (it counts as one bad line) rather than let it grow
        cut = buf.rfind(b"\n") + 1
        if done or not cut:
            cut = len(buf)
        parts.append(parse_conntrack(buf[:cut]))
        pending = [buf[cut:]] if cut < len(buf) else []
        size = len(buf) - cut
    thread.join()
    return ConntrackTable.concat(parts)


def read_proc_table(path: Path, netns: str | None) -> ConntrackTable:
    """Read and parse a conntrack table file (FileNotFoundError when absent)."""
    real = thread_path(path)
    return _pipelined_parse(lambda: real.open("rb", buffering=0), netns)


def proc_table_exists(path: Path, netns: str | None) -> bool:
    """Whether the table file exists in the namespace."""
    real = thread_path(path)
    return run_in_netns(netns, real.exists)


def read_command_table(command: str, netns: str | None, timeout_s: float) -> ConntrackTable:
    """``conntrack -L -o extended,id`` parsed (ConfigError when the command fails)."""
    argv = [*netns_prefix(netns), command, "-L", "-o", "extended,id"]
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except OSError as exc:
        raise ConfigError(f"cannot run {command!r}: {exc.strerror}") from None
    assert proc.stdout is not None
    assert proc.stderr is not None
    stdout = proc.stdout
    timer = threading.Timer(timeout_s, proc.kill)
    timer.start()
    try:
        table = _pipelined_parse(lambda: contextlib.nullcontext(stdout), None)
        err = proc.stderr.read()
        code = proc.wait()
    finally:
        timer.cancel()
        with contextlib.suppress(OSError):
            stdout.close()
        proc.stderr.close()
    if code != 0:
        message = err.decode(errors="replace").strip() or f"exit status {code}"
        raise ConfigError(f"`{' '.join(argv)}` failed: {message}")
    return table


# -- DESTROY events ------------------------------------------------------------------------------


class DestroyEvents:
    """``conntrack -E -e DESTROY -o extended,id`` as a child process, read by a thread.

    Lines are stamped with their monotonic arrival time; :meth:`drain` parses what arrived.
    """

    def __init__(
        self, command: str, netns: str | None, buffer_bytes: int, on_overrun: Callable[[], None]
    ) -> None:
        self.argv = [
            *netns_prefix(netns),
            command,
            "-E",
            "-e",
            "DESTROY",
            "-o",
            "extended,id",
            "-b",
            str(buffer_bytes),
        ]
        self._program = Path(command).name
        self._on_overrun = on_overrun
        self._proc: subprocess.Popen[bytes] | None = None
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._lines: list[bytes] = []
        self._arrivals: list[float] = []
        self.restarts = 0

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self, ready_timeout_s: float = 2.0) -> None:
        """Start the child and wait until it has its netlink socket (ConfigError on failure)."""
        try:
            proc = subprocess.Popen(
                self.argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
            )
        except OSError as exc:
            raise ConfigError(f"cannot run {self.argv[0]!r}: {exc.strerror}") from None
        self._proc = proc
        assert proc.stdout is not None
        assert proc.stderr is not None
        self._threads = [
            threading.Thread(target=self._read_out, args=(proc.stdout,), daemon=True),
            threading.Thread(target=self._read_err, args=(proc.stderr,), daemon=True),
        ]
        for t in self._threads:
            t.start()
        deadline = time.monotonic() + ready_timeout_s
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise ConfigError(f"`{' '.join(self.argv)}` exited with status {proc.returncode}")
            if _subscribed(proc.pid, self._program):
                return
            time.sleep(0.01)
        log.warning("conntrack event process not ready in time", pid=proc.pid)

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def ensure_running(self) -> bool:
        """Restart the child if it died; True when it was restarted."""
        if self._proc is None or self.alive():
            return False
        log.warning("conntrack event process exited; restarting", status=self._proc.returncode)
        self._reap()
        self.restarts += 1
        self.start()
        return True

    def drain(self) -> tuple[ConntrackTable, npt.NDArray[np.float64]]:
        """Events received since the last drain, and their arrival times (monotonic)."""
        with self._lock:
            lines, self._lines = self._lines, []
            arrivals, self._arrivals = self._arrivals, []
        if not lines:
            return ConntrackTable.empty(0), np.zeros(0, dtype=np.float64)
        table = parse_conntrack(b"\n".join(lines) + b"\n")
        times = np.asarray(arrivals, dtype=np.float64)
        return table, times[table.line]

    def stop(self) -> None:
        """Stop the child (by its own PID) and the reader threads."""
        self._reap()

    def _reap(self) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=2)
        for t in self._threads:
            t.join(timeout=2)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        self._threads = []
        self._proc = None

    def _read_out(self, stream: IO[bytes]) -> None:
        for raw in stream:
            line = raw.strip()
            if not line:
                continue
            now = time.monotonic()
            with self._lock:
                self._lines.append(line)
                self._arrivals.append(now)

    def _read_err(self, stream: IO[bytes]) -> None:
        for raw in stream:
            text = raw.decode(errors="replace").strip()
            if "ENOBUFS" in text or "No buffer space" in text:
                self._on_overrun()
                log.warning("kernel dropped conntrack events (ENOBUFS)", detail=text)
            elif text.startswith("NOTICE") or "have been shown" in text:
                log.debug("conntrack event process", message=text)
            elif text:
                log.warning("conntrack event process", message=text)


def _subscribed(pid: int, program: str) -> bool:
    """Whether ``program`` runs as ``pid`` with a socket open (conntrack -E subscribes on open)."""
    fd_dir = Path(f"/proc/{pid}/fd")
    try:
        if Path(f"/proc/{pid}/comm").read_text().strip() != program[:15]:
            return False  # still `ip netns exec`, before it executes the program
        for entry in fd_dir.iterdir():
            with contextlib.suppress(OSError):
                if os.readlink(entry).startswith("socket:"):
                    return True
    except OSError:
        return False
    return False
