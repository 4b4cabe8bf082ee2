"""The Kubernetes API calls behind the cluster caches, as raw JSON.

The official client's model objects cost far more CPU and memory than the JSON they come
from, and the cache keeps a small part of each object anyway, so every call here asks for
the undecoded response (`_preload_content=False`) and parses it with `json`:

- `KubeListWatch` pages through a list (500 per page), yielding each page as soon as it is
  parsed and dropping it before the next is read, and streams a watch line by line, with
  bookmarks; HTTP 410 becomes `WatchExpired` so the cache lists again;
- `KubeGetter` reads one object with a short timeout and no retries (a request is waiting),
  404 meaning "does not exist". Inside `budget.read_budget(...)` (the server opens one per
  review), all the reads of one review share that budget: each waits at most what is left of
  it, and once it is spent a read fails at once (`BudgetSpent`) instead of asking, so a review that
  misses a dozen ConfigMaps on a hanging API server still answers well before the API server's
  `timeoutSeconds` (see `budget`).

The calls go through `CoreReads`, not the client's generated `CoreV1Api`: see its docstring.
Clients are made after fork, one per worker: urllib3 pools must not be shared across processes.
"""

from __future__ import annotations

import contextlib
import copy
import json
import random
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from webhook.sources.budget import DIRECT_READ_BUDGET, DIRECT_READ_TIMEOUT, read_timeout
from webhook.sources.watch import Listing, WatchExpired

__all__ = [
    "DIRECT_READ_BUDGET",
    "DIRECT_READ_TIMEOUT",
    "CoreReads",
    "KubeGetter",
    "KubeListWatch",
    "core_api",
    "load_configuration",
]

PAGE_SIZE: Final = 500
LIST_TIMEOUT: Final = (5.0, 60.0)
WATCH_SECONDS: Final = 300
WATCH_READ_TIMEOUT: Final = 120.0
"""A watch that says nothing (not even a bookmark) for this long is presumed dead."""
HTTP_NOT_FOUND: Final = 404
HTTP_GONE: Final = 410


def load_configuration(kubeconfig: str | None) -> client.Configuration:
    """In-cluster service account credentials, or a kubeconfig (the given file or the default)."""
    configuration = client.Configuration()
    if kubeconfig:
        config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)  # type: ignore[no-untyped-call]
        return configuration
    try:
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    except config.ConfigException:
        config.load_kube_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    return configuration


def core_api(configuration: client.Configuration, *, retries: bool = True) -> CoreReads:
    """`CoreReads` on its own connection pool; `retries=False` for calls a request waits on."""
    own = copy.deepcopy(configuration)
    if not retries:
        own.retries = False
    return CoreReads(client.ApiClient(own))


class CoreReads:
    """The core/v1 GETs of the caches, answered as raw (undecoded) urllib3 responses.

    They go through the official client's `ApiClient`, which brings what matters (kubeconfig or
    service-account credentials, token refresh, TLS, proxies, retries), but not through its
    generated `CoreV1Api`: importing that one module costs 21 MiB of RSS in every process (it
    pulls in some 250 model modules), and it validates each call's arguments with pydantic.
    The methods keep the generated names and keyword arguments, so `KubeListWatch` and
    `KubeGetter` take either, and a non-2xx answer raises `ApiException` as the generated
    methods do when asked for the raw response.
    """

    def __init__(self, api_client: client.ApiClient) -> None:
        self.api_client = api_client

    def list_config_map_for_all_namespaces(self, **options: Any) -> Any:
        return self._get("/api/v1/configmaps", {}, options)

    def list_namespace(self, **options: Any) -> Any:
        return self._get("/api/v1/namespaces", {}, options)

    def read_namespaced_config_map(self, *, name: str, namespace: str, **options: Any) -> Any:
        return self._get(
            "/api/v1/namespaces/{namespace}/configmaps/{name}", {"namespace": namespace, "name": name}, options
        )

    def list_secret_for_all_namespaces(self, **options: Any) -> Any:
        return self._get("/api/v1/secrets", {}, options)

    def read_namespaced_secret(self, *, name: str, namespace: str, **options: Any) -> Any:
        return self._get(
            "/api/v1/namespaces/{namespace}/secrets/{name}", {"namespace": namespace, "name": name}, options
        )

    def read_namespace(self, *, name: str, **options: Any) -> Any:
        return self._get("/api/v1/namespaces/{name}", {"name": name}, options)

    def _get(self, path: str, path_params: dict[str, str], options: dict[str, Any]) -> Any:
        query, timeout = call_options(options)
        return raw_call(self.api_client, "GET", path, path_params=path_params, query=query, timeout=timeout)


_QUERY: Final = {
    "limit": "limit",
    "_continue": "continue",
    "watch": "watch",
    "resource_version": "resourceVersion",
    "allow_watch_bookmarks": "allowWatchBookmarks",
    "timeout_seconds": "timeoutSeconds",
    "field_selector": "fieldSelector",
}
"""The generated list and read methods' keyword arguments that `KubeListWatch` and `KubeGetter`
pass, and their query parameter names."""


def call_options(options: dict[str, Any]) -> tuple[list[tuple[str, Any]], Any]:
    """(query, timeout) from a generated method's keyword arguments; raw responses only, and an
    argument this module does not send is refused rather than silently dropped."""
    options = dict(options)
    timeout = options.pop("_request_timeout", None)
    if options.pop("_preload_content", False) is not False:
        raise TypeError("raw responses only (_preload_content=False)")
    unknown = options.keys() - _QUERY.keys()
    if unknown:
        raise TypeError(f"unexpected arguments: {sorted(unknown)}")
    return [(_QUERY[k], v) for k, v in options.items() if v is not None], timeout


def raw_call(
    api_client: client.ApiClient,
    method: str,
    path: str,
    *,
    path_params: dict[str, str] | None = None,
    query: list[tuple[str, Any]] | None = None,
    body: Any = None,
    content_type: str = "application/json",
    timeout: Any = None,
) -> Any:
    """One API call through `ApiClient` (credentials, token refresh, TLS, proxies): the raw
    urllib3 response of a 2xx, `ApiException` otherwise, as the generated methods raise it."""
    headers = {"Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = content_type
    request = api_client.param_serialize(
        method=method,
        resource_path=path,
        path_params=path_params or {},
        query_params=query or [],
        header_params=headers,
        body=body,
        auth_settings=["BearerToken"],
    )
    answer = api_client.call_api(*request, _request_timeout=timeout)
    if not 200 <= answer.status <= 299:
        answer.read()  # type: ignore[no-untyped-call]
        raise ApiException.from_response(http_resp=answer, body=None, data=None)
    return answer.response


class KubeListWatch:
    """`ListWatch` over one list call of the client (e.g. `list_config_map_for_all_namespaces`)."""

    def __init__(self, *, call: Callable[..., Any], field_selector: str | None = None) -> None:
        self._call = call
        self._selection: dict[str, str] = {"field_selector": field_selector} if field_selector else {}
        self._lock = threading.Lock()
        self._streaming: Any = None

    def interrupt(self) -> None:
        with self._lock:
            response = self._streaming
        if response is not None:
            with contextlib.suppress(Exception):
                response.shutdown()  # wakes the thread blocked reading the stream

    def list(self) -> Iterator[Listing]:
        token: str | None = None
        while True:
            try:
                response = self._call(
                    limit=PAGE_SIZE,
                    _continue=token,
                    _preload_content=False,
                    _request_timeout=LIST_TIMEOUT,
                    **self._selection,
                )
            except ApiException as error:
                if error.status == HTTP_GONE:  # the continue token expired: start over
                    raise WatchExpired("list continue token expired") from error
                raise
            body = _json(response)
            del response  # its buffer holds the page's bytes
            metadata = body.get("metadata") or {}
            token = metadata.get("continue") or None
            page = Listing(
                items=[i for i in body.get("items") or () if isinstance(i, Mapping)],
                resource_version=str(metadata.get("resourceVersion") or ""),
            )
            del body, metadata
            yield page
            del page  # converted by the caller: not alive while the next page is read
            if token is None:
                return

    def watch(self, *, resource_version: str) -> Iterator[Mapping[str, Any]]:
        # Spread reconnections of many workers over time, as client-go does.
        seconds = int(WATCH_SECONDS * random.uniform(1.0, 1.5))
        try:
            response = self._call(
                watch=True,
                resource_version=resource_version,
                allow_watch_bookmarks=True,
                timeout_seconds=seconds,
                _preload_content=False,
                _request_timeout=(5.0, WATCH_READ_TIMEOUT),
                **self._selection,
            )
        except ApiException as error:
            if error.status == HTTP_GONE:
                raise WatchExpired(f"resourceVersion {resource_version} expired") from error
            raise
        with self._lock:
            self._streaming = response
        try:
            for line in _lines(response):
                event = json.loads(line)
                if isinstance(event, Mapping):
                    yield event
        finally:
            with self._lock:
                self._streaming = None
            response.close()
            response.release_conn()


class KubeGetter:
    """`ObjectGetter` over one read call (e.g. `read_namespaced_config_map`)."""

    def __init__(self, *, call: Callable[..., Any], namespaced: bool) -> None:
        self._call = call
        self._namespaced = namespaced

    def get(self, *, namespace: str, name: str) -> Mapping[str, Any] | None:
        kwargs: dict[str, Any] = {"name": name, "_preload_content": False}
        if self._namespaced:
            kwargs["namespace"] = namespace
        try:
            response = self._call(_request_timeout=read_timeout(), **kwargs)
        except ApiException as error:
            if error.status == HTTP_NOT_FOUND:
                return None
            raise
        return _json(response)


def _json(response: Any) -> dict[str, Any]:
    try:
        body = json.loads(response.data)
    finally:
        response.release_conn()
    if not isinstance(body, dict):
        raise ValueError("API response is not a JSON object")
    return body


def _lines(response: Any) -> Iterator[bytes]:
    """Newline-delimited JSON from a chunked response, however the chunks fall."""
    buffer = bytearray()
    for chunk in response.stream(amt=None, decode_content=True):
        buffer.extend(chunk)
        start = 0
        while (end := buffer.find(b"\n", start)) != -1:
            line = bytes(buffer[start:end])
            start = end + 1
            if line.strip():
                yield line
        del buffer[:start]
    if buffer.strip():
        yield bytes(buffer)
