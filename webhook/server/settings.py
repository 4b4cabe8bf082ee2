"""What `reload-safe serve` was asked to do, decided once by the command line."""

from __future__ import annotations

import enum
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from webhook.policy import Mode

STDOUT: Final = "-"
DEFAULT_PORT: Final = 8443
DEFAULT_THREADS: Final = 128
"""One per connection the API server may hold open to the pod, with room for those its HTTP
client dials ahead in a burst (each holds a thread until its request or 2 s; see gunicorn_app)."""


class SourceKind(enum.StrEnum):
    CLUSTER = "cluster"
    STATIC = "static"


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerSettings:
    cert_file: Path
    key_file: Path
    client_ca_file: Path | None = None
    port: int = DEFAULT_PORT
    host: str = "0.0.0.0"
    workers: int = 1
    threads: int = DEFAULT_THREADS
    log_level: str = "info"
    audit_file: str = STDOUT
    default_mode: Mode = Mode.WARN
    own_namespace: str | None = None
    source: SourceKind = SourceKind.CLUSTER
    configmap_files: tuple[str, ...] = ()
    namespace_policy: Mode | None = None
    kubeconfig: str | None = None
    hash_key_file: Path | None = None
    """The installation's hash key: with it Secrets are read (as digests); without, never."""

    @property
    def bind(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def exempt_namespaces(self) -> tuple[str, ...]:
        return (self.own_namespace,) if self.own_namespace else ()


def any_address() -> str:
    """ "::" (dual stack: IPv4 and IPv6 clusters) where IPv6 is available, else "0.0.0.0"."""
    if not socket.has_ipv6:
        return "0.0.0.0"
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::", 0))
    except OSError:
        return "0.0.0.0"
    return "::"
