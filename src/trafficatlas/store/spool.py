"""Spool: a bounded, crash-safe queue of batches on disk, one file per batch, oldest first.

A collector writes here while the shared store is unreachable (see ``spooling``). The folder:

- ``<seq>-<kind>-<rows>.npz``: one batch (format: ``spool_format``); ``seq`` orders them.
- ``*.tmp``: a batch being written. Renaming is the commit, so a leftover after a crash was
  never acknowledged; it is removed at open.
- ``corrupt/``: files that could not be read, moved aside (never deleted) and counted.
- ``rejected/``: batches the store refused as invalid, moved aside and counted.
- ``.lock``: an exclusive ``flock``; one process per spool folder.

A batch is written to a temp file, synced, renamed and the folder synced: it is either complete or
absent. It is removed only after the store accepted it; the store ignores a flush id it has seen,
so a crash between acceptance and removal replays it harmlessly (flow-detail records carry no
flush id: such a crash can keep them twice). Beyond ``max_bytes`` the oldest batches are dropped,
counted and logged as errors; nothing leaves the spool silently.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from trafficatlas.errors import ConfigError, DatabaseError, DecodeError
from trafficatlas.logging import get_logger
from trafficatlas.store.spool_format import SpoolBatch, read_batch, write_batch

log = get_logger("spool")

_NAME = re.compile(r"^(?P<seq>\d{20})-(?P<kind>rows|flows)-(?P<rows>\d+)\.npz$")
CORRUPT_DIR = "corrupt"
REJECTED_DIR = "rejected"


@dataclass(slots=True)
class SpoolMetrics:
    """Counters since this process opened the spool."""

    spooled_batches: int = 0
    spooled_rows: int = 0
    replayed_batches: int = 0
    replayed_rows: int = 0
    dropped_batches: int = 0  # oldest batches dropped to stay within max_bytes
    dropped_rows: int = 0
    corrupt_files: int = 0  # unreadable files moved to corrupt/
    rejected_batches: int = 0  # batches the store refused, moved to rejected/
    write_errors: int = 0  # batches the spool could not write (disk full, permissions)


@dataclass(frozen=True, slots=True)
class _Entry:
    seq: int
    path: Path
    size: int
    rows: int


@dataclass(frozen=True, slots=True)
class SpooledBatch:
    """A batch taken from the spool: hand it back with ``done``, ``release`` or ``set_aside``."""

    seq: int
    batch: SpoolBatch


class Spool:
    """Batches on disk in arrival order, bounded by ``max_bytes``; thread-safe."""

    def __init__(self, path: Path, max_bytes: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.metrics = SpoolMetrics()
        self._lock = threading.Lock()
        self._entries: dict[int, _Entry] = {}  # insertion order is seq order
        self._bytes = 0
        self._in_flight: int | None = None
        try:
            # Owner-only: with flow detail on, spooled batches hold IP addresses.
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._lock_fd = os.open(path / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise ConfigError(f"cannot use spool folder {path}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._lock_fd)
            raise ConfigError(
                f"spool folder {path} is in use by another trafficatlas process: give each "
                "collector its own data_dir or store.spool.path"
            ) from None
        self._closed = False
        self._scan()
        self._next_seq = max(self._entries, default=0) + 1
        with self._lock:
            self._make_room(0)  # max_bytes may have been lowered since the last run
        if self._entries:
            log.info("spool holds batches from a previous run", batches=len(self._entries))

    # -- state ---------------------------------------------------------------------------------

    @property
    def backlog_batches(self) -> int:
        """Batches waiting (the one being replayed included)."""
        return len(self._entries)

    @property
    def backlog_bytes(self) -> int:
        return self._bytes

    def _scan(self) -> None:
        found: list[_Entry] = []
        for child in self.path.iterdir():
            if child.name.endswith(".tmp") and child.is_file():
                log.warning("removed an incomplete spool file", file=child.name)
                with contextlib.suppress(FileNotFoundError):
                    child.unlink()
                continue
            m = _NAME.match(child.name)
            if m and child.is_file():
                size = child.stat().st_size
                found.append(_Entry(int(m["seq"]), child, size, int(m["rows"])))
        for entry in sorted(found, key=lambda e: e.seq):
            self._entries[entry.seq] = entry
            self._bytes += entry.size

    # -- writing -------------------------------------------------------------------------------

    def put(self, batch: SpoolBatch) -> None:
        """Append ``batch`` (durably); DatabaseError when the disk refuses it."""
        with self._lock:
            if self._closed:
                raise DatabaseError(f"spool {self.path} is closed")
            seq = self._next_seq
            self._next_seq += 1
            final = self.path / f"{seq:020d}-{batch.kind}-{len(batch)}.npz"
            tmp = final.with_name(final.name + ".tmp")
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "wb") as fh:
                    write_batch(fh, batch)
                    fh.flush()
                    os.fsync(fh.fileno())
                size = tmp.stat().st_size
                if size > self.max_bytes:
                    tmp.unlink()
                    self._count_drop(len(batch), "larger than the whole spool")
                    return
                self._make_room(size)
                os.replace(tmp, final)
                _fsync_dir(self.path)
            except OSError as exc:
                with contextlib.suppress(OSError):
                    tmp.unlink()
                self.metrics.write_errors += 1
                raise DatabaseError(
                    f"cannot write to spool folder {self.path}: {exc.strerror or exc}"
                ) from None
            except BaseException:  # rows that cannot be encoded: no half file stays behind
                with contextlib.suppress(OSError):
                    tmp.unlink()
                raise
            self._entries[seq] = _Entry(seq, final, size, len(batch))
            self._bytes += size
            self.metrics.spooled_batches += 1
            self.metrics.spooled_rows += len(batch)

    def _make_room(self, size: int) -> None:
        """Drop the oldest batches (never the one being replayed) until ``size`` more fits."""
        while self._bytes + size > self.max_bytes:
            victim = next((e for e in self._entries.values() if e.seq != self._in_flight), None)
            if victim is None:
                return
            with contextlib.suppress(FileNotFoundError):
                victim.path.unlink()
            self._forget(victim)
            self._count_drop(victim.rows, "spool full", victim.path.name)

    def _count_drop(self, rows: int, why: str, name: str = "") -> None:
        self.metrics.dropped_batches += 1
        self.metrics.dropped_rows += rows
        log.error(
            "spool dropped a batch: its rows are lost",
            reason=why,
            file=name or None,
            rows=rows,
            max_bytes=self.max_bytes,
            dropped_batches=self.metrics.dropped_batches,
        )

    def _forget(self, entry: _Entry) -> None:
        if self._entries.pop(entry.seq, None) is not None:
            self._bytes -= entry.size

    # -- replaying -----------------------------------------------------------------------------

    def take(self) -> SpooledBatch | None:
        """The oldest readable batch, marked as being replayed (corrupt files are moved aside)."""
        with self._lock:
            while not self._closed:
                entry = next(iter(self._entries.values()), None)
                if entry is None:
                    return None
                try:
                    batch = read_batch(entry.path)
                except DecodeError as exc:
                    self.metrics.corrupt_files += 1
                    log.error("spool file unreadable: moved aside", error=str(exc))
                    self._move_aside(entry, CORRUPT_DIR)
                    continue
                self._in_flight = entry.seq
                return SpooledBatch(entry.seq, batch)
            return None

    def done(self, item: SpooledBatch) -> None:
        """The store accepted ``item``: remove it."""
        with self._lock:
            self._in_flight = None
            entry = self._entries.get(item.seq)
            if entry is None:
                return
            with contextlib.suppress(FileNotFoundError):
                entry.path.unlink()
            self._forget(entry)
            self.metrics.replayed_batches += 1
            self.metrics.replayed_rows += entry.rows

    def release(self, item: SpooledBatch) -> None:
        """The store did not take ``item``: it stays first in line."""
        with self._lock:
            if self._in_flight == item.seq:
                self._in_flight = None

    def set_aside(self, item: SpooledBatch) -> None:
        """The store refused ``item`` as invalid: move it to ``rejected/`` and go on."""
        with self._lock:
            self._in_flight = None
            entry = self._entries.get(item.seq)
            if entry is not None:
                self.metrics.rejected_batches += 1
                self._move_aside(entry, REJECTED_DIR)

    def _move_aside(self, entry: _Entry, folder: str) -> None:
        target = self.path / folder
        try:
            target.mkdir(exist_ok=True)
            os.replace(entry.path, target / entry.path.name)
        except FileNotFoundError:
            pass  # removed by hand: nothing left to keep
        except OSError as exc:
            # Left in place: skipped now, found again at the next start.
            log.error("cannot move a spool file aside", file=entry.path.name, error=str(exc))
        self._forget(entry)

    # -- lifecycle -----------------------------------------------------------------------------

    def close(self) -> None:
        """Release the folder (the batches stay for the next start)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            os.close(self._lock_fd)  # closing the descriptor releases the flock


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
