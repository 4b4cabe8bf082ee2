"""`DeadlineSSLSocket` when gunicorn closes a connection: the close never waits for the peer.

gunicorn's threaded worker closes a finished connection on its main thread with
`gunicorn.util.close_graceful`: shut the sending side, then read until the peer closes, for up
to 2 s. A peer that never closes must not hold the worker's main thread that long.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from gunicorn import util

from tests.server.harness import HOST, SERVER_NAME, Pki
from webhook.server.sockets import IO_TIMEOUT, DeadlineSSLSocket


@pytest.fixture
def tls_pair(pki: Pki, serving_files: tuple[Path, Path]) -> Iterator[tuple[ssl.SSLSocket, ssl.SSLSocket]]:
    """(server side, client side) of one handshaken connection, the server's socket a
    `DeadlineSSLSocket` in blocking mode, as gunicorn holds it."""
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(*map(str, serving_files))
    server_context.sslsocket_class = DeadlineSSLSocket
    client_context = ssl.create_default_context(cafile=str(pki.ca_file))
    listener = socket.create_server((HOST, 0))
    accepted: list[ssl.SSLSocket] = []

    def accept() -> None:
        raw, _ = listener.accept()
        accepted.append(server_context.wrap_socket(raw, server_side=True))

    acceptor = threading.Thread(target=accept)
    acceptor.start()
    client = client_context.wrap_socket(
        socket.create_connection(listener.getsockname(), timeout=10), server_hostname=SERVER_NAME
    )
    acceptor.join(10)
    (server,) = accepted
    server.setblocking(True)
    try:
        yield server, client
    finally:
        client.close()
        server.close()
        listener.close()


def test_a_graceful_close_does_not_wait_for_a_silent_peer(tls_pair: tuple[ssl.SSLSocket, ssl.SSLSocket]) -> None:
    server, client = tls_pair
    started = time.monotonic()
    util.close_graceful(server)  # what gunicorn's gthread worker calls on its main thread
    assert time.monotonic() - started < 0.2  # gunicorn alone lingers 2 s for this peer
    assert server.fileno() == -1  # closed
    client.settimeout(5)
    assert client.recv(1) == b""  # the client sees the end of the connection


def test_what_the_peer_already_sent_is_drained(tls_pair: tuple[ssl.SSLSocket, ssl.SSLSocket]) -> None:
    server, client = tls_pair
    client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 50)  # e.g. pipelined requests never read
    time.sleep(0.1)
    started = time.monotonic()
    util.close_graceful(server)
    assert time.monotonic() - started < 0.2
    assert server.fileno() == -1


def test_until_shut_a_read_still_waits_with_its_deadline(tls_pair: tuple[ssl.SSLSocket, ssl.SSLSocket]) -> None:
    server, client = tls_pair
    server.settimeout(None)  # gunicorn's "blocking": our IO_TIMEOUT instead
    assert server.gettimeout() == IO_TIMEOUT
    client.sendall(b"x")
    assert server.recv(1) == b"x"
