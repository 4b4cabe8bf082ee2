"""`reload-safe certs`: the webhook's CA and serving certificate, and the caBundle hand-off.

- `generate` writes ca.crt/ca.key/tls.crt/tls.key into a directory (laptops, CI, GitOps);
- `inject` writes a CA file into the webhook configurations' caBundle;
- `ensure` is the Helm hook: Secrets + caBundle, created or renewed as needed;
- `check` tells whether a directory's certificates are fit to serve, exit 1 if not.

All of them are idempotent, so they are safe to run from hooks, CronJobs and scripts again and
again. The Kubernetes client is imported only by the commands that talk to a cluster.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from webhook.certs.check import check_directory
from webhook.certs.ensure import (
    Cluster,
    ConflictError,
    MissingConfigurationError,
    SecretNames,
    WebhookKind,
    describe,
    ensure_secrets,
    inject_ca_bundle,
)
from webhook.certs.files import BundlePaths, read_material, write_bundle
from webhook.certs.generate import Identity, IPAddress, parse_ip, service_identity
from webhook.certs.renew import DAY, RenewalPolicy, ensure_bundle

F = TypeVar("F", bound=Callable[..., Any])
MANAGED_BY = {"app.kubernetes.io/managed-by": "reload-safe-certs", "app.kubernetes.io/name": "reload-safe"}


@click.group(name="certs")
def certs() -> None:
    """Generate the webhook's CA and serving certificate, and hand the CA to the API server."""


def _names(command: F) -> F:
    for option in reversed(
        (
            click.option("--dns", "dns_names", multiple=True, metavar="NAME", help="Extra DNS SAN (repeatable)."),
            click.option("--ip", "ips", multiple=True, metavar="IP", help="Extra IP SAN (repeatable)."),
        )
    ):
        command = option(command)
    return command


def _lifetimes(command: F) -> F:
    for option in reversed(
        (
            click.option(
                "--validity-days",
                type=click.IntRange(min=2),
                default=365,
                show_default=True,
                help="Lifetime of a new serving certificate.",
            ),
            click.option(
                "--ca-validity-days",
                type=click.IntRange(min=2),
                default=3650,
                show_default=True,
                help="Lifetime of a new CA.",
            ),
            click.option(
                "--renew-before-days",
                type=click.IntRange(min=0),
                default=30,
                show_default=True,
                help="Renew a certificate that expires within this many days.",
            ),
            click.option("--force", is_flag=True, help="Create a new CA and serving certificate even if valid."),
        )
    ):
        command = option(command)
    return command


def _kube(command: F) -> F:
    command = click.option("--context", default=None, help="kubeconfig context (default: current).")(command)
    return click.option(
        "--kubeconfig",
        type=click.Path(dir_okay=False, exists=True),
        default=None,
        help="Path to a kubeconfig; default: in-cluster ServiceAccount, else ~/.kube/config.",
    )(command)


@certs.command("generate")
@click.option("--service", required=True, help="Name of the webhook's Service.")
@click.option("--namespace", required=True, help="Namespace of the webhook's Service.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("certs"),
    show_default=True,
    help="Directory for ca.crt, ca.key, tls.crt, tls.key.",
)
@_names
@_lifetimes
def generate(
    *,
    service: str,
    namespace: str,
    out: Path,
    dns_names: tuple[str, ...],
    ips: tuple[str, ...],
    validity_days: int,
    ca_validity_days: int,
    renew_before_days: int,
    force: bool,
) -> None:
    """Create or renew a CA and serving certificate in a directory (keys mode 0600).

    Valid certificates are kept; a serving certificate near expiry is re-issued by the same CA,
    so the caBundle already registered stays valid.
    """
    identity = _identity(service=service, namespace=namespace, dns_names=dns_names, ips=ips)
    policy = _policy(
        validity_days=validity_days, ca_validity_days=ca_validity_days, renew_before_days=renew_before_days
    )
    paths = BundlePaths.in_directory(out)
    outcome = ensure_bundle(
        stored=read_material(paths=paths), identity=identity, policy=policy, now=_now(), force=force
    )
    if outcome.changed:
        write_bundle(paths=paths, bundle=outcome.bundle)
    for line in describe(outcome):
        click.echo(line)
    click.echo(f"{'wrote' if outcome.changed else 'unchanged'}: {out}")


@certs.command("check")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=Path("certs"),
    show_default=True,
    help="Directory holding ca.crt, tls.crt and optionally tls.key.",
)
@click.option("--service", default=None, help="Service whose names the certificate must carry.")
@click.option("--namespace", default=None, help="Namespace of that Service.")
@_names
@click.option(
    "--min-valid-days",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    help="Fail when a certificate has this many days left or fewer.",
)
def check(
    *,
    directory: Path,
    service: str | None,
    namespace: str | None,
    dns_names: tuple[str, ...],
    ips: tuple[str, ...],
    min_valid_days: int,
) -> None:
    """Print expiry dates and whether chain and SANs are valid; exit 1 if anything is wrong."""
    if (service is None) != (namespace is None):
        raise click.UsageError("--service and --namespace go together")
    if service is not None and namespace is not None:
        identity = _identity(service=service, namespace=namespace, dns_names=dns_names, ips=ips)
    else:
        identity = Identity(dns_names=dns_names, ip_addresses=tuple(_ip(ip) for ip in ips))
    report = check_directory(
        paths=BundlePaths.in_directory(directory),
        identity=identity,
        now=_now(),
        min_valid=min_valid_days * DAY,
    )
    for line in report.lines():
        click.echo(line)
    if not report.ok:
        raise SystemExit(1)


@certs.command("inject")
@click.option(
    "--ca-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    required=True,
    help="PEM file with the CA certificate(s) to trust.",
)
@click.option("--mutating", default=None, help="MutatingWebhookConfiguration name.")
@click.option("--validating", default=None, help="ValidatingWebhookConfiguration name.")
@_kube
def inject(
    *, ca_file: Path, mutating: str | None, validating: str | None, kubeconfig: str | None, context: str | None
) -> None:
    """Write a CA bundle into every webhook of the named configurations."""
    configurations = _configurations(mutating=mutating, validating=validating)
    ca_pem = ca_file.read_bytes()
    if b"-----BEGIN CERTIFICATE-----" not in ca_pem:
        raise click.BadParameter("not a PEM certificate file", param_hint="--ca-file")
    cluster = _connect(kubeconfig=kubeconfig, context=context)
    with _cluster_errors():
        for line in inject_ca_bundle(cluster, ca_pem=ca_pem, configurations=configurations):
            click.echo(line)


@certs.command("ensure")
@click.option("--secret", required=True, help="kubernetes.io/tls Secret the webhook pods mount.")
@click.option("--ca-secret", default=None, help="Secret holding the CA key (default: SECRET-ca).")
@click.option("--namespace", required=True, help="Namespace of both Secrets and the Service.")
@click.option("--service", required=True, help="Name of the webhook's Service.")
@click.option("--mutating", default=None, help="MutatingWebhookConfiguration name.")
@click.option("--validating", default=None, help="ValidatingWebhookConfiguration name.")
@click.option(
    "--allow-missing-webhooks",
    is_flag=True,
    help="Skip configurations that do not exist yet (the pre-install hook).",
)
@click.option("--label", "labels", multiple=True, metavar="KEY=VALUE", help="Extra label on the Secrets.")
@_names
@_lifetimes
@_kube
def ensure(
    *,
    secret: str,
    ca_secret: str | None,
    namespace: str,
    service: str,
    mutating: str | None,
    validating: str | None,
    allow_missing_webhooks: bool,
    labels: tuple[str, ...],
    dns_names: tuple[str, ...],
    ips: tuple[str, ...],
    validity_days: int,
    ca_validity_days: int,
    renew_before_days: int,
    force: bool,
    kubeconfig: str | None,
    context: str | None,
) -> None:
    """Create or renew the CA and serving certificate in Secrets, then inject the caBundle."""
    configurations = _configurations(mutating=mutating, validating=validating)
    identity = _identity(service=service, namespace=namespace, dns_names=dns_names, ips=ips)
    policy = _policy(
        validity_days=validity_days, ca_validity_days=ca_validity_days, renew_before_days=renew_before_days
    )
    names = SecretNames(namespace=namespace, tls_secret=secret, ca_secret=ca_secret or f"{secret}-ca")
    secret_labels = {**MANAGED_BY, **_parse_labels(labels)}
    cluster = _connect(kubeconfig=kubeconfig, context=context)
    with _cluster_errors():
        outcome = ensure_secrets(
            cluster,
            names=names,
            identity=identity,
            policy=policy,
            now=_now(),
            labels=secret_labels,
            force=force,
        )
        for line in describe(outcome):
            click.echo(line)
        click.echo(f"secrets: {namespace}/{names.tls_secret}, {namespace}/{names.ca_secret}")
        for line in inject_ca_bundle(
            cluster,
            ca_pem=outcome.bundle.ca.certificate_pem(),
            configurations=configurations,
            allow_missing=allow_missing_webhooks,
        ):
            click.echo(line)


def _identity(*, service: str, namespace: str, dns_names: tuple[str, ...], ips: tuple[str, ...]) -> Identity:
    try:
        return service_identity(service=service, namespace=namespace, extra_dns=dns_names, extra_ips=ips)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--ip") from exc


def _ip(text: str) -> IPAddress:
    try:
        return parse_ip(text=text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--ip") from exc


def _policy(*, validity_days: int, ca_validity_days: int, renew_before_days: int) -> RenewalPolicy:
    try:
        return RenewalPolicy(
            serving_validity=validity_days * DAY,
            ca_validity=ca_validity_days * DAY,
            renew_before=renew_before_days * DAY,
        )
    except ValueError as exc:
        raise click.UsageError(f"{exc} (--renew-before-days {renew_before_days})") from exc


def _configurations(*, mutating: str | None, validating: str | None) -> list[tuple[WebhookKind, str]]:
    configurations = [(WebhookKind.MUTATING, mutating), (WebhookKind.VALIDATING, validating)]
    chosen = [(kind, name) for kind, name in configurations if name]
    if not chosen:
        raise click.UsageError("name at least one of --mutating / --validating")
    return chosen


def _parse_labels(labels: tuple[str, ...]) -> dict[str, str]:
    parsed: dict[str, str] = {}
    for label in labels:
        key, sep, value = label.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {label!r}", param_hint="--label")
        parsed[key] = value
    return parsed


def _connect(*, kubeconfig: str | None, context: str | None) -> Cluster:
    # Imported here so that `generate` and `check` work without a cluster library or kubeconfig.
    from webhook.certs.inject import connect  # noqa: PLC0415 - keeps kubernetes out of generate/check

    try:
        return connect(kubeconfig=kubeconfig, context=context)
    except Exception as exc:  # the client raises several unrelated types for a bad config
        raise click.ClickException(f"cannot load Kubernetes credentials: {exc}") from exc


@contextlib.contextmanager
def _cluster_errors() -> Iterator[None]:
    """Turn API failures into one clear line and exit status 1 instead of a traceback."""
    from kubernetes.client.exceptions import ApiException  # noqa: PLC0415 - only cluster commands need it

    try:
        yield
    except (MissingConfigurationError, ConflictError) as exc:
        raise click.ClickException(str(exc)) from exc
    except ApiException as exc:
        raise click.ClickException(f"Kubernetes API: {exc.status} {exc.reason}: {_api_message(exc.body)}") from exc


def _api_message(body: object) -> str:
    # The API server explains a 403 or 422 in the Status object's `message`; show only that.
    try:
        status = json.loads(body) if isinstance(body, str | bytes) else {}
    except ValueError:
        return ""
    return str(status.get("message", "")) if isinstance(status, dict) else ""


def _now() -> datetime:
    return datetime.now(UTC)
