"""Sliding-window rate limit per key (client address), in memory and bounded."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque


class RateLimiter:
    """At most ``limit`` events per ``window_s`` per key; tracks at most ``max_keys`` keys."""

    def __init__(self, limit: int, window_s: float = 60.0, max_keys: int = 100_000) -> None:
        self.limit = limit
        self.window_s = window_s
        self.max_keys = max_keys
        self._events: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def hit(self, key: str, now: float | None = None) -> float:
        """Record one event; 0 when allowed, else the seconds until the next one would be."""
        moment = time.monotonic() if now is None else now
        with self._lock:
            events = self._events.get(key)
            if events is None:
                events = self._events[key] = deque()
                if len(self._events) > self.max_keys:
                    self._events.popitem(last=False)  # oldest key: bounded memory
            else:
                self._events.move_to_end(key)
            while events and events[0] <= moment - self.window_s:
                events.popleft()
            if len(events) >= self.limit:
                return max(events[0] + self.window_s - moment, 0.001)
            events.append(moment)
            return 0.0
