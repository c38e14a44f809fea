"""Exact reuse of query results while the store holds the same data.

A key names the route, its parameters, the caller's peer scope and the time range *rounded to
the store's bucket width*: two ranges that round alike cover the same buckets, so they have the
same answer as long as the store's ``data_version`` (bumped by every write, rollup and scrub)
is unchanged. Only the requested bounds differ; they are spliced in front of the cached JSON.
Concurrent misses of one key compute once (the others await the same future).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from trafficatlas.api.models.common import VOLATILE_FIELDS


class ResultCache:
    """A bounded LRU of serialized results with a time-to-live."""

    def __init__(self, entries: int, ttl_s: float) -> None:
        self.entries = entries
        self.ttl_s = ttl_s
        self._data: OrderedDict[Hashable, tuple[float, bytes]] = OrderedDict()
        self._lock = threading.Lock()
        self._inflight: dict[Hashable, asyncio.Future[bytes]] = {}
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> bytes | None:
        with self._lock:
            item = self._data.get(key)
            if item is None or item[0] <= time.monotonic():
                return None
            self._data.move_to_end(key)
            return item[1]

    def put(self, key: Hashable, body: bytes) -> None:
        if self.entries <= 0:
            return
        with self._lock:
            self._data[key] = (time.monotonic() + self.ttl_s, body)
            self._data.move_to_end(key)
            while len(self._data) > self.entries:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    async def json_response(
        self,
        key: Hashable | None,
        volatile: dict[str, int],
        compute: Callable[[], BaseModel],
    ) -> Response:
        """The result of ``compute`` (run in a worker thread) as JSON, from cache when possible.

        ``key`` None bypasses the cache. ``volatile`` holds the requested bounds.
        """
        body = None if key is None else self.get(key)
        pending = self._inflight.get(key) if body is None and key is not None else None
        if pending is not None:
            try:
                body = await asyncio.shield(pending)
            except asyncio.CancelledError:
                if not pending.cancelled():
                    raise  # this request itself was cancelled
                body = None  # the computing request went away: compute here instead
        if body is None:
            body = await self._compute(key, compute)
            self.misses += 1
        else:
            self.hits += 1
        head = ",".join(f"{json.dumps(k)}:{int(v)}" for k, v in volatile.items())
        content = b"{" + head.encode() + b"," + body[1:] if head else body
        return Response(content, media_type="application/json")

    async def _compute(self, key: Hashable | None, compute: Callable[[], BaseModel]) -> bytes:
        future: asyncio.Future[bytes] | None = None
        if key is not None:
            future = asyncio.get_running_loop().create_future()
            self._inflight[key] = future
        try:
            model = await run_in_threadpool(compute)
            body = model.model_dump_json(exclude=set(VOLATILE_FIELDS)).encode()
        except asyncio.CancelledError:
            if future is not None:
                future.cancel()
            raise
        except Exception as exc:
            if future is not None:
                future.set_exception(exc)
                future.exception()  # retrieved here: waiters (if any) re-raise it themselves
            raise
        finally:
            if key is not None:
                self._inflight.pop(key, None)
        if future is not None:
            future.set_result(body)
        if key is not None:
            self.put(key, body)
        return body


def cache_key(*parts: Any) -> Hashable:
    """A hashable key from route parameters (lists become tuples)."""
    return tuple(tuple(p) if isinstance(p, list) else p for p in parts)
