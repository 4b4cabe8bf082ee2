"""What the cluster report says about each workload, as plain data every format reads alike."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

from webhook.policy import Violation


class State(enum.StrEnum):
    """A workload's configuration state (SPEC "The cluster report")."""

    CURRENT = "current"
    STALE = "stale"
    CHANGED = "changed"
    UNKNOWN = "unknown"
    NONE = "none"


STATES: Final = tuple(State)
"""Every state, in the order summaries list them."""

NO_HASH_KEY: Final = "consumes a Secret, and without the installation's hash key its current hash cannot be computed"
"""Why a workload is `unknown` although it carries a hash (report without --hash-key-file)."""


@dataclass(slots=True, kw_only=True)
class WorkloadState:
    """One reported workload. `pods` and `stale_pods` grow while the pods are tallied."""

    kind: str
    namespace: str
    name: str
    owned: bool
    """Owned by something that is not a workload kind (an operator's custom resource)."""
    state: State
    config_hash: str | None
    """The pod template's `reload-safe.io/config-hash` (a bare Pod's own), or None."""
    current_hash: str | None
    """The hash of what the workload consumes now; None when it consumes nothing."""
    findings: tuple[Violation, ...]
    pods: int = 0
    stale_pods: int = 0
    unknown_reason: str | None = None
    """Why the state is `unknown` when it is not the missing annotation (text output only)."""
    uid: str | None = None
    """The object's uid, for the Report's resource reference (not in the JSON output)."""

    @property
    def sort_key(self) -> tuple[str, str, str]:
        return (self.namespace, self.kind, self.name)


@dataclass(frozen=True, slots=True, kw_only=True)
class ClusterReport:
    workloads: tuple[WorkloadState, ...]
    """Sorted by namespace, kind, name, so two runs on the same cluster print the same."""

    def by_state(self) -> dict[str, int]:
        counts = {str(state): 0 for state in STATES}
        for workload in self.workloads:
            counts[str(workload.state)] += 1
        return counts

    @property
    def finding_count(self) -> int:
        return sum(len(workload.findings) for workload in self.workloads)

    @property
    def stale_count(self) -> int:
        return sum(1 for workload in self.workloads if workload.state is State.STALE)

    @property
    def pods(self) -> int:
        return sum(workload.pods for workload in self.workloads)

    @property
    def stale_pods(self) -> int:
        return sum(workload.stale_pods for workload in self.workloads)

    @property
    def clean(self) -> bool:
        """Exit status 0: nothing stale and no findings (`changed` needs no restart)."""
        return not self.finding_count and not self.stale_count
