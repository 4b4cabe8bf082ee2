"""`reload-safe hash-key`: make, check and install the key that keys Secret digests (docs/secrets.md)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from webhook.certs.hashkey import HashKeySecretError, ensure_hash_key, new_hash_key
from webhook.cli.certs import _cluster_errors, _connect, _kube, _parse_labels
from webhook.sources.hashkey import HashKeyError, read_hash_key


@click.group(name="hash-key")
def hash_key() -> None:
    """The installation's hash key: Secret values are hashed with HMAC-SHA256 under it."""


@hash_key.command("generate")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write it to this new file (mode 0600).")
def generate(out: Path | None) -> None:
    """Print a new key (64 hex characters), or write it to --out (never over an existing file)."""
    key = new_hash_key()
    if out is None:
        click.echo(key.decode("ascii"))
        return
    try:
        descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise click.ClickException(f"{out} exists; not overwritten (a new key rolls every Secret consumer)") from None
    except OSError as error:
        raise click.ClickException(f"cannot create {out}: {error.strerror}") from None
    with os.fdopen(descriptor, "wb") as file:
        file.write(key + b"\n")
    click.echo(f"wrote a new hash key to {out}", err=True)


@hash_key.command("check")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def check(file: Path) -> None:
    """Exit 0 when FILE holds a usable key (at least 32 bytes once white space is trimmed)."""
    try:
        key = read_hash_key(file)
    except HashKeyError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"{file}: a usable hash key of {len(key)} bytes")


@hash_key.command("ensure")
@click.option("--secret", required=True, help="Name of the Secret that keeps the key.")
@click.option("--namespace", required=True, help="Its namespace (the release's).")
@click.option("--label", "labels", multiple=True, metavar="KEY=VALUE", help="Extra label on the Secret.")
@_kube
def ensure(secret: str, namespace: str, labels: tuple[str, ...], kubeconfig: str | None, context: str | None) -> None:
    """Create the key Secret if it does not exist; an existing one is never changed (the chart's hook)."""
    cluster = _connect(kubeconfig=kubeconfig, context=context)
    with _cluster_errors():
        try:
            created = ensure_hash_key(cluster, namespace=namespace, name=secret, labels=_parse_labels(labels))
        except HashKeySecretError as error:
            raise click.ClickException(str(error)) from None
    click.echo(f"hash key Secret {namespace}/{secret}: {'created' if created else 'kept as it is'}")
