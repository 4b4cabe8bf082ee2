"""`reload-safe review`: answer one AdmissionReview offline, as both webhooks would together.

Useful to see, without a cluster, exactly what the API server would be told about a request:
the patch, the verdict, the warnings. The ConfigMaps come from manifests given on the command
line; any ConfigMap not given counts as not existing, as it would in an empty namespace.
Secrets in those manifests are read only with `--hash-key-file` (as the server reads them only
with the installation's key), and then only as keyed digests.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

import click
import jsonpatch

from webhook.admission import AdmissionRequest, BadReview, decode_review, encode_response
from webhook.cli.combine import combine_webhooks
from webhook.manifests.configmaps import ConfigMapError, configmap_content, is_configmap
from webhook.manifests.loader import STDIN, ManifestError, load_all, loads_json, read_text
from webhook.policy import ConfigMapContent, Mode
from webhook.policy.secrets import SecretDataError
from webhook.sources.hashkey import HashKeyError, read_hash_key
from webhook.sources.static import StaticConfigMaps, StaticNamespaceModes, StaticSecrets

MODES = [str(mode) for mode in Mode]


class InputError(click.ClickException):
    """Input that is not what the command reads: one line on stderr, exit status 2."""

    exit_code = 2


@click.command()
@click.argument("file", default=STDIN, required=False, metavar="[FILE|-]")
@click.option(
    "--configmaps",
    "configmap_paths",
    multiple=True,
    metavar="FILE",
    help="Manifests (file or folder) holding the ConfigMaps that exist; repeatable.",
)
@click.option(
    "--namespace-policy",
    type=click.Choice(MODES),
    default=str(Mode.WARN),
    show_default=True,
    help="The policy mode of the request's namespace.",
)
@click.option(
    "--hash-key-file",
    type=click.Path(dir_okay=False),
    help="The installation's hash key: Secrets in the --configmaps manifests count (as digests) only with it.",
)
def review(file: str, configmap_paths: tuple[str, ...], namespace_policy: str, hash_key_file: str | None) -> None:
    """Evaluate one AdmissionReview (FILE, or stdin) and print the combined response.

    The response carries the mutating webhook's patch and the validating webhook's verdict,
    warnings and status, judged on the patched object. Exit status 0 whatever the verdict.
    """
    if [file, *configmap_paths].count(STDIN) > 1:
        raise click.UsageError("stdin (-) can be read only once")
    request = read_request(file)
    configmaps = read_configmaps(configmap_paths)
    secrets = read_secrets(configmap_paths, hash_key_file) if hash_key_file else None
    try:
        combined = combine_webhooks(
            request,
            configmaps=configmaps,
            namespaces=StaticNamespaceModes(Mode(namespace_policy)),
            secrets=secrets,
        )
    except jsonpatch.JsonPatchException as error:  # a core bug, not the user's input
        raise click.ClickException(f"internal error: the mutating patch does not apply: {error}") from error
    click.echo(json.dumps(encode_response(combined.response), indent=2, ensure_ascii=False))


def read_request(file: str) -> AdmissionRequest:
    """The request inside FILE; anything that is not an AdmissionReview is an `InputError`."""
    try:
        text = read_text(file)
    except ManifestError as error:
        raise InputError(str(error)) from error
    where = "stdin" if file == STDIN else file
    try:
        return decode_review(loads_json(text))
    except (ManifestError, BadReview) as error:
        raise InputError(f"{where}: {error}") from error


def read_configmaps(paths: Iterable[str]) -> StaticConfigMaps:
    """Every ConfigMap in the given manifests; other objects there are ignored."""
    try:
        return StaticConfigMaps(_configmaps(paths))
    except ManifestError as error:
        raise InputError(str(error)) from error


def read_secrets(paths: Iterable[str], hash_key_file: str) -> StaticSecrets:
    """Every Secret in the given manifests, as digests under the key in `hash_key_file`."""
    try:
        key = read_hash_key(hash_key_file)
    except HashKeyError as error:
        raise InputError(str(error)) from error
    try:
        return StaticSecrets.from_objects(load_all(paths), hash_key=key)
    except (ManifestError, SecretDataError) as error:
        raise InputError(str(error)) from error


def _configmaps(paths: Iterable[str]) -> Iterator[tuple[str | None, ConfigMapContent]]:
    for located in load_all(paths):
        if not is_configmap(located.obj):
            continue
        try:
            yield configmap_content(located.obj)
        except ConfigMapError as error:
            line = f":{located.source.line}" if located.source.line else ""
            raise ManifestError(f"{located.source.file}{line}: {error}") from error
