"""Builders and checks shared by the CLI tests, so each test states only what it is about."""

from __future__ import annotations

import base64
import json
from typing import Any

import yaml
from click.testing import Result

from tests.support import builders
from webhook.policy import HASH_ANNOTATION


def one_line_error(result: Result, *fragments: str) -> None:
    """Exit 2 with a single `Error: ...` line on stderr naming every fragment; nothing on stdout."""
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("Error: ")
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert result.stdout == ""


# The builders are tests/support/builders.py; these keep the call shapes the CLI tests use
# (a Deployment in namespace `team` reading ConfigMap `settings` unless told otherwise).
container = builders.container


def env_from(configmap: str) -> dict[str, Any]:
    """Container fields: `container(**env_from("x"))`."""
    return {"envFrom": [builders.env_from(configmap)]}


def env_key(configmap: str, *keys: str) -> dict[str, Any]:
    """Container fields: one `env` entry per key."""
    return {"env": [builders.env_ref(configmap, key, var=f"VAR_{i}") for i, key in enumerate(keys)]}


def workload(
    kind: str = "Deployment",
    *,
    name: str | None = "web",
    namespace: str | None = "team",
    containers: list[dict[str, Any]] | None = None,
    volumes: list[dict[str, Any]] | None = None,
    annotations: dict[str, Any] | None = None,
    template_annotations: dict[str, Any] | None = None,
    owned: bool = False,
    deleting: bool = False,
) -> dict[str, Any]:
    """A `kind` object whose pod template (a Pod: itself) runs `containers` (default: envFrom `settings`)."""
    spec = builders.pod_spec(*(containers or [container(**env_from("settings"))]), volumes=volumes)
    return builders.workload(
        kind,
        spec,
        name=name,
        namespace=namespace,
        annotations=annotations or None,
        template_annotations=template_annotations or {},
        owned=owned,
        deleting=deleting,
    )


def configmap(
    name: str = "settings",
    *,
    namespace: str | None = None,
    data: dict[str, str] | None = None,
    immutable: bool = False,
    match: bool = False,
) -> dict[str, Any]:
    return builders.configmap_manifest(name, namespace=namespace, data=data, immutable=immutable, match=match)


def yaml_docs(*objects: dict[str, Any]) -> str:
    return yaml.safe_dump_all(objects, sort_keys=False)


def admission_review(
    obj: Any,
    *,
    operation: str = "CREATE",
    namespace: str | None = "team",
    old: Any = None,
    uid: str = "0f5c7e2a-uid",
) -> str:
    """An AdmissionReview v1 request for `obj`, as the API server sends it."""
    kind = obj.get("kind", "Deployment") if isinstance(obj, dict) else "Deployment"
    request: dict[str, Any] = {
        "uid": uid,
        "kind": {"group": "apps", "version": "v1", "kind": kind},
        "operation": operation,
        "namespace": namespace,
        "userInfo": {"username": "alice"},
        "object": obj,
    }
    if old is not None:
        request["oldObject"] = old
    return json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request})


def decoded_patch(response: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The JSONPatch of an AdmissionReview response body, decoded; None when there is none."""
    encoded = response["response"].get("patch")
    if encoded is None:
        return None
    assert response["response"]["patchType"] == "JSONPatch"
    patch: list[dict[str, Any]] = json.loads(base64.b64decode(encoded))
    return patch


def patched_hash(response: dict[str, Any]) -> str | None:
    """The config-hash value the response's patch sets, whatever shape the patch has."""
    patch = decoded_patch(response)
    if not patch:
        return None
    (operation,) = patch
    value = operation["value"]
    while isinstance(value, dict):
        value = value.get("annotations", value.get(HASH_ANNOTATION))
    assert isinstance(value, str)
    return value
