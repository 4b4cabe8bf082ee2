"""Evaluate every workload among located objects, with the ConfigMaps found beside them.

A scan judges manifests before they reach a cluster, so it applies the strictest rules
everywhere: `enforce` mode, a `CREATE`, in every namespace (`kube-system` too, which a cluster
exempts only because the webhook must not lock out the control plane). What the manifests
themselves say about ConfigMaps and Secrets (`immutable`, Reloader's `match`) counts; one that
is not among the inputs counts as not existing, which changes no finding: only the hash needs
content, and a scan hashes nothing (so a Secret's values are never even decoded).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence

from webhook.cli.report.model import Judged, ScanReport, Summary
from webhook.manifests.configmaps import ConfigMapError, configmap_content, is_configmap
from webhook.manifests.inputs import BROKEN_CONFIGMAP, Skip
from webhook.manifests.loader import Located, ManifestError
from webhook.manifests.secrets import is_secret, secret_flags
from webhook.policy import ConfigMapContent, Mode, Operation, SecretContent, evaluate, read_workload
from webhook.policy.secrets import SecretDataError

DEFAULT_NAMESPACE = "default"
"""Where an object without a namespace goes when applied (kubectl without `-n`, or Helm)."""


def scan_objects(
    objects: Sequence[Located], *, files: int, skipped: Sequence[Skip] = (), named: Collection[str] = ()
) -> ScanReport:
    """Judge each workload once; owned and deleting objects are counted, not judged.

    A ConfigMap the API server would refuse stops the scan when it is in a file named on the
    command line (`named`), and is skipped with its reason when a folder walk found it: one bad
    test fixture must not hide a repository's findings.
    """
    configmaps, broken = configmaps_by_namespace(objects, named=named)
    secrets = secrets_by_namespace(objects)
    skipped = [*skipped, *broken]
    judged: list[Judged] = []
    owned = deleting = 0
    for located in objects:
        workload = read_workload(located.obj)
        if workload is None:
            continue
        if workload.owned:
            owned += 1
            continue
        if workload.being_deleted:
            deleting += 1
            continue
        decision = evaluate(
            obj=located.obj,
            operation=Operation.CREATE,
            mode=Mode.ENFORCE,
            configmaps=configmaps.get(workload.namespace or DEFAULT_NAMESPACE, {}),
            secrets=secrets.get(workload.namespace or DEFAULT_NAMESPACE, {}),
        )
        judged.append(
            Judged(
                kind=workload.kind,
                namespace=workload.namespace,
                name=workload.name,
                source=located.source,
                violations=decision.violations,
            )
        )
    summary = Summary(
        files=files,
        documents=len({(o.source.file, o.source.document) for o in objects}),
        objects=len(objects),
        configmaps=sum(len(by_name) for by_name in configmaps.values()),
        workloads=len(judged),
        skipped_owned=owned,
        skipped_deleting=deleting,
    )
    return ScanReport(workloads=tuple(judged), summary=summary, skipped=tuple(skipped))


def configmaps_by_namespace(
    objects: Iterable[Located], *, named: Collection[str] = ()
) -> tuple[dict[str, dict[str, ConfigMapContent]], list[Skip]]:
    """ConfigMaps by (namespace or `default`) then name, a later one replacing an earlier one as a
    later `kubectl apply` would; and the skips for unreadable ConfigMaps outside `named` files."""
    found: dict[str, dict[str, ConfigMapContent]] = {}
    broken: list[Skip] = []
    for located in objects:
        if not is_configmap(located.obj):
            continue
        try:
            namespace, content = configmap_content(located.obj)
        except ConfigMapError as error:
            if located.source.file in named:
                raise ManifestError(f"{where(located)}: {error}") from error
            broken.append(Skip(file=located.source.file, reason=BROKEN_CONFIGMAP, detail=f"{where(located)}: {error}"))
            continue
        found.setdefault(namespace or DEFAULT_NAMESPACE, {})[content.name] = content
    return found, broken


def secrets_by_namespace(objects: Iterable[Located]) -> dict[str, dict[str, SecretContent]]:
    """Secrets by namespace then name, with `immutable` and Reloader's `match` only (no digests:
    a scan hashes nothing). A Secret without a name is left out: nothing can consume it."""
    found: dict[str, dict[str, SecretContent]] = {}
    for located in objects:
        if not is_secret(located.obj):
            continue
        try:
            namespace, content = secret_flags(located.obj)
        except SecretDataError:
            continue
        found.setdefault(namespace or DEFAULT_NAMESPACE, {})[content.name] = content
    return found


def where(located: Located) -> str:
    """`file:line` of an object, `file` alone when the line is not known."""
    source = located.source
    return f"{source.file}:{source.line}" if source.line else source.file
