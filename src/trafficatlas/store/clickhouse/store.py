"""ClickHouseStore: the scale-out store, shared by collectors and API nodes.

Several processes on several machines open the same database: collectors write (each row tagged
with its ``node``), API nodes read, any of them may run maintenance. Writes are deduplicated per
flush id (:mod:`.write`), tiers are filled by materialized views (:mod:`.schema`) and retention
drops whole partitions (:mod:`.maintenance`). Users, sessions and settings stay in this node's
SQLite metadata store; peer names and privacy are shared (:mod:`.peers`).

Reads see other nodes' writes at once, so the store has no ``data_version``: the API does not
cache its answers. Errors are typed: StoreUnavailable (retry later), ConfigError, DatabaseError.
"""

from __future__ import annotations

import queue
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trafficatlas.aggregate.rows import AggregateRows
from trafficatlas.errors import DatabaseError
from trafficatlas.logging import get_logger
from trafficatlas.store.clickhouse import maintenance as maint
from trafficatlas.store.clickhouse.conn import Connection, DriverConnection, parse_version
from trafficatlas.store.clickhouse.peers import PeerDirectory
from trafficatlas.store.clickhouse.privacy import scrub_peer_history
from trafficatlas.store.clickhouse.schema import Features, Layout, SchemaBuilder
from trafficatlas.store.clickhouse.versions import migrate, sync_ttl
from trafficatlas.store.clickhouse.write import write_flow_records, write_rows
from trafficatlas.store.dialect import ClickHouseDialect, Dialect
from trafficatlas.store.duckdb_write import DimensionCache
from trafficatlas.store.flows import FlowRecords
from trafficatlas.store.metadata import MetadataStore
from trafficatlas.store.protocol import Coverage, MaintenanceReport, Store, WriteResult
from trafficatlas.store.settings import StoreSettings

log = get_logger(__name__)

# Readers see watermarks other nodes advanced within this many seconds.
STATE_REFRESH_S = 15.0
READERS = 4


class ClickHouseStore:
    """Traffic tiers, flow detail and dimensions in a ClickHouse database (or cluster)."""

    def __init__(
        self,
        settings: StoreSettings,
        connect: Callable[[], Connection],
        metadata: MetadataStore | None = None,
        *,
        owns_metadata: bool = False,
        ttl: bool = True,
    ) -> None:
        """Open the database through ``connect`` (called for the writer and each reader).

        ``ttl=False`` leaves TTL out even where the server has it (tests whose data lies at
        fixed dates must not have rows expire by the wall clock).
        """
        ch = settings.clickhouse
        self.settings = settings
        self.metadata = metadata
        self.node = ch.node_id or socket.gethostname()
        self.layout = Layout(ch.database, ch.cluster)
        self._owns_metadata = owns_metadata
        self._connect = connect
        self._dialect = ClickHouseDialect()
        self._lock = threading.Lock()  # the writer connection and the state
        self._pool_lock = threading.Lock()
        self._readers: queue.LifoQueue[Connection] = queue.LifoQueue()
        self._all: list[Connection] = []
        self._reader_slots = threading.BoundedSemaphore(READERS)
        self._closed = False
        self._known_peers: set[str] = set()
        self._insert_settings: dict[str, Any] = {"insert_distributed_sync": 1} if ch.cluster else {}
        self._conn = self._new_connection()
        try:
            self.features = Features(
                parse_version(str(self._conn.execute("SELECT version()")[0][0]))
            )
            self.builder = SchemaBuilder(self.layout, self.features, settings, ttl=ttl)
            migrate(self._conn, self.builder)
            sync_ttl(self._conn, self.builder)
            self._state = maint.load_state(self._conn, settings, ch.database)
            self._state_at = time.monotonic()
            self._dims = DimensionCache()
            self._dims.as_orgs = {
                int(a): str(o) for a, o in self._conn.execute("SELECT asn, org FROM asn_names")
            }
            crows = self._conn.execute("SELECT country, city, lat, lon FROM cities")
            self._dims.cities = {(c, n): (float(la), float(lo)) for c, n, la, lo in crows}
            self._peers = PeerDirectory(metadata, self._insert_settings)
            self._peers.sync(self._conn, force=True)
        except BaseException:
            self._close_connections()
            raise

    @classmethod
    def in_process(
        cls,
        path: Path,
        settings: StoreSettings,
        metadata: MetadataStore | None = None,
        *,
        ttl: bool = True,
    ) -> ClickHouseStore:
        """A store on chDB (the current ClickHouse engine in this process) with data in ``path``."""
        from trafficatlas.store.clickhouse.chdb_conn import ChdbConnection

        database = settings.clickhouse.database
        return cls(settings, lambda: ChdbConnection(path, database), metadata, ttl=ttl)

    def _new_connection(self) -> Connection:
        with self._pool_lock:
            self._check_open()
            conn = self._connect()
            self._all.append(conn)
            return conn

    # Read side (QuerySource) -----------------------------------------------------------------

    @property
    def dialect(self) -> Dialect:
        return self._dialect

    @property
    def flow_detail_enabled(self) -> bool:
        return self.settings.flow_detail.enabled

    def coverage(self) -> Coverage:
        """Tier spans: this node's watermarks, refreshed from the server every few seconds."""
        if time.monotonic() - self._state_at > STATE_REFRESH_S:
            with self._reader() as conn:
                fresh = maint.refresh_state(conn, self._state)
            self._state, self._state_at = fresh, time.monotonic()
        state = self._state
        if self.builder.ttl:
            # The server expires rows by the wall clock: the spans follow it even while no node
            # runs maintenance (the views keep every tier complete, so any watermark is exact).
            state = maint.advance(state, self.settings, int(time.time()))
        return state.coverage(self.flow_detail_enabled)

    def fetch(self, sql: str, params: Sequence[Any] | Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Run a read query on a reader connection (concurrent with writes)."""
        if not isinstance(params, Mapping):
            if params:
                raise ValueError("ClickHouse queries take named %(name)s parameters (a mapping)")
            params = {}
        with self._reader() as conn:
            return conn.execute(sql, params)

    @contextmanager
    def _reader(self) -> Iterator[Connection]:
        self._check_open()
        with self._reader_slots:
            try:
                conn = self._readers.get_nowait()
            except queue.Empty:
                conn = self._new_connection()
            try:
                yield conn
            finally:
                self._readers.put(conn)

    def peer_names(self) -> dict[str, str]:
        return self._peers.names()

    # Write side ------------------------------------------------------------------------------

    def write(self, rows: AggregateRows, flush_id: str | None = None) -> WriteResult:
        """Insert one flush; the same ``flush_id`` again is a no-op (``duplicate=True``)."""
        with self._lock:
            self._check_open()
            self._peers.sync(self._conn)
            result = write_rows(
                self._conn,
                self._state,
                rows,
                node=self.node,
                flush_id=flush_id,
                private_peers=self._peers.private_ids(),
                dims=self._dims,
                insert_settings=self._insert_settings,
            )
            if self._register_peers(rows):
                self._peers.sync(self._conn, force=True)  # other nodes list them at once
        return result

    def _register_peers(self, rows: AggregateRows) -> bool:
        """Peers seen for the first time into the metadata store; True when there were any."""
        if self.metadata is None or not len(rows):
            return False
        seen = set(rows.peer.tolist()) - self._known_peers
        seen.discard("")
        if not seen:
            return False
        self.metadata.ensure_peers(seen)
        self._known_peers |= seen
        return True

    def write_flows(self, records: FlowRecords) -> int:
        """Keep raw flow records if flow detail is enabled (else nothing is kept)."""
        if not self.flow_detail_enabled or not len(records):
            return 0
        with self._lock:
            self._check_open()
            return write_flow_records(
                self._conn,
                self._state,
                records,
                node=self.node,
                private_peers=self._peers.private_ids(),
                insert_settings=self._insert_settings,
            )

    def run_maintenance(self, now: float | None = None) -> MaintenanceReport:
        """Advance the watermarks, drop expired partitions, publish peer edits."""
        moment = int(time.time() if now is None else now)
        with self._lock:
            self._check_open()
            state = maint.refresh_state(self._conn, self._state)
            report, self._state = maint.run_maintenance(
                self._conn, self.layout, state, self.settings, moment, self._insert_settings
            )
            self._state_at = time.monotonic()
            self._peers.sync(self._conn, force=True)
        report.coverage = self.coverage()
        log.debug("store.maintenance", deleted=report.deleted_rows)
        return report

    def scrub_peer(self, peer_id: str) -> dict[str, int]:
        """Blank the geography of a peer's past rows and drop its flow records (all tiers)."""
        with self._lock:
            self._check_open()
            return scrub_peer_history(self._conn, self.layout, peer_id, self._insert_settings)

    # Lifecycle -------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise DatabaseError(f"the ClickHouse store {self.layout.database} is closed")

    def _close_connections(self) -> None:
        with self._pool_lock:
            for conn in self._all:
                try:
                    conn.close()
                except Exception as exc:  # closing must not hide the caller's error
                    log.debug("clickhouse.close_failed", error=str(exc))
            self._all.clear()

    def close(self) -> None:
        """Close every connection (and the metadata store when owned)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._close_connections()
        if self._owns_metadata and self.metadata is not None:
            self.metadata.close()

    def __enter__(self) -> ClickHouseStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def create_database(settings: StoreSettings) -> None:
    """CREATE DATABASE IF NOT EXISTS on the server (every node of the cluster)."""
    ch = settings.clickhouse
    conn = DriverConnection(ch, "")  # the user's default database: ours may not exist yet
    try:
        on_cluster = f" ON CLUSTER {ch.cluster}" if ch.cluster else ""
        conn.execute(f"CREATE DATABASE IF NOT EXISTS {ch.database}{on_cluster}")
    finally:
        conn.close()


def open_clickhouse_store(settings: StoreSettings, data_dir: Path) -> ClickHouseStore:
    """Connect to the ClickHouse server the settings name, creating the schema when needed.

    The node's metadata store (users, sessions, peer edits) is ``<data_dir>/metadata.sqlite3``
    unless ``store.metadata_path`` says otherwise. Raises StoreUnavailable when the server
    cannot be reached, ConfigError for bad credentials or settings.
    """
    create_database(settings)
    metadata = MetadataStore(settings.resolved_metadata_path(data_dir))
    ch = settings.clickhouse
    try:
        return ClickHouseStore(
            settings, lambda: DriverConnection(ch, ch.database), metadata, owns_metadata=True
        )
    except BaseException:
        metadata.close()
        raise


if TYPE_CHECKING:

    def _implements_store(store: ClickHouseStore) -> Store:
        return store  # mypy checks the protocol here
