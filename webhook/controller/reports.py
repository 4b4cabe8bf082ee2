"""The report pass: the cluster report, published as metrics and (optionally) as Report objects.

Every `interval` seconds the leader reads the cluster as `reload-safe report -n NS` does, one
namespace at a time (`webhook.sources.cluster_lists.fill`: paged lists, the same states and
findings), so the pass holds one namespace's ConfigMap content at a time rather than the
cluster's, beside the controller's own caches. For each namespace it then:
- sets `reload_safe_workloads{namespace,state}` and `reload_safe_stale_pods{namespace}`;
- with reports enabled and the report resource served (discovery, checked each pass), keeps one
  report object per namespace (`webhook.clusterreport.reports`), written only when its results
  or summary differ from the stored one, under the controller's field manager.

A pass that fails is logged and counted; the next pass starts from scratch (level-triggered: it
never depends on what a previous pass saw).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any, Final

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from webhook.clusterreport import STATES, ClusterReport, WorkloadState
from webhook.clusterreport.reports import REPORT_NAME, ReportApi, content_of, policy_report
from webhook.controller.kube import COMPONENT, serves
from webhook.controller.metrics import REPORT_PASSES, publish_states
from webhook.controller.rawapi import Transport
from webhook.sources.cluster_lists import Connection, fill, namespaces

log = logging.getLogger(__name__)

HTTP_NOT_FOUND: Final = 404
PAGE_SIZE: Final = 100
"""Smaller pages than the CLI's: the pass runs beside the controller's caches, in its memory."""


class ReportWriter:
    """Writes report objects through raw calls; only when the API serves the resource."""

    def __init__(self, transport: Transport, *, api: ReportApi) -> None:
        self._transport = transport
        self._api = api

    @property
    def api(self) -> ReportApi:
        return self._api

    def served(self) -> bool:
        return serves(self._transport, group_version_path=f"/apis/{self._api.api_version}", plural=self._api.plural)

    def write(self, desired: dict[str, Any], *, namespace: str) -> bool:
        """Create or update the namespace's report when its content differs; True when written."""
        path = f"/apis/{self._api.api_version}/namespaces/{namespace}/{self._api.plural}"
        query = [("fieldManager", COMPONENT)]
        try:
            response = self._transport.send("GET", f"{path}/{REPORT_NAME}", timeout=10)
        except ApiException as error:
            if error.status != HTTP_NOT_FOUND:
                raise
            self._transport.write("POST", path, query=query, body=desired, timeout=10)
            return True
        try:
            stored = json.loads(response.data)
        finally:
            response.release_conn()
        if content_of(stored) == content_of(desired):
            return False
        desired = {
            **desired,
            "metadata": {**desired["metadata"], "resourceVersion": stored["metadata"]["resourceVersion"]},
        }
        self._transport.write("PUT", f"{path}/{REPORT_NAME}", query=query, body=desired, timeout=10)
        return True


class ReportPass:
    """One pass of the loop, and the loop (`run`)."""

    def __init__(
        self,
        *,
        connection: Connection,
        writer: ReportWriter | None,
        hash_key: bytes | None,
        may_write: Callable[[], bool],
        interval: float,
    ) -> None:
        self._connection = connection
        self._writer = writer
        self._hash_key = hash_key
        self._may_write = may_write
        self._interval = interval
        self.writes = 0

    def run(self, stop: threading.Event) -> None:
        """A pass every `interval` seconds until `stop`, the first after one interval (so it does
        not add its lists to the controller's own at start); never raises."""
        while not stop.wait(self._interval):
            try:
                self.once()
                REPORT_PASSES.labels(result="ok").inc()
            except Exception as error:
                REPORT_PASSES.labels(result="failed").inc()
                log.warning("report pass failed (%s); next in %.0fs", _describe(error), self._interval)

    def once(self) -> dict[str, ClusterReport]:
        """One pass over every namespace; the reports by namespace (those with workloads)."""
        writer = self._writer if self._writer is not None and self._writer.served() else None
        reports: dict[str, ClusterReport] = {}
        for namespace in namespaces(self._connection):
            report = fill(
                conn=self._connection, namespace=namespace, hash_key=self._hash_key, page_size=PAGE_SIZE
            ).report()
            if not report.workloads:
                continue
            reports[namespace] = report
            if writer is not None and self._may_write():  # no write past the renew deadline
                desired = policy_report(list(report.workloads), namespace=namespace, api=writer.api)
                if writer.write(desired, namespace=namespace):
                    self.writes += 1
        publish_states(
            {ns: _state_counts(list(report.workloads)) for ns, report in reports.items()},
            {ns: report.stale_pods for ns, report in reports.items()},
        )
        return reports


def report_pass(
    *,
    configuration: client.Configuration,
    reports: ReportApi | None,
    hash_key: bytes | None,
    may_write: Callable[[], bool],
    interval: float,
) -> ReportPass:
    """The pass on the API server, with its own clients (lists may take a while)."""
    api_client = client.ApiClient(configuration)
    connection = Connection(api=api_client, server=str(configuration.host), namespace="default")
    writer = ReportWriter(Transport(client.ApiClient(configuration)), api=reports) if reports is not None else None
    return ReportPass(connection=connection, writer=writer, hash_key=hash_key, may_write=may_write, interval=interval)


def _state_counts(rows: list[WorkloadState]) -> dict[str, int]:
    """Every state, zeros included: a bounded label set, and a state that empties shows 0."""
    counts = {str(state): 0 for state in STATES}
    for row in rows:
        counts[str(row.state)] += 1
    return counts


def _describe(error: Exception) -> str:
    status = getattr(error, "status", None)
    return f"{type(error).__name__} {status}" if status else type(error).__name__
