"""The one poll helper and its counterpart (tests/support/polling.py): what they return, and
that they fail when they should, since every wait in the suites relies on them."""

from __future__ import annotations

import itertools

import pytest

from tests.support.polling import consistently, eventually


def test_eventually_returns_the_first_value_that_holds() -> None:
    counter = itertools.count()
    assert eventually(lambda: next(counter), until=lambda n: n >= 3, timeout=5, interval=0) == 3


def test_eventually_fails_naming_what_and_the_last_value() -> None:
    with pytest.raises(AssertionError, match=r"the answer not reached within .*last value: 41"):
        eventually(lambda: 41, until=lambda n: n == 42, timeout=0.05, interval=0.01, what="the answer")


def test_consistently_returns_the_last_value_after_the_duration() -> None:
    assert consistently(lambda: [], until=lambda found: found == [], duration=0.05, interval=0.01) == []


def test_consistently_fails_as_soon_as_the_condition_breaks() -> None:
    counter = itertools.count()
    with pytest.raises(AssertionError, match=r"no line stopped holding; value: 2"):
        consistently(lambda: next(counter), until=lambda n: n < 2, duration=60, interval=0, what="no line")
