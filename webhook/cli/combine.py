"""What the API server would end up with after both webhooks ran, computed offline.

In a cluster the mutating webhook answers first, the API server applies its patch, and only
then does the validating webhook see the object. `reload-safe review` folds those two answers
into one response so a person (or a CI job) can see the whole outcome of one admission: the
patch from the mutating webhook, and the verdict, warnings, status and audit annotations from
the validating one, judged on the object as the API server would have patched it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import jsonpatch

from webhook.admission import (
    AdmissionRequest,
    AdmissionResponse,
    ConfigMapReader,
    NamespaceModes,
    Outcome,
    SecretReader,
    WebhookKind,
    handle,
)
from webhook.policy import JSONPatch


@dataclass(frozen=True, slots=True, kw_only=True)
class Combined:
    """Both webhooks' outcomes and the one response that sums them up."""

    mutating: Outcome
    validating: Outcome
    response: AdmissionResponse


def combine_webhooks(
    request: AdmissionRequest,
    *,
    configmaps: ConfigMapReader,
    namespaces: NamespaceModes,
    secrets: SecretReader | None = None,
) -> Combined:
    """Run the mutating webhook, apply its patch, run the validating webhook on the result."""
    mutating = handle(
        request, webhook=WebhookKind.MUTATING, configmaps=configmaps, namespaces=namespaces, secrets=secrets
    )
    patch = mutating.response.patch
    mutated = replace(request, object=apply_patch(request.object, patch=patch)) if patch else request
    validating = handle(
        mutated, webhook=WebhookKind.VALIDATING, configmaps=configmaps, namespaces=namespaces, secrets=secrets
    )
    return Combined(
        mutating=mutating,
        validating=validating,
        response=replace(validating.response, patch=patch),
    )


def apply_patch(obj: Any, *, patch: JSONPatch) -> Any:
    """`obj` after `patch`, as the API server applies it; the request's own object is not touched.

    The policy only ever patches an object it could read as a workload, so `obj` is a mapping
    here; anything else would be a core bug and surfaces as the `jsonpatch` error it raises.
    """
    if not isinstance(obj, Mapping):
        raise jsonpatch.JsonPatchException("the request object is not a JSON object")
    return jsonpatch.apply_patch(dict(obj), patch, in_place=False)
