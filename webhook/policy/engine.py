"""The decision: one pure function from (object, ConfigMaps, mode) to verdict, warnings and patch.

No I/O, no clock: adapters gather the ConfigMaps first (`configmap_names` says which), call
`evaluate`, and act on the returned `Decision` afterwards — auditing included, so a side effect
can never change a verdict.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from webhook.policy import messages
from webhook.policy.confighash import config_hash, consumed_entries
from webhook.policy.model import (
    INVALID_ANNOTATION,
    UNREADABLE,
    ConfigMaps,
    Coverage,
    JSONPatch,
    Mode,
    ObjectKind,
    Operation,
    Reference,
    Secrets,
    Strategy,
    Verdict,
    Violation,
)
from webhook.policy.patch import hash_patch
from webhook.policy.references import find_references
from webhook.policy.strategies import declared_strategies
from webhook.policy.workloads import CREATE_ONLY_HASH_KINDS, Workload, read_workload

EVALUATED_OPERATIONS = frozenset({Operation.CREATE, Operation.UPDATE})


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """Everything an adapter needs to answer, audit and report one evaluation."""

    verdict: Verdict
    mode: Mode
    kind: str | None = None
    name: str | None = None
    namespace: str | None = None
    owned: bool = False
    skip_reason: str | None = None
    references: tuple[Reference, ...] = ()
    coverage: tuple[Coverage, ...] = ()
    violations: tuple[Violation, ...] = ()
    """Every finding, new or pre-existing, in the order found."""
    denied: tuple[Violation, ...] = ()
    """The findings that deny the request (enforce mode, new on UPDATE)."""
    strategies: tuple[Strategy, ...] = ()
    acknowledged: bool = False
    warnings: tuple[str, ...] = ()
    """Violation warnings, for the validating response."""
    unreadable: tuple[str, ...] = ()
    """Referenced ConfigMaps that could not be read: their hash is unknown."""
    unreadable_secrets: tuple[str, ...] = ()
    """Referenced Secrets that could not be read (with a hash key): their hash is unknown."""
    hash_warning: str | None = None
    """For the mutating response, when the hash could not be computed."""
    denial_message: str | None = None
    config_hash: str | None = None
    patch: JSONPatch | None = None

    @property
    def allowed(self) -> bool:
        return self.verdict is not Verdict.DENIED


def configmap_names(obj: Mapping[str, Any], *, kind: str | None = None) -> frozenset[str]:
    """The ConfigMaps an adapter must look up before calling `evaluate`."""
    return names_of(references_of(obj, kind=kind), ObjectKind.CONFIGMAP)


def secret_names(obj: Mapping[str, Any], *, kind: str | None = None) -> frozenset[str]:
    """The Secrets an adapter with a hash key must look up before calling `evaluate`."""
    return names_of(references_of(obj, kind=kind), ObjectKind.SECRET)


def names_of(references: Iterable[Reference], source: ObjectKind) -> frozenset[str]:
    """The names of the objects of kind `source` that `references` consume."""
    return frozenset(ref.name for ref in references if ref.source is source)


def references_of(obj: Mapping[str, Any], *, kind: str | None = None) -> tuple[Reference, ...]:
    """Every reference of `obj`'s pod template (none when it is not a workload).

    An adapter that needs both the names and the decision passes the result on to `evaluate`
    (`references=`), so the pod spec is walked once per request instead of twice.
    """
    workload = read_workload(obj, kind=kind)
    return find_references(workload.pod_spec) if workload is not None else ()


def evaluate(
    *,
    obj: Mapping[str, Any],
    operation: Operation,
    mode: Mode,
    configmaps: ConfigMaps,
    secrets: Secrets | None = None,
    kind: str | None = None,
    old_obj: Mapping[str, Any] | None = None,
    references: tuple[Reference, ...] | None = None,
) -> Decision:
    """Judge one admission of `obj` under `mode` (SPEC, all of it that needs no I/O).

    `secrets`: the Secrets read with the installation's hash key; None without a key (Secret
    references are judged, but add nothing to the hash and are never covered by `immutable`).
    `references`: what `references_of(obj, kind=kind)` returned, when the caller has it.
    """
    workload = read_workload(obj, kind=kind)
    if workload is None:
        return Decision(verdict=Verdict.SKIPPED, mode=mode, kind=kind, skip_reason="not a workload kind")
    skip_reason = _skip_reason(workload, operation=operation, mode=mode)
    if skip_reason:
        return Decision(
            verdict=Verdict.SKIPPED,
            mode=mode,
            skip_reason=skip_reason,
            kind=workload.kind,
            name=workload.name,
            namespace=workload.namespace,
        )

    findings = _Findings.of(workload, configmaps, secrets, references=references)
    owned = workload.owned
    unreadable = _unreadable(findings.references, ObjectKind.CONFIGMAP, configmaps)
    unreadable_secrets = _unreadable(findings.references, ObjectKind.SECRET, secrets or {})
    digest = None
    if findings.references and not unreadable and not unreadable_secrets:
        # Only Secret references and no hash key: nothing can be hashed, so no annotation (as
        # for a workload that consumes nothing), rather than a constant that records nothing.
        hashable = secrets is not None or any(r.source is ObjectKind.CONFIGMAP for r in findings.references)
        if hashable:
            digest = config_hash(consumed_entries(findings.references, configmaps, secrets))
    patch = None
    if (
        digest
        and not owned
        and mode in (Mode.ENFORCE, Mode.WARN)
        and (operation is Operation.CREATE or workload.kind not in CREATE_ONLY_HASH_KINDS)
    ):
        patch = hash_patch(obj, template_path=workload.template_path, value=digest)

    judged_on_update = operation is Operation.UPDATE and mode is Mode.ENFORCE and not owned
    verdict, denied, warnings = _verdict(
        findings.violations,
        mode=mode,
        owned=owned,
        existing=_existing_identities(old_obj, workload.kind, configmaps, secrets) if judged_on_update else set(),
        uncertain={v.identity for v in findings.uncertain},
    )
    speaks = not owned and mode in (Mode.ENFORCE, Mode.WARN)
    return Decision(
        verdict=verdict,
        mode=mode,
        owned=owned,
        references=findings.references,
        coverage=findings.coverage,
        violations=findings.violations,
        denied=denied,
        strategies=findings.strategies,
        acknowledged=findings.acknowledged,
        warnings=warnings,
        unreadable=unreadable,
        unreadable_secrets=unreadable_secrets,
        hash_warning=(
            messages.unreadable_warning(unreadable, unreadable_secrets)
            if (unreadable or unreadable_secrets) and speaks
            else None
        ),
        denial_message=messages.denial_message(workload, [v.message for v in denied]) if denied else None,
        config_hash=digest,
        patch=patch,
        kind=workload.kind,
        name=workload.name,
        namespace=workload.namespace,
    )


def _skip_reason(workload: Workload, *, operation: Operation, mode: Mode) -> str | None:
    if operation not in EVALUATED_OPERATIONS:
        return f"operation {operation} is not evaluated"
    if mode is Mode.OFF:
        return "namespace policy is off"
    if workload.being_deleted:
        return "object is being deleted"
    if workload.borrows_template:
        return "a Rollout without spec.template (it runs its workloadRef's template, judged there)"
    return None


@dataclass(frozen=True, slots=True)
class _Findings:
    references: tuple[Reference, ...]
    coverage: tuple[Coverage, ...]
    violations: tuple[Violation, ...]
    uncertain: tuple[Violation, ...]
    """Violations whose ConfigMap could not be read: it might be immutable."""
    strategies: tuple[Strategy, ...]
    acknowledged: bool

    @classmethod
    def of(
        cls,
        workload: Workload,
        configmaps: ConfigMaps,
        secrets: Secrets | None,
        *,
        references: tuple[Reference, ...] | None = None,
    ) -> _Findings:
        if references is None:
            references = find_references(workload.pod_spec)
        declared = declared_strategies(workload)
        coverage: list[Coverage] = []
        violations: dict[tuple[str | None, ...], Violation] = {}
        uncertain: list[Violation] = []
        in_effect: set[Strategy] = set()
        acknowledged = False
        for reference in references:
            covering = declared.covering(reference, configmaps, secrets)
            effective = tuple(s for s in covering if workload.rolling or not s.rolling)
            in_effect.update(effective)
            if reference.type.live_updated:
                continue
            coverage.append(Coverage(reference=reference, strategies=effective))
            acknowledged = acknowledged or Strategy.NONE in effective
            if effective:
                continue
            violation = Violation(
                type=str(reference.type),
                message=messages.violation_message(workload, reference, uncovering=[s for s in covering if s.rolling]),
                warning=messages.violation_warning(workload, reference),
                container=reference.container,
                configmap=reference.name if reference.source is ObjectKind.CONFIGMAP else None,
                secret=reference.name if reference.source is ObjectKind.SECRET else None,
                key=reference.key,
                mount_path=reference.mount_path,
            )
            if violation.identity not in violations:
                violations[violation.identity] = violation
                looked_in = configmaps if reference.source is ObjectKind.CONFIGMAP else (secrets or {})
                if looked_in.get(reference.name) is UNREADABLE:
                    uncertain.append(violation)
        for invalid in declared.invalid:
            violation = Violation(
                type=INVALID_ANNOTATION,
                message=messages.invalid_annotation_message(workload, level=invalid.level, value=invalid.value),
                warning=messages.invalid_annotation_warning(workload, level=invalid.level, value=invalid.value),
                level=invalid.level,
                value=invalid.value,
            )
            violations.setdefault(violation.identity, violation)
        return cls(
            references=references,
            coverage=tuple(coverage),
            violations=tuple(violations.values()),
            uncertain=tuple(uncertain),
            strategies=tuple(
                s for s in Strategy if s in in_effect or (s in declared.reload and (workload.rolling or not s.rolling))
            ),
            acknowledged=acknowledged,
        )


def _unreadable(references: Iterable[Reference], source: ObjectKind, found: Mapping[str, object]) -> tuple[str, ...]:
    """The names of the referenced objects of kind `source` that could not be read, sorted."""
    return tuple(sorted({r.name for r in references if r.source is source and found.get(r.name) is UNREADABLE}))


def _existing_identities(
    old_obj: Mapping[str, Any] | None, kind: str, configmaps: ConfigMaps, secrets: Secrets | None
) -> set[tuple[str | None, ...]]:
    """Identities of the violations the old object already had (Kyverno's allowExistingViolations)."""
    if old_obj is None:
        return set()
    old = read_workload(old_obj, kind=kind)
    if old is None:
        return set()
    return {v.identity for v in _Findings.of(old, configmaps, secrets).violations}


def _verdict(
    violations: Iterable[Violation],
    *,
    mode: Mode,
    owned: bool,
    existing: set[tuple[str | None, ...]],
    uncertain: set[tuple[str | None, ...]],
) -> tuple[Verdict, tuple[Violation, ...], tuple[str, ...]]:
    """Verdict, the violations that deny, and the warnings to return."""
    violations = tuple(violations)
    if owned or mode is Mode.AUDIT or not violations:
        return Verdict.ALLOWED, (), ()
    if mode is Mode.WARN:
        return Verdict.WARNED, (), tuple(v.warning for v in violations)
    denied = tuple(v for v in violations if v.identity not in existing and v.identity not in uncertain)
    warned = tuple(v.warning for v in violations if v not in denied)
    return (Verdict.DENIED if denied else Verdict.WARNED), denied, warned
