"""Which mode a namespace runs in (SPEC "Policy per namespace")."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from webhook.policy.model import Mode

ALWAYS_EXEMPT = frozenset({"kube-system"})


@dataclass(frozen=True, slots=True)
class NamespaceMode:
    mode: Mode
    problem: str | None = None
    """A configuration error to log, e.g. an unknown label value."""


def resolve_mode(
    *,
    namespace: str | None,
    label: str | None,
    default: Mode,
    exempt: Collection[str] = (),
) -> NamespaceMode:
    """The namespace's mode: exempt namespaces are off; no label means the default;
    an unknown label value means the default too, reported as a configuration error."""
    if namespace in ALWAYS_EXEMPT or (namespace is not None and namespace in exempt):
        return NamespaceMode(Mode.OFF)
    if label is None:
        return NamespaceMode(default)
    try:
        return NamespaceMode(Mode(label))
    except ValueError:
        return NamespaceMode(
            default,
            problem=f'namespace "{namespace}" has unknown reload-safe.io/policy value "{label}";'
            f" using the default mode {default}",
        )
