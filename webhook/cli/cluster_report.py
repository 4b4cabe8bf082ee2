"""`reload-safe report`: which workloads run configuration that has since changed, right now.

Reads a live cluster as the user running it (get/list only, kubeconfig as kubectl reads it) and
prints, per workload, its configuration state, its stale pods and its findings under the rules
of `enforce`. The exit status is the verdict, as for `scan`: 0 nothing stale and no findings,
1 findings or stale workloads, 2 bad usage or a cluster that cannot be read.

Only ConfigMap references are judged: Secret references (SPEC Contract v2) come with issue 18.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Final

import click

from webhook.cli.output import emit
from webhook.cli.report import Judged, ScanReport, Summary
from webhook.cli.report.sarif import report_sarif
from webhook.clusterreport import ClusterReport
from webhook.clusterreport.render import render_text, report_json
from webhook.manifests.loader import Source
from webhook.sources.cluster_lists import ClusterError, connect, fill
from webhook.sources.hashkey import HashKeyError, read_hash_key

EXIT_CLEAN: Final = 0
EXIT_FINDINGS: Final = 1


class ClusterUnreadable(click.ClickException):
    """One plain sentence on stderr, exit status 2 (as bad usage)."""

    exit_code = 2


def _sarif(report: ClusterReport) -> str:
    """`scan`'s SARIF, each workload located at `namespace/Kind/name` (it has no file)."""
    judged = tuple(
        Judged(
            kind=w.kind,
            namespace=w.namespace,
            name=w.name,
            source=Source(file=f"{w.namespace}/{w.kind}/{w.name}", document=0, line=None),
            violations=w.findings,
        )
        for w in report.workloads
    )
    summary = Summary(
        files=0,
        documents=0,
        objects=len(judged),
        configmaps=0,
        workloads=len(judged),
        skipped_owned=0,
        skipped_deleting=0,
    )
    document = report_sarif(ScanReport(workloads=judged, summary=summary))
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False)


FORMATS: Final[dict[str, Callable[[ClusterReport], str]]] = {
    "text": render_text,
    "json": lambda report: json.dumps(report_json(report), indent=2, ensure_ascii=False),
    "sarif": _sarif,
}


@click.command()
@click.option("-n", "--namespace", default=None, help="Report on this namespace (default: the context's).")
@click.option("-A", "--all-namespaces", is_flag=True, help="Report on every namespace.")
@click.option("--context", default=None, help="The kubeconfig context to use (default: the current one).")
@click.option("--kubeconfig", default=None, help="The kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).")
@click.option(
    "--hash-key-file",
    default=None,
    help="The installation's hash key: Secret-consuming workloads get a state only with it (docs/secrets.md).",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(list(FORMATS)),
    default="text",
    show_default=True,
    help="text for people, json for scripts, sarif for code scanning (findings only).",
)
@click.pass_context
def report(
    ctx: click.Context,
    *,
    namespace: str | None,
    all_namespaces: bool,
    context: str | None,
    kubeconfig: str | None,
    hash_key_file: str | None,
    output_format: str,
) -> None:
    """Report each workload's configuration state and findings in a live cluster (read-only).

    States: current, stale (unsafe reference, hash differs), changed (only live-updated volumes,
    hash differs), unknown (no hash annotation; or it consumes a Secret and no --hash-key-file
    was given), none (consumes no ConfigMap or Secret). Secrets are listed, as keyed digests,
    only with --hash-key-file.

    Exit status: 0 nothing stale and no findings, 1 findings or stale workloads, 2 bad usage or
    the cluster cannot be read.
    """
    if namespace is not None and all_namespaces:
        raise click.UsageError("--namespace and --all-namespaces exclude each other")
    if namespace == "":
        raise click.UsageError("--namespace needs a name")
    hash_key = None
    if hash_key_file is not None:
        try:
            hash_key = read_hash_key(hash_key_file)
        except HashKeyError as error:
            raise click.UsageError(str(error)) from None
    try:
        conn = connect(kubeconfig=kubeconfig, context=context)
        scope = None if all_namespaces else (namespace or conn.namespace)
        tally = fill(conn=conn, namespace=scope, hash_key=hash_key)
    except ClusterError as error:
        raise ClusterUnreadable(str(error)) from error
    result = tally.report()
    emit(FORMATS[output_format](result))
    ctx.exit(EXIT_CLEAN if result.clean else EXIT_FINDINGS)
