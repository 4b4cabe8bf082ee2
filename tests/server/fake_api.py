"""A recorded-stream fake of the `ListWatch` interface the caches use.

A script is a list of steps replayed in order: `List(...)` answers one `list()` call (one
recorded page, or several `pages`, an exception among them failing the list there),
`Watch(...)` one `watch()` call, yielding the recorded events and raising any exception placed
among them (a dropped connection), or raising at once (HTTP 410 as `WatchExpired`). When the
script runs out, the fake stops the cache, so `cache.run()` returns in the test's thread.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from webhook.sources.watch import Listing, WatchCache

WATCH_FIXTURES = Path(__file__).parent / "fixtures" / "watch"


def recorded_list(name: str) -> Listing:
    body = json.loads((WATCH_FIXTURES / name).read_text())
    return Listing(items=body["items"], resource_version=body["metadata"]["resourceVersion"])


def recorded_events(name: str) -> list[Mapping[str, Any]]:
    return [json.loads(line) for line in (WATCH_FIXTURES / name).read_text().splitlines() if line]


@dataclass
class List:
    result: Listing | Exception
    more: Sequence[Listing | Exception] = ()
    """Further pages, after `result`."""


@dataclass
class Watch:
    events: Iterable[Mapping[str, Any] | Exception] | Exception = ()
    """Recorded events, or a live stream (a generator) whose events arrive while a test runs."""


@dataclass
class RecordedAPI:
    script: list[List | Watch]
    calls: list[tuple[str, str | None]] = field(default_factory=list)
    cache: WatchCache[Any] | None = None

    def list(self) -> Iterator[Listing]:
        self.calls.append(("list", None))
        step = self._next(List)
        assert isinstance(step, List)
        if isinstance(step.result, Exception):
            raise step.result
        for index, page in enumerate((step.result, *step.more)):
            if isinstance(page, Exception):
                raise page
            if index:
                self.calls.append(("page", str(index)))
            yield page

    def watch(self, *, resource_version: str) -> Iterator[Mapping[str, Any]]:
        self.calls.append(("watch", resource_version))
        step = self._next(Watch)
        if step is None:
            return
        assert isinstance(step, Watch)
        if isinstance(step.events, Exception):
            raise step.events
        for event in step.events:
            if isinstance(event, Exception):
                raise event
            yield event

    def interrupt(self) -> None:
        self.calls.append(("interrupt", None))

    def _next(self, kind: type) -> List | Watch | None:
        if not self.script:
            assert self.cache is not None
            self.cache.stop()
            if kind is List:
                raise RuntimeError("script exhausted")
            return None
        step = self.script.pop(0)
        assert isinstance(step, kind), f"expected a {kind.__name__} call, the script has {step}"
        return step


@dataclass
class RecordingObserver:
    events: list[tuple[str, ...]] = field(default_factory=list)

    def synced(self, *, cache: str, synced: bool) -> None:
        self.events.append(("synced", cache, str(synced)))

    def size(self, *, cache: str, objects: int) -> None:
        self.events.append(("size", cache, str(objects)))

    def relisted(self, *, cache: str) -> None:
        self.events.append(("relisted", cache))

    def watch_failed(self, *, cache: str) -> None:
        self.events.append(("watch_failed", cache))

    def direct_read(self, *, result: str) -> None:
        self.events.append(("direct_read", result))

    def count(self, name: str) -> int:
        return sum(1 for event in self.events if event[0] == name)
