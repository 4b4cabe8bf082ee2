"""The report for people: findings grouped under the workload they were found in."""

from __future__ import annotations

from webhook.cli.report.model import Judged, ScanReport
from webhook.manifests.loader import STDIN, Source


def render_text(report: ScanReport) -> str:
    """One header per flagged workload, one line per finding, and a closing summary line."""
    lines: list[str] = []
    for judged in report.flagged:
        lines.append(f"{header(judged)}")
        lines.extend(f"  - {violation.type}: {violation.message}" for violation in judged.violations)
        lines.append("")
    lines.extend(skipped_lines(report))
    lines.append(summary_line(report))
    return "\n".join(lines)


def skipped_lines(report: ScanReport) -> list[str]:
    """The `skipped` heading: reasons with their count, most common first, each file under its reason."""
    if not report.skipped:
        return []
    lines = [f"skipped ({_plural(len(report.skipped), 'input')}):"]
    for reason, skips in report.skipped_by_reason().items():
        lines.append(f"  {reason} ({len(skips)})")
        for skip in skips:
            file = "stdin" if skip.file == STDIN else skip.file
            lines.append(f"    - {file}: {skip.detail}" if skip.detail else f"    - {file}")
    lines.append("")
    return lines


def header(judged: Judged) -> str:
    """`Kind namespace/name (file:line)`; the namespace only where the manifest gives one."""
    namespace = f"{judged.namespace}/" if judged.namespace else ""
    return f"{judged.kind} {namespace}{judged.name or '(unnamed)'} ({location(judged.source)})"


def location(source: Source) -> str:
    file = "stdin" if source.file == STDIN else source.file
    if source.line:
        return f"{file}:{source.line}"
    return f"{file}, document {source.document}"


def summary_line(report: ScanReport) -> str:
    summary = report.summary
    count = report.finding_count
    scope = (
        f"{_plural(summary.files, 'file')}, {_plural(summary.objects, 'object')},"
        f" {_plural(summary.configmaps, 'ConfigMap')}"
    )
    skipped = summary.skipped_owned + summary.skipped_deleting
    if skipped:
        scope += f"; skipped {summary.skipped_owned} owned, {summary.skipped_deleting} being deleted"
    if report.skipped:
        scope += f"; {len(report.skipped)} not scanned, see skipped"
    if not count:
        return f"reload-safe scan: no findings in {_plural(summary.workloads, 'workload')} ({scope})"
    by_type = ", ".join(f"{kind} {n}" for kind, n in report.by_type().items() if n)
    return (
        f"reload-safe scan: {_plural(count, 'finding')} ({by_type}) in {len(report.flagged)}"
        f" of {_plural(summary.workloads, 'workload')} ({scope})"
    )


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
