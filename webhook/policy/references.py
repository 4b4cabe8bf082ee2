"""Find every way a pod spec consumes a ConfigMap (SPEC "References")."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from webhook.policy.model import Reference, RefType
from webhook.policy.shapes import items, mapping, text

_CONTAINER_LISTS = (("containers", False), ("initContainers", True))
"""Ephemeral containers are ignored: they are debugging aids, not configuration consumers."""


def find_references(pod_spec: Mapping[str, Any]) -> tuple[Reference, ...]:
    """All references of a pod spec, in container order; malformed entries are skipped."""
    volumes = _configmap_volumes(pod_spec)
    found: list[Reference] = []
    for list_name, init in _CONTAINER_LISTS:
        for index, raw in enumerate(items(pod_spec.get(list_name))):
            container = mapping(raw)
            if not container:
                continue
            name = text(container.get("name")) or f"{list_name}[{index}]"
            found.extend(_env_references(container, name=name, init=init))
            found.extend(_mount_references(container, volumes, name=name, init=init))
    return tuple(found)


def _env_references(container: Mapping[str, Any], *, name: str, init: bool) -> Iterator[Reference]:
    for env in items(container.get("env")):
        value_from = (env if type(env) is dict else mapping(env)).get("valueFrom")
        if value_from is None:
            continue  # a plain `value`, by far the most common entry: nothing more to read
        ref = mapping(mapping(value_from).get("configMapKeyRef"))
        configmap, key = text(ref.get("name")), text(ref.get("key"))
        if configmap and key:
            yield Reference(
                container=name,
                init=init,
                type=RefType.ENV,
                configmap=configmap,
                key=key,
                optional=ref.get("optional") is True,
            )
    for env_from in items(container.get("envFrom")):
        ref = mapping(mapping(env_from).get("configMapRef"))
        configmap = text(ref.get("name"))
        if configmap:
            yield Reference(
                container=name,
                init=init,
                type=RefType.ENV_FROM,
                configmap=configmap,
                optional=ref.get("optional") is True,
            )


def _mount_references(
    container: Mapping[str, Any],
    volumes: Mapping[str, list[tuple[str, tuple[str, ...] | None, bool]]],
    *,
    name: str,
    init: bool,
) -> Iterator[Reference]:
    for raw in items(container.get("volumeMounts")):
        mount = mapping(raw)
        volume = text(mount.get("name"))
        if volume is None or volume not in volumes:
            continue
        sub_path = text(mount.get("subPath")) or text(mount.get("subPathExpr"))
        for configmap, keys, optional in volumes[volume]:
            yield Reference(
                container=name,
                init=init,
                type=RefType.SUB_PATH if sub_path else RefType.VOLUME,
                configmap=configmap,
                mount_path=text(mount.get("mountPath")),
                volume=volume,
                optional=optional,
                items=keys,
            )


def _configmap_volumes(
    pod_spec: Mapping[str, Any],
) -> dict[str, list[tuple[str, tuple[str, ...] | None, bool]]]:
    """ConfigMap sources by volume name: `configMap` volumes and `projected` ConfigMap sources."""
    volumes: dict[str, list[tuple[str, tuple[str, ...] | None, bool]]] = {}
    for raw in items(pod_spec.get("volumes")):
        volume = mapping(raw)
        volume_name = text(volume.get("name"))
        if volume_name is None:
            continue
        sources = [mapping(volume.get("configMap"))] if "configMap" in volume else []
        projected = mapping(volume.get("projected"))
        sources += [mapping(mapping(s).get("configMap")) for s in items(projected.get("sources"))]
        entries = [
            (configmap, _item_keys(source), source.get("optional") is True)
            for source in sources
            if (configmap := text(source.get("name")))
        ]
        if entries:
            volumes[volume_name] = entries
    return volumes


def _item_keys(source: Mapping[str, Any]) -> tuple[str, ...] | None:
    """The keys listed in `items`; None when there are none (`items: []` means no items)."""
    keys = tuple(key for item in items(source.get("items")) if (key := text(mapping(item).get("key"))))
    return keys or None
