"""Typed structures the policy core speaks in.

Everything here is plain data: frozen dataclasses and enums, no behaviour that touches the
outside world. Adapters (HTTP, Kubernetes API, CLI) translate their wire formats into these
types and back, so the core never sees JSON envelopes, sockets or a clock.
"""

from __future__ import annotations

import base64
import enum
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final, TypeAlias

JSONPatch: TypeAlias = list[dict[str, Any]]
"""RFC 6902 operations, ready to be serialised."""

HASH_ANNOTATION: Final = "reload-safe.io/config-hash"
RELOAD_ANNOTATION: Final = "reload-safe.io/reload"
POLICY_LABEL: Final = "reload-safe.io/policy"


class Mode(enum.StrEnum):
    """A namespace's policy (SPEC "Policy per namespace")."""

    ENFORCE = "enforce"
    WARN = "warn"
    AUDIT = "audit"
    OFF = "off"


class Operation(enum.StrEnum):
    CREATE = "CREATE"
    UPDATE = "UPDATE"
    DELETE = "DELETE"
    CONNECT = "CONNECT"


class Verdict(enum.StrEnum):
    """The audit log's `decision` values."""

    ALLOWED = "allowed"
    WARNED = "warned"
    DENIED = "denied"
    SKIPPED = "skipped"
    ERROR = "error"


class ObjectKind(enum.StrEnum):
    """The kind of object a reference names; the value is its field name in audit and scan JSON."""

    CONFIGMAP = "configmap"
    SECRET = "secret"

    @property
    def label(self) -> str:
        """The kind as people read it in messages: "ConfigMap" or "Secret"."""
        return "Secret" if self is ObjectKind.SECRET else "ConfigMap"


class RefType(enum.StrEnum):
    """How a container consumes a ConfigMap or a Secret (SPEC "References", Contract v2 "Secrets")."""

    ENV = "env"
    ENV_FROM = "envFrom"
    SUB_PATH = "subPath"
    VOLUME = "volume"

    @property
    def live_updated(self) -> bool:
        """Only a plain volume mount is refreshed by the kubelet."""
        return self is RefType.VOLUME


INVALID_ANNOTATION: Final = "invalid-annotation"
"""Finding type for an unknown `reload-safe.io/reload` value."""


class Strategy(enum.StrEnum):
    """Reload strategies (SPEC "Reload strategies")."""

    ROLLOUT = "rollout"
    NONE = "none"
    RELOADER = "reloader"
    WAVE = "wave"
    CHECKSUM = "checksum"
    IMMUTABLE = "immutable"

    @property
    def rolling(self) -> bool:
        """Rolling strategies replace pods when the template changes."""
        return self in _ROLLING


_ROLLING: Final = frozenset({Strategy.ROLLOUT, Strategy.RELOADER, Strategy.WAVE, Strategy.CHECKSUM})


@dataclass(frozen=True)
class ConfigMapContent:
    """What the policy needs of one ConfigMap, and nothing more.

    `binary_data` holds decoded bytes: the adapter that read the object decodes base64 once,
    so the core never meets an undecodable value.
    """

    name: str
    data: Mapping[str, str] = field(default_factory=dict)
    binary_data: Mapping[str, bytes] = field(default_factory=dict)
    immutable: bool = False
    reloader_match: bool = False

    def __post_init__(self) -> None:
        # One object may be read by many reviews at once (the static source hands out the same
        # object), so its values are read-only copies: no reader, and not the code that built
        # it, can change them for the others.
        object.__setattr__(self, "data", MappingProxyType(dict(self.data)))
        object.__setattr__(self, "binary_data", MappingProxyType(dict(self.binary_data)))

    @functools.cached_property
    def data_base64(self) -> Mapping[str, str]:
        """Each `data` value as the config hash takes it (standard base64 of its UTF-8 bytes).

        Worked out once per object: within a review, mutate's hash and every reference to the
        same ConfigMap share it (and the static source hands out one object for good)."""
        return MappingProxyType({key: _base64(value.encode("utf-8")) for key, value in self.data.items()})

    @functools.cached_property
    def binary_data_base64(self) -> Mapping[str, str]:
        """Each `binaryData` value as the config hash takes it (standard base64 of its bytes)."""
        return MappingProxyType({key: _base64(value) for key, value in self.binary_data.items()})


def _base64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


class ConfigMapAbsence(enum.Enum):
    """Why a ConfigMap has no content: it does not exist, or it could not be read."""

    ABSENT = "absent"
    UNREADABLE = "unreadable"


ABSENT: Final = ConfigMapAbsence.ABSENT
UNREADABLE: Final = ConfigMapAbsence.UNREADABLE

ConfigMapState: TypeAlias = ConfigMapContent | ConfigMapAbsence
ConfigMaps: TypeAlias = Mapping[str, ConfigMapState]
"""ConfigMaps of the request's namespace by name; a name not in the mapping is ABSENT."""


@dataclass(frozen=True)
class SecretContent:
    """What the policy needs of one Secret: never a value, only its keyed digests.

    `digests` maps each key to the lowercase hex HMAC-SHA256 of the value's bytes under the
    installation's hash key (`secrets.secret_content` computes them), so holding, hashing or
    logging this object cannot reveal a value, nor let a reader of a pod template test guesses.
    """

    name: str
    digests: Mapping[str, str] = field(default_factory=dict)
    immutable: bool = False
    reloader_match: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "digests", MappingProxyType(dict(self.digests)))


SecretState: TypeAlias = SecretContent | ConfigMapAbsence
Secrets: TypeAlias = Mapping[str, SecretState]
"""Secrets of the request's namespace by name; a name not in the mapping is ABSENT.

Passed as None when there is no hash key: then Secrets are never read, Secret references add
nothing to the hash, and whether a Secret is immutable is unknown (SPEC "Without a hash key")."""


@dataclass(frozen=True, slots=True)
class Reference:
    """One way one container consumes one ConfigMap or Secret."""

    container: str
    init: bool
    type: RefType
    name: str
    """The name of the ConfigMap or Secret."""
    source: ObjectKind = ObjectKind.CONFIGMAP
    key: str | None = None
    """The key of an `env` reference."""
    mount_path: str | None = None
    """The mount path of a `volume` or `subPath` reference."""
    volume: str | None = None
    """The volume name of a `volume` or `subPath` reference."""
    optional: bool = False
    items: tuple[str, ...] | None = None
    """The keys a volume source lists in `items`; None consumes every key (`items: []` too)."""


@dataclass(frozen=True, slots=True)
class Violation:
    """A finding: an unsafe reference no strategy covers, or an invalid annotation."""

    type: str
    """A `RefType` value of an unsafe type, or `INVALID_ANNOTATION`."""
    message: str
    """The full text: what, why, and the fixes that apply to this kind."""
    warning: str
    """The short form (at most 256 characters) sent as an AdmissionReview warning."""
    container: str | None = None
    configmap: str | None = None
    secret: str | None = None
    """The Secret's name; a reference violation names `configmap` or `secret`, never both."""
    key: str | None = None
    mount_path: str | None = None
    level: str | None = None
    """For `invalid-annotation`: "workload" or "template"."""
    value: str | None = None
    """For `invalid-annotation`: the value found."""

    @property
    def identity(self) -> tuple[str | None, ...]:
        """What makes two violations "the same" across an UPDATE (SPEC, enforce on UPDATE)."""
        if self.type == INVALID_ANNOTATION:
            return (self.type, self.level, self.value)
        return (self.type, self.container, self.configmap, self.secret, self.key, self.mount_path)


@dataclass(frozen=True, slots=True)
class Coverage:
    """Which strategies cover one unsafe reference."""

    reference: Reference
    strategies: tuple[Strategy, ...]
