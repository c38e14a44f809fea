"""Store errors callers tell apart: an unreachable store (retry later) from a broken one."""

from __future__ import annotations

from trafficatlas.errors import DatabaseError


class StoreUnavailable(DatabaseError):  # noqa: N818 - a state, not an "...Error" event
    """The store cannot be reached right now (connection refused, timeout, network error).

    Nothing was written, or (a network error after the server committed) the write is complete
    and a retry with the same flush id is a no-op; either way the batch may be kept and replayed.
    """
