"""The one HTTPS client connection of the suites: it connects to an address and verifies the
server's certificate for another name, as the API server does when it calls a webhook Service
(`https://reload-safe.reload-safe.svc`) that resolves to a pod address."""

from __future__ import annotations

import http.client
import socket
import ssl


class VerifiedConnection(http.client.HTTPSConnection):
    """HTTPS to `host`:`port`, the certificate verified (by `context`) for `tls_name`."""

    def __init__(self, host: str, port: int, *, tls_name: str, context: ssl.SSLContext, timeout: float) -> None:
        super().__init__(host, port, context=context, timeout=timeout)
        self._tls_name = tls_name
        self._tls_context = context

    def connect(self) -> None:
        sock = socket.create_connection((self.host, self.port), self.timeout)
        self.sock = self._tls_context.wrap_socket(sock, server_hostname=self._tls_name)
