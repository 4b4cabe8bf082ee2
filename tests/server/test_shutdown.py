"""SIGTERM under load: in-flight reviews finish, every answered review has its audit line."""

from __future__ import annotations

import http.client
import json
import signal
import socket
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.server.harness import HOST, SERVER_NAME, Server, audit_lines, fixture_bytes

pytestmark = pytest.mark.server

NOT_ACCEPTED = "not accepted"  # refused or reset before the request could be sent: never started
DROPPED = "dropped"  # the whole request was sent and no complete answer came back
ANSWERED = "answered"


def one_request(server: Server, uid: str) -> str:
    """Send one review on a new connection, classify what happened."""
    try:
        raw = socket.create_connection((HOST, server.port), timeout=10)
    except OSError:
        return NOT_ACCEPTED
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as http.client and Go clients do
    context = server.client_context()
    try:
        tls = context.wrap_socket(raw, server_hostname=SERVER_NAME)
    except (OSError, ssl.SSLError):
        raw.close()
        return NOT_ACCEPTED
    conn = http.client.HTTPSConnection(SERVER_NAME, server.port, timeout=10, context=context)
    conn.sock = tls
    try:
        try:
            conn.request(
                "POST", "/validate", body=fixture_bytes("deployment-envfrom-create.json", uid=uid),
                headers={"Content-Type": "application/json", "Connection": "close"},
            )  # fmt: skip
        except OSError:
            return NOT_ACCEPTED
        try:
            response = conn.getresponse()
            body = json.loads(response.read())
        except (OSError, http.client.HTTPException, ValueError):
            return DROPPED
        return ANSWERED if response.status == 200 and body["response"]["uid"] == uid else DROPPED
    finally:
        conn.close()


def hammer(server: Server, *, threads: int, until: Callable[[], bool]) -> tuple[Counter[str], set[str]]:
    results: Counter[str] = Counter()
    answered: set[str] = set()
    lock = threading.Lock()

    def run(index: int) -> None:
        n = 0
        deadline = time.monotonic() + 60
        refused_in_a_row = 0
        while not until() and time.monotonic() < deadline and refused_in_a_row < 20:
            n += 1
            uid = f"term-{index}-{n}"
            outcome = one_request(server, uid)
            refused_in_a_row = refused_in_a_row + 1 if outcome == NOT_ACCEPTED else 0
            with lock:
                results[outcome] += 1
                if outcome == ANSWERED:
                    answered.add(uid)
            if outcome == NOT_ACCEPTED:
                time.sleep(0.01)

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(90)
    return results, answered


def test_sigterm_under_load_drops_nothing(start_server: Callable[..., Server], tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    server = start_server("--audit-file", str(audit))
    stopped = threading.Event()
    in_flight: dict[str, object] = {}

    def terminate() -> None:
        time.sleep(1.5)
        # A review half sent when SIGTERM arrives must still be read, judged and answered.
        body = fixture_bytes("deployment-envfrom-create.json", uid="in-flight")
        conn = server.connection()
        conn.putrequest("POST", "/validate")
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body[: len(body) // 2])
        time.sleep(0.2)
        server.process.send_signal(signal.SIGTERM)
        time.sleep(1.0)
        conn.send(body[len(body) // 2 :])
        response = conn.getresponse()
        in_flight["status"] = response.status
        in_flight["uid"] = json.loads(response.read())["response"]["uid"]
        conn.close()
        server.process.wait(40)
        stopped.set()

    killer = threading.Thread(target=terminate)
    killer.start()
    results, answered = hammer(server, threads=8, until=stopped.is_set)
    killer.join(60)

    print(f"\nSIGTERM under load: {dict(results)}; half-sent request: {in_flight}")
    assert server.process.returncode == 0
    assert results[DROPPED] == 0
    assert results[ANSWERED] > 100
    assert in_flight == {"status": 200, "uid": "in-flight"}
    lines = audit_lines(audit)  # every line parses: none cut or interleaved
    assert len(lines) == len(answered) + 1
    assert {line["uid"] for line in lines} == answered | {"in-flight"}
    assert "Shutting down: Master" in server.stderr()
