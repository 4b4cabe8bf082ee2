"""TLS sockets with time limits, so no client can hold a gunicorn thread forever.

gunicorn's threaded worker puts each connection in blocking mode with no timeout, then does
the TLS handshake and reads the request in a pool thread. A client that stops sending half way
(slowloris, a dead peer without a FIN) would keep that thread until the process dies. The API
server never needs long: it gives a webhook at most 30 s (`timeoutSeconds`, default 10 s).

This socket class, installed on the server's SSLContext, turns "blocking" into "blocking with
a timeout" and gives each request a time budget that grows with the bytes it brings:

- every handshake, read and write waits at most `IO_TIMEOUT` for the peer;
- a request (from the handshake, or from the moment gunicorn picks a kept-alive connection up
  again) may read for `FIRST_BYTES_GRACE`, plus one second per `MIN_RATE` bytes received, and
  never more than `REQUEST_BUDGET`, however slowly the bytes trickle in. The API server sends a
  review at once, so it never comes near; a client that trickles its headers a byte at a time
  (slowloris) holds a thread for about `FIRST_BYTES_GRACE` instead of the whole budget. A read
  never waits past the deadline (its timeout is cut to what is left).

A timeout raises `TimeoutError` (an `OSError`); gunicorn then closes the connection.

Closing must not wait either. gunicorn's threaded worker closes a finished connection (an
answer with `Connection: close`, a timed-out or broken request) "gracefully" on its main
thread: it shuts its sending side, then reads until the peer closes, for up to 2 s. The main
thread is the one that accepts and dispatches every connection of the worker, so a peer that
never closes (a silent client, an attacker) stopped the whole worker for 2 s per connection
(measured: 16 TLS connections that handshake and say nothing stopped both workers' main
loops, and a review waited 12–14 s). Once this side is shut, reads no longer wait: what the
peer has already sent is drained, and the connection is closed.
"""

from __future__ import annotations

import builtins
import socket
import ssl
import time
from typing import Any, Final

IO_TIMEOUT: Final = 5.0
REQUEST_BUDGET: Final = 15.0
FIRST_BYTES_GRACE: Final = 2.0
"""What any request may take however few bytes it has sent (a slow network's retransmissions)."""
MIN_RATE: Final = 64 * 1024
"""Bytes per second that earn a request more time, up to REQUEST_BUDGET (7 MiB needs ~2 min at
this rate: the cap, not the rate, bounds the largest bodies)."""


class DeadlineSSLSocket(ssl.SSLSocket):
    """An SSLSocket whose blocking mode always has a timeout and a per-request deadline."""

    _started: float | None = None
    _received: int = 0
    _shut: bool = False

    def settimeout(self, value: float | None) -> None:
        if self._shut:
            super().settimeout(0.0)  # closing: never wait for the peer (see the module docstring)
            return
        super().settimeout(IO_TIMEOUT if value is None else value)

    def shutdown(self, how: int) -> None:
        super().shutdown(how)
        if how in (socket.SHUT_WR, socket.SHUT_RDWR):
            self._shut = True
            super().settimeout(0.0)

    def setblocking(self, flag: bool) -> None:
        if flag:
            # gunicorn calls this as each request on the connection starts: a new budget.
            self._start_request()
            super().settimeout(IO_TIMEOUT)
        else:
            super().setblocking(False)

    def do_handshake(self, block: bool = False) -> None:
        # CPython bounds the whole handshake by the socket timeout, so IO_TIMEOUT caps it.
        self._start_request()
        super().do_handshake(block)

    def read(self, len: int = 1024, buffer: Any = None) -> Any:
        # recv and recv_into both read through here: one place to bound and to count.
        if self.gettimeout() == 0.0:  # non-blocking (gunicorn's poller): nothing to bound
            data = super().read(len, buffer)
        else:
            super().settimeout(self._time_left())
            try:
                data = super().read(len, buffer)
            finally:
                super().settimeout(IO_TIMEOUT)
        self._received += data if isinstance(data, int) else builtins.len(data)
        return data

    def _start_request(self) -> None:
        self._started = time.monotonic()
        self._received = 0

    def _time_left(self) -> float:
        """How long the next read may wait: IO_TIMEOUT, or less when the deadline is nearer."""
        started = self._started
        if started is None:
            return IO_TIMEOUT
        earned = FIRST_BYTES_GRACE + self._received / MIN_RATE
        left = started + min(REQUEST_BUDGET, earned) - time.monotonic()
        if left <= 0:
            raise TimeoutError("request exceeded its time budget")
        return min(IO_TIMEOUT, left)
