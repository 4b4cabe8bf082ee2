"""Fakes for the controller's unit tests: a clock, list+watch sources, a patcher, a recorder."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from webhook.controller.consumers import Consumer
from webhook.sources.watch import Listing


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class FakeListWatch:
    """A resource whose list can be held back (to order the lists) and whose watch replays
    events pushed by the test."""

    def __init__(self, *objects: Mapping[str, Any], hold: bool = False) -> None:
        self.objects = list(objects)
        self.release = threading.Event()
        if not hold:
            self.release.set()
        self.listed = threading.Event()
        self._events: queue.Queue[Mapping[str, Any] | None] = queue.Queue()
        self._version = 1

    def list(self) -> Iterator[Listing]:
        self.release.wait()
        yield Listing(items=list(self.objects), resource_version=str(self._version))
        self.listed.set()

    def watch(self, *, resource_version: str) -> Iterator[Mapping[str, Any]]:
        while True:
            event = self._events.get()
            if event is None:
                return
            yield event

    def interrupt(self) -> None:
        self._events.put(None)

    def push(self, kind: str, obj: Mapping[str, Any]) -> None:
        self._version += 1
        metadata = {**obj["metadata"], "resourceVersion": str(self._version)}
        self._events.put({"type": kind, "object": {**obj, "metadata": metadata}})


class FakePatcher:
    def __init__(self, *, failures: int = 0) -> None:
        self.patches: list[tuple[str, str]] = []
        self.failures = failures
        self.calls = 0

    def patch_hash(self, consumer: Consumer, *, value: str) -> None:
        self.calls += 1
        if self.failures > 0:
            self.failures -= 1
            raise RuntimeError("HTTP 500")
        self.patches.append((str(consumer.key), value))


class FakeRecorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def config_changed(self, consumer: Consumer, *, what: str, old: str | None, new: str) -> None:
        self.events.append((str(consumer.key), what))
