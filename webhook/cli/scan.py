"""`reload-safe scan`: find, before anything is applied, the ConfigMap changes that would not reach pods.

Meant for CI and pre-commit: `helm template ... | reload-safe scan -`, or a folder of manifests.
The exit status is the verdict (0 clean, 1 findings, 2 unusable input), so a pipeline step needs
no parsing; `--format json|sarif` is for tools that want the details.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Final

import click

from webhook.cli.report import ScanReport, scan_objects
from webhook.cli.report.as_json import report_dict
from webhook.cli.report.sarif import report_sarif
from webhook.cli.report.text import render_text
from webhook.manifests.loader import STDIN, Located, ManifestError, expand_paths, load_objects

FORMATS: Final[dict[str, Callable[[ScanReport], str]]] = {
    "text": render_text,
    "json": lambda report: json.dumps(report_dict(report), indent=2, ensure_ascii=False),
    "sarif": lambda report: json.dumps(report_sarif(report), separators=(",", ":"), ensure_ascii=False),
}
"""JSON is indented for people who open it; SARIF is uploaded, not read, and compact is a quarter
smaller and four times faster to write (Python's C encoder does not indent)."""
EXIT_CLEAN: Final = 0
EXIT_FINDINGS: Final = 1


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
@click.pass_context
def scan(ctx: click.Context, paths: tuple[str, ...], output_format: str) -> None:
    """Check manifests (files, folders, or - for stdin) with the rules of enforce mode.

    Exit status: 0 no findings, 1 findings, 2 bad usage or unreadable input.
    """
    if paths.count(STDIN) > 1:
        raise click.UsageError("stdin (-) can be read only once")
    report = run_scan(paths)
    _emit(FORMATS[output_format](report))
    ctx.exit(EXIT_FINDINGS if report.finding_count else EXIT_CLEAN)


def run_scan(paths: tuple[str, ...]) -> ScanReport:
    """Read every input, then judge: ConfigMaps anywhere in the inputs count for every workload."""
    try:
        files = expand_paths(paths)
        objects: list[Located] = [located for file in files for located in load_objects(file)]
        return scan_objects(objects, files=len(files))
    except ManifestError as error:
        raise InputError(str(error)) from error


def _emit(output: str) -> None:
    """Print the report; a reader that went away (`| head`) is not an error worth a traceback."""
    try:
        click.echo(output)
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
