"""The result of one scan, as plain data every formatter reads the same way."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

from webhook.manifests.inputs import Skip
from webhook.manifests.loader import Source
from webhook.policy import INVALID_ANNOTATION, RefType, Violation

FINDING_TYPES: Final = (str(RefType.ENV), str(RefType.ENV_FROM), str(RefType.SUB_PATH), INVALID_ANNOTATION)
"""Every finding type, in the order reports list them (SPEC "Command line")."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Judged:
    """One workload that was evaluated, where it was read, and what was found in it."""

    kind: str
    namespace: str | None
    """As written in the manifest: None when it has none (it then runs in the default one)."""
    name: str | None
    source: Source
    violations: tuple[Violation, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Summary:
    """Counts that tell a reader what the scan looked at, so "no findings" can be trusted."""

    files: int
    documents: int
    objects: int
    configmaps: int
    workloads: int
    """Workloads evaluated (owned and deleting ones are not)."""
    skipped_owned: int
    skipped_deleting: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ScanReport:
    workloads: tuple[Judged, ...]
    """Every evaluated workload, in input order; most have no violations."""
    summary: Summary
    skipped: tuple[Skip, ...] = ()
    """Inputs not scanned (not manifests, charts without helm, ...), in the order met."""

    def skipped_by_reason(self) -> dict[str, list[Skip]]:
        """The skips grouped by reason, the most common reason first (ties in the order met)."""
        groups: dict[str, list[Skip]] = {}
        for skip in self.skipped:
            groups.setdefault(skip.reason, []).append(skip)
        return dict(sorted(groups.items(), key=lambda item: -len(item[1])))

    def findings(self) -> Iterator[tuple[Judged, Violation]]:
        """Each finding with the workload it was found in, in input order."""
        for judged in self.workloads:
            for violation in judged.violations:
                yield judged, violation

    @property
    def finding_count(self) -> int:
        return sum(len(judged.violations) for judged in self.workloads)

    def by_type(self) -> dict[str, int]:
        counts = dict.fromkeys(FINDING_TYPES, 0)
        for _, violation in self.findings():
            counts[violation.type] = counts.get(violation.type, 0) + 1
        return counts

    @property
    def flagged(self) -> tuple[Judged, ...]:
        """The workloads with at least one finding."""
        return tuple(judged for judged in self.workloads if judged.violations)
