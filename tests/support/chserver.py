"""A clickhouse-server process of our own: Debian's package, on loopback, in a temporary folder.

Used by the test fixtures (tests/support/clickhouse.py) and the benchmark (bench/clickhouse.py).
The configuration listens on 127.0.0.1 only, on free ports, keeps all data in the given folder,
and defines a one-shard cluster of the server itself; the process is stopped by its PID.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trafficatlas.store import StoreSettings
from trafficatlas.store.clickhouse.conn import DriverConnection

# A one-shard cluster of the server itself: Distributed tables work without ZooKeeper (only
# ON CLUSTER DDL needs it).
CLUSTER = "trafficatlas_test"
SERVER_BINARIES = ("/usr/sbin/clickhouse-server", "/usr/bin/clickhouse-server")
START_TIMEOUT_S = 60.0

_CONFIG = """<?xml version="1.0"?>
<yandex>
    <logger><level>warning</level><log>{dir}/server.log</log>
        <errorlog>{dir}/server.err.log</errorlog><size>10M</size><count>1</count></logger>
    <listen_host>127.0.0.1</listen_host>
    <tcp_port>{tcp}</tcp_port>
    <http_port>{http}</http_port>
    <max_connections>256</max_connections>
    <max_concurrent_queries>64</max_concurrent_queries>
    <uncompressed_cache_size>67108864</uncompressed_cache_size>
    <mark_cache_size>67108864</mark_cache_size>
    <path>{dir}/data/</path>
    <tmp_path>{dir}/tmp/</tmp_path>
    <user_files_path>{dir}/user_files/</user_files_path>
    <format_schema_path>{dir}/format_schemas/</format_schema_path>
    <users_config>{dir}/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mlock_executable>false</mlock_executable>
    <remote_servers>
        <{cluster}><shard><replica><host>127.0.0.1</host><port>{tcp}</port></replica></shard>
        </{cluster}>
    </remote_servers>
</yandex>
"""
_USERS = """<?xml version="1.0"?>
<yandex>
    <profiles><default><max_memory_usage>2000000000</max_memory_usage></default></profiles>
    <users><default><password></password><networks><ip>127.0.0.1</ip></networks>
        <profile>default</profile><quota>default</quota></default></users>
    <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors>
        <result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time>
        </interval></default></quotas>
</yandex>
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_binary() -> str | None:
    for path in SERVER_BINARIES:
        if os.access(path, os.X_OK):
            return path
    return shutil.which("clickhouse-server")


@dataclass
class ClickHouseServer:
    """A clickhouse-server process of our own on loopback (stop, then ``resume`` at will)."""

    binary: str
    folder: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    @classmethod
    def start(cls, binary: str, folder: Path) -> ClickHouseServer:
        tcp, http = free_port(), free_port()
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "config.xml").write_text(
            _CONFIG.format(dir=folder, tcp=tcp, http=http, cluster=CLUSTER)
        )
        (folder / "users.xml").write_text(_USERS)
        server = cls(binary, folder, tcp)
        server.resume()
        return server

    def resume(self) -> None:
        """Start the process (again: same ports, same data) and wait until it answers."""
        with (self.folder / "stdout.log").open("ab") as out:
            self.process = subprocess.Popen(
                [self.binary, f"--config-file={self.folder / 'config.xml'}"],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self._wait_ready()

    def settings(self, database: str, **extra: Any) -> StoreSettings:
        return StoreSettings(
            clickhouse={"port": self.port, "database": database, "node_id": "test-node"},  # type: ignore[arg-type]
            **extra,
        )

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        probe = DriverConnection(self.settings("default").clickhouse, "default")
        try:
            while True:
                if self.process is None or self.process.poll() is not None:
                    log = (self.folder / "stdout.log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"clickhouse-server exited at start:\n{log}")
                try:
                    # A bare connect first: the driver logs every refused attempt.
                    socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                    probe.execute("SELECT 1")
                    return
                except Exception:
                    if time.monotonic() > deadline:
                        self.stop()
                        raise
                    time.sleep(0.1)
        finally:
            probe.close()

    def execute(self, sql: str) -> list[tuple[Any, ...]]:
        conn = DriverConnection(self.settings("default").clickhouse, "default")
        try:
            return conn.execute(sql)
        finally:
            conn.close()

    def stop(self, grace_s: float = 2.0) -> None:
        """Stop the process: SIGTERM, then SIGKILL after ``grace_s`` (the server would wait
        10 s for clients still connected)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
