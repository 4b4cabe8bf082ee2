"""Clients and process probes shared by the reliability tests.

- `Exchange` / `exchange`: one request on a fresh verified TLS connection, with everything
  that can go wrong classified instead of raised (a fuzz run counts outcomes, it must not stop
  at the first odd one);
- `SteadyLoad`: a fixed request rate from a few threads, bounded in time, recording each
  outcome, uid and latency (the soak and the fault tests);
- `/proc` readers: the gunicorn master's workers and their resident memory.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.server.harness import HOST, SERVER_NAME, Server
from tests.support.polling import eventually

# --- one request ---------------------------------------------------------------------------

OK = "ok"
TIMEOUT = "timeout"  # the server said nothing for the client's whole timeout: a hang
RESET = "reset"  # the connection was closed or reset without an HTTP answer
TLS_REFUSED = "tls-refused"


@dataclass
class Exchange:
    outcome: str
    status: int = 0
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    seconds: float = 0.0

    def json(self) -> Any:
        return json.loads(self.body)


def exchange(
    server: Server,
    method: str,
    path: str,
    body: bytes | Iterator[bytes] | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    timeout: float = 20.0,
    context: ssl.SSLContext | None = None,
) -> Exchange:
    """One request on a new connection (closed after), classified."""
    started = time.monotonic()
    conn = server.connection(timeout=timeout, context=context)
    try:
        all_headers = {"Connection": "close", **(headers or {})}
        conn.request(method, path, body=body, headers=all_headers, encode_chunked=not isinstance(body, bytes | None))
        response = conn.getresponse()
        data = response.read()
        return Exchange(OK, response.status, dict(response.getheaders()), data, time.monotonic() - started)
    except TimeoutError:
        return Exchange(TIMEOUT, seconds=time.monotonic() - started)
    except ssl.SSLError as error:
        outcome = RESET if "EOF" in str(error) or "closed" in str(error).lower() else TLS_REFUSED
        return Exchange(outcome, seconds=time.monotonic() - started)
    except (OSError, http.client.HTTPException):
        return Exchange(RESET, seconds=time.monotonic() - started)
    finally:
        conn.close()


def post_review(server: Server, body: bytes, *, endpoint: str = "/validate", timeout: float = 20.0) -> Exchange:
    return exchange(server, "POST", endpoint, body, headers={"Content-Type": "application/json"}, timeout=timeout)


def tls_socket(server: Server, *, timeout: float = 10.0) -> ssl.SSLSocket:
    raw = socket.create_connection((HOST, server.port), timeout=timeout)
    return server.client_context().wrap_socket(raw, server_hostname=SERVER_NAME)


# --- a steady rate ---------------------------------------------------------------------------


@dataclass
class LoadResult:
    sent: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    answered_uids: set[str] = field(default_factory=set)
    wrong_uid: int = 0
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    late: int = 0
    """Requests that could not be sent on schedule (the clients fell behind)."""

    @property
    def errors(self) -> int:
        return self.sent - self.statuses[200] + self.wrong_uid

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class SteadyLoad:
    """`rate` requests per second, spread over `threads` clients, for at most `seconds`.

    Each request is made by `make(n)` → (uid, body, endpoint) and sent on a new connection,
    as the API server does when it has no idle connection. Bounded: it stops at `seconds`
    or at `stop()`, whichever comes first, and always sends to loopback.
    """

    def __init__(
        self,
        server: Server,
        *,
        rate: float,
        seconds: float,
        make: Callable[[int], tuple[str, bytes, str]],
        threads: int = 4,
        timeout: float = 10.0,
        keep_failures: int = 50,
    ) -> None:
        self.server = server
        self.rate = rate
        self.seconds = seconds
        self.make = make
        self.threads = threads
        self.timeout = timeout
        self.keep_failures = keep_failures
        self.result = LoadResult()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._next = 0
        self._workers: list[threading.Thread] = []
        self.started = 0.0
        self.timeline: list[tuple[float, str, int]] = []
        """(seconds since start, outcome, status) of every request, in completion order."""

    def __enter__(self) -> SteadyLoad:
        self.started = time.monotonic()
        self._workers = [threading.Thread(target=self._run, daemon=True) for _ in range(self.threads)]
        for worker in self._workers:
            worker.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop(self) -> LoadResult:
        self._stop.set()
        for worker in self._workers:
            worker.join(self.timeout + 5)
        return self.result

    def wait(self) -> LoadResult:
        for worker in self._workers:
            worker.join(self.seconds + self.timeout + 5)
        return self.result

    def _claim(self) -> int | None:
        with self._lock:
            n = self._next
            self._next += 1
        due = self.started + n / self.rate
        if due - self.started >= self.seconds:
            return None
        delay = due - time.monotonic()
        if delay > 0:
            if self._stop.wait(delay):
                return None
        elif delay < -1.0:
            with self._lock:
                self.result.late += 1
        return None if self._stop.is_set() else n

    def _run(self) -> None:
        while (n := self._claim()) is not None:
            uid, body, endpoint = self.make(n)
            answer = post_review(self.server, body, endpoint=endpoint, timeout=self.timeout)
            with self._lock:
                result = self.result
                result.sent += 1
                result.outcomes[answer.outcome] += 1
                self.timeline.append((time.monotonic() - self.started, answer.outcome, answer.status))
                if answer.outcome == OK:
                    result.statuses[answer.status] += 1
                    result.latencies.append(answer.seconds)
                if answer.outcome == OK and answer.status == 200:
                    try:
                        got = answer.json()["response"]["uid"]
                    except (ValueError, KeyError, TypeError):
                        got = None
                    if got == uid:
                        result.answered_uids.add(uid)
                    else:
                        result.wrong_uid += 1
                elif len(result.failures) < self.keep_failures:
                    result.failures.append(f"{uid}: {answer.outcome} {answer.status} {answer.body[:200]!r}")


# --- processes -------------------------------------------------------------------------------


def children(pid: int) -> list[int]:
    """Direct children of `pid` (gunicorn's workers, for the master)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return sorted(found)


def rss_bytes(pid: int) -> int:
    """Resident set size of one process, from /proc (0 if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return 0
    return 0


def tree_rss(pid: int) -> int:
    """The master's and its workers' resident memory together."""
    return rss_bytes(pid) + sum(rss_bytes(child) for child in children(pid))


def open_fds(pid: int) -> int:
    try:
        return len(list(Path(f"/proc/{pid}/fd").iterdir()))
    except OSError:
        return 0


def metric(samples: Mapping[str, float], name: str, **labels: str) -> float:
    """Sum of the samples of `name` whose labels include `labels`."""
    total = 0.0
    for key, value in samples.items():
        base, _, rest = key.partition("{")
        if base != name:
            continue
        if all(f'{k}="{v}"' in rest for k, v in labels.items()):
            total += value
    return total


def wait_workers(server: Server, count: int, *, timeout: float = 30.0) -> list[int]:
    """The master's workers, once there are `count` of them and each has finished booting.

    `wait_ready` returns when one worker answers; the others may still be importing.
    """
    pids = eventually(
        lambda: children(server.process.pid),
        until=lambda pids: len(pids) == count and server.stderr().count("Booting worker") >= count,
        timeout=timeout,
        interval=0.1,
        what=f"{count} booted workers",
    )
    time.sleep(0.5)  # past the fork, through the app import
    return pids
