"""Only one replica acts: leader election through a `coordination.k8s.io` Lease.

Uses the official client's `leaderelection` (the same algorithm as client-go: a candidate
takes the Lease when its holder stopped renewing it for `lease_duration`). The leader runs the
controller; when it cannot renew within `renew_deadline` it stops and the process exits, so a
replica that lost the Lease never keeps patching (as controller-runtime does).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from kubernetes import client
from kubernetes.leaderelection import electionconfig, leaderelection
from kubernetes.leaderelection.resourcelock.leaselock import LeaseLock

from webhook.controller.metrics import LEADER

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class Election:
    namespace: str
    name: str
    identity: str
    lease_duration: int
    renew_deadline: int
    retry_period: int


def run_as_leader(
    *, configuration: client.Configuration, election: Election, work: Callable[[threading.Event], None]
) -> None:
    """Block until this process leads, run `work` while it does; return when leadership ends."""
    client.Configuration.set_default(configuration)  # LeaseLock builds its own API client
    stop = threading.Event()
    failed: list[BaseException] = []

    def lead() -> None:
        LEADER.set(1)
        log.info("%s leads (Lease %s/%s)", election.identity, election.namespace, election.name)
        try:
            work(stop)
        except BaseException as error:
            failed.append(error)
            raise

    def stopped() -> None:
        LEADER.set(0)
        stop.set()
        log.warning("%s stopped leading", election.identity)

    # The client's leaderelection package ships without type hints.
    config = electionconfig.Config(  # type: ignore[no-untyped-call]
        LeaseLock(election.name, election.namespace, election.identity),  # type: ignore[no-untyped-call]
        lease_duration=election.lease_duration,
        renew_deadline=election.renew_deadline,
        retry_period=election.retry_period,
        onstarted_leading=lead,
        onstopped_leading=stopped,
    )
    log.info("%s waiting for Lease %s/%s", election.identity, election.namespace, election.name)
    leaderelection.LeaderElection(config).run()  # type: ignore[no-untyped-call]
    if failed:
        raise RuntimeError("the controller stopped") from failed[0]
