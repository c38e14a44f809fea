"""NatAddresses: where each endpoint of a flow sits on the other side of a NAT.

A source that knows the translation (conntrack does: the original and the reply tuple) hands
these columns to the classify stage beside its FlowBatch. For row i, ``xsrc`` is the address the
flow's source has on the other side of the router and ``xdst`` the same for its destination; both
equal ``src``/``dst`` when nothing was translated.

For a conntrack connection with original tuple (a → b) and reply tuple (c → d):
- the original-direction row is src=a, dst=b, xsrc=d, xdst=c, reply=False;
- the reply-direction row is src=c, dst=d, xsrc=b, xdst=a, reply=True.
SNAT shows as ``xsrc != src`` on an original row (``d`` is then the router's WAN address).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from trafficatlas.flowbatch import FlowBatch

U64 = npt.NDArray[np.uint64]
B = npt.NDArray[np.bool_]


@dataclass(slots=True)
class NatAddresses:
    """Per-row translated addresses of a FlowBatch (same length, same row order)."""

    xsrc_hi: U64
    xsrc_lo: U64
    xdst_hi: U64
    xdst_lo: U64
    reply: B  # the row is the reply direction of its connection

    DTYPES: ClassVar[dict[str, Any]] = {
        "xsrc_hi": np.uint64,
        "xsrc_lo": np.uint64,
        "xdst_hi": np.uint64,
        "xdst_lo": np.uint64,
        "reply": np.bool_,
    }

    def __len__(self) -> int:
        return int(self.reply.shape[0])

    @classmethod
    def untranslated(cls, batch: FlowBatch) -> NatAddresses:
        """No translation: every endpoint keeps its own address."""
        return cls(
            xsrc_hi=batch.src_hi.copy(),
            xsrc_lo=batch.src_lo.copy(),
            xdst_hi=batch.dst_hi.copy(),
            xdst_lo=batch.dst_lo.copy(),
            reply=np.zeros(len(batch), dtype=bool),
        )

    def take(self, index: npt.NDArray[Any]) -> NatAddresses:
        """Rows selected by a mask or an index array."""
        return NatAddresses(**{k: getattr(self, k)[index] for k in self.DTYPES})

    @classmethod
    def concat(cls, parts: list[NatAddresses]) -> NatAddresses:
        """Rows of all parts in order."""
        if not parts:
            return cls(**{k: np.zeros(0, dtype=dt) for k, dt in cls.DTYPES.items()})
        return cls(**{k: np.concatenate([getattr(p, k) for p in parts]) for k in cls.DTYPES})

    def translated(self, batch: FlowBatch) -> B:
        """Rows where either endpoint was translated."""
        out: B = (
            (self.xsrc_hi != batch.src_hi)
            | (self.xsrc_lo != batch.src_lo)
            | (self.xdst_hi != batch.dst_hi)
            | (self.xdst_lo != batch.dst_lo)
        )
        return out
