"""DuckDBStore: the embedded default store, a single DuckDB file.

One process owns the file: DuckDB takes an exclusive lock while it is open (a second process can
open it neither read-write nor read-only), so the daemon opens it read-write and everything else
(CLI, other tools) goes through the daemon's API, or opens the file only while no daemon runs.
Within the owning process, writes and maintenance are serialized by a lock and reads use their
own cursors, so queries run concurrently with ingest and see committed flushes only.

Crash safety: each flush is one transaction (DuckDB's write-ahead log is synced at commit), so
after kill -9 the file opens with every acknowledged flush and none half-written.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from trafficatlas.aggregate.rows import AggregateRows
from trafficatlas.errors import ConfigError, DatabaseError
from trafficatlas.logging import get_logger
from trafficatlas.store.dialect import Dialect, DuckDBDialect
from trafficatlas.store.duckdb_write import DimensionCache, write_flow_records, write_rows
from trafficatlas.store.flows import FlowRecords
from trafficatlas.store.maintenance import run_maintenance
from trafficatlas.store.metadata import MetadataStore
from trafficatlas.store.privacy import scrub_peer_history
from trafficatlas.store.protocol import Coverage, MaintenanceReport, Store, WriteResult
from trafficatlas.store.schema import migrate
from trafficatlas.store.settings import StoreSettings
from trafficatlas.store.state import StoreState
from trafficatlas.store.txn import Transaction

log = get_logger(__name__)

# Bytes 8..12 of every DuckDB database file.
_DUCKDB_MAGIC = b"DUCK"


def check_store_file(path: Path) -> None:
    """Refuse (without touching it) an existing file that is not a DuckDB database."""
    if not path.exists():
        return
    if path.is_dir():
        raise DatabaseError(f"store path {path} is a directory, not a DuckDB file")
    try:
        with path.open("rb") as fh:
            head = fh.read(12)
    except OSError as exc:
        raise DatabaseError(f"cannot read store file {path}: {exc}") from None
    if head and (len(head) < 12 or head[8:12] != _DUCKDB_MAGIC):
        raise DatabaseError(
            f"store file {path} is not a DuckDB database (corrupt or another format); "
            "it was left untouched: move it away or point store.path elsewhere"
        )


class DuckDBStore:
    """Traffic tiers, flow detail and dimension tables in one DuckDB file."""

    def __init__(
        self,
        settings: StoreSettings,
        path: Path,
        metadata: MetadataStore | None = None,
        *,
        owns_metadata: bool = False,
    ) -> None:
        self.settings = settings
        self.path = path
        self.metadata = metadata
        self._owns_metadata = owns_metadata
        self._lock = threading.Lock()
        self._dialect = DuckDBDialect()
        self._dims = DimensionCache()
        self._known_peers: set[str] = set()
        self._closed = False
        # Bumped by every write, rollup and scrub: readers may reuse results while it holds.
        self.data_version = 0
        self._conn = self._connect(path, settings)
        # Readers get cursors spawned from a connection no thread executes on, under a lock:
        # the writer connection stays busy with flushes in its own thread.
        self._reader_root = self._conn.cursor()
        self._cursor_lock = threading.Lock()
        try:
            migrate(self._conn)
            self._state = self._load_state()
        except duckdb.Error as exc:
            self._conn.close()
            raise DatabaseError(
                f"cannot open store file {path}: {exc}; the file was left untouched"
            ) from None
        except BaseException:
            self._conn.close()
            raise

    @staticmethod
    def _connect(path: Path, settings: StoreSettings) -> duckdb.DuckDBPyConnection:
        check_store_file(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatabaseError(f"cannot create the folder of store file {path}: {exc}") from None
        config: dict[str, Any] = {
            # Never reach out to the network for extensions (e.g. when sniffing file formats).
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
        }
        if settings.memory_limit:
            config["memory_limit"] = settings.memory_limit
        if settings.threads:
            config["threads"] = settings.threads
        try:
            return duckdb.connect(str(path), config=config)
        except duckdb.Error as exc:
            text = str(exc)
            if "lock" in text.lower():
                raise DatabaseError(
                    f"store file {path} is in use by another process (DuckDB allows one process "
                    f"per file; query the running daemon's API instead): {text}"
                ) from None
            raise DatabaseError(
                f"cannot open store file {path}: {text}; the file was left untouched"
            ) from None

    def _load_state(self) -> StoreState:
        state = StoreState.load(self._conn)
        if state is None:
            state = StoreState(interval_s=self.settings.interval_s)
            with Transaction(self._conn):
                state.save(self._conn)
        elif state.interval_s != self.settings.interval_s:
            raise ConfigError(
                f"store file {self.path} was created with interval_s = {state.interval_s}, "
                f"the settings say {self.settings.interval_s}; keep {state.interval_s} or use "
                "a new store file"
            )
        rows = self._conn.execute("SELECT asn, org FROM asn_names").fetchall()
        self._dims.as_orgs = {int(a): str(o) for a, o in rows}
        crows = self._conn.execute("SELECT country, city, lat, lon FROM cities").fetchall()
        self._dims.cities = {(c, n): (float(la), float(lo)) for c, n, la, lo in crows}
        return state

    # Read side (QuerySource) -----------------------------------------------------------------

    @property
    def dialect(self) -> Dialect:
        return self._dialect

    @property
    def flow_detail_enabled(self) -> bool:
        return self.settings.flow_detail.enabled

    def coverage(self) -> Coverage:
        return self._state.coverage(self.flow_detail_enabled)

    def fetch(self, sql: str, params: Sequence[Any] | Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Run a read query on its own cursor (safe alongside writes in other threads)."""
        with self._cursor_lock:
            self._check_open()
            cur = self._reader_root.cursor()
        try:
            return cur.execute(sql, params).fetchall()
        except (duckdb.IOException, duckdb.OutOfMemoryException) as exc:
            raise DatabaseError(f"store query failed: {exc}") from None
        finally:
            cur.close()

    def peer_names(self) -> dict[str, str]:
        return self.metadata.peer_names() if self.metadata is not None else {}

    # Write side ------------------------------------------------------------------------------

    def _private_peers(self) -> frozenset[str]:
        return self.metadata.private_peer_ids() if self.metadata is not None else frozenset()

    def write(self, rows: AggregateRows, flush_id: str | None = None) -> WriteResult:
        """Merge one flush (see :class:`~trafficatlas.store.protocol.Store`)."""
        private = self._private_peers()
        with self._lock:
            self._check_open()
            try:
                result = write_rows(
                    self._conn,
                    self._state,
                    rows,
                    flush_id=flush_id,
                    private_peers=private,
                    dims=self._dims,
                    now=int(time.time()),
                )
            except duckdb.ConstraintException as exc:
                raise ValueError(f"rows rejected by the store (None in a column?): {exc}") from None
            except duckdb.Error as exc:
                raise DatabaseError(f"store write failed: {exc}") from exc
            finally:
                self.data_version += 1
        self._register_peers(rows)
        return result

    def _register_peers(self, rows: AggregateRows) -> None:
        if self.metadata is None or not len(rows):
            return
        seen = set(rows.peer.tolist()) - self._known_peers
        seen.discard("")
        if seen:
            self.metadata.ensure_peers(seen)
            self._known_peers |= seen

    def write_flows(self, records: FlowRecords) -> int:
        """Keep raw flow records if flow detail is enabled (else nothing is kept)."""
        if not self.flow_detail_enabled or not len(records):
            return 0
        private = self._private_peers()
        with self._lock:
            self._check_open()
            try:
                return write_flow_records(self._conn, self._state, records, private)
            except duckdb.ConstraintException as exc:
                raise ValueError(f"flow records rejected (None in a column?): {exc}") from None
            except duckdb.Error as exc:
                raise DatabaseError(f"store write failed: {exc}") from exc
            finally:
                self.data_version += 1

    def run_maintenance(self, now: float | None = None) -> MaintenanceReport:
        """Roll up finished buckets, apply retention, compact when worthwhile."""
        moment = int(time.time() if now is None else now)
        with self._lock:
            self._check_open()
            try:
                report = run_maintenance(self._conn, self._state, self.settings, moment)
            except duckdb.Error as exc:
                raise DatabaseError(f"store maintenance failed: {exc}") from None
            finally:
                self.data_version += 1
        report.coverage = self.coverage()
        log.debug(
            "store.maintenance",
            rolled=report.rolled_rows,
            deleted=report.deleted_rows,
            compacted=report.compacted,
        )
        return report

    def scrub_peer(self, peer_id: str) -> dict[str, int]:
        """Blank the geography of a peer's past rows and drop its flow records (all tiers)."""
        with self._lock:
            self._check_open()
            try:
                return scrub_peer_history(self._conn, peer_id)
            except duckdb.Error as exc:
                raise DatabaseError(f"store scrub failed: {exc}") from None
            finally:
                self.data_version += 1

    # Lifecycle -------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise DatabaseError(f"store {self.path} is closed")

    def close(self) -> None:
        """Checkpoint and release the file (and the metadata store when owned)."""
        with self._lock:
            with self._cursor_lock:
                if self._closed:
                    return
                self._closed = True
                self._reader_root.close()
            try:
                self._conn.close()
            finally:
                if self._owns_metadata and self.metadata is not None:
                    self.metadata.close()

    def __enter__(self) -> DuckDBStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_store(settings: StoreSettings, data_dir: Path) -> DuckDBStore:
    """Open (or create) the store and its metadata file as the settings say."""
    metadata = MetadataStore(settings.resolved_metadata_path(data_dir))
    try:
        return DuckDBStore(settings, settings.resolved_path(data_dir), metadata, owns_metadata=True)
    except BaseException:
        metadata.close()
        raise


if TYPE_CHECKING:

    def _implements_store(store: DuckDBStore) -> Store:
        return store  # mypy checks the protocol here
