"""What a client or a fault cannot do: crash a worker, hang it, or get an answer that isn't JSON."""

from __future__ import annotations

import json
import socket
import ssl
import sys
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.server.fault_serve import FAIL_ANNOTATION, SECRET
from tests.server.harness import HOST, SERVER_NAME, Pki, Server, audit_lines, fixture, fixture_bytes
from webhook.server.sockets import IO_TIMEOUT

pytestmark = pytest.mark.server


def failing_review(uid: str) -> bytes:
    body = fixture("deployment-envfrom-create.json")
    body["request"]["uid"] = uid
    body["request"]["object"]["metadata"]["annotations"] = {FAIL_ANNOTATION: "yes"}
    return json.dumps(body).encode()


def test_internal_failure_is_500_json_audited_and_survived(start_server: Callable[..., Server], tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    server = start_server(
        "--audit-file", str(audit), "--workers", "1",
        command=[sys.executable, str(Path(__file__).with_name("fault_serve.py")), "serve"],
        env={"PYTHONPATH": str(Path(__file__).parents[2])},
    )  # fmt: skip
    for endpoint in ("/mutate", "/validate"):
        response = server.post(endpoint, failing_review("boom-1"))
        assert response.status == 500
        assert response.headers["Content-Type"] == "application/json"
        assert set(response.json()) == {"error"}
        assert SECRET not in response.body.decode()

    # The same worker (only one) keeps serving.
    after = server.post("/validate", fixture_bytes("deployment-envfrom-create.json", uid="after-1"))
    assert after.status == 200
    assert server.get("/healthz").status == 200

    errors = [line for line in audit_lines(audit) if line["uid"] == "boom-1"]
    assert [line["decision"] for line in errors] == ["error", "error"]
    assert {line["webhook"] for line in errors} == {"mutating", "validating"}
    assert {line["error"] for line in errors} == {"RuntimeError"}
    assert [line["decision"] for line in audit_lines(audit) if line["uid"] == "after-1"] == ["warned"]
    samples = server.metrics()
    key = (
        'reload_safe_admission_requests_total{decision="error",endpoint="validate",'
        'kind="Deployment",mode="",operation="CREATE"}'
    )
    assert samples[key] == 1
    stderr = server.stderr()
    assert "internal error answering validating review uid=boom-1: RuntimeError" in stderr
    assert SECRET not in stderr  # exception messages are never logged: they could quote input
    assert stderr.count("Booting worker") == 1


def test_stalled_clients_cannot_hold_the_threads(start_server: Callable[..., Server]) -> None:
    """More stalled connections than threads; each is cut off, and real requests get through."""
    server = start_server("--workers", "1", "--threads", "2")
    context = server.client_context()
    stalled: list[ssl.SSLSocket | socket.socket] = []
    half_line = context.wrap_socket(socket.create_connection((HOST, server.port)), server_hostname=SERVER_NAME)
    half_line.sendall(b"POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: appl")
    half_body = context.wrap_socket(socket.create_connection((HOST, server.port)), server_hostname=SERVER_NAME)
    half_body.sendall(b"POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 1000\r\n\r\n{\"apiVersion\": ")  # fmt: skip
    half_handshake = socket.create_connection((HOST, server.port))
    half_handshake.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
    stalled += [half_line, half_body, half_handshake]  # three stalls, two threads

    started = time.monotonic()
    response = server.post("/validate", fixture_bytes("deployment-envfrom-create.json", uid="through"))
    waited = time.monotonic() - started
    assert response.status == 200
    assert waited < IO_TIMEOUT * 2 + 2  # at worst two rounds of stalls, each cut at IO_TIMEOUT

    for sock in stalled:  # the server has closed (or answered and closed) every one of them
        sock.settimeout(IO_TIMEOUT * 2 + 5)
        try:
            while sock.recv(4096):
                pass
        except (ConnectionResetError, ssl.SSLError):
            pass
        sock.close()
    assert time.monotonic() - started < IO_TIMEOUT * 3 + 5
    assert server.get("/healthz").status == 200


def test_client_certificate_required_with_client_ca(
    start_server: Callable[..., Server], pki: Pki, tmp_path: Path
) -> None:
    client = pki.client(tmp_path / "client")
    server = start_server("--client-ca-file", str(pki.ca_file), client_cert=client)
    assert server.post("/validate", fixture_bytes("deployment-envfrom-create.json")).status == 200

    anonymous = server.client_context(with_client_cert=False)
    with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):  # noqa: PT012
        conn = server.connection(context=anonymous)
        conn.request("GET", "/healthz")
        conn.getresponse().read()

    other = Pki(tmp_path / "other-ca")
    stranger = server.client_context(with_client_cert=False)
    stranger.load_cert_chain(*map(str, other.client(tmp_path / "stranger")))
    with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):  # noqa: PT012
        conn = server.connection(context=stranger)
        conn.request("GET", "/healthz")
        conn.getresponse().read()


def test_tls_1_1_and_weak_ciphers_are_refused(mode_servers: dict[str, Server]) -> None:
    server = mode_servers["warn"]
    old = server.client_context()
    old.set_ciphers("DEFAULT:@SECLEVEL=0")  # the client would speak TLS 1.1: the server refuses
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        old.minimum_version = ssl.TLSVersion.TLSv1
        old.maximum_version = ssl.TLSVersion.TLSv1_1
    with pytest.raises(ssl.SSLError, match="ALERT_PROTOCOL_VERSION"):
        server.connection(context=old).connect()

    cbc = server.client_context()
    cbc.maximum_version = ssl.TLSVersion.TLSv1_2
    cbc.set_ciphers("ECDHE-ECDSA-AES128-SHA:AES128-SHA")  # no forward secrecy / no AEAD
    with pytest.raises(ssl.SSLError, match="HANDSHAKE_FAILURE"):
        server.connection(context=cbc).connect()

    tls12 = server.client_context()
    tls12.maximum_version = ssl.TLSVersion.TLSv1_2
    conn = server.connection(context=tls12)
    conn.connect()
    assert conn.sock.version() == "TLSv1.2"
    conn.close()


def test_audit_lines_on_stdout_are_whole_under_concurrency(start_server: Callable[..., Server]) -> None:
    """Lines longer than PIPE_BUF from many threads of the one server process into one pipe stay whole."""
    server = start_server("--threads", "4", stdout_pipe=True)
    body = fixture("deployment-envfrom-create.json")
    containers = body["request"]["object"]["spec"]["template"]["spec"]["containers"]
    base = containers[0]
    containers[:] = [
        {
            **base,
            "name": f"container-{i:03d}",
            "envFrom": [{"configMapRef": {"name": f"config-{j:03d}"}} for j in range(4)],
        }
        for i in range(40)
    ]  # 160 violations: about 12 KB per audit line
    lines: list[bytes] = []
    reader = threading.Thread(target=lambda: lines.extend(server.process.stdout or []))
    reader.start()

    sent: list[str] = []
    lock = threading.Lock()

    def run(index: int) -> None:
        for n in range(15):
            uid = f"big-{index}-{n}"
            body["request"]["uid"] = uid
            payload = json.dumps(body).encode()
            assert server.post("/validate", payload).status == 200
            with lock:
                sent.append(uid)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert server.stop() == 0
    reader.join(10)

    records = [json.loads(line) for line in lines]  # raises if any line was cut or interleaved
    assert min(len(line) for line in lines) > 4096
    assert sorted(r["uid"] for r in records) == sorted(sent)
    assert all(len(r["violations"]) == 160 for r in records)
