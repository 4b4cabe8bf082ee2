"""The one poll helper: wait until something holds (`eventually`), or check that it keeps
holding (`consistently`, for what must not happen), with timeouts scaled for a loaded machine.

Tests run on CI runners and on a shared 2-core machine next to other test suites, where a
process that answers in 50 ms alone can take ten times that. Every timeout a test gives is
multiplied by `TIMEOUT_FACTOR`: `RELOAD_SAFE_TIMEOUT_FACTOR` when set, else 1 on 4 or more CPUs
and proportionally more on fewer (2 on 2 CPUs). A test states the time it expects; the factor
is the margin, in one place.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def _factor() -> float:
    configured = os.environ.get("RELOAD_SAFE_TIMEOUT_FACTOR")
    if configured:
        return max(1.0, float(configured))
    return max(1.0, 4 / (os.cpu_count() or 1))


TIMEOUT_FACTOR = _factor()


def scaled(seconds: float) -> float:
    """`seconds` with this machine's margin."""
    return seconds * TIMEOUT_FACTOR


def eventually(
    probe: Callable[[], T],
    *,
    until: Callable[[T], object] = bool,
    timeout: float = 5.0,
    interval: float = 0.05,
    what: str = "condition",
) -> T:
    """Call `probe` until `until(value)` holds and return that value; fail the test (with the
    last value seen) when it has not held within `timeout` seconds, scaled."""
    deadline = time.monotonic() + scaled(timeout)
    while True:
        value = probe()
        if until(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {scaled(timeout):.1f}s; last value: {value!r}")
        time.sleep(interval)


def consistently(
    probe: Callable[[], T],
    *,
    until: Callable[[T], object] = bool,
    duration: float = 1.0,
    interval: float = 0.05,
    what: str = "condition",
) -> T:
    """Call `probe` for `duration` seconds, scaled, and fail the test as soon as `until(value)`
    does not hold; return the last value. The check for something that must not happen (an
    audit line that must not be written), as Gomega's `Consistently` is to `Eventually`."""
    deadline = time.monotonic() + scaled(duration)
    while True:
        value = probe()
        if not until(value):
            raise AssertionError(f"{what} stopped holding; value: {value!r}")
        if time.monotonic() > deadline:
            return value
        time.sleep(interval)
