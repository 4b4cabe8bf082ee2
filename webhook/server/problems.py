"""Configuration errors worth telling an operator about, but not on every request.

A namespace with `reload-safe.io/policy: enforced` (a typo) makes every admission in it fall
back to the default mode; logging that per request would flood the log on a busy namespace.
Each distinct message is logged at most once per `interval`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Final

MAX_REMEMBERED: Final = 1024

log = logging.getLogger("webhook.config")


class RateLimitedLog:
    def __init__(self, *, interval: float = 300.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = interval
        self._clock = clock
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def problem(self, message: str) -> bool:
        """Log `message` as a configuration error unless it was logged recently; True if logged."""
        now = self._clock()
        with self._lock:
            last = self._last.get(message)
            if last is not None and now - last < self._interval:
                return False
            if len(self._last) >= MAX_REMEMBERED:
                self._last.clear()
            self._last[message] = now
        log.error("configuration error: %s", message)
        return True
