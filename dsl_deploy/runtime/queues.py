"""A bounded hand-off queue between pipeline threads: blocks when full, or drops the oldest item (live sources)."""
from __future__ import annotations

import threading
from collections import deque
from typing import Any

CLOSED = object()  # returned by get() once the queue is closed and drained


class StageQueue:
    """Bounded FIFO between two threads.

    With `drop_oldest=False` a full queue makes `put` wait (back-pressure, no frame lost: files). With
    `drop_oldest=True` a full queue discards its oldest item and counts it in `dropped` (live sources:
    the newest frame matters, and the camera must never wait on us). `close()` wakes every waiter.
    """

    def __init__(self, maxsize: int, *, drop_oldest: bool = False):
        if maxsize < 1:
            raise ValueError(f"queue size must be at least 1, got {maxsize}")
        self.maxsize = maxsize
        self.drop_oldest = drop_oldest
        self.dropped = 0
        self._items: deque[Any] = deque()
        self._cond = threading.Condition()
        self._closed = False

    def put(self, item: Any) -> bool:
        """Add an item; False when the queue was closed (the item is discarded)."""
        with self._cond:
            while len(self._items) >= self.maxsize and not self._closed:
                if self.drop_oldest:
                    self._items.popleft()
                    self.dropped += 1
                    break
                self._cond.wait()
            if self._closed:
                return False
            self._items.append(item)
            self._cond.notify_all()
            return True

    def get(self, timeout: float | None = None) -> Any:
        """The oldest item; CLOSED when closed and empty; raises TimeoutError after `timeout` seconds."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._items or self._closed, timeout):
                raise TimeoutError("queue get timed out")
            if self._items:
                item = self._items.popleft()
                self._cond.notify_all()
                return item
            return CLOSED

    def close(self) -> None:
        """No more puts; getters drain what is left, then see CLOSED."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def clear(self) -> None:
        """Drop everything queued (on abort), without counting it as dropped."""
        with self._cond:
            self._items.clear()
            self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)
