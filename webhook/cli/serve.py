"""`reload-safe serve`: the HTTPS admission webhook server.

Every flag can also come from the environment as `RELOAD_SAFE_<FLAG>` (e.g.
`RELOAD_SAFE_DEFAULT_POLICY=enforce`); `--own-namespace` also reads `POD_NAMESPACE`, which
the chart fills from the downward API. Checks that can fail (flag combinations, certificate
files, ConfigMap manifests, cluster credentials) run before anything listens: a misconfigured
server exits at once with a message instead of flapping in CrashLoopBackOff behind a probe.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

import click

from webhook.policy import Mode
from webhook.server.settings import DEFAULT_PORT, DEFAULT_THREADS, STDOUT, ServerSettings, SourceKind, any_address
from webhook.sources.hashkey import HashKeyError, read_hash_key

MODES = [str(mode) for mode in Mode]
LOG_LEVELS = ["debug", "info", "warning", "error"]
DEV_DIRECTORY = Path("certs")
LOOPBACK = "127.0.0.1"


class ServeError(click.ClickException):
    """A usage or configuration problem found before serving: one line, exit status 2."""

    exit_code = 2


def _env(name: str) -> str:
    return f"RELOAD_SAFE_{name}"


FILE = click.Path(dir_okay=False, path_type=Path)


@click.command()
@click.option("--port", type=click.IntRange(1, 65535), default=DEFAULT_PORT, show_default=True, envvar=_env("PORT"))
@click.option(
    "--cert-file", type=FILE, envvar=_env("CERT_FILE"), help="Serving certificate (PEM), reloaded when it changes."
)
@click.option("--key-file", type=FILE, envvar=_env("KEY_FILE"), help="Its private key (PEM).")
@click.option(
    "--client-ca-file",
    type=FILE,
    envvar=_env("CLIENT_CA_FILE"),
    help="Require client certificates signed by this CA (the API server's webhook client cert).",
)
@click.option(
    "--source",
    type=click.Choice([str(s) for s in SourceKind]),
    default=str(SourceKind.CLUSTER),
    show_default=True,
    envvar=_env("SOURCE"),
    help="Where ConfigMaps and namespace modes come from.",
)
@click.option(
    "--configmaps",
    "configmap_files",
    multiple=True,
    metavar="FILE",
    envvar=_env("CONFIGMAPS"),
    help="static source: manifests holding the ConfigMaps that exist; repeatable.",
)
@click.option(
    "--namespace-policy",
    type=click.Choice(MODES),
    envvar=_env("NAMESPACE_POLICY"),
    help="static source: the mode of every namespace (default: --default-policy).",
)
@click.option(
    "--default-policy",
    type=click.Choice(MODES),
    default=str(Mode.WARN),
    show_default=True,
    envvar=_env("DEFAULT_POLICY"),
    help="Mode of a namespace without the reload-safe.io/policy label.",
)
@click.option(
    "--own-namespace",
    envvar=[_env("OWN_NAMESPACE"), "POD_NAMESPACE"],
    help="The webhook's namespace, never evaluated (default: $POD_NAMESPACE).",
)
@click.option(
    "--audit-file", default=STDOUT, show_default=True, envvar=_env("AUDIT_FILE"), help="Audit log; - is stdout."
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    envvar=_env("WORKERS"),
    help="Server processes; one per pod is the design (scale with replicas, docs/operating.md).",
)
@click.option(
    "--threads",
    type=click.IntRange(1, 256),
    default=DEFAULT_THREADS,
    show_default=True,
    envvar=_env("THREADS"),
    help="Request threads: at least the API server's concurrent connections (docs/operating.md).",
)
@click.option("--log-level", type=click.Choice(LOG_LEVELS), default="info", show_default=True, envvar=_env("LOG_LEVEL"))
@click.option("--kubeconfig", type=FILE, envvar=_env("KUBECONFIG"), help="cluster source: kubeconfig file.")
@click.option(
    "--hash-key-file",
    type=FILE,
    envvar=_env("HASH_KEY_FILE"),
    help="The installation's hash key: Secrets are read (as keyed digests) only with it (docs/secrets.md).",
)
@click.option(
    "--dev",
    is_flag=True,
    envvar=_env("DEV"),
    help="Development: create a CA and a localhost certificate in ./certs and listen on 127.0.0.1.",
)
def serve(**options: Any) -> None:
    """Run the HTTPS admission webhook (POST /mutate, /validate; GET /healthz, /readyz, /metrics)."""
    settings = _settings(**options)
    _configure_logging(settings.log_level)
    _check_audit_file(settings.audit_file)
    from webhook.server.gunicorn_app import WebhookServer  # noqa: PLC0415 - the server stack is heavy
    from webhook.server.tls import CertificateError, CertificateFiles, ReloadingTLS  # noqa: PLC0415

    tls = ReloadingTLS(
        CertificateFiles(
            cert_file=settings.cert_file, key_file=settings.key_file, client_ca_file=settings.client_ca_file
        )
    )
    try:
        tls.load()
    except CertificateError as error:
        raise ServeError(str(error)) from error
    server = WebhookServer(settings=settings, inputs_factory=_inputs(settings), tls=tls)
    server.run()


def _settings(
    *,
    port: int,
    cert_file: Path | None,
    key_file: Path | None,
    client_ca_file: Path | None,
    source: str,
    configmap_files: tuple[str, ...],
    namespace_policy: str | None,
    default_policy: str,
    own_namespace: str | None,
    audit_file: str,
    workers: int,
    threads: int,
    log_level: str,
    kubeconfig: Path | None,
    hash_key_file: Path | None,
    dev: bool,
) -> ServerSettings:
    kind = SourceKind(source)
    if kind is SourceKind.CLUSTER and (configmap_files or namespace_policy):
        raise ServeError("--configmaps and --namespace-policy need --source static")
    if kind is SourceKind.STATIC and kubeconfig:
        raise ServeError("--kubeconfig needs --source cluster")
    if (cert_file is None) != (key_file is None):
        raise ServeError("--cert-file and --key-file go together")
    if cert_file is None or key_file is None:
        if not dev:
            raise ServeError("HTTPS only: give --cert-file and --key-file (or --dev for a local certificate)")
        cert_file, key_file = _dev_certificates()
    return ServerSettings(
        cert_file=cert_file,
        key_file=key_file,
        client_ca_file=client_ca_file,
        port=port,
        host=LOOPBACK if dev else any_address(),
        workers=workers,
        threads=threads,
        log_level=log_level,
        audit_file=audit_file,
        default_mode=Mode(default_policy),
        own_namespace=own_namespace or None,
        source=kind,
        configmap_files=configmap_files,
        namespace_policy=Mode(namespace_policy) if namespace_policy else None,
        kubeconfig=str(kubeconfig) if kubeconfig else None,
        hash_key_file=hash_key_file,
    )


def _dev_certificates() -> tuple[Path, Path]:
    from webhook.certs.dev import ensure_dev_certificates  # noqa: PLC0415 - only --dev needs it

    created = ensure_dev_certificates(DEV_DIRECTORY)
    verb = "created" if created.created else "using"
    click.echo(f"--dev: {verb} {created.cert_file} (CA for clients and caBundle: {created.ca_file})", err=True)
    return created.cert_file, created.key_file


def _inputs(settings: ServerSettings) -> Any:
    from webhook.server.inputs import cluster_inputs, static_inputs  # noqa: PLC0415 - imports metrics

    hash_key = None
    if settings.hash_key_file is not None:
        try:  # read once, in the master: a bad key file stops the command before anything listens
            hash_key = read_hash_key(settings.hash_key_file)
        except HashKeyError as error:
            raise ServeError(str(error)) from error
    if settings.source is SourceKind.STATIC:
        try:
            return static_inputs(
                configmap_files=settings.configmap_files,
                mode=settings.namespace_policy or settings.default_mode,
                own_namespace=settings.own_namespace,
                hash_key=hash_key,
            )
        except ValueError as error:
            raise ServeError(str(error)) from error
    from webhook.sources.kubeapi import load_configuration  # noqa: PLC0415 - the client is heavy

    try:
        load_configuration(settings.kubeconfig)  # credentials present? (each worker loads its own)
    except Exception as error:
        raise ServeError(f"cannot load Kubernetes credentials: {error}") from error
    return cluster_inputs(
        kubeconfig=settings.kubeconfig,
        default=settings.default_mode,
        own_namespace=settings.own_namespace,
        hash_key=hash_key,
    )


def _check_audit_file(path: str) -> None:
    """The worker opens the audit file after fork; a path it cannot open must stop us here."""
    if path == STDOUT:
        return
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640))
    except OSError as error:
        raise ServeError(f"cannot open the audit file {path}: {error.strerror}") from error


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s",
    )
