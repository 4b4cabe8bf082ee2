"""Find every way a pod spec consumes a ConfigMap or a Secret (SPEC "References", v2 "Secrets")."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from webhook.policy.model import ObjectKind, Reference, RefType
from webhook.policy.shapes import items, mapping, text

_CONTAINER_LISTS = (("containers", False), ("initContainers", True))

_VolumeSource = tuple[ObjectKind, str, tuple[str, ...] | None, bool]
"""(kind, name, the keys listed in `items` or None for all, optional)."""

_KEY_REFS = (("configMapKeyRef", ObjectKind.CONFIGMAP), ("secretKeyRef", ObjectKind.SECRET))
_FROM_REFS = (("configMapRef", ObjectKind.CONFIGMAP), ("secretRef", ObjectKind.SECRET))
"""Ephemeral containers are ignored: they are debugging aids, not configuration consumers."""


def find_references(pod_spec: Mapping[str, Any]) -> tuple[Reference, ...]:
    """All references of a pod spec, in container order; malformed entries are skipped."""
    volumes = _config_volumes(pod_spec)
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
        value_from = mapping(value_from)
        for field, source in _KEY_REFS:
            ref = mapping(value_from.get(field))
            target, key = text(ref.get("name")), text(ref.get("key"))
            if target and key:
                yield Reference(
                    container=name,
                    init=init,
                    type=RefType.ENV,
                    name=target,
                    source=source,
                    key=key,
                    optional=ref.get("optional") is True,
                )
    for raw in items(container.get("envFrom")):
        env_from = mapping(raw)
        for field, source in _FROM_REFS:
            ref = mapping(env_from.get(field))
            target = text(ref.get("name"))
            if target:
                yield Reference(
                    container=name,
                    init=init,
                    type=RefType.ENV_FROM,
                    name=target,
                    source=source,
                    optional=ref.get("optional") is True,
                )


def _mount_references(
    container: Mapping[str, Any],
    volumes: Mapping[str, list[_VolumeSource]],
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
        for source, target, keys, optional in volumes[volume]:
            yield Reference(
                container=name,
                init=init,
                type=RefType.SUB_PATH if sub_path else RefType.VOLUME,
                name=target,
                source=source,
                mount_path=text(mount.get("mountPath")),
                volume=volume,
                optional=optional,
                items=keys,
            )


def _config_volumes(pod_spec: Mapping[str, Any]) -> dict[str, list[_VolumeSource]]:
    """ConfigMap and Secret sources by volume name: `configMap` and `secret` volumes, and the
    `configMap` and `secret` sources of `projected` volumes."""
    volumes: dict[str, list[_VolumeSource]] = {}
    for raw in items(pod_spec.get("volumes")):
        volume = mapping(raw)
        volume_name = text(volume.get("name"))
        if volume_name is None:
            continue
        entries: list[_VolumeSource] = []
        if "configMap" in volume:
            entries += _volume_source(mapping(volume.get("configMap")), ObjectKind.CONFIGMAP, name_field="name")
        if "secret" in volume:
            entries += _volume_source(mapping(volume.get("secret")), ObjectKind.SECRET, name_field="secretName")
        for raw_source in items(mapping(volume.get("projected")).get("sources")):
            projected = mapping(raw_source)
            if "configMap" in projected:
                entries += _volume_source(mapping(projected.get("configMap")), ObjectKind.CONFIGMAP, name_field="name")
            if "secret" in projected:
                entries += _volume_source(mapping(projected.get("secret")), ObjectKind.SECRET, name_field="name")
        if entries:
            volumes[volume_name] = entries
    return volumes


def _volume_source(source: Mapping[str, Any], kind: ObjectKind, *, name_field: str) -> list[_VolumeSource]:
    """A `secret` volume names its Secret in `secretName`; every other source in `name`."""
    target = text(source.get(name_field))
    return [(kind, target, _item_keys(source), source.get("optional") is True)] if target else []


def _item_keys(source: Mapping[str, Any]) -> tuple[str, ...] | None:
    """The keys listed in `items`; None when there are none (`items: []` means no items)."""
    keys = tuple(key for item in items(source.get("items")) if (key := text(mapping(item).get("key"))))
    return keys or None
