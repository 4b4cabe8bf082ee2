"""Audit records built from outcomes, and a writer that never loses, mixes or raises."""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.server.harness import CONFIGMAPS, fixture
from tests.support.spec import V1_HASH
from webhook.admission import WebhookKind, decode_review, handle
from webhook.audit import AuditWriter, error_record, open_audit_writer, outcome_record, rfc3339
from webhook.manifests.loader import load_all
from webhook.policy import Mode
from webhook.sources.static import StaticConfigMaps, StaticNamespaceModes

TS = datetime(2026, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
CONFIGMAP_VALUE = "INFO"


def outcome(
    name: str, *, mode: Mode = Mode.ENFORCE, webhook: WebhookKind = WebhookKind.VALIDATING, **changes: Any
) -> Any:
    body = fixture(name)
    body["request"].update(changes)
    return handle(
        decode_review(body),
        webhook=webhook,
        configmaps=StaticConfigMaps.from_objects(load_all([str(CONFIGMAPS)])),
        namespaces=StaticNamespaceModes(mode),
    )


def test_record_has_every_spec_field_and_no_configmap_value() -> None:
    record = outcome_record(outcome("deployment-envfrom-create.json"), ts=TS, latency_ms=1.23456)
    assert record == {
        "ts": "2026-05-01T12:00:00.123Z",
        "webhook": "validating",
        "uid": "0f6b5a58-8e2e-4d0c-9a4e-000000000001",
        "operation": "CREATE",
        "kind": "Deployment",
        "namespace": "shop",
        "name": "web",
        "user": "kubernetes-admin",
        "dry_run": False,
        "mode": "enforce",
        "decision": "denied",
        "owned": False,
        "violations": [{"container": "app", "type": "envFrom", "configmap": "env-config"}],
        "acknowledged": False,
        "strategies": [],
        "config_hash": V1_HASH,
        "patched": False,
        "latency_ms": 1.235,
    }
    assert CONFIGMAP_VALUE not in json.dumps(record)


def test_key_and_mount_path_appear_only_where_they_apply() -> None:
    body = fixture("deployment-rollout-update.json")
    old = body["request"]["oldObject"]
    subpath = outcome_record(outcome("cronjob-subpath-create-dryrun.json"), ts=TS, latency_ms=0)
    assert subpath["violations"] == [
        {
            "container": "report",
            "type": "subPath",
            "configmap": "report-config",
            "mount_path": "/etc/report/settings.ini",
        }
    ]
    env = outcome_record(
        outcome("deployment-rollout-update.json", object=old, oldObject=None, operation="CREATE"), ts=TS, latency_ms=0
    )
    assert env["violations"] == [{"container": "api", "type": "env", "configmap": "env-config", "key": "log_level"}]


def test_invalid_annotation_carries_level_and_value() -> None:
    body = fixture("deployment-envfrom-create.json")
    obj = body["request"]["object"]
    obj["metadata"]["annotations"] = {"reload-safe.io/reload": "sometimes"}
    record = outcome_record(outcome("deployment-envfrom-create.json", object=obj), ts=TS, latency_ms=0)
    assert {
        "container": None,
        "type": "invalid-annotation",
        "configmap": None,
        "level": "workload",
        "value": "sometimes",
    } in record["violations"]


def test_generate_name_create_takes_the_name_from_the_object() -> None:
    record = outcome_record(outcome("pod-owned-create.json"), ts=TS, latency_ms=0)
    assert record["owned"] is True
    assert record["decision"] == "allowed"
    assert record["namespace"] == "shop"


def test_error_record() -> None:
    request = decode_review(fixture("deployment-envfrom-create.json"))
    record = error_record(request, webhook=WebhookKind.MUTATING, ts=TS, latency_ms=2.0, error="KeyError")
    assert record["decision"] == "error"
    assert record["error"] == "KeyError"
    assert record["webhook"] == "mutating"
    assert record["violations"] == []
    assert record["patched"] is False


def test_rfc3339_converts_to_utc() -> None:
    from datetime import timedelta, timezone

    assert rfc3339(datetime(2026, 1, 1, 1, 0, tzinfo=timezone(timedelta(hours=1)))) == "2026-01-01T00:00:00.000Z"


# --- the writer ------------------------------------------------------------------------------------


def big_record(writer_id: str, n: int) -> dict[str, Any]:
    return {"uid": f"{writer_id}-{n}", "violations": [{"container": f"c{i}", "type": "env"} for i in range(300)]}


def _write_from_threads(writer: AuditWriter, count: int, threads: int = 8) -> None:
    """`threads` request threads of one server process, each writing `count` long lines."""
    workers = [
        threading.Thread(target=lambda t=t: [writer.write(big_record(f"t{t}", n)) for n in range(count)])
        for t in range(threads)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)


def test_lines_from_threads_never_mix_in_a_file(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    writer = open_audit_writer(str(path))
    _write_from_threads(writer, 25)
    writer.close()
    lines = path.read_text().splitlines()
    assert len(lines) == 8 * 25
    assert all(len(line) > 4096 for line in lines)
    assert len({json.loads(line)["uid"] for line in lines}) == 200


def test_lines_longer_than_pipe_buf_stay_whole_in_a_pipe() -> None:
    read_end, write_end = os.pipe()
    chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: chunks.extend(iter(lambda: os.read(read_end, 65536), b"")))
    reader.start()
    _write_from_threads(AuditWriter(fd=write_end, owns_fd=False), 15)
    os.close(write_end)
    reader.join(10)
    lines = b"".join(chunks).splitlines()
    assert min(len(line) for line in lines) > 4096
    assert len(lines) == 120
    assert len({json.loads(line)["uid"] for line in lines}) == 120


def test_a_failed_write_is_reported_never_raised() -> None:
    failures: list[OSError] = []
    writer = open_audit_writer("/dev/full", on_failure=failures.append)  # every write: ENOSPC
    assert writer.write({"uid": "x"}) is False
    assert len(failures) == 1
    writer.close()


def test_a_failing_failure_callback_is_swallowed_too() -> None:
    def explode(error: OSError) -> None:
        raise RuntimeError("metrics broken")

    writer = open_audit_writer("/dev/full", on_failure=explode)
    assert writer.write({"uid": "x"}) is False


@pytest.mark.parametrize("value", ["line\nbreak", 'quote"and\\backslash', "ünïcödé ✓", "\x00nul"])
def test_any_string_stays_on_one_line(tmp_path: Path, value: str) -> None:
    path = tmp_path / "audit.jsonl"
    writer = open_audit_writer(str(path))
    writer.write({"uid": value})
    writer.close()
    (line,) = path.read_text().splitlines()
    assert json.loads(line) == {"uid": value}
