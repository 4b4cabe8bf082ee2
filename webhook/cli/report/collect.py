"""Evaluate every workload among located objects, with the ConfigMaps found beside them.

A scan judges manifests before they reach a cluster, so it applies the strictest rules
everywhere: `enforce` mode, a `CREATE`, in every namespace (`kube-system` too, which a cluster
exempts only because the webhook must not lock out the control plane). What the manifests
themselves say about ConfigMaps (`immutable`, Reloader's `match`) counts; a ConfigMap that is not
among the inputs counts as not existing, which changes no finding: only the hash needs content.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from webhook.cli.report.model import Judged, ScanReport, Summary
from webhook.manifests.configmaps import ConfigMapError, configmap_content, is_configmap
from webhook.manifests.inputs import Skip
from webhook.manifests.loader import Located, ManifestError
from webhook.policy import ConfigMapContent, Mode, Operation, evaluate, read_workload

DEFAULT_NAMESPACE = "default"
"""Where an object without a namespace goes when applied (kubectl without `-n`, or Helm)."""


def scan_objects(objects: Sequence[Located], *, files: int, skipped: Sequence[Skip] = ()) -> ScanReport:
    """Judge each workload once; owned and deleting objects are counted, not judged."""
    configmaps = configmaps_by_namespace(objects)
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


def configmaps_by_namespace(objects: Iterable[Located]) -> dict[str, dict[str, ConfigMapContent]]:
    """ConfigMaps by (namespace or `default`) then name; a later one replaces an earlier one,
    as a later `kubectl apply` would."""
    found: dict[str, dict[str, ConfigMapContent]] = {}
    for located in objects:
        if not is_configmap(located.obj):
            continue
        namespace, content = _content(located)
        found.setdefault(namespace or DEFAULT_NAMESPACE, {})[content.name] = content
    return found


def _content(located: Located) -> tuple[str | None, ConfigMapContent]:
    try:
        return configmap_content(located.obj)
    except ConfigMapError as error:
        raise ManifestError(f"{where(located)}: {error}") from error


def where(located: Located) -> str:
    """`file:line` of an object, `file` alone when the line is not known."""
    source = located.source
    return f"{source.file}:{source.line}" if source.line else source.file
