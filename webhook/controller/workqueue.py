"""The controller's work queue: workload keys, each at most once, each due at its own time.

Events only put keys here; one worker takes a key when it is due and reconciles it from the
caches (level-triggered, as controller-runtime's workqueue). Three things set when a key is due:

- `add_debounced` (a consumed ConfigMap or the workload changed): trailing edge, `window` after
  the latest change but never later than `max_wait` after the first, so a burst of edits makes
  one reconcile and an edit loop still makes progress;
- `add` (start, resync): now, unless the key already waits for a debounce window, which it keeps;
- `retry` (the reconcile failed): exponential backoff per key, `base` × 2^failures up to `cap`,
  until `forget` (success, or the workload is gone).

The queue holds no lock while the worker reconciles: a key added meanwhile is simply pending
again and is taken after the current reconcile, never twice at once (one worker).
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


class WorkQueue(Generic[K]):
    def __init__(
        self,
        *,
        window: float,
        max_wait: float,
        clock: Callable[[], float],
        backoff_base: float = 0.5,
        backoff_cap: float = 60.0,
    ) -> None:
        self._window = window
        self._max_wait = max(max_wait, window)
        self._clock = clock
        self._base = backoff_base
        self._cap = backoff_cap
        self._pending: dict[K, _Pending] = {}
        self._failures: dict[K, int] = {}
        self._changed = threading.Condition()

    def add(self, key: K) -> None:
        """Due now, unless already pending (a debounce window or a backoff is kept)."""
        with self._changed:
            if key not in self._pending:
                now = self._clock()
                self._pending[key] = _Pending(first=now, due=now)
                self._changed.notify_all()

    def add_debounced(self, key: K) -> None:
        """Due `window` after now, capped at `max_wait` after the key was first queued."""
        with self._changed:
            now = self._clock()
            pending = self._pending.get(key)
            if pending is None:
                self._pending[key] = _Pending(first=now, due=now + self._window)
            else:
                pending.due = min(max(pending.due, now + self._window), pending.first + self._max_wait)
            self._changed.notify_all()

    def retry(self, key: K) -> float:
        """The reconcile of `key` failed: queue it again after its backoff; returns the delay."""
        with self._changed:
            failures = self._failures.get(key, 0)
            self._failures[key] = failures + 1
            delay = min(self._cap, self._base * 2.0**failures)
            now = self._clock()
            pending = self._pending.get(key)
            if pending is None:
                self._pending[key] = _Pending(first=now, due=now + delay)
            else:
                pending.due = max(pending.due, now + delay)
            self._changed.notify_all()
            return delay

    def forget(self, key: K) -> None:
        """`key` reconciled (or is gone): its next failure starts the backoff over."""
        with self._changed:
            self._failures.pop(key, None)

    def failures(self, key: K) -> int:
        with self._changed:
            return self._failures.get(key, 0)

    def get(self, *, timeout: float) -> K | None:
        """The due key that waited longest past its time, waiting up to `timeout` for one."""
        with self._changed:
            key = self._take_due()
            if key is None:
                now = self._clock()
                next_due = min((p.due for p in self._pending.values()), default=now + timeout)
                self._changed.wait(max(0.0, min(timeout, next_due - now)))
                key = self._take_due()
            return key

    def _take_due(self) -> K | None:
        now = self._clock()
        due = [(p.due, k) for k, p in self._pending.items() if p.due <= now]
        if not due:
            return None
        key = min(due, key=lambda item: item[0])[1]
        del self._pending[key]
        return key

    def __contains__(self, key: object) -> bool:
        with self._changed:
            return key in self._pending

    def __len__(self) -> int:
        with self._changed:
            return len(self._pending)
