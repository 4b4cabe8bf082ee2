"""The controller with Secrets (SPEC v2), driven through its caches with recorded lists and events:
a Secret edit rolls its consumers once, a hash key rotation rolls each Secret consumer once and
nothing else, and the Secret cache keeps digests, never a value."""

from __future__ import annotations

import base64
import gc
import hashlib
import hmac
import json
import secrets
import threading
import time
from typing import Any

from tests.support.builders import container, pod_spec, workload
from tests.support.polling import eventually
from tests.support.spec import V1_DATA, V1_HASH, V2_HASH, V2_HASH_KEY, V2_SECRET, V2_SECRET_DATA
from tests.unit.controller.fakes import FakeListWatch, FakePatcher, FakeRecorder
from webhook.controller.runner import Controller, Tuning

DEBOUNCE = 0.05
OTHER_KEY = b"another-installation-key-0123456789abcdef"


def secret(data: dict[str, str], name: str = V2_SECRET) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": "ns"}, "data": data}


def configmap() -> dict[str, Any]:
    meta = {"name": "env-config", "namespace": "ns"}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": V1_DATA}


def deployment(name: str, env_from: list[dict[str, Any]], stored: str) -> dict[str, Any]:
    return workload(
        "Deployment",
        pod_spec(container(envFrom=env_from)),
        name=name,
        namespace="ns",
        annotations={"reload-safe.io/reload": "rollout"},
        template_annotations={"reload-safe.io/config-hash": stored},
    )


VECTOR_ENV = [{"configMapRef": {"name": "env-config"}}, {"secretRef": {"name": V2_SECRET}}]
CM_ENV = [{"configMapRef": {"name": "env-config"}}]


def keyed_hash(key: bytes, password: bytes) -> str:
    """SPEC v2 entries and hash, written out independently of webhook.policy."""
    digest = hmac.new(key, password, hashlib.sha256).hexdigest()
    entries = [[V2_SECRET, "secret", "password", digest], ["env-config", "data", "log_level", "SU5GTw=="]]
    return "sha256:" + hashlib.sha256(json.dumps(entries, separators=(",", ":")).encode()).hexdigest()


class Run:
    def __init__(self, *, key: bytes, secrets: list[dict[str, Any]], deployments: list[dict[str, Any]]) -> None:
        self.secrets = FakeListWatch(*secrets)
        self.patcher = FakePatcher()
        self.controller = Controller(
            configmaps=FakeListWatch(configmap()),
            workloads={"Deployment": FakeListWatch(*deployments)},
            secrets=self.secrets,
            hash_key=key,
            patcher=self.patcher,
            recorder=FakeRecorder(),
            tuning=Tuning(debounce=DEBOUNCE, max_wait=1.0, rate=1000.0, burst=100),
            may_write=lambda: True,
        )
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.controller.run, args=(self.stop,), daemon=True)
        self.thread.start()

    def settle(self) -> None:
        eventually(
            lambda: self.controller.synced and len(self.controller.queue) == 0,
            timeout=5,
            interval=0.01,
            what="synced with an empty queue",
        )
        time.sleep(6 * DEBOUNCE)

    def close(self) -> None:
        self.stop.set()
        self.secrets.interrupt()
        self.thread.join(5)


def test_the_independent_keyed_hash_is_the_spec_vector() -> None:
    assert keyed_hash(V2_HASH_KEY, b"hunter2") == V2_HASH


def test_a_secret_edit_rolls_its_consumer_once() -> None:
    run = Run(
        key=V2_HASH_KEY,
        secrets=[secret(V2_SECRET_DATA)],
        deployments=[deployment("web", VECTOR_ENV, V2_HASH), deployment("cm-only", CM_ENV, V1_HASH)],
    )
    try:
        run.settle()
        assert run.patcher.patches == []
        run.secrets.push("MODIFIED", secret({"password": base64.b64encode(b"rotated").decode()}))
        run.settle()
        assert run.patcher.patches == [("Deployment ns/web", keyed_hash(V2_HASH_KEY, b"rotated"))]
    finally:
        run.close()


def test_rotating_the_hash_key_rolls_each_secret_consumer_once_and_nothing_else() -> None:
    deployments = [deployment("web", VECTOR_ENV, V2_HASH), deployment("cm-only", CM_ENV, V1_HASH)]
    run = Run(key=OTHER_KEY, secrets=[secret(V2_SECRET_DATA)], deployments=deployments)
    try:
        run.settle()
        assert run.patcher.patches == [("Deployment ns/web", keyed_hash(OTHER_KEY, b"hunter2"))]
    finally:
        run.close()


def test_the_secret_cache_keeps_digests_never_the_value() -> None:
    marker = secrets.token_hex(16)  # made at run time: no module constant holds it
    run = Run(
        key=V2_HASH_KEY,
        secrets=[secret({"password": base64.b64encode(marker.encode()).decode()}, name="planted")],
        deployments=[deployment("web", [{"secretRef": {"name": "planted"}}], V2_HASH)],
    )
    try:
        run.settle()
        run.secrets.objects.clear()  # the recorded list is the test's, not the controller's
        gc.collect()
        encoded = base64.b64encode(marker.encode()).decode()
        held = [
            o
            for o in gc.get_objects()
            if isinstance(o, dict)
            and any(isinstance(v, str | bytes) and (marker in str(v) or encoded in str(v)) for v in o.values())
        ]
        assert held == [], "no object the controller keeps holds the value, decoded or not"
        stored = run.controller._secrets.get(("ns", "planted")) if run.controller._secrets else None
        assert stored is not None
        assert set(stored.digests) == {"password"}
    finally:
        run.close()
