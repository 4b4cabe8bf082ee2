"""A workload's configuration state from its template's hash and what it consumes now."""

from __future__ import annotations

from webhook.clusterreport.model import State
from webhook.policy import Reference


def state_of(*, references: tuple[Reference, ...], config_hash: str | None, current_hash: str | None) -> State:
    """SPEC "The cluster report": `none` before `unknown`, since a workload that consumes nothing
    has no configuration to be stale about, whatever its annotation says.

    `current_hash` is None only when there is no reference (the hash of what is consumed now
    always exists otherwise: a missing ConfigMap or key hashes as missing)."""
    if not references or current_hash is None:
        return State.NONE
    if config_hash is None:
        return State.UNKNOWN
    if config_hash == current_hash:
        return State.CURRENT
    if all(reference.type.live_updated for reference in references):
        return State.CHANGED
    return State.STALE


def pod_is_stale(*, pod_hash: str | None, current_hash: str | None) -> bool:
    """A pod started with other configuration: its own hash is present and differs. A pod without
    the annotation (created before reload-safe, or in an `off` namespace) is not counted."""
    return pod_hash is not None and current_hash is not None and pod_hash != current_hash
