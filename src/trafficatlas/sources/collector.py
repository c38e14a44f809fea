"""FlowCollector: UDP listeners for NetFlow/IPFIX/sFlow feeding one decoder thread.

Each configured port gets a receive thread (see listener.py); the datagram batches of all ports
meet in one bounded queue, and one decode thread turns them into FlowBatches for the pipeline.
The decoder keeps per-exporter template state, so it has exactly one consumer.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Mapping

from pydantic import Field

from trafficatlas.logging import get_logger
from trafficatlas.section import Section
from trafficatlas.sources.base import Emit, SourceBatch
from trafficatlas.sources.decode import DecoderSettings, FlowDecoder
from trafficatlas.sources.listener import Datagram, UDPListener, kernel_udp_drops
from trafficatlas.sources.state import ExporterRegistry

log = get_logger("collector")


class ListenPort(Section):
    port: int = Field(ge=0, le=65535)
    host: str = "0.0.0.0"


def _default_ports() -> list[ListenPort]:
    return [ListenPort(port=2055), ListenPort(port=4739), ListenPort(port=6343)]


class CollectorSettings(Section):
    enabled: bool = False
    # NetFlow v5/v9 and IPFIX on 2055, IPFIX on 4739, sFlow on 6343; any port decodes any of them.
    listen: list[ListenPort] = Field(default_factory=_default_ports)
    # Kernel receive buffer per socket (bytes); the kernel caps it at net.core.rmem_max.
    rcvbuf: int = Field(default=32 * 1024 * 1024, ge=65536)
    # Datagrams handed over together (and the longest wait for a batch to fill, ms).
    batch_datagrams: int = Field(default=1024, ge=1)
    batch_ms: float = Field(default=20.0, gt=0)
    # Receive in a child process per port (so this process's pauses cannot stall the sockets)
    # rather than in a thread.
    receive_process: bool = True
    # Datagram batches waiting for the decoder; beyond this they are dropped and counted.
    queue_batches: int = Field(default=256, ge=1)
    decoder: DecoderSettings = Field(default_factory=DecoderSettings)


class FlowCollector:
    """A Source: listens for exported flows and emits decoded SourceBatches."""

    name = "flowexport"

    def __init__(self, settings: CollectorSettings) -> None:
        self.settings = settings
        self.registry = ExporterRegistry()
        self.decoder = FlowDecoder(settings.decoder, self.registry)
        self._queue: queue.Queue[list[Datagram]] = queue.Queue(maxsize=settings.queue_batches)
        self.listeners = [
            UDPListener(
                p.host,
                p.port,
                self._queue,
                rcvbuf=settings.rcvbuf,
                batch_max=settings.batch_datagrams,
                batch_ms=settings.batch_ms,
                process=settings.receive_process,
            )
            for p in settings.listen
        ]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.decode_seconds = 0.0

    @property
    def ports(self) -> list[int]:
        """The bound ports (port 0 in the settings resolves to the kernel's choice)."""
        return [lst.port for lst in self.listeners]

    def start(self, emit: Emit) -> None:
        """Bind every port (ConfigError if one is unusable) and start decoding."""
        started: list[UDPListener] = []
        try:
            for lst in self.listeners:
                lst.start()
                started.append(lst)
        except Exception:
            for lst in started:
                lst.stop()
            raise
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, args=(emit,), name="decode", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop listening, then decode what was received (nothing already received is lost)."""
        for lst in self.listeners:
            lst.stop()
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self, emit: Emit) -> None:
        while True:
            try:
                batch = self._queue.get(timeout=0.1)
            except queue.Empty:
                if self._stop.is_set():
                    return
                continue
            more = [batch]
            while len(more) < 16:  # decode what has piled up together: fewer, larger batches
                try:
                    more.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            datagrams = more[0] if len(more) == 1 else [d for b in more for d in b]
            t0 = time.perf_counter()
            flows = self.decoder.decode_many(datagrams)
            self.decode_seconds += time.perf_counter() - t0
            if len(flows):
                emit(
                    SourceBatch(
                        self.name,
                        flows,
                        exporters=dict(self.registry.items()),
                        interfaces=self._interface_names(),
                    )
                )

    def _interface_names(self) -> dict[tuple[int, int], str]:
        out: dict[tuple[int, int], str] = {}
        for exporter_id, address in self.registry.items():
            info = self.decoder.exporter_info(address)
            if info is not None:
                for ifindex, name in info.interface_names.items():
                    out[(exporter_id, ifindex)] = name
        return out

    def metrics(self) -> Mapping[str, float]:
        c = self.decoder.counters
        out: dict[str, float] = {
            "datagrams": float(sum(lst.metrics.datagrams for lst in self.listeners)),
            "dropped_datagrams": float(
                sum(lst.metrics.dropped_datagrams for lst in self.listeners)
            ),
            "receive_errors": float(sum(lst.metrics.receive_errors for lst in self.listeners)),
            "receiver_restarts": float(
                sum(lst.metrics.receiver_restarts for lst in self.listeners)
            ),
            "decoded_datagrams": float(c.datagrams),
            "flows": float(c.flows),
            "unknown_template": float(c.unknown_template),
            "implausible_timestamps": float(c.implausible_timestamps),
            "queue_depth": float(self._queue.qsize()),
            "decode_seconds": self.decode_seconds,
        }
        for kind, n in c.errors.items():
            out[f"decode_errors:{kind}"] = float(n)
        drops = [kernel_udp_drops(p) for p in self.ports]
        visible = [d for d in drops if d is not None]
        if visible:
            out["kernel_drops"] = float(sum(visible))
        return out
