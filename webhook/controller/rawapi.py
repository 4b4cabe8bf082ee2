"""The controller's API calls through the official client's `ApiClient`, without its generated
`AppsV1Api`/`BatchV1Api`/`CoreV1Api`: importing those costs some 26 MiB of RSS (hundreds of
model modules), more than a quarter of the controller's budget, for three lists, one patch and
one Event create. `ApiClient` still brings credentials, token refresh, TLS and proxies.
"""

from __future__ import annotations

from typing import Any

from kubernetes import client

from webhook.sources.kubeapi import call_options, raw_call


class Transport:
    """The controller's calls on one `ApiClient` (one connection pool)."""

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
        return raw_call(
            self.api_client, method, path, query=query, body=body, content_type=content_type, timeout=timeout
        )

    def write(self, method: str, path: str, **options: Any) -> None:
        """One call whose answer is not needed (a patch, a create); `options` as for `send`. Its
        body is still read to the end before the connection goes back to the pool: urllib3
        reuses a connection whose unread answer sits in the client's buffer, and the next call
        on it would read that answer's bytes as its own status line (failing a call the API
        server carried out)."""
        response = self.send(method, path, **options)
        try:
            response.read()
        finally:
            response.release_conn()


class ListCall:
    """A list-for-all-namespaces call (`path`) with the generated methods' keyword arguments,
    raw responses only, as `webhook.sources.kubeapi.KubeListWatch` calls it."""

    def __init__(self, transport: Transport, path: str) -> None:
        self._transport = transport
        self._path = path

    def __call__(self, **options: Any) -> Any:
        query, timeout = call_options(options)
        return self._transport.send("GET", self._path, query=query, timeout=timeout)
