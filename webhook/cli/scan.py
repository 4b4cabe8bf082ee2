"""`reload-safe scan`: find, before anything is applied, the ConfigMap changes that would not reach pods.

Meant for CI and pre-commit: `helm template ... | reload-safe scan -`, or a folder of manifests.
The exit status is the verdict (0 clean, 1 findings, 2 unusable input), so a pipeline step needs
no parsing; `--format json|sarif` is for tools that want the details.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Final

import click

from webhook.cli.output import emit
from webhook.cli.report import ScanReport, scan_objects
from webhook.cli.report.as_json import report_dict
from webhook.cli.report.sarif import report_sarif
from webhook.cli.report.text import render_text
from webhook.manifests.inputs import Inputs, gather
from webhook.manifests.loader import STDIN, ManifestError
from webhook.policy import WORKLOAD_KINDS

FORMATS: Final[dict[str, Callable[[ScanReport], str]]] = {
    "text": render_text,
    "json": lambda report: json.dumps(report_dict(report), indent=2, ensure_ascii=False),
    "sarif": lambda report: json.dumps(report_sarif(report), separators=(",", ":"), ensure_ascii=False),
}
"""JSON is indented for people who open it; SARIF is uploaded, not read, and compact is a quarter
smaller and four times faster to write (Python's C encoder does not indent)."""
EXIT_CLEAN: Final = 0
EXIT_FINDINGS: Final = 1
EXIT_UNUSABLE: Final = 2
BUILT_KINDS: Final = frozenset(WORKLOAD_KINDS | {"ConfigMap", "Secret"})
"""Kinds read whole; of every other document only apiVersion, kind and metadata are built (a
CustomResourceDefinition is most of a rendered chart's bytes and tells the scan nothing)."""


class InputError(click.ClickException):
    """Input that cannot be read as manifests: one line on stderr, exit status 2."""

    exit_code = 2


@click.command()
@click.argument("paths", nargs=-1, required=True, metavar="PATH... | -")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(list(FORMATS)),
    default="text",
    show_default=True,
    help="text for people, json for scripts, sarif for code scanning.",
)
@click.option(
    "--values",
    "values",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    metavar="FILE",
    help="Passed to `helm template` for every chart folder scanned (repeatable, in order).",
)
@click.option("--strict", is_flag=True, help="Exit 2 if any input was skipped as not a manifest.")
@click.option("--allow-empty", is_flag=True, help="Exit 0, not 2, when the inputs hold no Kubernetes object.")
@click.pass_context
def scan(
    ctx: click.Context,
    *,
    paths: tuple[str, ...],
    output_format: str,
    values: tuple[str, ...],
    strict: bool,
    allow_empty: bool,
) -> None:
    """Check manifests (files, folders, or - for stdin) with the rules of enforce mode.

    Folders with a Chart.yaml are rendered with `helm template`, folders with a kustomization.yaml
    with `kubectl kustomize`, when installed. Other files that are not manifests are skipped and
    listed. Exit status: 0 no findings, 1 findings, 2 bad usage, unreadable input, no Kubernetes
    object at all (unless --allow-empty), or any skip with --strict.
    """
    if paths.count(STDIN) > 1:
        raise click.UsageError("stdin (-) can be read only once")
    report = run_scan(paths, values=values, allow_empty=allow_empty)
    emit(FORMATS[output_format](report))
    if strict and report.skipped:
        click.echo(f"Error: --strict: {len(report.skipped)} input(s) skipped as not manifests", err=True)
        ctx.exit(EXIT_UNUSABLE)
    ctx.exit(EXIT_FINDINGS if report.finding_count else EXIT_CLEAN)


def run_scan(paths: tuple[str, ...], *, values: tuple[str, ...] = (), allow_empty: bool = False) -> ScanReport:
    """Read every input, then judge: ConfigMaps anywhere in the inputs count for every workload."""
    try:
        inputs = gather(paths, values=values, wanted=_built)
        if not inputs.objects and not allow_empty:
            raise InputError(empty_message(paths, inputs))
        return scan_objects(inputs.objects, files=inputs.files, skipped=inputs.skipped, named=paths)
    except ManifestError as error:
        raise InputError(str(error)) from error


def empty_message(paths: tuple[str, ...], inputs: Inputs) -> str:
    """Nothing to judge is a failure: an empty `helm template ... |` pipe must not pass CI."""
    where = "stdin" if paths == (STDIN,) else "the inputs"
    message = f"no Kubernetes object in {where}"
    if inputs.skipped:
        counts = ", ".join(f"{n} {reason}" for reason, n in inputs.reasons().items())
        message += f" ({len(inputs.skipped)} skipped: {counts})"
    elif STDIN in paths:
        message += " (if stdin comes from `helm template` or another command, did it fail?)"
    return message + "; use --allow-empty if that is expected"


def _built(kind: object) -> bool:
    return kind in BUILT_KINDS or (isinstance(kind, str) and kind.endswith("List"))
