"""Runtime: builds every component from Settings, starts them in order, stops them in reverse.

Order: GeoIP databases → store → classify/aggregate/pipeline → sources. Stopping stops the sources
first (nothing new arrives), then drains and flushes the pipeline, then closes the store — a
graceful shutdown loses nothing that was received.

Roles (``settings.role``): "all" runs everything in one process; "collector" runs sources and the
pipeline writing to the shared store (no API); "api" opens the shared store for the API and the
dashboard (no sources, no pipeline, so no live view). "collector" and "api" need a store several
processes can share: ClickHouse. With ClickHouse the pipeline writes through a
:class:`~trafficatlas.store.spooling.SpoolingWriter`, so an unreachable server costs nothing but
disk; the embedded DuckDB file is local and needs no spool.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trafficatlas import __version__
from trafficatlas.aggregate.aggregator import Aggregator
from trafficatlas.aggregate.live import LiveView
from trafficatlas.aggregate.rows import AggregateRows
from trafficatlas.classify.classifier import Classifier
from trafficatlas.enrich.engine import GeoIP
from trafficatlas.errors import ConfigError
from trafficatlas.logging import get_logger
from trafficatlas.peerstate import PeerState, PeerStates
from trafficatlas.pipeline import EnrichedBatch, Pipeline, flow_records
from trafficatlas.settings import Settings
from trafficatlas.sources.base import Source

if TYPE_CHECKING:
    from trafficatlas.sources.peers import PeerRegistry
    from trafficatlas.store import Store
    from trafficatlas.store.spooling import SpoolingWriter

log = get_logger("runtime")

API_ROLE_PIPELINE = (
    "not on this node (role = api): collectors run the pipeline, so there is no live view or "
    "queue here; history comes from the shared store"
)


def check_role(settings: Settings) -> None:
    """ConfigError when the role cannot work with the configured store engine."""
    if settings.role != "all" and settings.store.engine == "duckdb":
        raise ConfigError(
            f"role {settings.role!r} needs a store that several processes share "
            '(store.engine = "clickhouse"): a DuckDB file belongs to one process, so collectors '
            'and API nodes cannot share it; with DuckDB use role = "all"'
        )


def open_engine_store(settings: Settings) -> Store:
    """The store ``store.engine`` names: ClickHouse (loaded on demand) or the DuckDB file."""
    if settings.store.engine == "clickhouse":
        try:
            from trafficatlas.store.clickhouse import open_clickhouse_store
        except ImportError as exc:  # clickhouse-driver is an optional extra
            raise ConfigError(
                f'store.engine = "clickhouse" but the ClickHouse store cannot be loaded: {exc} '
                "(install trafficatlas with the clickhouse extra)"
            ) from None
        return open_clickhouse_store(settings.store, settings.data_dir)
    from trafficatlas.store import open_store

    return open_store(settings.store, settings.data_dir)


class Runtime:
    """The running trafficatlas process: pipeline, store, sources and their state."""

    def __init__(
        self,
        settings: Settings,
        extra_sources: list[Source] | None = None,
        *,
        store_opener: Callable[[], Store] | None = None,
    ) -> None:
        """``store_opener`` replaces :func:`open_engine_store` (embedding, tests)."""
        self.settings = settings
        self.extra_sources = list(extra_sources or [])
        self.started_at = 0.0
        self.geo: GeoIP | None = None
        self.store: Store | None = None
        # Collectors (and "all" with ClickHouse): the pipeline writes through the spool.
        self.writer: SpoolingWriter | None = None
        self._store_opener = store_opener or (lambda: open_engine_store(self.settings))
        self.pipeline: Pipeline | None = None
        self.live = LiveView()
        self.sources: list[Source] = []
        self.peer_registry: PeerRegistry | None = None
        # latest handshake and endpoint per peer id (WireGuard listings, or the demo's reports)
        self.peer_states = PeerStates()
        self._reload_stop = threading.Event()
        self._reload_thread: threading.Thread | None = None
        self._store_lock = threading.Lock()

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Build and start everything (ConfigError/DatabaseError on bad settings or files)."""
        s = self.settings
        check_role(s)
        if s.role == "api" and self.extra_sources:
            raise ConfigError("role = api runs no sources: start them in a collector")
        try:
            s.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create data_dir {s.data_dir}: {exc.strerror}") from None
        self.geo = GeoIP.from_settings(s)  # the API's lookups need it on every role
        if s.role == "api":
            self.store = self._store_opener()
        elif s.store.engine == "clickhouse":
            self.writer = self._open_writer()
        else:
            self.store = self._store_opener()
        if s.role != "api":
            try:
                self._start_pipeline()
            except BaseException:
                self._close_store()
                raise
        self.started_at = time.time()
        self._reload_stop.clear()
        self._reload_thread = threading.Thread(target=self._reload_loop, daemon=True, name="reload")
        self._reload_thread.start()
        log.info(
            "started",
            role=s.role,
            engine=s.store.engine,
            sources=[src.name for src in self.sources],
            version=__version__,
        )

    def _open_writer(self) -> SpoolingWriter:
        """The spool and its writer; the store is opened now if it is reachable, else later."""
        from trafficatlas.store.spool import Spool
        from trafficatlas.store.spooling import SpoolingWriter

        cfg = self.settings.store.spool
        spool = Spool(cfg.path or self.settings.data_dir / "spool", cfg.max_bytes)
        writer = SpoolingWriter(
            spool, retry_s=cfg.retry_s, opener=self._store_opener, on_open=self._store_opened
        )
        try:
            writer.connect()  # unreachable: noted, collection starts anyway
        except BaseException:
            spool.close()
            raise
        writer.start()
        return writer

    def _store_opened(self, store: Store) -> None:
        with self._store_lock:
            self.store = store
        self._name_peers()

    def _start_pipeline(self) -> None:
        s = self.settings
        assert self.geo is not None
        classifier = Classifier(s.classify, special=self.geo.special)
        self.pipeline = Pipeline(
            self.geo,
            classifier,
            Aggregator(s.aggregate),
            sinks=[self._write],
            settings=s.pipeline,
            peer_name=self.peer_id,
            maintenance=self._maintain,
            live=[self.live.add],
        )
        if s.store.flow_detail.enabled:
            self.pipeline.live.append(self._write_flows)
        self.pipeline.start()
        self.sources = self._build_sources() + self.extra_sources
        started: list[Source] = []
        try:
            for src in self.sources:
                src.start(self.pipeline.submit)
                started.append(src)
        except Exception:
            for src in reversed(started):
                src.stop()
            self.pipeline.stop()
            raise

    def stop(self) -> None:
        """Stop sources, flush the pipeline into the store, close the store."""
        self._reload_stop.set()
        for src in reversed(self.sources):
            try:
                src.stop()
            except Exception as exc:
                log.error("source stop failed", source=src.name, error=str(exc))
        if self.pipeline is not None:
            self.pipeline.stop()  # its last flush goes to the store, or to the spool
        self._close_store()
        log.info("stopped")

    def _close_store(self) -> None:
        if self.writer is not None:
            self.writer.stop()
        with self._store_lock:
            if self.store is not None:
                self.store.close()
            self.store = None
        if self.writer is not None:
            self.writer.close()  # the backlog stays on disk for the next start
            self.writer = None

    def peer_id(self, owner: int) -> str:
        """The stable id stored for a classifier owner: a WireGuard peer's public key, else
        ``peer-<n>``. Names are attributes in the metadata store, so a rename never splits
        history."""
        if self.peer_registry is not None:
            key = self.peer_registry.key_for(owner)
            if key is not None:
                return key
        return f"peer-{owner}"

    def _build_sources(self) -> list[Source]:
        s = self.settings
        out: list[Source] = []
        if s.wireguard.enabled:
            from trafficatlas.sources.peers import PeerRegistry
            from trafficatlas.sources.wireguard import WireGuardSource

            path = s.wireguard.registry_path or s.data_dir / "wireguard-peers.json"
            self.peer_registry = PeerRegistry(path, s.wireguard.peers)
            assert self.pipeline is not None
            out.append(
                WireGuardSource(
                    s.wireguard, registry=self.peer_registry, classifier=self.pipeline.classifier
                )
            )
            self._name_peers()
        if s.collector.enabled:
            from trafficatlas.sources.collector import FlowCollector

            out.append(FlowCollector(s.collector))
        if s.conntrack.enabled:
            from trafficatlas.sources.conntrack_adapter import ConntrackAdapter

            out.append(ConntrackAdapter(s.conntrack))
        return out

    def _name_peers(self) -> None:
        """Configured WireGuard peer names and privacy into the metadata store (by public key)."""
        store = self.store
        metadata = getattr(store, "metadata", None)
        if metadata is None:
            return
        for peer in self.settings.wireguard.peers:
            metadata.set_peer(peer.public_key, name=peer.name or None, private=peer.private)

    # -- store access ------------------------------------------------------------------------

    def _write(self, rows: AggregateRows, flush_id: str) -> None:
        if self.writer is not None:
            self.writer.write(rows, flush_id)
            return
        with self._store_lock:
            if self.store is None:
                raise ConfigError("the store is closed")
            self.store.write(rows, flush_id=flush_id)

    def _write_flows(self, eb: EnrichedBatch) -> None:
        """Flow detail (opt-in): raw records with addresses, kept with their own retention."""
        assert self.pipeline is not None
        records = flow_records(eb, self.pipeline.peer_name)
        if self.writer is not None:
            self.writer.write_flows(records)
            return
        with self._store_lock:
            if self.store is not None:
                self.store.write_flows(records)

    def _maintain(self, now: float) -> None:
        with self._store_lock:
            if self.store is not None:
                self.store.run_maintenance(now)

    def require_store(self) -> Store:
        if self.store is None:
            raise ConfigError("the store is not open")
        return self.store

    def _reload_loop(self) -> None:
        interval = self.settings.geoip.reload_check_s
        while not self._reload_stop.wait(interval):
            if self.geo is not None:
                try:
                    self.geo.reload_changed()
                except Exception as exc:
                    log.error("geoip reload check failed", error=str(exc))

    # -- state -------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """Liveness and basic state; "degraded" while the shared store is unreachable."""
        p = self.pipeline
        role = self.settings.role
        if role == "api":
            running = self.store is not None
        else:
            running = p is not None and (self.store is not None or self.writer is not None)
        status = "ok" if running else "starting"
        if running and self.writer is not None and self.writer.available is False:
            status = "degraded"
        out: dict[str, Any] = {
            "status": status,
            "role": role,
            "version": __version__,
            "uptime_s": round(time.time() - self.started_at, 1) if self.started_at else 0.0,
            "sources": [src.name for src in self.sources],
            "queue_depth": p.queue_depth() if p is not None else None,
        }
        if role == "api":
            out["pipeline"] = API_ROLE_PIPELINE
        if self.writer is not None:
            out["spool"] = self.writer.status()
        return out

    def source_metrics(self) -> dict[str, dict[str, float]]:
        return {src.name: dict(src.metrics()) for src in self.sources}

    def peer_state(self) -> dict[str, PeerState]:
        """Latest handshake and located endpoint per peer id: the WireGuard sources' last
        listing, and whatever else reported to ``peer_states``."""
        from trafficatlas.sources.wireguard import WireGuardSource

        for src in self.sources:
            if isinstance(src, WireGuardSource):
                self.peer_states.report_wireguard(src.peers())
        return self.peer_states.snapshot(self.geo)


def socket_usable(path: Path) -> bool:
    """True when a server answers on the Unix socket ``path``."""
    import socket

    if not path.exists():
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(1.0)
        try:
            s.connect(str(path))
        except OSError:
            return False
    return True
