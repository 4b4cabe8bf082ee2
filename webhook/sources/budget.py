"""How long one admission review may wait on the API server, all its direct reads together.

The API server gives a webhook `timeoutSeconds` (the chart: 5 s; at most 30) and then applies
the failure policy, so an answer that comes later is worth nothing. Reads from the caches cost
nothing; only a cache miss asks the API server, with `DIRECT_READ_TIMEOUT` per read. A workload
can reference many ConfigMaps, though, and on a hanging API server (etcd down behind it) twelve
misses took twelve seconds. So the server opens a `read_budget` around each review, and each
direct read inside waits at most what is left of it; once it is spent, `read_timeout` raises
`BudgetSpent` at once and the object counts as unreadable (a ConfigMap) or takes the default
mode (a namespace), exactly as if the read had failed.

Kept free of the Kubernetes client so the server can open a budget without importing it (a
static-source server never needs the client). The budget is a context variable: each request
thread has its own.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import Iterator
from typing import Final

DIRECT_READ_TIMEOUT: Final = 1.0
"""One direct read of a ConfigMap or Namespace."""
DIRECT_READ_BUDGET: Final = 2.0
"""All direct reads of one review together: well inside the chart's 5 s timeoutSeconds."""
MIN_READ_TIME: Final = 0.05
"""Less budget than this left: not worth a round trip."""

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("reload_safe_read_deadline", default=None)


class BudgetSpent(TimeoutError):
    """This review's time for direct reads is used up: the object counts as unreadable."""


@contextlib.contextmanager
def read_budget(seconds: float = DIRECT_READ_BUDGET) -> Iterator[None]:
    """Direct reads made inside share `seconds`."""
    token = _deadline.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


def read_timeout() -> float:
    """The timeout for the next direct read; raises `BudgetSpent` when nothing is left.

    Outside a budget (the rollout controller, tests) every read gets DIRECT_READ_TIMEOUT.
    """
    deadline = _deadline.get()
    if deadline is None:
        return DIRECT_READ_TIMEOUT
    left = deadline - time.monotonic()
    if left < MIN_READ_TIME:
        raise BudgetSpent("the direct read budget of this review is spent")
    return min(DIRECT_READ_TIMEOUT, left)
