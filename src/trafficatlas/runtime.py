"""Runtime: builds every component from Settings, starts them in order, stops them in reverse.

Order: GeoIP databases → store → classify/aggregate/pipeline → sources. Stopping stops the sources
first (nothing new arrives), then drains and flushes the pipeline, then closes the store — a
graceful shutdown loses nothing that was received.
"""

from __future__ import annotations

import threading
import time
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
from trafficatlas.pipeline import EnrichedBatch, Pipeline, flow_records
from trafficatlas.settings import Settings
from trafficatlas.sources.base import Source

if TYPE_CHECKING:
    from trafficatlas.sources.peers import PeerRegistry
    from trafficatlas.store import Store

log = get_logger("runtime")


class Runtime:
    """The running trafficatlas process: pipeline, store, sources and their state."""

    def __init__(self, settings: Settings, extra_sources: list[Source] | None = None) -> None:
        self.settings = settings
        self.extra_sources = list(extra_sources or [])
        self.started_at = 0.0
        self.geo: GeoIP | None = None
        self.store: Store | None = None
        self.pipeline: Pipeline | None = None
        self.live = LiveView()
        self.sources: list[Source] = []
        self.peer_registry: PeerRegistry | None = None
        self._reload_stop = threading.Event()
        self._reload_thread: threading.Thread | None = None
        self._store_lock = threading.Lock()

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Build and start everything (ConfigError/DatabaseError on bad settings or files)."""
        from trafficatlas.store import open_store

        s = self.settings
        try:
            s.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create data_dir {s.data_dir}: {exc.strerror}") from None
        self.geo = GeoIP.from_settings(s)
        self.store = open_store(s.store, s.data_dir)
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
            self.store.close()
            raise
        self.started_at = time.time()
        self._reload_stop.clear()
        self._reload_thread = threading.Thread(target=self._reload_loop, daemon=True, name="reload")
        self._reload_thread.start()
        log.info("started", sources=[src.name for src in self.sources], version=__version__)

    def stop(self) -> None:
        """Stop sources, flush the pipeline into the store, close the store."""
        self._reload_stop.set()
        for src in reversed(self.sources):
            try:
                src.stop()
            except Exception as exc:
                log.error("source stop failed", source=src.name, error=str(exc))
        if self.pipeline is not None:
            self.pipeline.stop()
        if self.store is not None:
            with self._store_lock:
                self.store.close()
            self.store = None
        log.info("stopped")

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
        with self._store_lock:
            if self.store is None:
                raise ConfigError("the store is closed")
            self.store.write(rows, flush_id=flush_id)

    def _write_flows(self, eb: EnrichedBatch) -> None:
        """Flow detail (opt-in): raw records with addresses, kept with their own retention."""
        assert self.pipeline is not None
        records = flow_records(eb, self.pipeline.peer_name)
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
        p = self.pipeline
        return {
            "status": "ok" if p is not None and self.store is not None else "starting",
            "version": __version__,
            "uptime_s": round(time.time() - self.started_at, 1) if self.started_at else 0.0,
            "sources": [src.name for src in self.sources],
            "queue_depth": p.queue_depth() if p is not None else 0,
        }

    def source_metrics(self) -> dict[str, dict[str, float]]:
        return {src.name: dict(src.metrics()) for src in self.sources}


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
