"""The things the handler asks of the outside world, as small interfaces.

A cluster cache, static manifests or a test double can stand behind them; the handler cannot
tell which, which is what lets the CLI reuse it with no cluster.
"""

from __future__ import annotations

from typing import Protocol

from webhook.policy.model import ConfigMapState, SecretState
from webhook.policy.namespaces import NamespaceMode


class ConfigMapReader(Protocol):
    def get(self, *, namespace: str, name: str) -> ConfigMapState:
        """The ConfigMap's content, ABSENT, or UNREADABLE (the source cannot tell right now)."""
        ...


class SecretReader(Protocol):
    def get(self, *, namespace: str, name: str) -> SecretState:
        """The Secret's digests (never its values), ABSENT, or UNREADABLE.

        Only a source that holds the installation's hash key exists: without one the handler
        gets no reader, and Secrets are never read (SPEC "Without a hash key")."""
        ...


class NamespaceModes(Protocol):
    def mode(self, *, namespace: str | None) -> NamespaceMode:
        """The policy mode of a namespace, with any configuration problem to log."""
        ...
