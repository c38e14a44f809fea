"""FlowBatch: the columnar unit of work that flows through every pipeline stage.

Every column is a NumPy array of the same length. Addresses are integers: IPv4 lives in ``*_lo``
with ``*_hi == 0`` and ``ip_version == 4``; IPv6 is split into two big-endian halves (hi, lo).
Byte and packet counts are already scaled by the sampling rate.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import IntEnum
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt


class Direction(IntEnum):
    """Where a flow goes relative to the site (decided by the classify stage)."""

    UNKNOWN = 0
    OUTBOUND = 1
    INBOUND = 2
    INTERNAL = 3


U8 = npt.NDArray[np.uint8]
U16 = npt.NDArray[np.uint16]
U32 = npt.NDArray[np.uint32]
U64 = npt.NDArray[np.uint64]
F64 = npt.NDArray[np.float64]


@dataclass(slots=True)
class FlowBatch:
    """A batch of unidirectional flow records in columns."""

    ts: F64  # flow end (or observation) time, epoch seconds
    ts_start: F64  # flow start, epoch seconds
    exporter: U32  # exporter/source id from the collector's registry (0 = local source)
    in_if: U32
    out_if: U32
    ip_version: U8  # 4 or 6
    proto: U8
    src_hi: U64
    src_lo: U64
    dst_hi: U64
    dst_lo: U64
    sport: U16
    dport: U16
    tcp_flags: U8
    bytes: U64
    packets: U64
    flows: U32
    sampling_rate: U32
    direction: U8

    DTYPES: ClassVar[dict[str, type[np.generic]]] = {
        "ts": np.float64,
        "ts_start": np.float64,
        "exporter": np.uint32,
        "in_if": np.uint32,
        "out_if": np.uint32,
        "ip_version": np.uint8,
        "proto": np.uint8,
        "src_hi": np.uint64,
        "src_lo": np.uint64,
        "dst_hi": np.uint64,
        "dst_lo": np.uint64,
        "sport": np.uint16,
        "dport": np.uint16,
        "tcp_flags": np.uint8,
        "bytes": np.uint64,
        "packets": np.uint64,
        "flows": np.uint32,
        "sampling_rate": np.uint32,
        "direction": np.uint8,
    }

    def __len__(self) -> int:
        return int(self.ts.shape[0])

    @classmethod
    def columns(cls) -> tuple[str, ...]:
        """Names of the columns, in declaration order."""
        return tuple(f.name for f in fields(cls))

    @classmethod
    def empty(cls, n: int = 0) -> FlowBatch:
        """A batch of ``n`` zeroed rows (flows=1, sampling_rate=1)."""
        cols: dict[str, Any] = {name: np.zeros(n, dtype=dt) for name, dt in cls.DTYPES.items()}
        cols["flows"][:] = 1
        cols["sampling_rate"][:] = 1
        return cls(**cols)

    @classmethod
    def from_columns(cls, n: int, **columns: Any) -> FlowBatch:
        """Build a batch of ``n`` rows; missing columns take the defaults of :meth:`empty`."""
        unknown = set(columns) - set(cls.DTYPES)
        if unknown:
            raise TypeError(f"unknown FlowBatch columns: {sorted(unknown)}")
        batch = cls.empty(n)
        for name, value in columns.items():
            arr = np.asarray(value, dtype=cls.DTYPES[name])
            if arr.ndim == 0:
                arr = np.full(n, arr, dtype=cls.DTYPES[name])
            if arr.shape != (n,):
                raise ValueError(f"column {name} has shape {arr.shape}, expected ({n},)")
            setattr(batch, name, arr)
        return batch

    @classmethod
    def concat(cls, batches: list[FlowBatch]) -> FlowBatch:
        """Concatenate batches column by column."""
        if not batches:
            return cls.empty(0)
        if len(batches) == 1:
            return batches[0]
        return cls(
            **{name: np.concatenate([getattr(b, name) for b in batches]) for name in cls.DTYPES}
        )

    def take(self, index: npt.NDArray[Any]) -> FlowBatch:
        """Rows selected by a boolean mask or an index array."""
        return FlowBatch(**{name: getattr(self, name)[index] for name in self.DTYPES})

    def totals(self) -> dict[str, int]:
        """Sum of flows, packets and bytes (exact integers)."""
        return {
            "flows": int(self.flows.sum(dtype=np.uint64)),
            "packets": int(self.packets.sum(dtype=np.uint64)),
            "bytes": int(self.bytes.sum(dtype=np.uint64)),
        }
