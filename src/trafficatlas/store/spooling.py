"""SpoolingWriter: the pipeline's sink in front of a shared store that may be unreachable.

Each flush goes to the store; when the store raises :class:`StoreUnavailable` (or is not open
yet) the flush goes to the on-disk :class:`Spool` instead, and while a backlog exists every new
flush goes behind it, so the store receives flushes in their original order. A background thread
retries every ``retry_s``: it opens the store if needed and replays the backlog oldest first,
removing a batch only after the store accepted it (flush ids make a repeated write harmless).

How this composes with the pipeline's own retry: the pipeline keeps a flush its sink refused in
memory (bounded) and offers it again with the same id. An outage no longer reaches it (the flush
is spooled and the sink returns normally); what still does are other store errors and a spool
the disk refuses (full, read-only), where the in-memory retry is the last line.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from trafficatlas.aggregate.rows import AggregateRows
from trafficatlas.errors import DatabaseError, TrafficAtlasError
from trafficatlas.logging import get_logger
from trafficatlas.store.errors import StoreUnavailable
from trafficatlas.store.flows import FlowRecords
from trafficatlas.store.protocol import Store
from trafficatlas.store.spool import Spool
from trafficatlas.store.spool_format import SpoolBatch

log = get_logger("spool")

StoreOpener = Callable[[], Store]


class SpoolingWriter:
    """Writes flushes to the store, or to the spool while the store is unreachable."""

    def __init__(
        self,
        spool: Spool,
        store: Store | None = None,
        *,
        retry_s: float = 5.0,
        opener: StoreOpener | None = None,
        on_open: Callable[[Store], None] | None = None,
    ) -> None:
        self.spool = spool
        self.retry_s = retry_s
        self._store = store
        self._opener = opener
        self._on_open = on_open
        self._lock = threading.Lock()  # one producer at a time: order of direct vs spooled
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # None: not tried yet; True/False: whether the last attempt reached the store.
        self.available: bool | None = None if store is None else True
        self.last_error = ""
        self.last_error_kind = ""
        self.last_error_ts = 0.0

    @property
    def store(self) -> Store | None:
        return self._store

    # -- the sink ------------------------------------------------------------------------------

    def write(self, rows: AggregateRows, flush_id: str) -> None:
        """Write one flush to the store, or spool it (DatabaseError if neither takes it)."""
        self._submit(SpoolBatch.of_rows(rows, flush_id))

    def write_flows(self, records: FlowRecords) -> None:
        """Flow-detail records: to the store, or spooled like flushes."""
        if len(records):
            self._submit(SpoolBatch.of_flows(records))

    def _submit(self, batch: SpoolBatch) -> None:
        with self._lock:
            store = self._store
            if store is not None and self.spool.backlog_batches == 0:
                try:
                    _apply(store, batch)
                except StoreUnavailable as exc:
                    self._failed(exc)
                else:
                    self._reached()
                    return
            self.spool.put(batch)

    # -- replay --------------------------------------------------------------------------------

    def connect(self) -> bool:
        """Open the store if it is not open; False (and noted) while it is unreachable.

        Only StoreUnavailable is waited out; any other error (bad credentials, a schema this
        version cannot use) is raised, so a start with a wrong configuration fails clearly.
        """
        if self._store is not None:
            return True
        if self._opener is None:
            return False
        try:
            store = self._opener()
        except StoreUnavailable as exc:
            self._failed(exc)
            return False
        self._store = store
        if self._on_open is not None:
            self._on_open(store)
        self._reached()
        return True

    def replay(self) -> bool:
        """Open the store if needed and replay the backlog, oldest first; True once empty."""
        try:
            if not self.connect():
                return False
        except TrafficAtlasError as exc:  # in the background: keep trying, say why each time
            self._failed(exc)
            return False
        store = self._store
        assert store is not None
        replayed = 0
        while not self._stop.is_set():
            item = self.spool.take()
            if item is None:
                break
            try:
                _apply(store, item.batch)
            except DatabaseError as exc:  # unreachable or failing: keep it, try again later
                self.spool.release(item)
                self._failed(exc)
                return False
            except Exception as exc:  # the store refuses these rows: keep them aside, go on
                log.error(
                    "the store refused a spooled batch: moved to rejected/",
                    error=f"{type(exc).__name__}: {exc}",
                    rows=len(item.batch),
                )
                self.spool.set_aside(item)
                continue
            self.spool.done(item)
            self._reached()
            replayed += 1
        if replayed:
            log.info(
                "spool replayed",
                batches=replayed,
                backlog_batches=self.spool.backlog_batches,
            )
        return self.spool.backlog_batches == 0

    def _failed(self, exc: Exception) -> None:
        if self.available is not False:
            log.error(
                "store unreachable: spooling batches until it returns",
                error=str(exc),
                spool=str(self.spool.path),
                retry_s=self.retry_s,
            )
        else:
            log.debug("store still unreachable", error=str(exc))
        self.available = False
        self.last_error = str(exc)
        self.last_error_kind = type(exc).__name__
        self.last_error_ts = time.time()

    def _reached(self) -> None:
        if self.available is False:
            log.info("store reachable again", backlog_batches=self.spool.backlog_batches)
        self.available = True

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        """Start the retry thread (its first pass replays what a previous run left)."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="spool-replay", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        delay = 0.0
        while not self._stop.wait(delay):
            try:
                self.replay()
            except Exception as exc:  # a bug must not end the retries silently
                log.exception("spool replay failed", error=str(exc))
            delay = self.retry_s

    def stop(self, timeout: float = 30.0) -> None:
        """Stop retrying (a replay in progress finishes its current batch)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
            self._thread = None

    def close(self) -> None:
        """Stop and release the spool folder; the backlog stays on disk for the next start."""
        self.stop()
        self.spool.close()

    def status(self) -> dict[str, Any]:
        """Backlog and counters (no error text: it may name internal hosts)."""
        m = self.spool.metrics
        return {
            "store_available": self.available,
            "backlog_batches": self.spool.backlog_batches,
            "backlog_bytes": self.spool.backlog_bytes,
            "max_bytes": self.spool.max_bytes,
            "spooled_batches": m.spooled_batches,
            "replayed_batches": m.replayed_batches,
            "dropped_batches": m.dropped_batches,
            "dropped_rows": m.dropped_rows,
            "corrupt_files": m.corrupt_files,
            "rejected_batches": m.rejected_batches,
            "write_errors": m.write_errors,
            "last_error": self.last_error_kind or None,
            "last_error_ts": self.last_error_ts or None,
        }


def _apply(store: Store, batch: SpoolBatch) -> None:
    if batch.rows is not None:
        store.write(batch.rows, flush_id=batch.flush_id)
    elif batch.flows is not None:
        store.write_flows(batch.flows)
