"""A small harness that builds network namespaces for end-to-end tests and tears them down.

Every namespace name starts with a prefix unique to the harness instance, so parallel runs and
leftovers never collide. Teardown (``close``, also on ``with`` exit) stops the processes the
harness started, by PID; kills whatever still runs inside the harness's own namespaces (found
with ``ip netns pids``); and deletes the namespaces, which removes their veths. It never kills by
name.

Only private and documentation address ranges belong in these namespaces.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from types import TracebackType

REQUIRED_TOOLS = ("ip",)


def unavailable_reason(tools: Sequence[str] = REQUIRED_TOOLS) -> str | None:
    """Why namespace tests cannot run here (None when they can)."""
    if os.geteuid() != 0:
        return "needs root to create network namespaces"
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        return f"missing commands: {', '.join(missing)} (Debian packages iproute2, conntrack, ...)"
    probe = f"taprobe{secrets.token_hex(3)}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"`ip netns add` failed: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


class NetnsLab:
    """Namespaces, veths, addresses, routes, NAT and processes, all removed on close."""

    def __init__(self, prefix: str | None = None) -> None:
        # short: names end up in paths and the prefix must leave room for a suffix
        self.prefix = prefix or f"ta{secrets.token_hex(3)}"
        self.namespaces: list[str] = []
        self.processes: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> NetnsLab:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def ns(self, short: str) -> str:
        """Full name of the namespace called ``short`` in this lab."""
        return f"{self.prefix}-{short}"

    # -- building ------------------------------------------------------------------------------

    def add(self, short: str, *, ipv6: bool = False) -> str:
        """Create a namespace with lo up (IPv6 off unless asked: no ND/MLD noise)."""
        name = self.ns(short)
        _run(["ip", "netns", "add", name])
        self.namespaces.append(name)
        _run(["ip", "-n", name, "link", "set", "lo", "up"])
        if not ipv6:
            self.sysctl(short, "net.ipv6.conf.all.disable_ipv6", "1")
            self.sysctl(short, "net.ipv6.conf.default.disable_ipv6", "1")
        return name

    def veth(self, a: str, a_dev: str, b: str, b_dev: str, *, offloads: bool = False) -> None:
        """A veth pair between namespaces ``a`` and ``b``, up; segmentation offloads off.

        With offloads off every packet is MTU-sized, so packet counts match a capture.
        """
        _run(
            ["ip", "link", "add", a_dev, "netns", self.ns(a), "type", "veth",
             "peer", "name", b_dev, "netns", self.ns(b)]
        )  # fmt: skip
        for short, dev in ((a, a_dev), (b, b_dev)):
            _run(["ip", "-n", self.ns(short), "link", "set", dev, "up"])
            if not offloads and shutil.which("ethtool"):
                self.run(
                    short,
                    ["ethtool", "-K", dev, "tso", "off", "gso", "off", "gro", "off",
                     "tx", "off", "rx", "off"],
                    check=False,
                )  # fmt: skip

    def addr(self, short: str, dev: str, cidr: str) -> None:
        _run(["ip", "-n", self.ns(short), "addr", "add", cidr, "dev", dev])

    def route(self, short: str, dest: str, via: str) -> None:
        _run(["ip", "-n", self.ns(short), "route", "add", dest, "via", via])

    def sysctl(self, short: str, key: str, value: str) -> None:
        self.run(short, ["sysctl", "-qw", f"{key}={value}"])

    def masquerade(self, short: str, out_dev: str) -> None:
        """Source NAT of everything leaving ``out_dev`` (iptables, or nft where it is absent)."""
        if shutil.which("iptables"):
            self.run(short, ["iptables", "-t", "nat", "-A", "POSTROUTING", "-o", out_dev,
                             "-j", "MASQUERADE"])  # fmt: skip
            return
        if shutil.which("nft") is None:
            raise RuntimeError("NAT needs iptables or nft (Debian package iptables or nftables)")
        script = (
            "table ip tanat {\n"
            " chain post { type nat hook postrouting priority 100; policy accept;\n"
            f'  oifname "{out_dev}" masquerade\n'
            " }\n}\n"
        )
        self.run(short, ["nft", "-f", "-"], input=script.encode())

    # -- processes -------------------------------------------------------------------------------

    def run(
        self,
        short: str,
        argv: Sequence[str],
        *,
        check: bool = True,
        timeout: float = 30,
        input: bytes | None = None,
    ) -> subprocess.CompletedProcess[bytes]:
        """Run a command inside a namespace and wait for it (bounded by ``timeout``)."""
        done = subprocess.run(
            ["ip", "netns", "exec", self.ns(short), *argv],
            capture_output=True,
            timeout=timeout,
            input=input,
        )
        if check and done.returncode != 0:
            raise RuntimeError(
                f"{' '.join(argv)} in {short} failed ({done.returncode}): "
                f"{done.stderr.decode(errors='replace').strip()}"
            )
        return done

    def popen(self, short: str, argv: Sequence[str], **kwargs: object) -> subprocess.Popen[bytes]:
        """Start a background process inside a namespace; it is stopped on close."""
        proc: subprocess.Popen[bytes] = subprocess.Popen(  # type: ignore[call-overload]
            ["ip", "netns", "exec", self.ns(short), *argv], **kwargs
        )
        self.processes.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes], timeout: float = 5) -> int | None:
        """Stop one started process (SIGTERM, then SIGKILL) and return its exit status."""
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                proc.wait(timeout=timeout)
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        return proc.returncode

    # -- teardown --------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop every process and delete every namespace of this lab (errors are not raised)."""
        for proc in reversed(self.processes):
            with contextlib.suppress(Exception):
                self.stop(proc)
        self.processes.clear()
        for name in reversed(self.namespaces):
            # anything still inside our own namespace was started by this test
            pids = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True)
            for pid in pids.stdout.split():
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
            for _ in range(20):
                if (
                    subprocess.run(["ip", "netns", "del", name], capture_output=True).returncode
                    == 0
                ):
                    break
                time.sleep(0.05)
        self.namespaces.clear()


def _run(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, timeout=30)
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv)} failed ({done.returncode}): "
            f"{done.stderr.decode(errors='replace').strip()}"
        )
