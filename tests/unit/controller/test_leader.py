"""Leader election against a local Lease server (the real kubernetes client, a tiny HTTP server
on 127.0.0.1): a hung or refused Lease call never crashes the process nor outlives the renew
deadline, and a leader whose renews stop succeeding stops writing at the deadline."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from kubernetes import client

from webhook.controller.leader import Election, LeaseElector, lease_api
from webhook.controller.metrics import LEASE_ERRORS

RENEW_DEADLINE = 3
LEASES = "/apis/coordination.k8s.io/v1/namespaces/rs/leases"


class LeaseServer(ThreadingHTTPServer):
    """Serves one namespace's Leases; `mode` "ok", "hang" (never answers), "500", or "409"
    (every write conflicts, as when another candidate wrote first)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.mode = "ok"
        self.leases: dict[str, dict[str, Any]] = {}
        self.version = 0
        self.released = threading.Event()
        self.calls = 0


class _Handler(BaseHTTPRequestHandler):
    server: LeaseServer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _serve(self, method: str) -> None:
        self.server.calls += 1
        if self.server.mode == "hang":
            self.server.released.wait(30)
            return
        if self.server.mode == "500":
            self._answer(500, {"kind": "Status", "code": 500, "message": "etcd down"})
            return
        if self.server.mode == "409" and method != "GET":
            self._answer(409, {"kind": "Status", "code": 409, "reason": "Conflict"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        name = self.path.removeprefix(LEASES).strip("/").split("?")[0]
        if method == "GET":
            if name in self.server.leases:
                self._answer(200, self.server.leases[name])
            else:
                self._answer(404, {"kind": "Status", "code": 404, "reason": "NotFound"})
            return
        assert body is not None
        self.server.version += 1
        body["metadata"]["resourceVersion"] = str(self.server.version)
        self.server.leases[body["metadata"]["name"]] = body
        self._answer(201 if method == "POST" else 200, body)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")


@pytest.fixture
def server() -> Iterator[LeaseServer]:
    srv = LeaseServer()
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.released.set()
    srv.shutdown()
    srv.server_close()


def elector_for(port: int, identity: str = "me") -> LeaseElector:
    configuration = client.Configuration()
    configuration.host = f"http://127.0.0.1:{port}"
    election = Election(
        namespace="rs",
        name="ctl",
        identity=identity,
        lease_duration=RENEW_DEADLINE + 1,
        renew_deadline=RENEW_DEADLINE,
        retry_period=1,
    )
    return LeaseElector(api=lease_api(configuration), election=election)


def errors() -> float:
    return float(LEASE_ERRORS._value.get())


def test_a_free_lease_is_taken_and_renewed(server: LeaseServer) -> None:
    elector = elector_for(server.server_address[1])
    assert elector.try_acquire_or_renew()
    assert server.leases["ctl"]["spec"]["holderIdentity"] == "me"
    assert elector.fence.valid()
    assert elector.try_acquire_or_renew()
    assert server.leases["ctl"]["metadata"]["resourceVersion"] == "2"


def test_a_lease_held_by_another_is_not_taken_until_it_expires(server: LeaseServer) -> None:
    other = elector_for(server.server_address[1], identity="other")
    assert other.try_acquire_or_renew()
    me = elector_for(server.server_address[1])
    assert not me.try_acquire_or_renew()
    assert not me.fence.valid()


def test_a_hanging_lease_server_fails_the_attempt_before_the_renew_deadline(server: LeaseServer) -> None:
    server.mode = "hang"
    elector = elector_for(server.server_address[1])
    before, started = errors(), time.monotonic()
    assert not elector.try_acquire_or_renew()
    took = time.monotonic() - started
    assert took < RENEW_DEADLINE, f"a Lease call took {took:.1f}s, past the renew deadline"
    assert server.calls == 1, "no hidden retries"
    assert errors() == before + 1


def test_refused_connections_and_server_errors_never_raise() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    elector = elector_for(port)  # nothing listens there any more: connection refused
    before = errors()
    assert not elector.try_acquire_or_renew()
    assert errors() == before + 1


def test_a_5xx_is_a_failed_attempt(server: LeaseServer) -> None:
    server.mode = "500"
    assert not elector_for(server.server_address[1]).try_acquire_or_renew()


def test_a_409_on_the_write_is_a_failed_attempt_and_the_fence_stays_down(server: LeaseServer) -> None:
    server.mode = "409"
    elector = elector_for(server.server_address[1])
    before = errors()
    assert not elector.try_acquire_or_renew()
    assert not elector.fence.valid()
    assert errors() == before + 1


def test_a_leader_whose_renews_hang_stops_writing_at_the_deadline(server: LeaseServer) -> None:
    elector = elector_for(server.server_address[1])
    stop = threading.Event()
    started, stopped = threading.Event(), threading.Event()
    thread = threading.Thread(
        target=elector.run, kwargs={"stop": stop, "started_leading": started.set, "stopped_leading": stopped.set}
    )
    thread.start()
    try:
        assert started.wait(5)
        assert elector.fence.valid()
        server.mode = "hang"
        hung_at = time.monotonic()
        while elector.fence.valid():
            time.sleep(0.05)
        lapsed = time.monotonic() - hung_at
        assert lapsed <= RENEW_DEADLINE + 0.1, f"the fence held {lapsed:.1f}s after renews stopped"
        assert stopped.wait(RENEW_DEADLINE + 2), "stopped_leading was not called"
        thread.join(RENEW_DEADLINE + 2)
        assert not thread.is_alive(), "run() returns once leadership is lost"
    finally:
        stop.set()
        server.released.set()
        thread.join(5)


def test_a_leader_that_sees_another_holder_stops_writing_at_once(server: LeaseServer) -> None:
    elector = elector_for(server.server_address[1])
    assert elector.try_acquire_or_renew()
    server.leases["ctl"]["spec"]["holderIdentity"] = "usurper"
    assert not elector.try_acquire_or_renew()
    assert not elector.fence.valid()
