"""The controller's API calls through the official client's `ApiClient`, without its generated
`AppsV1Api`/`BatchV1Api`/`CoreV1Api`: importing those costs some 26 MiB of RSS (hundreds of
model modules), more than a quarter of the controller's budget, for three lists, one patch and
one Event create. `ApiClient` still brings credentials, token refresh, TLS and proxies.
"""

from __future__ import annotations

from typing import Any, Final

from kubernetes import client
from kubernetes.client.exceptions import ApiException

_QUERY: Final = {
    "limit": "limit",
    "_continue": "continue",
    "watch": "watch",
    "resource_version": "resourceVersion",
    "allow_watch_bookmarks": "allowWatchBookmarks",
    "timeout_seconds": "timeoutSeconds",
}


class Transport:
    def __init__(self, api_client: client.ApiClient) -> None:
        self.api_client = api_client

    def send(
        self,
        method: str,
        path: str,
        *,
        query: list[tuple[str, Any]] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        timeout: Any = None,
    ) -> Any:
        """One call; the raw urllib3 response of a 2xx, `ApiException` otherwise."""
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type
        request = self.api_client.param_serialize(
            method=method,
            resource_path=path,
            query_params=query or [],
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        answer = self.api_client.call_api(*request, _request_timeout=timeout)
        if not 200 <= answer.status <= 299:
            answer.read()  # type: ignore[no-untyped-call]
            raise ApiException.from_response(http_resp=answer, body=None, data=None)
        return answer.response


class ListCall:
    """A list-for-all-namespaces call (`path`) with the generated methods' keyword arguments,
    raw responses only, as `webhook.sources.kubeapi.KubeListWatch` calls it."""

    def __init__(self, transport: Transport, path: str) -> None:
        self._transport = transport
        self._path = path

    def __call__(self, **options: Any) -> Any:
        timeout = options.pop("_request_timeout", None)
        if options.pop("_preload_content", False) is not False:
            raise TypeError("raw responses only (_preload_content=False)")
        unknown = options.keys() - _QUERY.keys()
        if unknown:
            raise TypeError(f"unexpected arguments: {sorted(unknown)}")
        query = [(_QUERY[k], v) for k, v in options.items() if v is not None]
        return self._transport.send("GET", self._path, query=query, timeout=timeout)
