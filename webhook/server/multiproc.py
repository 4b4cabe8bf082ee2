"""The directory a pod's gunicorn workers share, set up before anything imports prometheus_client:
their Prometheus samples, the audit lock and the shared ConfigMap store (`sources.shared`).

Each worker is its own process with its own counters. prometheus_client's multiprocess mode
has every worker write its samples to memory-mapped files in one directory, and `/metrics`
(served by whichever worker the scrape lands on) merges them, so a scrape sees the whole pod
and counters never jump back when a scrape lands on another worker. The library decides
between single- and multiprocess mode when it is first imported, from the environment, so the
command line calls `prepare_directory` first and imports the server modules afterwards.

This module must not import prometheus_client.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Final

ENV: Final = "PROMETHEUS_MULTIPROC_DIR"
AUDIT_LOCK: Final = "audit.lock"
STORE_FILE: Final = "configmaps.sqlite"
LOCK_FILE: Final = "configmaps.leader"


@dataclass(frozen=True, slots=True)
class MetricsDirectory:
    path: Path
    created: bool
    """True when this process made it (and so removes it at exit)."""

    @property
    def audit_lock(self) -> Path:
        """A lock file the workers share to write long audit lines one at a time."""
        return self.path / AUDIT_LOCK

    @property
    def configmap_store(self) -> Path:
        """The SQLite file of the pod's one ConfigMap cache (see `sources.shared`)."""
        return self.path / STORE_FILE

    @property
    def configmap_leader_lock(self) -> Path:
        """The lock held by the worker that lists and watches ConfigMaps for the pod."""
        return self.path / LOCK_FILE


def prepare_directory() -> MetricsDirectory:
    """A clean directory named in PROMETHEUS_MULTIPROC_DIR (an operator's choice is kept, emptied).

    Files left by an earlier run (a restarted container with the same emptyDir) would be merged
    into this run's counters, so they are removed.
    """
    given = os.environ.get(ENV)
    if given:
        directory = Path(given)
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.db"):  # (the ConfigMap store removes its own: `SharedStore.create`)
            stale.unlink(missing_ok=True)
        return MetricsDirectory(directory, created=False)
    directory = Path(tempfile.mkdtemp(prefix="reload-safe-metrics-"))
    os.environ[ENV] = str(directory)
    return MetricsDirectory(directory, created=True)


def remove_directory(directory: MetricsDirectory) -> None:
    """At exit: remove a directory we made; only empty one the operator gave."""
    if directory.created:
        shutil.rmtree(directory.path, ignore_errors=True)
    else:
        for stale in (*directory.path.glob("*.db"), *directory.path.glob(f"{STORE_FILE}*")):
            with contextlib.suppress(OSError):
                stale.unlink(missing_ok=True)
