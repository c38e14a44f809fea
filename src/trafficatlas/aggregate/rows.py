"""AggregateRows: what the aggregator hands to the store — one row per bucket and key.

Key columns: ts (bucket start, epoch seconds, a multiple of the interval), source (component
name, e.g. "netflow", "conntrack", "wireguard"), exporter (exporter address or host name, "" for
local sources), interface (ifindex or name as text, "" unknown), peer (stable peer id, "" none),
direction (flowbatch.Direction), ip_version, proto, country (ISO code, "" unknown), label (why an
address was not geolocated: "PRIVATE", "LOCAL", ... — "" for geolocated/public), city ("" unknown),
asn (0 unknown). Value columns: bytes, packets, flows (exact integers).

Dimension side tables travel with the rows: ``as_orgs`` (asn → organization) and ``cities``
((country, city) → (lat, lon)) so the store can keep names and coordinates without repeating them
per row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

KEY_COLUMNS: tuple[str, ...] = (
    "ts",
    "source",
    "exporter",
    "interface",
    "peer",
    "direction",
    "ip_version",
    "proto",
    "country",
    "label",
    "city",
    "asn",
)
VALUE_COLUMNS: tuple[str, ...] = ("bytes", "packets", "flows")


@dataclass(slots=True)
class AggregateRows:
    """Columns of aggregated rows (object columns hold str, never None)."""

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
    bytes: npt.NDArray[np.uint64]
    packets: npt.NDArray[np.uint64]
    flows: npt.NDArray[np.uint64]
    as_orgs: dict[int, str] = field(default_factory=dict)
    cities: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)

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
        "bytes": np.uint64,
        "packets": np.uint64,
        "flows": np.uint64,
    }

    def __len__(self) -> int:
        return int(self.ts.shape[0])

    @classmethod
    def build(cls, n: int, **columns: Any) -> AggregateRows:
        """Rows from columns; missing key columns default to ""/0, extra keys are errors."""
        dims = {k: columns.pop(k) for k in ("as_orgs", "cities") if k in columns}
        cols: dict[str, Any] = build_columns("AggregateRows", cls.DTYPES, n, columns)
        return cls(**cols, **dims)

    @classmethod
    def concat(cls, parts: list[AggregateRows]) -> AggregateRows:
        """Concatenate (dimension tables merged; later entries win)."""
        if not parts:
            return cls.build(0)
        cols = {name: np.concatenate([getattr(p, name) for p in parts]) for name in cls.DTYPES}
        orgs: dict[int, str] = {}
        cities: dict[tuple[str, str], tuple[float, float]] = {}
        for p in parts:
            orgs.update(p.as_orgs)
            cities.update(p.cities)
        return cls(**cols, as_orgs=orgs, cities=cities)

    def totals(self) -> dict[str, int]:
        return {name: int(getattr(self, name).sum(dtype=np.uint64)) for name in VALUE_COLUMNS}


def build_columns(
    kind: str,
    dtypes: dict[str, Any],
    n: int,
    columns: dict[str, Any],
    ones: tuple[str, ...] = (),
) -> dict[str, npt.NDArray[Any]]:
    """Columns of ``n`` rows typed by ``dtypes``: scalars are broadcast, missing text columns are
    "", missing numbers 0 (1 for ``ones``); unknown names and wrong lengths are errors."""
    unknown = set(columns) - set(dtypes)
    if unknown:
        raise TypeError(f"unknown {kind} columns: {sorted(unknown)}")
    cols: dict[str, npt.NDArray[Any]] = {}
    for name, dt in dtypes.items():
        if name in columns:
            arr = np.asarray(columns[name], dtype=dt)
            if arr.ndim == 0:
                arr = np.full(n, arr.item(), dtype=dt)
        elif dt is object:
            arr = np.full(n, "", dtype=object)
        elif name in ones:
            arr = np.ones(n, dtype=dt)
        else:
            arr = np.zeros(n, dtype=dt)
        if arr.shape != (n,):
            raise ValueError(f"column {name} has shape {arr.shape}, expected ({n},)")
        cols[name] = arr
    return cols
