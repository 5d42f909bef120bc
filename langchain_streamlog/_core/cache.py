"""The in-process cache of projections.

Rule: a cached projection is never changed after it is stored; a read that has
new events folds them into a copy and stores the copy, so readers on other
threads never see a projection change under them. Whether a cached projection is
still valid is decided by Redis in the read's own round trip (the ``tail`` script
checks that the log still holds the cached offset), never by time.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from .fold import Projection

__all__ = ["ProjectionCache"]


class ProjectionCache:
    """At most ``size`` sessions' projections, least recently used evicted first."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[str, Projection] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, session_id: str) -> Projection | None:
        with self._lock:
            projection = self._items.get(session_id)
            if projection is not None:
                self._items.move_to_end(session_id)
            return projection

    def put(self, session_id: str, projection: Projection, based_on: Projection | None) -> None:
        """Store ``projection`` unless another read replaced ``based_on`` meanwhile.

        ``based_on`` is the cached projection the read started from, or None for a
        read that started from Redis alone (which always wins: it is the newest word).
        """
        if self.size <= 0:
            return
        with self._lock:
            if based_on is not None and self._items.get(session_id) is not based_on:
                return
            self._items[session_id] = projection
            self._items.move_to_end(session_id)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def forget(self, session_id: str) -> None:
        with self._lock:
            self._items.pop(session_id, None)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)
