"""ConfigMap and namespace lookups over the caches, with one direct GET on a miss."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.server.fake_api import List, RecordedAPI, RecordingObserver, Watch, recorded_events, recorded_list
from webhook.policy import ABSENT, UNREADABLE, ConfigMapContent, Mode
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


def test_a_cache_hit_is_the_content_the_api_server_sent(configmap_cache: WatchCache[ConfigMapContent]) -> None:
    listed = {
        (item["metadata"]["namespace"], item["metadata"]["name"]): configmap_from_api(item)
        for item in recorded_list("configmaps-list.json").items
    }
    reader = ClusterConfigMaps(cache=configmap_cache, getter=FakeGetter(error=AssertionError("no GET on a hit")))
    for (namespace, name), content in listed.items():
        assert reader.get(namespace=namespace, name=name) == content
