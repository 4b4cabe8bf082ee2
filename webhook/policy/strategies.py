"""Reload strategies: what a workload declares, and which references each one covers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from webhook.policy.model import (
    RELOAD_ANNOTATION,
    ConfigMapContent,
    ConfigMaps,
    ObjectKind,
    Reference,
    SecretContent,
    Secrets,
    Strategy,
)
from webhook.policy.shapes import annotation_value, mapping
from webhook.policy.workloads import Workload

RELOADER_AUTO_ALL: Final = "reloader.stakater.com/auto"
RELOADER_AUTO: Final[Mapping[ObjectKind, str]] = {
    ObjectKind.CONFIGMAP: "configmap.reloader.stakater.com/auto",
    ObjectKind.SECRET: "secret.reloader.stakater.com/auto",
}
RELOADER_RELOAD: Final[Mapping[ObjectKind, str]] = {
    ObjectKind.CONFIGMAP: "configmap.reloader.stakater.com/reload",
    ObjectKind.SECRET: "secret.reloader.stakater.com/reload",
}
RELOADER_SEARCH: Final = "reloader.stakater.com/search"
RELOADER_MATCH: Final = "reloader.stakater.com/match"
WAVE: Final = "wave.pusher.com/update-on-config-change"
CHECKSUM_PREFIX: Final = "checksum/"

_RELOAD_VALUES: Final = {"rollout": Strategy.ROLLOUT, "none": Strategy.NONE}


@dataclass(frozen=True, slots=True)
class InvalidReload:
    """A `reload-safe.io/reload` annotation with a value the spec does not know."""

    level: str
    value: str


@dataclass(frozen=True, slots=True)
class Declared:
    """The strategies a workload declares through annotations, before looking at any reference."""

    reload: frozenset[Strategy]
    invalid: tuple[InvalidReload, ...]
    reloader_auto: frozenset[ObjectKind]
    """The kinds whose every reference Reloader's `auto` annotations cover."""
    reloader_names: Mapping[ObjectKind, frozenset[str]]
    """The ConfigMaps and Secrets Reloader's `reload` annotations list, by kind."""
    reloader_search: bool
    wave: bool
    checksum: bool

    def covering(
        self, reference: Reference, configmaps: ConfigMaps, secrets: Secrets | None = None
    ) -> tuple[Strategy, ...]:
        """Every strategy that would cover `reference` in a kind whose pods get replaced.

        A Secret is looked at only when `secrets` is given (with a hash key): without it, its
        `immutable` and Reloader `match` are unknown, so they cover nothing."""
        found: list[Strategy] = [s for s in (Strategy.ROLLOUT, Strategy.NONE) if s in self.reload]
        content = _read_content(reference, configmaps, secrets)
        if (
            reference.source in self.reloader_auto
            or reference.name in self.reloader_names[reference.source]
            or (self.reloader_search and content is not None and content.reloader_match)
        ):
            found.append(Strategy.RELOADER)
        if self.wave:
            found.append(Strategy.WAVE)
        if self.checksum:
            found.append(Strategy.CHECKSUM)
        if content is not None and content.immutable:
            found.append(Strategy.IMMUTABLE)
        return tuple(found)


def _read_content(
    reference: Reference, configmaps: ConfigMaps, secrets: Secrets | None
) -> ConfigMapContent | SecretContent | None:
    """The referenced object as read, or None when it is absent, unreadable or not to be read."""
    if reference.source is ObjectKind.SECRET:
        secret = secrets.get(reference.name) if secrets is not None else None
        return secret if isinstance(secret, SecretContent) else None
    configmap = configmaps.get(reference.name)
    return configmap if isinstance(configmap, ConfigMapContent) else None


def declared_strategies(workload: Workload) -> Declared:
    """Read every strategy annotation at the levels where SPEC says it counts."""
    levels = _levels(workload)
    reload: set[Strategy] = set()
    invalid: list[InvalidReload] = []
    for level, level_annotations in levels.items():
        if RELOAD_ANNOTATION not in level_annotations:
            continue
        value = annotation_value(level_annotations[RELOAD_ANNOTATION])
        strategy = _RELOAD_VALUES.get(value or "")
        if strategy is None:
            invalid.append(InvalidReload(level=level, value=value if value is not None else ""))
        else:
            reload.add(strategy)
    both = list(levels.values())
    workload_level = levels["workload"]
    template_level = levels.get("template", workload_level)
    auto_all = any(_is_true(a, RELOADER_AUTO_ALL) for a in both)
    return Declared(
        reload=frozenset(reload),
        invalid=tuple(invalid),
        reloader_auto=frozenset(
            kind for kind, key in RELOADER_AUTO.items() if auto_all or any(_is_true(a, key) for a in both)
        ),
        reloader_names={
            kind: frozenset(name for a in both for name in _names(a.get(key))) for kind, key in RELOADER_RELOAD.items()
        },
        reloader_search=any(_is_true(a, RELOADER_SEARCH) for a in both),
        wave=_is_true(workload_level, WAVE),
        checksum=any(isinstance(key, str) and key.startswith(CHECKSUM_PREFIX) for key in template_level),
    )


def _levels(workload: Workload) -> dict[str, Mapping[str, Any]]:
    """Annotations by level; a bare Pod's own metadata is both, so it is read once."""
    own = mapping(workload.metadata.get("annotations"))
    if workload.is_pod:
        return {"workload": own}
    return {"workload": own, "template": mapping(workload.template_metadata.get("annotations"))}


def _is_true(annotations: Mapping[str, Any], key: str) -> bool:
    return annotation_value(annotations.get(key)) == "true"


def _names(value: object) -> list[str]:
    listed = annotation_value(value)
    return [name.strip() for name in listed.split(",") if name.strip()] if listed else []
