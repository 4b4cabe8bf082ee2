"""The work queue: one entry per key, debounce with a cap, per-key backoff."""

from __future__ import annotations

from tests.unit.controller.fakes import Clock
from webhook.controller.workqueue import WorkQueue

WINDOW = 2.0


def make(clock: Clock) -> WorkQueue[str]:
    return WorkQueue(window=WINDOW, max_wait=5 * WINDOW, clock=clock, backoff_base=1.0, backoff_cap=8.0)


def test_a_key_is_never_queued_twice() -> None:
    clock = Clock()
    queue = make(clock)
    queue.add("a")
    queue.add("a")
    queue.add_debounced("a")
    queue.retry("a")
    assert len(queue) == 1
    clock.now += 100
    assert queue.get(timeout=0) == "a"
    assert queue.get(timeout=0) is None


def test_add_is_due_at_once_and_keeps_a_pending_debounce() -> None:
    clock = Clock()
    queue = make(clock)
    queue.add("now")
    assert queue.get(timeout=0) == "now"
    queue.add_debounced("later")
    queue.add("later")
    assert queue.get(timeout=0) is None
    clock.now += WINDOW
    assert queue.get(timeout=0) == "later"


def test_debounce_trails_the_last_change_but_never_past_the_cap() -> None:
    clock = Clock()
    queue = make(clock)
    first = clock.now
    queue.add_debounced("k")
    for _ in range(9):
        clock.now += WINDOW / 2
        queue.add_debounced("k")
        assert queue.get(timeout=0) is None, f"due too early at +{clock.now - first}"
    clock.now = first + 5 * WINDOW - 0.01
    assert queue.get(timeout=0) is None
    clock.now = first + 5 * WINDOW
    assert queue.get(timeout=0) == "k"


def test_retry_backs_off_exponentially_per_key_until_forgotten() -> None:
    clock = Clock()
    queue = make(clock)
    delays = [queue.retry("k") for _ in range(5)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 8.0]
    assert queue.failures("k") == 5
    assert queue.failures("other") == 0
    queue.forget("k")
    assert queue.retry("k") == 1.0


def test_a_retried_key_is_not_due_before_its_backoff() -> None:
    clock = Clock()
    queue = make(clock)
    queue.retry("k")
    queue.retry("k")  # second failure: due 2 s after now at the earliest
    clock.now += 1.99
    assert queue.get(timeout=0) is None
    clock.now += 0.01
    assert queue.get(timeout=0) == "k"


def test_the_key_due_earliest_comes_first() -> None:
    clock = Clock()
    queue = make(clock)
    queue.add_debounced("late")  # due at +2
    clock.now += 1
    queue.add("early")  # due at +1
    clock.now += WINDOW
    assert [queue.get(timeout=0), queue.get(timeout=0)] == ["early", "late"]
