"""Faults inside the webhook's own process and host: a worker killed, the audit disk full.

(Certificate rotation under load and SIGTERM under load are tested in tests/server:
`test_rotation.py` and `test_shutdown.py`; docs/reliability.md quotes their figures.)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.reliability.figures import record
from tests.reliability.probes import SteadyLoad, children, metric, wait_workers
from tests.reliability.reviews import review, rich_object
from tests.server.fixtures_shared import StartServer
from tests.server.harness import audit_lines

pytestmark = pytest.mark.server


def make(prefix: str) -> Callable[[int], tuple[str, bytes, str]]:
    def build(n: int) -> tuple[str, bytes, str]:
        uid = f"{prefix}-{n}"
        body = json.dumps(review(rich_object("Deployment"), uid=uid)).encode()
        return uid, body, "/mutate" if n % 2 else "/validate"

    return build


def test_a_killed_worker_is_replaced_and_the_server_keeps_serving(start_server: StartServer, tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    server = start_server("--audit-file", str(audit))
    first = wait_workers(server, 1)
    with SteadyLoad(server, rate=60, seconds=9, make=make("kill")) as load:
        time.sleep(3)
        os.kill(first[0], signal.SIGKILL)
        killed_at = time.monotonic() - load.started
        load.wait()
    result = load.result
    after = children(server.process.pid)
    failed_at = [round(t - killed_at, 2) for t, outcome, status in load.timeline if outcome != "ok" or status != 200]
    served_after = sum(1 for t, o, s in load.timeline if t > killed_at + 1 and o == "ok" and s == 200)
    stderr = server.stderr()
    record(
        "fault: worker SIGKILLed under 60 req/s",
        requests=result.sent,
        failed=result.errors,
        failed_within_s_of_kill=max(failed_at, default=0),
        answered_after_kill=served_after,
        workers_after=len(after),
        replaced=first[0] not in after,
    )
    assert len(after) == 1
    assert first[0] not in after  # gunicorn booted a replacement
    assert "was sent SIGKILL" in stderr or "was sent code" in stderr or "SIGKILL" in stderr
    # Only requests the killed worker held can fail: none once it is gone (the listening socket
    # stays open in the master, so requests sent while the replacement boots wait in its backlog).
    assert all(delay < 1.0 for delay in failed_at)
    assert result.errors <= 8  # the few in flight at 60 req/s when the worker died
    assert served_after > 200
    answered = result.answered_uids
    assert answered <= {line["uid"] for line in audit_lines(audit)}


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 512 KiB tmpfs: a real ENOSPC, with short writes at the edge. Needs root (CI is)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount)], capture_output=True, check=False
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_audit_on_a_full_disk(start_server: StartServer, small_disk: Path) -> None:
    audit = small_disk / "audit.jsonl"
    (small_disk / "filler").write_bytes(b"x" * (512 - 96) * 1024)  # about 96 KiB left: ~200 lines
    server = start_server("--audit-file", str(audit))
    wait_workers(server, 1)
    with SteadyLoad(server, rate=80, seconds=6, make=make("full")) as load:
        load.wait()
    result = load.result
    samples = server.metrics()
    failures = metric(samples, "reload_safe_audit_write_failures_total")
    raw = audit.read_bytes()
    lines = raw.split(b"\n")
    whole = [json.loads(line) for line in lines[:-1]]  # raises if a complete line is broken
    tail = lines[-1]
    stderr = server.stderr()
    record(
        "fault: audit file on a full disk (512 KiB tmpfs)",
        requests=result.sent,
        answered_200=result.statuses[200],
        audit_lines_written=len(whole),
        write_failures_metric=failures,
        partial_tail_bytes=len(tail),
        logged=stderr.count("audit log write failed"),
    )
    assert result.errors == 0  # every request answered as decided
    assert failures > 0
    assert len(whole) + failures == result.sent  # every line either whole on disk or counted as failed
    assert tail == b""  # no half line left behind: nothing claims to be written that is not
    assert "audit log write failed" in stderr
    assert {line["uid"] for line in whole} <= result.answered_uids

    # Space comes back: the next lines land whole, none glued to a fragment of an earlier one.
    (small_disk / "filler").unlink()
    with SteadyLoad(server, rate=40, seconds=2, make=make("recovered")) as again:
        again.wait()
    recovered = [json.loads(line) for line in audit.read_text().splitlines()]
    assert len(recovered) == len(whole) + again.result.sent
    assert {r["uid"] for r in recovered[len(whole) :]} == again.result.answered_uids
