"""Coalesce bursts of ConfigMap changes into one rollout.

Each change pushes the key's deadline to `window` after the latest change (trailing edge), but
never beyond `max_wait` after the first one, so a ConfigMap edited in a loop still rolls.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


@dataclass(slots=True)
class _Pending:
    first: float
    due: float


class Debouncer(Generic[K]):
    def __init__(self, *, window: float, max_wait: float, clock: Callable[[], float]) -> None:
        self._window = window
        self._max_wait = max(max_wait, window)
        self._clock = clock
        self._pending: dict[K, _Pending] = {}
        self._changed = threading.Condition()

    def add(self, key: K) -> None:
        now = self._clock()
        with self._changed:
            pending = self._pending.get(key)
            if pending is None:
                self._pending[key] = _Pending(first=now, due=now + self._window)
            else:
                pending.due = min(now + self._window, pending.first + self._max_wait)
            self._changed.notify_all()

    def take_due(self, *, timeout: float) -> list[K]:
        """Keys whose deadline has passed, waiting up to `timeout` seconds for one."""
        with self._changed:
            now = self._clock()
            due = [k for k, p in self._pending.items() if p.due <= now]
            if not due:
                next_due = min((p.due for p in self._pending.values()), default=now + timeout)
                self._changed.wait(max(0.0, min(timeout, next_due - now)))
                now = self._clock()
                due = [k for k, p in self._pending.items() if p.due <= now]
            for key in due:
                del self._pending[key]
            return due

    def __len__(self) -> int:
        with self._changed:
            return len(self._pending)
