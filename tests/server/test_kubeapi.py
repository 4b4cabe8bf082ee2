"""The raw-JSON Kubernetes calls: paging, watch streams split anywhere, 404 and 410."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from tests.server.fake_api import WATCH_FIXTURES, recorded_events
from webhook.sources.kubeapi import DIRECT_READ_TIMEOUT, KubeGetter, KubeListWatch
from webhook.sources.watch import WatchExpired


class FakeResponse:
    """Enough of urllib3's HTTPResponse: `.data`, `.stream()`, `close()`, `release_conn()`."""

    def __init__(self, body: bytes, *, chunk: int = 7) -> None:
        self.data = body
        self._chunk = chunk
        self.closed = False

    def stream(self, amt: int | None = None, decode_content: bool = True) -> Iterator[bytes]:
        for start in range(0, len(self.data), self._chunk):
            yield self.data[start : start + self._chunk]

    def close(self) -> None:
        self.closed = True

    def release_conn(self) -> None:
        pass


def api_error(status: int) -> ApiException:
    return ApiException(status=status, reason="test")


def test_list_follows_continue_tokens() -> None:
    pages = [
        {"metadata": {"continue": "t1", "resourceVersion": "5"}, "items": [{"metadata": {"name": "a"}}]},
        {"metadata": {"resourceVersion": "5"}, "items": [{"metadata": {"name": "b"}}]},
    ]
    calls: list[dict[str, Any]] = []

    def call(**kwargs: Any) -> FakeResponse:
        calls.append(kwargs)
        return FakeResponse(json.dumps(pages[len(calls) - 1]).encode())

    listing = KubeListWatch(call=call).list()
    first = next(listing)
    assert [item["metadata"]["name"] for item in first.items] == ["a"]
    assert len(calls) == 1  # the next page is asked for only once this one is done with
    rest = list(listing)
    assert [item["metadata"]["name"] for page in rest for item in page.items] == ["b"]
    assert [page.resource_version for page in (first, *rest)] == ["5", "5"]
    assert [c["_continue"] for c in calls] == [None, "t1"]
    assert all(c["_preload_content"] is False and c["limit"] == 500 for c in calls)


def test_expired_continue_token_restarts_the_list() -> None:
    def call(**kwargs: Any) -> FakeResponse:
        if kwargs["_continue"]:
            raise api_error(410)
        return FakeResponse(b'{"metadata": {"continue": "t1"}, "items": []}')

    pages = KubeListWatch(call=call).list()
    assert next(pages).items == []
    with pytest.raises(WatchExpired):
        next(pages)


@pytest.mark.parametrize("chunk", [1, 7, 64, 100_000])
def test_watch_stream_is_split_into_events_wherever_chunks_fall(chunk: int) -> None:
    recorded = (WATCH_FIXTURES / "configmaps-watch.jsonl").read_bytes()
    seen: dict[str, Any] = {}
    response = FakeResponse(recorded, chunk=chunk)

    def call(**kwargs: Any) -> FakeResponse:
        seen.update(kwargs)
        return response

    events = list(KubeListWatch(call=call).watch(resource_version="1000"))
    assert events == recorded_events("configmaps-watch.jsonl")
    assert seen["watch"] is True
    assert seen["allow_watch_bookmarks"] is True
    assert seen["resource_version"] == "1000"
    assert seen["_preload_content"] is False
    assert response.closed


def test_watch_410_is_watch_expired() -> None:
    def call(**kwargs: Any) -> FakeResponse:
        raise api_error(410)

    with pytest.raises(WatchExpired):
        list(KubeListWatch(call=call).watch(resource_version="1"))


def test_getter_404_is_none_and_other_errors_raise() -> None:
    seen: list[dict[str, Any]] = []

    def found(**kwargs: Any) -> FakeResponse:
        seen.append(kwargs)
        return FakeResponse(b'{"metadata": {"name": "x"}}')

    assert KubeGetter(call=found, namespaced=True).get(namespace="ns", name="x") == {"metadata": {"name": "x"}}
    assert seen == [
        {"name": "x", "namespace": "ns", "_preload_content": False, "_request_timeout": DIRECT_READ_TIMEOUT}
    ]
    assert KubeGetter(call=found, namespaced=False).get(namespace="", name="x") is not None
    assert "namespace" not in seen[-1]

    def missing(**kwargs: Any) -> FakeResponse:
        raise api_error(404)

    def forbidden(**kwargs: Any) -> FakeResponse:
        raise api_error(403)

    assert KubeGetter(call=missing, namespaced=True).get(namespace="ns", name="x") is None
    with pytest.raises(ApiException):
        KubeGetter(call=forbidden, namespaced=True).get(namespace="ns", name="x")
