"""The content hash of the configuration a workload consumes (SPEC "Hash algorithm (exact)").

The same function serves the webhook and the rollout controller, so a ConfigMap change and a
re-apply of the workload produce the same value and never two rollouts for one change.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator

from webhook.policy.jsontext import compact_json
from webhook.policy.model import ConfigMapContent, ConfigMaps, ObjectKind, Reference, RefType, SecretContent, Secrets

Entry = tuple[str, str, str, str | None]
"""`[name, field, key, value]`: for a ConfigMap, value is base64 of the bytes; for a Secret
(field "secret"), the keyed digest of the value; None when not found."""

SECRET_FIELD = "secret"


def consumed_entries(
    references: Iterable[Reference], configmaps: ConfigMaps, secrets: Secrets | None = None
) -> list[Entry]:
    """The distinct consumed entries of all references, sorted by (name, field, key).

    `secrets` None (no hash key): Secret references add no entries (SPEC "Without a hash key").
    """
    entries: set[Entry] = set()
    for reference in references:
        if reference.source is ObjectKind.SECRET:
            if secrets is not None:
                _add_secret_entries(entries, reference, secrets.get(reference.name))
            continue
        content = configmaps.get(reference.name)
        if isinstance(content, ConfigMapContent):
            entries.update(_entries_of(reference, content))
        else:
            entries.add((reference.name, "", "", None))
    return sorted(entries, key=lambda entry: entry[:3])


def _add_secret_entries(entries: set[Entry], reference: Reference, content: object) -> None:
    """A Secret has only `data`: env takes its key, envFrom every key, a volume its items or all."""
    name = reference.name
    if not isinstance(content, SecretContent):
        entries.add((name, SECRET_FIELD, "", None))
        return
    if reference.type is RefType.ENV:
        assert reference.key is not None
        keys: Iterable[str] = (reference.key,)
    elif reference.type is not RefType.ENV_FROM and reference.items is not None:
        keys = reference.items
    else:
        keys = content.digests
    entries.update((name, SECRET_FIELD, key, content.digests.get(key)) for key in keys)


def config_hash(entries: list[Entry]) -> str:
    """`sha256:` + hex digest of the entries serialised as compact ASCII JSON."""
    return "sha256:" + hashlib.sha256(compact_json(entries)).hexdigest()


def _entries_of(reference: Reference, content: ConfigMapContent) -> Iterator[Entry]:
    name = reference.name
    if reference.type is RefType.ENV:
        assert reference.key is not None
        yield _from_data_only(name, reference.key, content)
    elif reference.type is RefType.ENV_FROM:
        for key, value in content.data_base64.items():
            yield (name, "data", key, value)
    elif reference.items is not None:
        for key in reference.items:
            yield _from_data_or_binary(name, key, content)
    else:
        for key, value in content.data_base64.items():
            yield (name, "data", key, value)
        for key, value in content.binary_data_base64.items():
            yield (name, "binaryData", key, value)


def _from_data_only(name: str, key: str, content: ConfigMapContent) -> Entry:
    """Environment variables never come from `binaryData`."""
    return (name, "data", key, content.data_base64.get(key))


def _from_data_or_binary(name: str, key: str, content: ConfigMapContent) -> Entry:
    if key in content.data:
        return (name, "data", key, content.data_base64[key])
    if key in content.binary_data:
        return (name, "binaryData", key, content.binary_data_base64[key])
    return (name, "data", key, None)
