"""The production stack on loopback: kube-apiserver + etcd (tests/envtest) and a
`reload-safe serve --source cluster` (one worker, the defaults) watching them.

Helpers read the answer the way the API server would: the config hash from the mutating
response's JSONPatch, the warnings, the verdict.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.envtest import ControlPlane
from tests.reliability.probes import post_review, wait_workers
from tests.reliability.reviews import review
from tests.server.harness import Pki, Server
from tests.support.builders import container, env_from, env_ref, pod_spec, workload
from tests.support.polling import eventually
from webhook.policy import HASH_ANNOTATION, POLICY_LABEL


def start_cluster_server(
    *, cp: ControlPlane, pki: Pki, serving_files: tuple[Path, Path], workdir: Path, extra: tuple[str, ...] = ()
) -> Server:
    cert, key = serving_files
    server = Server(
        workdir=workdir,
        ca_file=pki.ca_file,
        args=["--cert-file", str(cert), "--key-file", str(key), "--source", "cluster",
              "--kubeconfig", str(cp.kubeconfig_path), "--audit-file", str(workdir / "audit.jsonl"),
              "--default-policy", "warn", *extra],
    )  # fmt: skip
    server.wait_ready(timeout=60)
    wait_workers(server, 1)
    return server


def core(cp: ControlPlane) -> Any:
    from kubernetes import client

    return client.CoreV1Api(cp.api_client())


def new_namespace(cp: ControlPlane, mode: str, prefix: str = "rel") -> str:
    return cp.new_namespace(prefix, labels={POLICY_LABEL: mode})


def put_configmap(cp: ControlPlane, namespace: str, name: str, data: dict[str, str]) -> None:
    from kubernetes.client.exceptions import ApiException

    api = core(cp)
    body = {"metadata": {"name": name}, "data": data}
    try:
        api.create_namespaced_config_map(namespace, body)
    except ApiException as error:
        if error.status != 409:
            raise
        api.replace_namespaced_config_map(name, namespace, body)


def deployment(namespace: str, configmap: str, *, name: str = "web") -> dict[str, Any]:
    app = container(envFrom=[env_from(configmap)], env=[env_ref(configmap, "level", var="LEVEL")])
    return workload("Deployment", pod_spec(app), name=name, namespace=namespace)


def review_of(namespace: str, configmap: str, uid: str) -> bytes:
    return json.dumps(review(deployment(namespace, configmap), uid=uid, namespace=namespace)).encode()


def hash_from(answer_body: bytes) -> str | None:
    """The config hash a mutating answer sets (None: no patch)."""
    response = json.loads(answer_body)["response"]
    if "patch" not in response:
        return None
    for op in json.loads(base64.b64decode(response["patch"])):
        if op.get("path", "").endswith(HASH_ANNOTATION.replace("/", "~1")):
            return str(op["value"])
        value = op.get("value")
        if isinstance(value, dict) and HASH_ANNOTATION in value:
            return str(value[HASH_ANNOTATION])
    return None


def current_hash(server: Server, namespace: str, configmap: str, uid: str) -> str | None:
    answer = post_review(server, review_of(namespace, configmap, uid), endpoint="/mutate", timeout=10)
    assert answer.status == 200, (answer.outcome, answer.body[:300])
    return hash_from(answer.body)


def seconds_until(check: Callable[[], bool], *, timeout: float) -> float:
    """Seconds until `check()` held (polled with `eventually`, which fails the test after `timeout`)."""
    started = time.monotonic()
    eventually(check, timeout=timeout, interval=0.1)
    return time.monotonic() - started
