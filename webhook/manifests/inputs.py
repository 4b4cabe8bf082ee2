"""What `scan` reads: files, folders, charts and kustomizations, and what it had to skip.

A folder is walked so that one odd file never stops the scan of a repository: a file that is
not a Kubernetes manifest (a Helm template, a `values.yaml`, an `mkdocs.yml`, a JSON array of
strings) is skipped with its reason. What the user named on the command line is held to more:
a named file that cannot be read, or does not parse, stops the scan (exit 2), as it did.
Folders holding a `Chart.yaml` or a `kustomization.yaml` are rendered with their tool when it is
installed (`render`), and skipped with a hint when it is not.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from webhook.manifests import render
from webhook.manifests.loader import (
    MANIFEST_SUFFIXES,
    NOT_AN_OBJECT,
    STDIN,
    Located,
    ManifestError,
    Source,
    Wanted,
    YamlError,
    read_documents,
    read_text,
)

TEMPLATE: Final = "Helm template: scan `helm template` output instead"
CHART_NO_HELM: Final = "Helm chart: install helm or pipe `helm template` output"
CHART_DEPENDENCIES: Final = "Helm chart: dependencies missing, run `helm dependency build`"
CHART_FAILED: Final = "Helm chart: `helm template` failed"
KUSTOMIZATION_NO_TOOL: Final = "kustomization: install kubectl or kustomize, or pipe `kubectl kustomize` output"
KUSTOMIZATION_FAILED: Final = "kustomization: `kubectl kustomize` failed"
NOT_YAML: Final = "not valid YAML or JSON"
CUSTOM_TAG: Final = "YAML for another program: it uses tags Kubernetes does not read"
NO_KIND: Final = "not a Kubernetes object: no apiVersion and kind"
UNREADABLE: Final = "cannot be read"
BROKEN_CONFIGMAP: Final = "a ConfigMap the API server would refuse"
KUSTOMIZATION_FILES: Final = ("kustomization.yaml", "kustomization.yml", "Kustomization")
SKIPPED_FOLDERS: Final = frozenset({".git"})


@dataclass(frozen=True, slots=True)
class Skip:
    """A file (or chart, or one document of a file) that was not scanned, and why."""

    file: str
    reason: str
    """One of the constants above: reports count skips by it."""
    detail: str | None = None
    """Where and what exactly: a line and column, helm's error, a document index."""


@dataclass(slots=True)
class Inputs:
    objects: list[Located] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    files: int = 0
    """Files read, charts and kustomizations rendered."""

    def reasons(self) -> dict[str, int]:
        """How many skips for each reason, most common first."""
        return dict(Counter(skip.reason for skip in self.skipped).most_common())


def gather(paths: Iterable[str], *, values: tuple[str, ...] = (), wanted: Wanted | None = None) -> Inputs:
    """Read every path (`-` is stdin); raise `ManifestError` only for what was named and is unreadable."""
    reader = _Reader(values=values, wanted=wanted)
    for raw in paths:
        if raw == STDIN:
            reader.file(raw, explicit=True)
            continue
        path = Path(raw)
        if path.is_dir():
            reader.folder(path, explicit=True)
        elif path.exists():
            reader.file(raw, explicit=True)  # a regular file, or a pipe: `scan <(helm template ...)`
        else:
            raise ManifestError(f"{raw}: no such file or directory")
    return reader.inputs


class _Reader:
    def __init__(self, *, values: tuple[str, ...], wanted: Wanted | None) -> None:
        self.values = values
        self.wanted = wanted
        self.inputs = Inputs()

    def folder(self, folder: Path, *, explicit: bool) -> None:
        if (folder / "Chart.yaml").is_file():
            self.chart(folder, explicit=explicit)
            return
        kustomization = next((folder / n for n in KUSTOMIZATION_FILES if (folder / n).is_file()), None)
        if kustomization is not None:
            self.kustomization(kustomization, explicit=explicit)
            return
        for entry in sorted(folder.iterdir()):
            if entry.is_dir():
                if entry.name not in SKIPPED_FOLDERS:
                    self.folder(entry, explicit=False)
            elif entry.suffix in MANIFEST_SUFFIXES and entry.is_file():
                self.file(str(entry), explicit=False)

    def file(self, path: str, *, explicit: bool) -> None:
        try:
            text = read_text(path)
        except ManifestError as error:
            if explicit:
                raise
            self._skip(path, UNREADABLE, str(error).removeprefix(f"{path}: cannot read: "))
            return
        self.inputs.files += 1
        try:
            located, not_objects = read_documents(path, text, wanted=self.wanted)
        except YamlError as error:
            if "{{" in text:
                self._skip(path, TEMPLATE, error.reason)
            elif error.custom_tag:
                self._skip(path, CUSTOM_TAG, error.reason)
            elif explicit:
                raise
            else:
                self._skip(path, NOT_YAML, error.reason)
            return
        except ManifestError as error:
            if explicit:
                raise
            self._skip(path, NOT_YAML, str(error).removeprefix(f"{path}:").strip())
            return
        self._keep(path, located, [(n.source, n.got) for n in not_objects])

    def chart(self, chart: Path, *, explicit: bool) -> None:
        helm = render.helm()
        if helm is None:
            self._skip(str(chart), CHART_NO_HELM)
            return
        try:
            rendered = render.render_chart(chart, helm_path=helm, values=self.values)
        except render.RenderError as error:
            reason = CHART_DEPENDENCIES if error.missing_dependencies else CHART_FAILED
            if explicit:
                raise ManifestError(f"{chart}: {reason}: {error}") from error
            self._skip(str(chart), reason, str(error))
            return
        self.inputs.files += 1
        self._rendered(str(chart), rendered.text, explicit=explicit, attribute=lambda s: _template_file(chart, s))

    def kustomization(self, kustomization: Path, *, explicit: bool) -> None:
        folder = kustomization.parent
        command = render.kustomize_command()
        if command is None:
            self._skip(str(folder), KUSTOMIZATION_NO_TOOL)
            return
        try:
            rendered = render.render_kustomization(folder, command=command)
        except render.RenderError as error:
            if explicit:
                raise ManifestError(f"{folder}: {KUSTOMIZATION_FAILED}: {error}") from error
            self._skip(str(folder), KUSTOMIZATION_FAILED, str(error))
            return
        self.inputs.files += 1
        self._rendered(str(kustomization), rendered.text, explicit=explicit, attribute=None)

    def _rendered(self, name: str, text: str, *, explicit: bool, attribute: Any) -> None:
        """Objects of a rendering, each attributed to its template when helm says which."""
        try:
            located, not_objects = read_documents(name, text, wanted=self.wanted)
        except ManifestError as error:
            if explicit:
                raise
            self._skip(name, NOT_YAML, str(error))
            return
        if attribute is not None:
            located = _attributed(located, text, attribute)
        else:
            located = [
                Located(obj=o.obj, source=Source(file=name, document=o.source.document, line=None)) for o in located
            ]
        self._keep(name, located, [(n.source, n.got) for n in not_objects])

    def _keep(self, path: str, located: list[Located], not_objects: list[tuple[Source, str]]) -> None:
        """Keep the objects; list what holds none: the whole file when nothing in it is an object,
        else each odd document (a values document among manifests)."""
        objects = [o for o in located if _is_object(o.obj)]
        odd = sorted(
            [(source, NOT_AN_OBJECT, got) for source, got in not_objects]
            + [(o.source, NO_KIND, None) for o in located if not _is_object(o.obj)],
            key=lambda entry: (entry[0].document, entry[0].line or 0),
        )
        if not objects and odd:
            _, reason, got = odd[0]
            self._skip(path, reason, f"it is {got}" if got else None)
            return
        for source, reason, got in odd:
            where = f"document {source.document}" + (f", line {source.line}" if source.line else "")
            self._skip(source.file, reason, f"{where}: {got}" if got else where)
        self.inputs.objects.extend(objects)

    def _skip(self, path: str, reason: str, detail: str | None = None) -> None:
        self.inputs.skipped.append(Skip(file=path, reason=reason, detail=detail))


def _is_object(obj: Mapping[str, Any]) -> bool:
    """What says "Kubernetes object": a `kind` or an `apiVersion` (the webhook judges by kind alone)."""
    return "kind" in obj or "apiVersion" in obj


def _template_file(chart: Path, source: str) -> str:
    """`app/templates/x.yaml` (as helm prints it, chart name first) as a path under the chart folder."""
    _, _, inside = source.partition("/")
    return str(chart / inside) if inside else str(chart)


def _attributed(located: list[Located], text: str, attribute: Any) -> list[Located]:
    """Give each object the template file of the `# Source:` comment above it, numbering the
    documents of each template from 0; the line in the rendering means nothing in the repository."""
    sources = render.template_sources(text)
    starts = [text.count("\n", 0, offset) + 1 for offset, _ in sources]
    counters: Counter[tuple[str, int]] = Counter()
    seen_documents: dict[tuple[str, int], int] = {}
    result: list[Located] = []
    for item in located:
        line = item.source.line or 0
        index = bisect.bisect_right(starts, line) - 1
        file = attribute(sources[index][1]) if index >= 0 else attribute("")
        key = (file, item.source.document)
        if key not in seen_documents:
            seen_documents[key] = counters[(file, 0)]
            counters[(file, 0)] += 1
        result.append(Located(obj=item.obj, source=Source(file=file, document=seen_documents[key], line=None)))
    return result
