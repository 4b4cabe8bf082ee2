"""TLS sockets with time limits, so no client can hold a gunicorn thread forever.

gunicorn's threaded worker puts each connection in blocking mode with no timeout, then does
the TLS handshake and reads the request in a pool thread. A client that stops sending half way
(slowloris, a dead peer without a FIN) would keep that thread until the process dies. The API
server never needs long: it gives a webhook at most 30 s (`timeoutSeconds`, default 10 s).

This socket class, installed on the server's SSLContext, turns "blocking" into "blocking with
a timeout" and gives each request a total time budget:

- every handshake, read and write waits at most `IO_TIMEOUT` for the peer;
- a request (from the handshake, or from the moment gunicorn picks a kept-alive connection up
  again) may read for at most `REQUEST_BUDGET`, however slowly the bytes trickle in.

A timeout raises `TimeoutError` (an `OSError`); gunicorn then closes the connection.
"""

from __future__ import annotations

import ssl
import time
from typing import Any, Final

IO_TIMEOUT: Final = 5.0
REQUEST_BUDGET: Final = 15.0


class DeadlineSSLSocket(ssl.SSLSocket):
    """An SSLSocket whose blocking mode always has a timeout and a per-request deadline."""

    _deadline: float | None = None

    def settimeout(self, value: float | None) -> None:
        super().settimeout(IO_TIMEOUT if value is None else value)

    def setblocking(self, flag: bool) -> None:
        if flag:
            # gunicorn calls this as each request on the connection starts: a new budget.
            self._deadline = time.monotonic() + REQUEST_BUDGET
            super().settimeout(IO_TIMEOUT)
        else:
            super().setblocking(False)

    def do_handshake(self, block: bool = False) -> None:
        # CPython bounds the whole handshake by the socket timeout, so IO_TIMEOUT caps it.
        self._deadline = time.monotonic() + REQUEST_BUDGET
        super().do_handshake(block)

    def recv(self, buflen: int = 1024, flags: int = 0) -> bytes:
        self._check_deadline()
        return super().recv(buflen, flags)

    def recv_into(self, buffer: Any, nbytes: int | None = None, flags: int = 0) -> int:
        self._check_deadline()
        return super().recv_into(buffer, nbytes, flags)

    def read(self, len: int = 1024, buffer: Any = None) -> Any:
        self._check_deadline()
        return super().read(len, buffer)

    def _check_deadline(self) -> None:
        deadline = self._deadline
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError("request exceeded its time budget")
