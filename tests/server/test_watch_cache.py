"""The list+watch logic against recorded API server responses (no API server)."""

from __future__ import annotations

import gc
import threading
from collections.abc import Mapping
from typing import Any

import pytest

from tests.server.fake_api import (
    List,
    RecordedAPI,
    RecordingObserver,
    Watch,
    recorded_events,
    recorded_list,
)
from webhook.policy import ConfigMapContent
from webhook.sources.cluster import configmap_from_api
from webhook.sources.watch import (
    Backoff,
    Listing,
    WatchCache,
    WatchExpired,
)

EVENTS = recorded_events("configmaps-watch.jsonl")
ADDED, MODIFIED, BOOKMARK, DELETED, BROKEN, GONE = EVENTS


def cache_for(api: RecordedAPI, observer: RecordingObserver | None = None) -> WatchCache[ConfigMapContent]:
    cache = WatchCache(
        name="configmaps",
        source=api,
        convert=configmap_from_api,
        observer=observer,
        backoff=Backoff(initial=0.0, maximum=0.0),
    )
    api.cache = cache
    return cache


def run(
    script: list[Any], observer: RecordingObserver | None = None
) -> tuple[WatchCache[ConfigMapContent], RecordedAPI]:
    api = RecordedAPI(script)
    cache = cache_for(api, observer)
    runner = threading.Thread(target=cache.run)
    runner.start()
    runner.join(10)
    assert not runner.is_alive(), "the cache loop did not stop"
    return cache, api


def test_list_keeps_only_what_the_policy_needs() -> None:
    cache, _ = run([List(recorded_list("configmaps-list.json"))])
    assert cache.synced
    assert len(cache) == 5
    env = cache.get(("shop", "env-config"))
    assert env == ConfigMapContent(name="env-config", data={"log_level": "INFO"})
    bundle = cache.get(("shop", "certs-bundle"))
    assert bundle is not None
    assert bundle.immutable is True
    assert bundle.binary_data == {"ca.der": b"\x30\x82\x01\x0a\x00\xff"}  # decoded once, at the cache
    matched = cache.get(("payments", "matched"))
    assert matched is not None
    assert matched.reloader_match is True
    assert cache.get(("payments", "env-config")) is None  # namespaced: no cross-namespace match


def test_watch_applies_events_and_follows_resource_versions() -> None:
    observer = RecordingObserver()
    cache, api = run(
        [List(recorded_list("configmaps-list.json")), Watch([ADDED, MODIFIED, BOOKMARK, DELETED])], observer
    )
    assert api.calls == [("list", None), ("watch", "1000"), ("watch", "1006")]
    assert cache.get(("shop", "new-config")) == ConfigMapContent(name="new-config", data={"feature": "on"})
    assert cache.get(("shop", "env-config")) == ConfigMapContent(name="env-config", data={"log_level": "DEBUG"})
    assert cache.get(("shop", "old-config")) is None
    assert cache.resource_version == "1006"
    assert ("synced", "configmaps", "True") in observer.events
    assert observer.events[-1] == ("size", "configmaps", "5")


def test_bookmark_moves_the_resource_version_for_the_next_watch() -> None:
    _, api = run([List(recorded_list("configmaps-list.json")), Watch([BOOKMARK]), Watch([])])
    assert api.calls[:3] == [("list", None), ("watch", "1000"), ("watch", "1005")]


def test_410_error_event_relists_and_watches_from_the_new_list() -> None:
    observer = RecordingObserver()
    cache, api = run(
        [
            List(recorded_list("configmaps-list.json")),
            Watch([ADDED, DELETED, GONE, MODIFIED]),  # nothing after the ERROR event is applied
            List(recorded_list("configmaps-relist.json")),
            Watch([]),
        ],
        observer,
    )
    assert api.calls[:4] == [("list", None), ("watch", "1000"), ("list", None), ("watch", "1500")]
    assert sorted(name for _, name in _keys(cache)) == ["env-config", "late-config", "new-config"]
    assert observer.count("relisted") == 2
    assert observer.count("watch_failed") == 0  # a 410 is routine, not a failure


def test_410_on_watch_call_relists() -> None:
    _, api = run(
        [
            List(recorded_list("configmaps-list.json")),
            Watch(WatchExpired("resourceVersion 1000 expired")),
            List(recorded_list("configmaps-relist.json")),
            Watch([]),
        ]
    )
    assert api.calls[:4] == [("list", None), ("watch", "1000"), ("list", None), ("watch", "1500")]


def test_dropped_stream_backs_off_and_resumes_from_the_last_version_without_relisting() -> None:
    observer = RecordingObserver()
    cache, api = run(
        [
            List(recorded_list("configmaps-list.json")),
            Watch([ADDED, ConnectionResetError("peer reset")]),
            Watch(ConnectionRefusedError("API server down")),
            Watch([MODIFIED]),
        ],
        observer,
    )
    assert api.calls[:4] == [("list", None), ("watch", "1000"), ("watch", "1001"), ("watch", "1001")]
    assert observer.count("watch_failed") == 2
    assert observer.count("relisted") == 1
    assert cache.get(("shop", "new-config")) is not None
    assert cache.get(("shop", "env-config")) == ConfigMapContent(name="env-config", data={"log_level": "DEBUG"})


def test_failed_first_list_retries_and_stays_unsynced_until_it_succeeds() -> None:
    observer = RecordingObserver()
    api = RecordedAPI(
        [List(ConnectionRefusedError("no API server")), List(recorded_list("configmaps-list.json")), Watch([])]
    )
    cache = cache_for(api, observer)
    original_list = api.list
    synced_during_failure: list[bool] = []

    def spying_list() -> Any:
        synced_during_failure.append(cache.synced)
        return original_list()

    api.list = spying_list  # type: ignore[method-assign]
    cache.run()
    assert synced_during_failure == [False, False]
    assert cache.synced
    assert observer.count("watch_failed") == 1


def test_an_object_that_cannot_be_converted_is_skipped_not_fatal() -> None:
    cache, api = run([List(recorded_list("configmaps-list.json")), Watch([BROKEN, ADDED])])
    assert cache.get(("shop", "broken")) is None
    assert cache.get(("shop", "new-config")) is not None
    assert api.calls[:2] == [("list", None), ("watch", "1000")]


def test_a_non_410_error_event_backs_off_and_watches_again() -> None:
    observer = RecordingObserver()
    error = {"type": "ERROR", "object": {"kind": "Status", "code": 500, "reason": "InternalError"}}
    _, api = run([List(recorded_list("configmaps-list.json")), Watch([ADDED, error]), Watch([])], observer)
    assert api.calls[:3] == [("list", None), ("watch", "1000"), ("watch", "1001")]
    assert observer.count("watch_failed") == 1


def test_stop_ends_a_running_cache_thread() -> None:
    release = threading.Event()

    class Blocking(RecordedAPI):
        def watch(self, *, resource_version: str) -> Any:
            release.wait(5)
            yield from ()

    api = Blocking([List(recorded_list("configmaps-list.json"))])
    cache = cache_for(api)
    cache.start()
    assert cache.wait_synced(5)
    cache.stop()
    release.set()
    assert cache._thread is not None
    cache._thread.join(5)
    assert not cache._thread.is_alive()


def test_backoff_grows_with_jitter_and_resets() -> None:
    backoff = Backoff(initial=0.5, maximum=4.0)
    delays = [backoff.next_delay() for _ in range(6)]
    ceilings = [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    backoff.reset()
    assert backoff.next_delay() <= 0.5


def _keys(cache: WatchCache[Any]) -> list[tuple[str, str]]:
    return sorted(cache._store.snapshot())


def _pages(listing: Listing, size: int) -> List:
    """One recorded list, served `size` objects per page."""
    pages = [
        Listing(items=listing.items[start : start + size], resource_version=listing.resource_version)
        for start in range(0, len(listing.items), size)
    ]
    return List(pages[0], more=pages[1:])


def test_a_paged_list_converts_each_page_before_reading_the_next() -> None:
    api = RecordedAPI([_pages(recorded_list("configmaps-list.json"), 2)])

    def convert(obj: Mapping[str, Any]) -> ConfigMapContent:
        api.calls.append(("convert", obj["metadata"]["name"]))
        return configmap_from_api(obj)

    cache: WatchCache[ConfigMapContent] = WatchCache(name="configmaps", source=api, convert=convert)
    api.cache = cache
    cache.run()
    assert api.calls[:8] == [
        ("list", None),
        ("convert", "env-config"),
        ("convert", "old-config"),
        ("page", "1"),
        ("convert", "certs-bundle"),
        ("convert", "matched"),
        ("page", "2"),
        ("convert", "kube-root-ca.crt"),
    ]
    assert len(cache) == 5
    assert cache.resource_version == "1000"


def test_a_list_that_fails_midway_keeps_the_previous_store() -> None:
    relist = _pages(recorded_list("configmaps-relist.json"), 1)
    failing = List(relist.result, more=[relist.more[0], ConnectionResetError("peer reset")])
    observer = RecordingObserver()
    cache, api = run([List(recorded_list("configmaps-list.json")), Watch(WatchExpired("expired")), failing], observer)
    assert ("page", "1") in api.calls
    assert cache.get(("shop", "env-config")) == ConfigMapContent(name="env-config", data={"log_level": "INFO"})
    assert cache.get(("shop", "new-config")) is None  # nothing of the failed list was kept
    assert len(cache) == 5
    assert observer.count("relisted") == 1


def test_configmaps_are_stored_packed_and_read_back_equal() -> None:
    cache, _ = run([List(recorded_list("configmaps-list.json"))])
    stored = cache._store.get(("shop", "certs-bundle"))
    assert isinstance(stored, bytes)
    assert not gc.is_tracked(stored)
    first, second = cache.get(("shop", "certs-bundle")), cache.get(("shop", "certs-bundle"))
    assert first is not None
    assert first == second
    with pytest.raises(TypeError):
        first.binary_data["ca.der"] = b""  # type: ignore[index]  # read-only: no reader can change it
    assert first.binary_data == configmap_from_api.unpack(stored).binary_data


def test_a_changed_configmap_is_read_anew() -> None:
    cache, _ = run([List(recorded_list("configmaps-list.json"))])
    key = ("shop", "env-config")
    assert cache.get(key) == ConfigMapContent(name="env-config", data={"log_level": "INFO"})
    changed = ConfigMapContent(name="env-config", data={"log_level": "DEBUG"})
    cache._store.put(key, configmap_from_api.pack(changed))  # what a MODIFIED event stores
    assert cache.get(key) == changed


def test_a_relist_tells_the_listener_only_what_changed() -> None:
    heard: list[tuple[str, tuple[str, str], ConfigMapContent | None]] = []
    same = recorded_list("configmaps-list.json")
    changed = Listing(
        items=[
            {**item, "data": {"log_level": "DEBUG"}} if item["metadata"]["name"] == "env-config" else item
            for item in same.items
            if item["metadata"]["name"] != "old-config"
        ],
        resource_version="2000",
    )
    api = RecordedAPI([List(same), Watch(WatchExpired("expired")), List(changed)])
    cache: WatchCache[ConfigMapContent] = WatchCache(
        name="configmaps",
        source=api,
        convert=configmap_from_api,
        backoff=Backoff(initial=0.0, maximum=0.0),
        listener=lambda event, key, value: heard.append((event, key, value)),
    )
    api.cache = cache
    cache.run()
    assert [event for event, _, _ in heard[:5]] == ["ADDED"] * 5
    assert all(isinstance(value, ConfigMapContent) for _, _, value in heard[:5])
    assert heard[5:] == [
        ("MODIFIED", ("shop", "env-config"), ConfigMapContent(name="env-config", data={"log_level": "DEBUG"})),
        ("DELETED", ("shop", "old-config"), None),
    ]
