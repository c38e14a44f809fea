"""FlowRecords: raw flow records kept for drill-down when flow detail is enabled.

Same key columns as :class:`~trafficatlas.aggregate.rows.AggregateRows` (``ts`` is the flow's
end time in epoch seconds, not a bucket) plus the local and remote address (text) and port.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from trafficatlas.aggregate.rows import KEY_COLUMNS, VALUE_COLUMNS, build_columns

ADDRESS_COLUMNS: tuple[str, ...] = ("local_addr", "local_port", "remote_addr", "remote_port")
FLOW_COLUMNS: tuple[str, ...] = KEY_COLUMNS + ADDRESS_COLUMNS + VALUE_COLUMNS


@dataclass(slots=True)
class FlowRecords:
    """Columns of raw flow records (object columns hold str, never None)."""

    ts: npt.NDArray[np.int64]
    source: npt.NDArray[Any]
    exporter: npt.NDArray[Any]
    interface: npt.NDArray[Any]
    peer: npt.NDArray[Any]
    direction: npt.NDArray[np.uint8]
    ip_version: npt.NDArray[np.uint8]
    proto: npt.NDArray[np.uint8]
    country: npt.NDArray[Any]
    label: npt.NDArray[Any]
    city: npt.NDArray[Any]
    asn: npt.NDArray[np.uint32]
    local_addr: npt.NDArray[Any]
    local_port: npt.NDArray[np.uint16]
    remote_addr: npt.NDArray[Any]
    remote_port: npt.NDArray[np.uint16]
    bytes: npt.NDArray[np.uint64]
    packets: npt.NDArray[np.uint64]
    flows: npt.NDArray[np.uint64]

    DTYPES: ClassVar[dict[str, Any]] = {
        "ts": np.int64,
        "source": object,
        "exporter": object,
        "interface": object,
        "peer": object,
        "direction": np.uint8,
        "ip_version": np.uint8,
        "proto": np.uint8,
        "country": object,
        "label": object,
        "city": object,
        "asn": np.uint32,
        "local_addr": object,
        "local_port": np.uint16,
        "remote_addr": object,
        "remote_port": np.uint16,
        "bytes": np.uint64,
        "packets": np.uint64,
        "flows": np.uint64,
    }

    def __len__(self) -> int:
        return int(self.ts.shape[0])

    @classmethod
    def build(cls, n: int, **columns: Any) -> FlowRecords:
        """Records from columns; missing ones default to ""/0 (flows to 1); extras are errors."""
        cols = build_columns("FlowRecords", cls.DTYPES, n, columns, ones=("flows",))
        return cls(**cols)

    def take(self, index: npt.NDArray[Any]) -> FlowRecords:
        """Rows selected by a boolean mask or an index array."""
        return FlowRecords(**{name: getattr(self, name)[index] for name in self.DTYPES})

    def as_columns(self) -> dict[str, npt.NDArray[Any]]:
        return {name: getattr(self, name) for name in FLOW_COLUMNS}


def records_to_keep(
    records: FlowRecords, retained_from: int, private_peers: frozenset[str]
) -> FlowRecords:
    """The records a store keeps: inside the flow-detail retention, and none of a private
    peer (their records are not kept at all, not even blanked)."""
    keep = records.ts >= retained_from
    if private_peers:
        keep &= ~np.isin(records.peer, np.array(sorted(private_peers), dtype=object))
    return records if keep.all() else records.take(keep)
