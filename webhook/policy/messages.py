"""Words for people who have never heard of reload-safe: what is wrong, why, and the fixes.

Each violation has a full message (audit log, denial) and a short warning that aims at about
120 characters and never exceeds 256, because `kubectl` prints every warning on its own line.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from webhook.policy.model import RELOAD_ANNOTATION, Reference, RefType, Strategy
from webhook.policy.workloads import Workload

WARNING_LIMIT: Final = 256
ELLIPSIS: Final = "…"

_WHY: Final = {
    RefType.ENV: "environment variables are fixed when the container starts",
    RefType.ENV_FROM: "environment variables are fixed when the container starts",
    RefType.SUB_PATH: "a file mounted with subPath is never refreshed by the kubelet",
}


def shorten(name: str, limit: int) -> str:
    """Cut `name` in the middle with `…` so it is at most `limit` characters."""
    if len(name) <= limit:
        return name
    head = (limit - 1) // 2 + (limit - 1) % 2
    tail = limit - 1 - head
    return name[:head] + ELLIPSIS + (name[-tail:] if tail else "")


def workload_label(workload: Workload) -> str:
    namespace = f"{workload.namespace}/" if workload.namespace else ""
    return f"{workload.kind} {namespace}{workload.display_name}"


def reference_phrase(reference: Reference) -> str:
    """`envFrom of ConfigMap "x"`, with the key or mount path where there is one."""
    phrase = f'{reference.type} reference to {reference.source.label} "{reference.name}"'
    if reference.key:
        phrase += f' (key "{reference.key}")'
    if reference.mount_path:
        phrase += f' (mounted at "{reference.mount_path}")'
    return phrase


def violation_message(workload: Workload, reference: Reference, *, uncovering: Sequence[Strategy]) -> str:
    """The full text of one unsafe, uncovered reference."""
    container = f'{"init container" if reference.init else "container"} "{reference.container}"'
    text = (
        f"{workload_label(workload)}, {container}: the {reference_phrase(reference)} will not "
        f"reload: {_WHY[reference.type]}, so editing the {reference.source.label} never reaches the running "
        "pods and nothing restarts them."
    )
    if uncovering:
        names = ", ".join(str(s) for s in uncovering)
        text += (
            f" The declared reload strategy ({names}) does not cover a {workload.kind}: it works by"
            " replacing pods when the pod template changes, and nothing replaces this kind's pods."
        )
    return f"{text} Fix: {'; or '.join(_fixes(workload, reference))}."


def _fixes(workload: Workload, reference: Reference) -> list[str]:
    fixes = []
    if workload.rolling:
        fixes.append(
            f"annotate the {workload.kind} or its pod template with `{RELOAD_ANNOTATION}: rollout`"
            f" so a {reference.source.label} change rolls it out"
        )
    else:
        fixes.append(
            f"run it from a Deployment instead of a bare {workload.kind} and annotate that with"
            f" `{RELOAD_ANNOTATION}: rollout`"
        )
    if reference.type is RefType.SUB_PATH:
        fixes.append(f"mount the {reference.source.label} volume without subPath, which the kubelet refreshes")
    else:
        fixes.append(f"read the configuration from a {reference.source.label} volume mounted without subPath")
    fixes.append(
        f'make {reference.source.label} "{reference.name}" immutable (`immutable: true`) and use a new name for'
        " each change"
    )
    fixes.append(f"accept stale configuration with `{RELOAD_ANNOTATION}: none`")
    return fixes


def violation_warning(workload: Workload, reference: Reference) -> str:
    """One line, about 120 characters, never more than 256."""
    for limit in (63, 40, 24, 12, 6):
        detail = ""
        if reference.key:
            detail = f" key {shorten(reference.key, limit)}"
        if reference.mount_path:
            detail = f" at {shorten(reference.mount_path, limit)}"
        fix = f"set {RELOAD_ANNOTATION}: rollout" if workload.rolling else "run it from a Deployment"
        line = (
            f"{workload.kind}/{shorten(workload.display_name, limit)}"
            f" container {shorten(reference.container, limit)}:"
            f" {reference.type} {reference.source.label} {shorten(reference.name, limit)}{detail}"
            f" never reloads; {fix}"
        )
        if len(line) <= WARNING_LIMIT:
            return line
    return shorten(line, WARNING_LIMIT)


def invalid_annotation_message(workload: Workload, *, level: str, value: str) -> str:
    where = "the pod template" if level == "template" else f"the {workload.kind}"
    return (
        f'{workload_label(workload)}: annotation `{RELOAD_ANNOTATION}: "{value}"` on {where} is not'
        ' a known reload strategy, so it declares nothing. Fix: use "rollout" (roll the workload'
        ' when its configuration changes) or "none" (accept stale configuration); values are'
        " case-sensitive."
    )


def invalid_annotation_warning(workload: Workload, *, level: str, value: str) -> str:
    where = "pod template" if level == "template" else workload.kind
    for limit in (40, 24, 12, 6):
        line = (
            f"{workload.kind}/{shorten(workload.display_name, limit)}: unknown"
            f' {RELOAD_ANNOTATION} value "{shorten(value, limit)}" on {where}; use rollout or none'
        )
        if len(line) <= WARNING_LIMIT:
            return line
    return shorten(line, WARNING_LIMIT)


def unreadable_warning(names: Sequence[str], secrets: Sequence[str] = ()) -> str:
    """`names`: ConfigMaps that could not be read; `secrets`: Secrets."""
    labelled = [("ConfigMap", name) for name in names] + [("Secret", name) for name in secrets]
    shown = labelled[:3]
    kinds = {kind for kind, _ in labelled}
    if len(kinds) == 1:  # "ConfigMap a, b, c": the kind once
        listed = f"{shown[0][0]} " + ", ".join(shorten(name, 40) for _, name in shown)
    else:
        listed = ", ".join(f"{kind} {shorten(name, 40)}" for kind, name in shown)
    listed += ", …" if len(labelled) > 3 else ""
    line = (
        f"reload-safe: could not read {listed}; {'it is' if len(labelled) == 1 else 'they are'}"
        " judged as unknown and the config hash was left unchanged"
    )
    return shorten(line, WARNING_LIMIT)


def denial_message(workload: Workload, messages: Sequence[str]) -> str:
    count = len(messages)
    noun = "finding" if count == 1 else "findings"
    body = "\n".join(f"{index}. {message}" for index, message in enumerate(messages, 1))
    return (
        f"reload-safe denied {workload_label(workload)}: {count} {noun} in a namespace whose"
        f" policy is enforce (label reload-safe.io/policy).\n{body}"
    )
