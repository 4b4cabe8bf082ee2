"""The controller's writes leave the pooled connection clean for the next call.

The API server's answer to a patch (the whole object, managedFields included) can reach the
client in several segments. A connection handed back to the pool once the headers are read,
before the rest arrived, looks idle to urllib3, so the next call on it reads that rest as its
own status line: the call fails although the API server carried it out (seen in the e2e suite
as ConfigChanged Events lost after a burst of patches). The loopback server here sends each
answer's second half a moment after its headers, every time.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from kubernetes import client

from webhook.controller.rawapi import Transport

LATE = 0.1
"""Seconds between an answer's first and second half."""
ANSWER = json.dumps({"kind": "Deployment", "metadata": {"managedFields": ["x" * 64] * 40}}).encode()


def _serve(listener: socket.socket, seen: list[str]) -> None:
    connection, _ = listener.accept()
    with connection:
        buffered = b""
        while True:
            while b"\r\n\r\n" not in buffered:
                chunk = connection.recv(65536)
                if not chunk:
                    return
                buffered += chunk
            head, buffered = buffered.split(b"\r\n\r\n", 1)
            lines = head.decode().split("\r\n")
            length = next((int(line.split(":")[1]) for line in lines if line.lower().startswith("content-length")), 0)
            while len(buffered) < length:
                buffered += connection.recv(65536)
            buffered = buffered[length:]
            seen.append(lines[0])
            headers = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(ANSWER)}\r\n\r\n"
            half = len(ANSWER) // 2
            connection.sendall(headers.encode() + ANSWER[:half])
            time.sleep(LATE)
            connection.sendall(ANSWER[half:])


@pytest.fixture
def one_connection() -> Iterator[tuple[Transport, list[str]]]:
    """A transport whose pool holds a single connection to the loopback server."""
    listener = socket.create_server(("127.0.0.1", 0))
    seen: list[str] = []
    thread = threading.Thread(target=_serve, args=(listener, seen), daemon=True)
    thread.start()
    configuration = client.Configuration(host=f"http://127.0.0.1:{listener.getsockname()[1]}")
    configuration.connection_pool_maxsize = 1
    api_client = client.ApiClient(configuration)
    yield Transport(api_client), seen
    api_client.close()
    listener.close()


def test_writes_in_a_row_on_one_connection_all_succeed(one_connection: tuple[Transport, list[str]]) -> None:
    transport, seen = one_connection
    transport.write("PATCH", "/apis/apps/v1/namespaces/ns/deployments/a", body={"spec": {}}, timeout=5)
    transport.write("POST", "/api/v1/namespaces/ns/events", body={"reason": "ConfigChanged"}, timeout=5)
    transport.write("PATCH", "/apis/apps/v1/namespaces/ns/deployments/b", body={"spec": {}}, timeout=5)
    response = transport.send("GET", "/apis/apps/v1/deployments", timeout=5)
    try:
        assert json.loads(response.read()) == json.loads(ANSWER)
    finally:
        response.release_conn()
    assert [line.split()[0] for line in seen] == ["PATCH", "POST", "PATCH", "GET"]
