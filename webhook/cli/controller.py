"""`reload-safe controller`: roll opted-in workloads when a ConfigMap they consume changes."""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading

import click

from webhook.policy import Mode
from webhook.sources.hashkey import HashKeyError, read_hash_key

LOG_LEVELS = ["debug", "info", "warning", "error"]


def _env(name: str) -> str:
    return f"RELOAD_SAFE_{name}"


@click.command()
@click.option("--kubeconfig", envvar=_env("KUBECONFIG"), help="Kubeconfig file; default in-cluster credentials.")
@click.option(
    "--leader-election-namespace",
    envvar=[_env("LEADER_ELECTION_NAMESPACE"), "POD_NAMESPACE"],
    default="reload-safe",
    show_default=True,
    help="Namespace of the leader-election Lease.",
)
@click.option("--lease-name", default="reload-safe-controller", show_default=True, envvar=_env("LEASE_NAME"))
@click.option("--identity", envvar=[_env("IDENTITY"), "POD_NAME"], help="This replica's name in the Lease.")
@click.option("--lease-duration", type=click.IntRange(2), default=15, show_default=True, help="Seconds.")
@click.option("--renew-deadline", type=click.IntRange(1), default=10, show_default=True, help="Seconds.")
@click.option("--retry-period", type=click.IntRange(1), default=2, show_default=True, help="Seconds.")
@click.option(
    "--debounce",
    type=click.FloatRange(0.1),
    default=3.0,
    show_default=True,
    envvar=_env("DEBOUNCE"),
    help="Seconds a ConfigMap must stay unchanged before its consumers roll.",
)
@click.option("--max-wait", type=click.FloatRange(0.1), default=30.0, show_default=True, help="Debounce cap, seconds.")
@click.option(
    "--rate", type=click.FloatRange(0.01), default=5.0, show_default=True, envvar=_env("RATE"), help="Patches/s."
)
@click.option("--burst", type=click.IntRange(1), default=10, show_default=True, help="Patches allowed at once.")
@click.option(
    "--resync-period",
    type=click.FloatRange(1.0),
    default=600.0,
    show_default=True,
    envvar=_env("RESYNC_PERIOD"),
    help="Seconds between reconciles of every opted-in workload, changed or not.",
)
@click.option("--metrics-port", type=click.IntRange(0, 65535), default=8080, show_default=True, help="0: off.")
@click.option(
    "--default-policy",
    type=click.Choice([str(m) for m in Mode]),
    default=str(Mode.WARN),
    show_default=True,
    envvar=_env("DEFAULT_POLICY"),
    help="Mode of namespaces without the label; only enforce and warn namespaces are rolled.",
)
@click.option("--own-namespace", envvar=[_env("OWN_NAMESPACE"), "POD_NAMESPACE"], help="Never rolled.")
@click.option(
    "--report-interval",
    type=click.FloatRange(0.0),
    default=60.0,
    show_default=True,
    envvar=_env("REPORT_INTERVAL"),
    help="Seconds between report passes (the reload_safe_workloads and _stale_pods metrics, and --reports); 0: off.",
)
@click.option(
    "--reports",
    type=click.Choice(["off", "openreports", "wgpolicyk8s"]),
    default="off",
    show_default=True,
    envvar=_env("REPORTS"),
    help="Keep one policy report per namespace: OpenReports Report, or wgpolicyk8s PolicyReport (docs/report.md).",
)
@click.option(
    "--hash-key-file",
    envvar=_env("HASH_KEY_FILE"),
    help="The installation's hash key: Secrets are watched (as keyed digests) only with it (docs/secrets.md).",
)
@click.option("--log-level", type=click.Choice(LOG_LEVELS), default="info", show_default=True)
def controller(  # noqa: PLR0917 - click passes options positionally
    kubeconfig: str | None,
    leader_election_namespace: str,
    lease_name: str,
    identity: str | None,
    lease_duration: int,
    renew_deadline: int,
    retry_period: int,
    debounce: float,
    max_wait: float,
    rate: float,
    burst: int,
    resync_period: float,
    metrics_port: int,
    default_policy: str,
    own_namespace: str | None,
    report_interval: float,
    reports: str,
    hash_key_file: str | None,
    log_level: str,
) -> None:
    """Roll workloads annotated `reload-safe.io/reload: rollout` when consumed ConfigMaps change."""
    if not renew_deadline < lease_duration or not retry_period * 1.2 < renew_deadline:
        raise click.UsageError("need retry-period × 1.2 < renew-deadline < lease-duration")
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Imported here: `reload-safe --help` should not pay for the Kubernetes client.
    from webhook.clusterreport.reports import ReportApi  # noqa: PLC0415
    from webhook.controller.leader import Election, Fence, run_as_leader  # noqa: PLC0415
    from webhook.controller.metrics import serve_metrics  # noqa: PLC0415
    from webhook.controller.reports import report_pass  # noqa: PLC0415
    from webhook.controller.runner import Controller, Tuning, kube_controller  # noqa: PLC0415
    from webhook.sources.kubeapi import load_configuration  # noqa: PLC0415

    hash_key = None
    if hash_key_file:
        try:  # read once at start: rotating the key means restarting (docs/secrets.md)
            hash_key = read_hash_key(hash_key_file)
        except HashKeyError as error:
            raise click.ClickException(str(error)) from error
    try:
        configuration = load_configuration(kubeconfig)
    except Exception as error:
        raise click.ClickException(f"cannot load Kubernetes credentials: {error}") from error
    name = identity or f"{socket.gethostname()}-{os.getpid()}"
    holder: list[Controller] = []
    if metrics_port:
        serve_metrics(port=metrics_port, ready=lambda: not holder or holder[0].synced)

    report_api = {"openreports": ReportApi.OPENREPORTS, "wgpolicyk8s": ReportApi.WGPOLICYK8S}.get(reports)
    if report_api is not None and not report_interval:
        raise click.UsageError("--reports needs a --report-interval above 0")

    def work(fence: Fence, stop: threading.Event) -> None:
        if report_interval:
            publisher = report_pass(
                configuration=configuration,
                reports=report_api,
                hash_key=hash_key,
                may_write=fence.valid,
                interval=report_interval,
            )
            threading.Thread(target=publisher.run, args=(stop,), name="reports", daemon=True).start()
        while not stop.is_set():
            worker = kube_controller(
                configuration=configuration,
                tuning=Tuning(
                    debounce=debounce, max_wait=max_wait, rate=rate, burst=burst, resync_period=resync_period
                ),
                default_mode=Mode(default_policy),
                own_namespace=own_namespace,
                identity=name,
                may_write=fence.valid,
                hash_key=hash_key,
            )
            holder[:] = [worker]
            worker.run(stop)
            if not worker.restart_needed:
                return

    election = Election(
        namespace=leader_election_namespace,
        name=lease_name,
        identity=name,
        lease_duration=lease_duration,
        renew_deadline=renew_deadline,
        retry_period=retry_period,
    )
    run_as_leader(configuration=configuration, election=election, work=work)
    logging.getLogger(__name__).error("lost leadership; exiting so a fresh process can stand by")
    sys.exit(1)
