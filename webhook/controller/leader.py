"""Only one replica acts: leader election through a `coordination.k8s.io` Lease, fenced.

The client's `leaderelection` package calls the API without a request timeout and catches only
`ApiException`: a hung renew outlives the renew deadline while the leader keeps patching, and a
refused connection kills leader and standbys alike. This elector follows client-go's algorithm
(a candidate takes the Lease once its record has not changed for `lease_duration`, measured on
its own clock) with three rules of its own:

- every Lease call carries `_request_timeout` shorter than the renew deadline;
- any exception from a Lease call is logged, counted and treated as a failed attempt;
- `Fence.valid()` is true only while the last successful renew *started* less than
  `renew_deadline` ago: the reconciler checks it right before each patch, so a leader whose
  renews hang stops writing at the deadline even if this thread is still blocked.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from webhook.controller.metrics import LEADER, LEASE_ERRORS

log = logging.getLogger(__name__)

HTTP_NOT_FOUND = 404


@dataclass(frozen=True, kw_only=True)
class Election:
    namespace: str
    name: str
    identity: str
    lease_duration: int
    renew_deadline: int
    retry_period: int

    @property
    def request_timeout(self) -> float:
        """Each Lease call gives up well before the renew deadline."""
        return max(0.5, min(self.retry_period, self.renew_deadline / 3))


class Fence:
    """May this process write? Only while its last successful renew is fresh."""

    def __init__(self, *, renew_deadline: float, clock: Callable[[], float]) -> None:
        self._deadline = renew_deadline
        self._clock = clock
        self._renewed_at: float | None = None
        self._lock = threading.Lock()

    def renewed(self, *, started: float) -> None:
        with self._lock:
            self._renewed_at = started

    def drop(self) -> None:
        with self._lock:
            self._renewed_at = None

    def valid(self) -> bool:
        with self._lock:
            return self._renewed_at is not None and self._clock() - self._renewed_at < self._deadline


class LeaseElector:
    def __init__(
        self,
        *,
        api: client.CoordinationV1Api,
        election: Election,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._api = api
        self._election = election
        self._clock = clock
        self.fence = Fence(renew_deadline=election.renew_deadline, clock=clock)
        self._observed: tuple[Any, ...] | None = None
        self._observed_at = 0.0
        self.leading = False

    def try_acquire_or_renew(self) -> bool:
        """One attempt; True when this process holds the Lease afterwards. Never raises."""
        started = self._clock()
        try:
            held = self._attempt(started)
        except Exception as error:
            LEASE_ERRORS.inc()
            log.warning("Lease %s/%s: %s", self._election.namespace, self._election.name, _describe(error))
            held = False
        if held:
            self.fence.renewed(started=started)
        return held

    def run(
        self, *, stop: threading.Event, started_leading: Callable[[], None], stopped_leading: Callable[[], None]
    ) -> None:
        """Campaign until `stop`; call `stopped_leading` as soon as the fence lapses."""
        while not stop.is_set():
            held = self.try_acquire_or_renew()
            if held and not self.leading:
                self.leading = True
                LEADER.set(1)
                log.info(
                    "%s leads (Lease %s/%s)", self._election.identity, self._election.namespace, self._election.name
                )
                started_leading()
            elif self.leading and not self.fence.valid():
                self.leading = False
                self.fence.drop()
                LEADER.set(0)
                log.warning(
                    "%s stopped leading: no renew within %ss", self._election.identity, self._election.renew_deadline
                )
                stopped_leading()
                return
            stop.wait(self._election.retry_period)

    def _attempt(self, now: float) -> bool:
        election = self._election
        timeout = election.request_timeout
        try:
            lease: client.V1Lease = self._api.read_namespaced_lease(
                election.name, election.namespace, _request_timeout=timeout
            )
        except ApiException as error:
            if error.status != HTTP_NOT_FOUND:
                raise
            body = client.V1Lease(
                metadata=client.V1ObjectMeta(name=election.name, namespace=election.namespace),
                spec=self._spec(transitions=0, acquired=datetime.now(UTC)),
            )
            self._api.create_namespaced_lease(election.namespace, body, _request_timeout=timeout)
            return True
        spec = lease.spec or client.V1LeaseSpec()
        record = (spec.holder_identity, spec.renew_time, spec.lease_transitions)
        if record != self._observed:
            self._observed, self._observed_at = record, now
        holder = spec.holder_identity
        mine = holder == election.identity
        if holder and not mine:
            self.fence.drop()  # someone else holds it: whatever we believed, stop writing now
            if now - self._observed_at < (spec.lease_duration_seconds or election.lease_duration):
                return False
        transitions = (spec.lease_transitions or 0) + (0 if mine else 1)
        acquired = spec.acquire_time if mine and spec.acquire_time else datetime.now(UTC)
        lease.spec = self._spec(transitions=transitions, acquired=acquired)
        self._api.replace_namespaced_lease(election.name, election.namespace, lease, _request_timeout=timeout)
        return True

    def _spec(self, *, transitions: int, acquired: datetime) -> client.V1LeaseSpec:
        return client.V1LeaseSpec(
            holder_identity=self._election.identity,
            lease_duration_seconds=self._election.lease_duration,
            acquire_time=acquired,
            renew_time=datetime.now(UTC),
            lease_transitions=transitions,
        )


def lease_api(configuration: client.Configuration) -> client.CoordinationV1Api:
    """A Lease client that never retries on its own: urllib3's default retries would turn one
    timed-out call into four, past the renew deadline."""
    own = copy.copy(configuration)
    own.retries = False
    return client.CoordinationV1Api(client.ApiClient(own))


def run_as_leader(
    *, configuration: client.Configuration, election: Election, work: Callable[[Fence, threading.Event], None]
) -> None:
    """Block until this process leads, run `work` while it does; return when leadership ends.

    `work` gets the fence to check before each write and an event set when leadership ends."""
    elector = LeaseElector(api=lease_api(configuration), election=election)
    done = threading.Event()
    stop_work = threading.Event()
    failed: list[BaseException] = []

    def lead() -> None:
        def body() -> None:
            try:
                work(elector.fence, stop_work)
            except BaseException as error:
                failed.append(error)
                log.exception("the controller stopped")
            finally:
                done.set()

        threading.Thread(target=body, name="controller", daemon=True).start()

    def stopped() -> None:
        stop_work.set()

    log.info("%s waiting for Lease %s/%s", election.identity, election.namespace, election.name)
    elector.run(stop=done, started_leading=lead, stopped_leading=stopped)
    stop_work.set()
    LEADER.set(0)
    if failed:
        raise RuntimeError("the controller stopped") from failed[0]


def _describe(error: Exception) -> str:
    if isinstance(error, ApiException):
        return f"HTTP {error.status} {error.reason}"
    return type(error).__name__
