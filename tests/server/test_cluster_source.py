"""ConfigMap and namespace lookups over the caches, with one direct GET on a miss."""

from __future__ import annotations

import marshal
import queue
import random
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.server.fake_api import List, RecordedAPI, RecordingObserver, Watch, recorded_events, recorded_list
from tests.support.polling import eventually
from webhook.policy import ABSENT, UNREADABLE, ConfigMapContent, Mode
from webhook.sources import watch
from webhook.sources.cluster import (
    ClusterConfigMaps,
    ClusterNamespaceModes,
    NamespaceLabel,
    configmap_from_api,
    namespace_from_api,
)
from webhook.sources.watch import Backoff, WatchCache


@dataclass
class FakeGetter:
    """The direct GET: returns what it holds, None for 404, raises when told to."""

    objects: Mapping[tuple[str, str], Mapping[str, Any]] = field(default_factory=dict)
    error: Exception | None = None
    calls: list[tuple[str, str]] = field(default_factory=list)

    def get(self, *, namespace: str, name: str) -> Mapping[str, Any] | None:
        self.calls.append((namespace, name))
        if self.error is not None:
            raise self.error
        return self.objects.get((namespace, name))


def synced_cache(convert: Any, script: list[Any]) -> WatchCache[Any]:
    api = RecordedAPI(script)
    cache: WatchCache[Any] = WatchCache(
        name="test", source=api, convert=convert, backoff=Backoff(initial=0.0, maximum=0.0)
    )
    api.cache = cache
    cache.run()
    return cache


@pytest.fixture
def configmap_cache() -> WatchCache[ConfigMapContent]:
    return synced_cache(configmap_from_api, [List(recorded_list("configmaps-list.json"))])


@pytest.fixture
def namespace_cache() -> WatchCache[NamespaceLabel]:
    return synced_cache(
        namespace_from_api,
        [List(recorded_list("namespaces-list.json")), Watch(recorded_events("namespaces-watch.jsonl"))],
    )


LATE = {"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "late", "namespace": "shop"}, "data": {"k": "v"}}


def test_cache_hit_makes_no_request(configmap_cache: WatchCache[ConfigMapContent]) -> None:
    getter = FakeGetter()
    reader = ClusterConfigMaps(cache=configmap_cache, getter=getter)
    assert reader.get(namespace="shop", name="env-config") == ConfigMapContent(
        name="env-config", data={"log_level": "INFO"}
    )
    assert getter.calls == []


def test_miss_reads_once_and_finds_a_configmap_newer_than_the_cache(
    configmap_cache: WatchCache[ConfigMapContent],
) -> None:
    observer = RecordingObserver()
    getter = FakeGetter({("shop", "late"): LATE})
    reader = ClusterConfigMaps(cache=configmap_cache, getter=getter, observer=observer)
    assert reader.get(namespace="shop", name="late") == ConfigMapContent(name="late", data={"k": "v"})
    assert getter.calls == [("shop", "late")]
    assert configmap_cache.get(("shop", "late")) is None  # the watch stays the only writer
    assert observer.events == [("direct_read", "found")]


def test_miss_with_404_is_absent(configmap_cache: WatchCache[ConfigMapContent]) -> None:
    observer = RecordingObserver()
    getter = FakeGetter()
    reader = ClusterConfigMaps(cache=configmap_cache, getter=getter, observer=observer)
    assert reader.get(namespace="shop", name="nope") is ABSENT
    assert getter.calls == [("shop", "nope")]
    assert observer.events == [("direct_read", "absent")]


def _late(resource_version: str) -> dict[str, Any]:
    return {**LATE, "metadata": {**LATE["metadata"], "resourceVersion": resource_version}}


def test_a_404_is_remembered_until_the_watch_adds_the_configmap() -> None:
    events: queue.Queue[Mapping[str, Any] | None] = queue.Queue()

    def stream() -> Iterator[Mapping[str, Any]]:
        while (event := events.get()) is not None:
            yield event

    # A live stream: its events arrive while the reviews run.
    api = RecordedAPI([List(recorded_list("configmaps-list.json")), Watch(stream())])
    cache: WatchCache[ConfigMapContent] = WatchCache(
        name="test", source=api, convert=configmap_from_api, backoff=Backoff(initial=0.0, maximum=0.0)
    )
    api.cache = cache
    thread = threading.Thread(target=cache.run, daemon=True)
    thread.start()
    getter = FakeGetter()
    reader = ClusterConfigMaps(cache=cache, getter=getter)
    try:
        assert cache.wait_synced(5)
        assert reader.get(namespace="shop", name="late") is ABSENT
        assert reader.get(namespace="shop", name="late") is ABSENT
        assert getter.calls == [("shop", "late")]  # the second review did not ask again

        events.put({"type": "ADDED", "object": _late("900")})
        eventually(lambda: cache.get(("shop", "late")) is not None)
        assert reader.get(namespace="shop", name="late") == ConfigMapContent(name="late", data={"k": "v"})

        events.put({"type": "DELETED", "object": _late("901")})
        eventually(lambda: cache.get(("shop", "late")) is None)
        assert reader.get(namespace="shop", name="late") is ABSENT
        assert getter.calls == [("shop", "late"), ("shop", "late")]  # the ADDED event ended the mark
    finally:
        events.put(None)
        cache.stop()
        thread.join(5)


def test_a_disconnected_cache_asks_again_on_every_miss() -> None:
    cache = synced_cache(
        configmap_from_api, [List(recorded_list("configmaps-list.json")), Watch(ConnectionError("reset"))]
    )
    assert cache.synced
    assert not cache.connected
    getter = FakeGetter()
    reader = ClusterConfigMaps(cache=cache, getter=getter)
    assert reader.get(namespace="shop", name="nope") is ABSENT
    assert reader.get(namespace="shop", name="nope") is ABSENT
    assert getter.calls == [("shop", "nope"), ("shop", "nope")]  # the watch may be missing the ADDED event


def test_an_unreadable_answer_is_never_remembered(configmap_cache: WatchCache[ConfigMapContent]) -> None:
    getter = FakeGetter(error=TimeoutError("read timed out after 1s"))
    reader = ClusterConfigMaps(cache=configmap_cache, getter=getter)
    assert reader.get(namespace="shop", name="nope") is UNREADABLE
    getter.error = None
    getter.objects = {("shop", "nope"): {**LATE, "metadata": {"name": "nope", "namespace": "shop"}}}
    assert reader.get(namespace="shop", name="nope") == ConfigMapContent(name="nope", data={"k": "v"})


def test_absent_marks_are_bounded_oldest_first(
    configmap_cache: WatchCache[ConfigMapContent], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(watch, "MAX_KNOWN_ABSENT", 2)
    for name in ("a", "b", "c"):
        configmap_cache.remember_absent(("shop", name))
    assert [configmap_cache.known_absent(("shop", name)) for name in ("a", "b", "c")] == [False, True, True]


def test_a_key_in_the_store_is_never_marked_absent(configmap_cache: WatchCache[ConfigMapContent]) -> None:
    configmap_cache.remember_absent(("shop", "env-config"))  # a GET that raced the ADDED event
    assert not configmap_cache.known_absent(("shop", "env-config"))
    assert configmap_cache.get(("shop", "env-config")) is not None


def test_miss_with_api_unreachable_is_unreadable(configmap_cache: WatchCache[ConfigMapContent]) -> None:
    observer = RecordingObserver()
    getter = FakeGetter(error=TimeoutError("read timed out after 1s"))
    reader = ClusterConfigMaps(cache=configmap_cache, getter=getter, observer=observer)
    assert reader.get(namespace="shop", name="nope") is UNREADABLE
    assert getter.calls == [("shop", "nope")]  # one GET, no retry: a request is waiting
    assert observer.events == [("direct_read", "unreadable")]


def test_namespace_modes_from_labels(namespace_cache: WatchCache[NamespaceLabel]) -> None:
    getter = FakeGetter()
    modes = ClusterNamespaceModes(cache=namespace_cache, getter=getter, default=Mode.WARN, exempt=("reload-safe",))
    assert modes.mode(namespace="shop").mode is Mode.ENFORCE
    assert modes.mode(namespace="default").mode is Mode.AUDIT  # label added by a watch event
    assert modes.mode(namespace="team-b").mode is Mode.OFF  # namespace added by a watch event
    typo = modes.mode(namespace="payments")
    assert typo.mode is Mode.WARN
    assert typo.problem is not None
    assert "enforced" in typo.problem
    assert modes.mode(namespace="kube-system").mode is Mode.OFF
    assert modes.mode(namespace="reload-safe").mode is Mode.OFF
    assert getter.calls == []


def test_namespace_miss_reads_once_then_falls_back_to_the_default(namespace_cache: WatchCache[NamespaceLabel]) -> None:
    fresh = {"kind": "Namespace", "metadata": {"name": "brand-new", "labels": {"reload-safe.io/policy": "enforce"}}}
    getter = FakeGetter({("", "brand-new"): fresh})
    modes = ClusterNamespaceModes(cache=namespace_cache, getter=getter, default=Mode.AUDIT)
    assert modes.mode(namespace="brand-new").mode is Mode.ENFORCE
    assert modes.mode(namespace="unknown").mode is Mode.AUDIT
    assert getter.calls == [("", "brand-new"), ("", "unknown")]
    down = ClusterNamespaceModes(cache=namespace_cache, getter=FakeGetter(error=OSError("down")), default=Mode.AUDIT)
    assert down.mode(namespace="unknown").mode is Mode.AUDIT


@pytest.mark.parametrize(
    "content",
    [
        ConfigMapContent(name="empty"),
        ConfigMapContent(name="plain", data={"b": "2", "a": "1", "": "", "ünïcode": "värde ✓\n" * 50}),
        ConfigMapContent(
            name="all", data={"k": "v"}, binary_data={"ca.der": b"\x00\xff\x30"}, immutable=True, reloader_match=True
        ),
    ],
)
def test_a_configmap_packs_into_one_blob_and_unpacks_equal(content: ConfigMapContent) -> None:
    blob = configmap_from_api.pack(content)
    assert isinstance(blob, bytes)
    again = configmap_from_api.unpack(blob)
    assert again == content
    assert list(again.data) == list(content.data)  # key order as the API server sent it
    assert configmap_from_api.pack(again) == blob


@pytest.mark.parametrize(
    ("content", "compressed"),
    [
        pytest.param(ConfigMapContent(name="tiny", data={"a": "1"}), False, id="small-kept-as-is"),
        pytest.param(
            ConfigMapContent(name="app", data={"app.properties": "log.level = INFO\nfeature.x = on\n" * 100}),
            True,
            id="config-text-compressed",
        ),
        pytest.param(
            ConfigMapContent(name="random", binary_data={"blob.bin": random.Random(1).randbytes(4096)}),
            False,
            id="incompressible-kept-as-is",
        ),
    ],
)
def test_a_large_configmap_is_kept_compressed_when_that_is_smaller(content: ConfigMapContent, compressed: bool) -> None:
    blob = configmap_from_api.pack(content)
    plain = len(marshal.dumps((content.name, dict(content.data), dict(content.binary_data), False, False)))
    assert (blob[:1] == b"z") is compressed
    assert len(blob) <= plain + 1
    if compressed:
        assert len(blob) < plain // 10  # a repeated configuration text
    assert configmap_from_api.unpack(blob) == content


def test_a_blob_this_module_did_not_make_is_refused() -> None:
    with pytest.raises(ValueError, match="not a packed ConfigMap"):
        configmap_from_api.unpack(b"\x00whatever")


def test_threads_pack_and_unpack_at_once() -> None:
    """Each thread has its own zstd contexts: a shared one would mix up concurrent calls."""
    contents = [ConfigMapContent(name=f"cm-{i}", data={"k": f"value {i} " * (50 + i)}) for i in range(40)]
    errors: list[str] = []

    def work() -> None:
        for _ in range(50):
            for content in contents:
                if configmap_from_api.unpack(configmap_from_api.pack(content)) != content:
                    errors.append(content.name)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_a_cache_hit_is_the_content_the_api_server_sent(configmap_cache: WatchCache[ConfigMapContent]) -> None:
    listed = {
        (item["metadata"]["namespace"], item["metadata"]["name"]): configmap_from_api(item)
        for item in recorded_list("configmaps-list.json").items
    }
    reader = ClusterConfigMaps(cache=configmap_cache, getter=FakeGetter(error=AssertionError("no GET on a hit")))
    for (namespace, name), content in listed.items():
        assert reader.get(namespace=namespace, name=name) == content
