"""Real `reload-safe serve` processes answering recorded AdmissionReviews over verified TLS."""

from __future__ import annotations

import base64
import json
import re
import time
from typing import Any

import pytest

from tests.server.harness import Server, audit_lines, fixture, fixture_bytes
from tests.support.polling import consistently, eventually
from tests.support.spec import V1_HASH

pytestmark = pytest.mark.server

ENV_CONFIG_HASH = V1_HASH  # SPEC test vector
AUDIT_FIELDS = {
    "ts", "uid", "operation", "kind", "namespace", "name", "user", "dry_run", "mode", "decision",
    "owned", "violations", "acknowledged", "strategies", "config_hash", "patched", "latency_ms", "webhook",
}  # fmt: skip


def review(server: Server, endpoint: str, name: str, uid: str) -> dict[str, Any]:
    response = server.post(endpoint, fixture_bytes(name, uid=uid))
    assert response.status == 200, response.body
    assert response.headers["Content-Type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert body["apiVersion"] == "admission.k8s.io/v1"
    assert body["kind"] == "AdmissionReview"
    assert body["response"]["uid"] == uid
    answer: dict[str, Any] = body["response"]
    return answer


def _lines_of(server: Server, uid: str) -> list[dict[str, Any]]:
    return [line for line in audit_lines(server.workdir / "audit.jsonl") if line["uid"] == uid]


def audit_for(server: Server, uid: str, *, expected: int = 2, timeout: float = 5.0) -> list[dict[str, Any]]:
    """The audit lines of one review, once `expected` are written (they follow the answer)."""
    return eventually(
        lambda: _lines_of(server, uid),
        until=lambda lines: len(lines) >= expected,
        timeout=timeout,
        what=f"{expected} audit lines for {uid}",
    )


def assert_no_audit_line(server: Server, uid: str) -> None:
    """None is written, for as long as one would take to appear (lines follow the answer)."""
    consistently(
        lambda: _lines_of(server, uid), until=lambda lines: lines == [], duration=0.5, what=f"no line for {uid}"
    )


def patch_of(response: dict[str, Any]) -> list[dict[str, Any]]:
    assert response["patchType"] == "JSONPatch"
    patch: list[dict[str, Any]] = json.loads(base64.b64decode(response["patch"]))
    return patch


# --- each mode ------------------------------------------------------------------------------

EXPECTED = {
    # mode: (mutating patches?, validating allowed, warnings, mutating decision, validating decision)
    "enforce": (True, False, 0, "allowed", "denied"),
    "warn": (True, True, 1, "allowed", "warned"),
    "audit": (False, True, 0, "allowed", "allowed"),
    "off": (False, True, 0, None, None),
}


@pytest.mark.parametrize("mode", list(EXPECTED))
def test_envfrom_deployment_in_each_mode(mode_servers: dict[str, Server], mode: str) -> None:
    server = mode_servers[mode]
    patches, allowed, warnings, mutating_decision, validating_decision = EXPECTED[mode]
    uid = f"envfrom-{mode}"

    mutated = review(server, "/mutate", "deployment-envfrom-create.json", uid)
    validated = review(server, "/validate", "deployment-envfrom-create.json", uid)

    assert mutated["allowed"] is True
    if patches:
        (operation,) = patch_of(mutated)
        assert operation["path"] == "/spec/template/metadata/annotations"
        assert operation["value"] == {"reload-safe.io/config-hash": ENV_CONFIG_HASH}
    else:
        assert "patch" not in mutated
    assert validated["allowed"] is allowed
    assert len(validated.get("warnings", [])) == warnings
    if not allowed:
        assert validated["status"]["code"] == 403
        assert validated["status"]["reason"] == "Forbidden"
        assert "env-config" in validated["status"]["message"]
    assert validated["auditAnnotations"]["decision"] == (validating_decision or "skipped")

    if mode == "off":
        assert_no_audit_line(server, uid)  # skipped requests are audited only at debug level
        return
    lines = audit_for(server, uid, expected=2)
    by_webhook = {line["webhook"]: line for line in lines}
    assert set(by_webhook) == {"mutating", "validating"}
    for line in lines:
        assert set(line) >= AUDIT_FIELDS
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["ts"])
        assert line["mode"] == mode
        assert line["kind"] == "Deployment"
        assert line["operation"] == "CREATE"
        assert (line["namespace"], line["name"], line["user"]) == ("shop", "web", "kubernetes-admin")
        assert line["violations"] == [{"container": "app", "type": "envFrom", "configmap": "env-config"}]
        assert line["config_hash"] == ENV_CONFIG_HASH
        assert line["latency_ms"] >= 0
    assert by_webhook["mutating"]["decision"] == mutating_decision
    assert by_webhook["mutating"]["patched"] is patches
    assert by_webhook["validating"]["decision"] == validating_decision
    assert by_webhook["validating"]["patched"] is False


def test_safe_volume_is_allowed_and_hashed(mode_servers: dict[str, Server]) -> None:
    server = mode_servers["enforce"]
    mutated = review(server, "/mutate", "deployment-volume-create.json", "volume-1")
    validated = review(server, "/validate", "deployment-volume-create.json", "volume-1")
    (operation,) = patch_of(mutated)
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", operation["value"]["reload-safe.io/config-hash"])
    assert validated["allowed"] is True
    assert "warnings" not in validated


def test_update_with_rollout_strategy_is_allowed(mode_servers: dict[str, Server]) -> None:
    server = mode_servers["enforce"]
    validated = review(server, "/validate", "deployment-rollout-update.json", "update-1")
    assert validated["allowed"] is True
    (line,) = audit_for(server, "update-1", expected=1)
    assert line["operation"] == "UPDATE"
    assert line["strategies"] == ["rollout"]
    assert line["violations"] == []


def test_owned_pod_is_audited_but_never_denied(mode_servers: dict[str, Server]) -> None:
    server = mode_servers["enforce"]
    mutated = review(server, "/mutate", "pod-owned-create.json", "owned-1")
    validated = review(server, "/validate", "pod-owned-create.json", "owned-1")
    assert "patch" not in mutated
    assert validated["allowed"] is True
    assert "warnings" not in validated
    lines = audit_for(server, "owned-1")
    assert {line["owned"] for line in lines} == {True}
    assert {line["decision"] for line in lines} == {"allowed"}
    assert all(line["violations"] for line in lines)


def test_delete_is_skipped_without_an_audit_line(mode_servers: dict[str, Server]) -> None:
    server = mode_servers["enforce"]
    validated = review(server, "/validate", "deployment-delete.json", "delete-1")
    assert validated["allowed"] is True
    assert validated["auditAnnotations"] == {"decision": "skipped", "violations": "0"}
    assert_no_audit_line(server, "delete-1")


def test_dry_run_is_evaluated_and_marked(mode_servers: dict[str, Server]) -> None:
    server = mode_servers["enforce"]
    validated = review(server, "/validate", "cronjob-subpath-create-dryrun.json", "dry-1")
    assert validated["allowed"] is False
    (line,) = audit_for(server, "dry-1", expected=1)
    assert line["dry_run"] is True
    assert line["violations"] == [
        {
            "container": "report",
            "type": "subPath",
            "configmap": "report-config",
            "mount_path": "/etc/report/settings.ini",
        }
    ]


def test_malformed_object_in_a_good_envelope_is_answered(mode_servers: dict[str, Server]) -> None:
    server = mode_servers["enforce"]
    for endpoint in ("/mutate", "/validate"):
        response = review(server, endpoint, "deployment-malformed-create.json", "malformed-1")
        assert response["allowed"] is True


# --- bad input --------------------------------------------------------------------------------


def assert_error(response: Any, status: int) -> str:
    assert response.status == status, response.body
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    assert isinstance(body["error"], str)
    assert body["error"]
    message: str = body["error"]
    return message


GOOD = fixture("deployment-envfrom-create.json")


def envelope(**changes: Any) -> bytes:
    body = json.loads(json.dumps(GOOD))
    for key, value in changes.items():
        if key == "uid":
            body["request"]["uid"] = value
        elif value is None:
            body.pop(key)
        else:
            body[key] = value
    return json.dumps(body).encode()


def without_uid() -> bytes:
    body = json.loads(json.dumps(GOOD))
    del body["request"]["uid"]
    return json.dumps(body).encode()


BAD_BODIES = {
    "not json": b"{this is not json",
    "not utf-8": b"\xff\xfe{}",
    "empty": b"",
    "json array": b"[1, 2, 3]",
    "json string": b'"AdmissionReview"',
    "v1beta1": envelope(apiVersion="admission.k8s.io/v1beta1"),
    "wrong kind": envelope(kind="ConversionReview"),
    "no request": envelope(request=None),
    "missing uid": without_uid(),
    "numeric uid": envelope(uid=12345),
    "empty uid": envelope(uid=""),
    "deeply nested": b"[" * 100_000 + b"]" * 100_000,
}


@pytest.mark.parametrize("case", list(BAD_BODIES))
def test_bad_envelope_is_400(mode_servers: dict[str, Server], case: str) -> None:
    server = mode_servers["warn"]
    for endpoint in ("/mutate", "/validate"):
        assert_error(server.post(endpoint, BAD_BODIES[case]), 400)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/yaml", None])
def test_wrong_content_type_is_400(mode_servers: dict[str, Server], content_type: str | None) -> None:
    server = mode_servers["warn"]
    response = server.request(
        "POST", "/validate", fixture_bytes("deployment-envfrom-create.json"), content_type=content_type
    )
    assert "application/json" in assert_error(response, 400)


def test_json_content_type_with_charset_is_accepted(mode_servers: dict[str, Server]) -> None:
    server = mode_servers["warn"]
    response = server.post(
        "/validate", fixture_bytes("deployment-envfrom-create.json"), content_type="application/json; charset=utf-8"
    )
    assert response.status == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/mutate"), ("PUT", "/validate"), ("DELETE", "/mutate"), ("PATCH", "/validate"),
     ("OPTIONS", "/mutate"), ("POST", "/healthz"), ("POST", "/metrics")],
)  # fmt: skip
def test_other_methods_are_405(mode_servers: dict[str, Server], method: str, path: str) -> None:
    server = mode_servers["warn"]
    response = server.request(method, path, b"{}" if method != "GET" else None)
    assert_error(response, 405)
    assert "Allow" in response.headers


def test_unknown_path_is_404_json(mode_servers: dict[str, Server]) -> None:
    assert_error(mode_servers["warn"].get("/nope"), 404)


def test_announced_body_over_7_mib_is_413_before_reading(mode_servers: dict[str, Server]) -> None:
    server = mode_servers["warn"]
    conn = server.connection()
    try:
        conn.putrequest("POST", "/validate")
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", str(7 * 1024 * 1024 + 1))
        conn.endheaders(b'{"apiVersion": ')  # a few bytes, then wait: the answer must not need the rest
        response = conn.getresponse()
        assert response.status == 413
        assert set(json.loads(response.read())) == {"error"}
    finally:
        conn.close()


def test_chunked_body_over_7_mib_is_413_after_reading_the_limit(mode_servers: dict[str, Server]) -> None:
    server = mode_servers["warn"]
    conn = server.connection()
    chunk = b" " * (1024 * 1024)
    try:
        conn.putrequest("POST", "/validate")
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        try:
            for _ in range(9):
                conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            conn.send(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may close as soon as it has answered
        response = conn.getresponse()
        assert response.status == 413
        assert set(json.loads(response.read())) == {"error"}
    finally:
        conn.close()


def test_body_of_exactly_7_mib_is_accepted(mode_servers: dict[str, Server]) -> None:
    server = mode_servers["warn"]
    body = fixture_bytes("deployment-envfrom-create.json", uid="big-1")
    padded = body + b" " * (7 * 1024 * 1024 - len(body))
    assert len(padded) == 7 * 1024 * 1024
    response = server.post("/validate", padded)
    assert response.status == 200
    assert response.json()["response"]["uid"] == "big-1"


def test_no_bad_input_takes_the_server_down(start_server: Any) -> None:
    """Every kind of bad input above, on a server of its own: each is answered, and the one
    worker that booted is still the one serving, with no traceback in its log."""
    server = start_server("--namespace-policy", "warn")
    for case, bad in BAD_BODIES.items():
        for endpoint in ("/mutate", "/validate"):
            assert server.post(endpoint, bad).status == 400, case
    assert server.request("POST", "/validate", b"{}", content_type="text/plain").status == 400
    assert server.request("PUT", "/validate", b"{}").status == 405
    assert server.get("/nope").status == 404
    conn = server.connection()
    try:
        conn.putrequest("POST", "/validate")
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", str(7 * 1024 * 1024 + 1))
        conn.endheaders(b"{")
        assert conn.getresponse().status == 413
    finally:
        conn.close()
    assert review(server, "/validate", "deployment-envfrom-create.json", "after-bad-input")["allowed"] is True
    assert server.stderr().count("Booting worker") == 1
    assert "Traceback" not in server.stderr()


# --- health, readiness, metrics -----------------------------------------------------------------


def test_health_and_readiness(mode_servers: dict[str, Server]) -> None:
    server = mode_servers["audit"]
    assert server.get("/healthz").json() == {"status": "ok"}
    assert server.get("/readyz").json() == {"status": "ready"}


def test_metrics_count_every_answer(mode_servers: dict[str, Server]) -> None:
    """The one server process counts each review it answers; every scrape sees all of them.
    Counted as a difference, so other tests' reviews on this shared server do not matter."""
    server = mode_servers["audit"]
    key = (
        'reload_safe_admission_requests_total{decision="allowed",endpoint="validate",'
        'kind="Deployment",mode="audit",operation="CREATE"}'
    )
    violations = 'reload_safe_admission_violations_total{endpoint="validate",type="envFrom"}'
    count = 'reload_safe_admission_duration_seconds_count{endpoint="validate"}'
    before = server.metrics()
    for i in range(20):
        review(server, "/validate", "deployment-envfrom-create.json", f"metrics-{i}")
    seen = [server.metrics() for _ in range(6)]  # new connections each time
    for samples in seen:
        assert samples[key] - before.get(key, 0) == 20
        assert samples[violations] - before.get(violations, 0) == 20
        assert samples[count] - before.get(count, 0) == 20
        assert samples['reload_safe_cache_synced{cache="configmaps"}'] == 1
        assert samples['reload_safe_cache_synced{cache="namespaces"}'] == 1
        assert samples['reload_safe_cache_objects{cache="configmaps"}'] == 3
        assert samples["reload_safe_certificate_expiry_timestamp_seconds"] > time.time() + 20 * 86400
    assert len({samples[key] for samples in seen}) == 1


def test_skipped_requests_are_audited_at_debug_level(start_server: Any, tmp_path: Any) -> None:
    audit = tmp_path / "audit.jsonl"
    server = start_server(
        "--log-level", "debug", "--own-namespace", "shop", "--audit-file", str(audit), "--workers", "1"
    )  # fmt: skip
    own = review(server, "/validate", "deployment-envfrom-create.json", "own-1")  # namespace shop: ours
    assert own["auditAnnotations"]["decision"] == "skipped"
    review(server, "/validate", "deployment-delete.json", "delete-2")
    lines = {line["uid"]: line for line in audit_lines(audit)}
    assert lines["own-1"]["decision"] == "skipped"
    assert lines["own-1"]["mode"] == "off"
    assert lines["delete-2"]["decision"] == "skipped"
    assert lines["delete-2"]["operation"] == "DELETE"


@pytest.mark.parametrize(
    ("headers", "path", "status"),
    [
        ({"X-Big": "x" * 10_000}, "/validate", 431),  # a header field over 8 KiB
        ({f"X-H{i}": "v" for i in range(60)}, "/validate", 431),  # more than 50 fields
        ({}, "/validate?" + "q" * 5000, 414),  # a request line over 4 KiB
    ],
)
def test_oversized_request_heads_are_refused_by_gunicorn(
    mode_servers: dict[str, Server], headers: dict[str, str], path: str, status: int
) -> None:
    server = mode_servers["audit"]
    response = server.request("POST", path, b"{}", headers=headers)
    assert response.status == status
    assert server.get("/healthz").status == 200
