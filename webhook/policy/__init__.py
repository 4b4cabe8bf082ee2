"""The pure policy core: no Flask, no Kubernetes client, no sockets, no clock.

Adapters call `configmap_names` to learn what to look up, then `evaluate` with what they found.
"""

from webhook.policy.confighash import config_hash, consumed_entries
from webhook.policy.engine import Decision, configmap_names, evaluate, names_of, references_of, secret_names
from webhook.policy.model import (
    ABSENT,
    HASH_ANNOTATION,
    INVALID_ANNOTATION,
    POLICY_LABEL,
    RELOAD_ANNOTATION,
    UNREADABLE,
    ConfigMapAbsence,
    ConfigMapContent,
    ConfigMaps,
    ConfigMapState,
    Coverage,
    JSONPatch,
    Mode,
    ObjectKind,
    Operation,
    Reference,
    RefType,
    SecretContent,
    Secrets,
    SecretState,
    Strategy,
    Verdict,
    Violation,
)
from webhook.policy.references import find_references
from webhook.policy.workloads import WORKLOAD_KINDS, Workload, read_workload

__all__ = [
    "ABSENT",
    "HASH_ANNOTATION",
    "INVALID_ANNOTATION",
    "POLICY_LABEL",
    "RELOAD_ANNOTATION",
    "UNREADABLE",
    "WORKLOAD_KINDS",
    "ConfigMapAbsence",
    "ConfigMapContent",
    "ConfigMapState",
    "ConfigMaps",
    "Coverage",
    "Decision",
    "JSONPatch",
    "Mode",
    "ObjectKind",
    "Operation",
    "RefType",
    "Reference",
    "SecretContent",
    "SecretState",
    "Secrets",
    "Strategy",
    "Verdict",
    "Violation",
    "Workload",
    "config_hash",
    "configmap_names",
    "consumed_entries",
    "evaluate",
    "find_references",
    "names_of",
    "read_workload",
    "references_of",
    "secret_names",
]
