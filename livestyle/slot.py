"""The newest-frame slot: the only place the pipeline drops frames."""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class Closed(Exception):
    """Raised by :meth:`NewestSlot.get` once the slot is closed and empty."""


class NewestSlot(Generic[T]):
    """A one-item mailbox between two threads.

    In *live* mode (``block=False``) :meth:`put` replaces an item the consumer
    has not taken yet and counts it in :attr:`dropped`: the consumer always
    gets the newest frame and never a queue of stale ones.  In *offline* mode
    (``block=True``, files processed as fast as possible) :meth:`put` waits
    until the consumer has taken the previous item, so nothing is dropped.
    """

    def __init__(self, *, block: bool = False):
        self._block = block
        self._item: T | None = None
        self._has = False
        self._closed = False
        self._cond = threading.Condition()
        self.dropped = 0
        self.put_count = 0

    def put(self, item: T) -> None:
        with self._cond:
            if self._block:
                while self._has and not self._closed:
                    self._cond.wait()
            if self._closed:
                return
            if self._has:
                self.dropped += 1
            self._item, self._has = item, True
            self.put_count += 1
            self._cond.notify_all()

    def get(self, timeout: float | None = None) -> T | None:
        """The newest item; ``None`` on timeout; raises :class:`Closed` when closed and drained."""
        with self._cond:
            if not self._has and not self._closed:
                self._cond.wait(timeout)
            if self._has:
                item, self._item, self._has = self._item, None, False
                self._cond.notify_all()
                return item
            if self._closed:
                raise Closed
            return None

    def close(self) -> None:
        """Wake every waiter; :meth:`get` drains what is left, then raises :class:`Closed`."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed
