"""`make demo`: the seed article's experiment, replayed against a real kube-apiserver.

The article (shared/seed/configmap-hot-update.md) shows that editing a ConfigMap never reaches
pods that read it through `envFrom` or a `subPath` mount, and nothing rolls the Deployment.
This replays it step by step with reload-safe registered through the chart's webhook
configurations, printing what was sent and what the API server answered; then the same for a
rotated Secret, and ends with `reload-safe report`: which workloads run stale configuration.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from tests.e2e.controller_process import LEASE_NAMESPACE, ControllerProcess
from tests.e2e.kube import Answer, Kube, names, settled_replica_sets
from tests.e2e.webhook_process import WebhookServer, register, render_webhook_configurations
from tests.envtest import ControlPlane
from tests.support.polling import eventually
from webhook.policy import HASH_ANNOTATION

SEED_CONFIGMAP = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "env-config"},
    "data": {"log_level": "INFO"},
}


def seed_deployment(annotations: dict[str, str] | None = None, *, name: str = "my-nginx") -> dict[str, Any]:
    """The article's envFrom Deployment, as apps/v1 (extensions/v1beta1 is long gone)."""
    metadata: dict[str, Any] = {"name": name}
    if annotations:
        metadata["annotations"] = annotations
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata,
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"run": name}},
            "template": {
                "metadata": {"labels": {"run": name}},
                "spec": {
                    "containers": [
                        {
                            "name": "my-nginx",
                            "image": "nginx:1.9",
                            "ports": [{"containerPort": 80}],
                            "envFrom": [{"configMapRef": {"name": "env-config"}}],
                        }
                    ]
                },
            },
        },
    }


def subpath_deployment() -> dict[str, Any]:
    obj = seed_deployment(name="my-nginx-subpath")
    pod = obj["spec"]["template"]["spec"]
    del pod["containers"][0]["envFrom"]
    pod["containers"][0]["volumeMounts"] = [
        {"name": "config-volume", "mountPath": "/etc/config/log_level", "subPath": "log_level"}
    ]
    pod["volumes"] = [{"name": "config-volume", "configMap": {"name": "env-config"}}]
    return obj


class Narrator:
    def __init__(self) -> None:
        self.step = 0

    def title(self, text: str) -> None:
        self.step += 1
        print(f"\n\033[1m── Step {self.step}: {text}\033[0m", flush=True)

    def say(self, text: str) -> None:
        print(textwrap.fill(text, width=100), flush=True)

    def sent(self, what: str, obj: dict[str, Any] | None = None) -> None:
        print(f"\n$ {what}")
        if obj is not None:
            print(textwrap.indent(yaml.safe_dump(obj, sort_keys=False).rstrip(), "    "))

    def answered(self, answer: Answer) -> None:
        if answer.ok:
            print(f"  API server: {answer.status} OK")
        else:
            print(f"  API server: {answer.status} {answer.body.get('reason', '')}")
            print(textwrap.indent(textwrap.fill(answer.message, width=96), "    "))
        for warning in answer.warnings:
            print(f"  Warning: {warning}")

    def show(self, label: str, value: object) -> None:
        print(f"  {label}: {value}", flush=True)


def template_hash(body: dict[str, Any]) -> str | None:
    annotations = body.get("spec", {}).get("template", {}).get("metadata", {}).get("annotations") or {}
    return annotations.get(HASH_ANNOTATION)


def main() -> int:
    n = Narrator()
    with tempfile.TemporaryDirectory(prefix="reload-safe-demo-") as tmp:
        work = Path(tmp)
        n.title(
            "start a real control plane (etcd + kube-apiserver + kube-controller-manager built from Go modules)"
            " on loopback"
        )
        with ControlPlane(work_dir=work / "controlplane") as cp:
            n.show("kube-apiserver", cp.url)
            kube = Kube(cp.api_client())
            core = client.CoreV1Api(kube.api)

            n.title("start `reload-safe serve` and register it with the chart's webhook configurations")
            key_file = work / "hash-key"
            subprocess.run(
                [sys.executable, "-m", "webhook", "hash-key", "generate", "--out", str(key_file)], check=True
            )
            n.show("hash key (as the chart's hook makes it)", f"{key_file}, never printed")
            server = WebhookServer(
                kubeconfig=cp.kubeconfig_path, work_dir=work, extra_args=("--hash-key-file", str(key_file))
            )
            server.start()
            controller = ControllerProcess(
                kubeconfig=cp.kubeconfig_path, work_dir=work, identity="demo", debounce=2.0, hash_key_file=key_file
            )
            try:
                core.create_namespace({"metadata": {"name": LEASE_NAMESPACE}})
                configurations = render_webhook_configurations(
                    helm=cp.binary("helm"), url=server.url, ca_bundle=server.ca_bundle
                )
                register(kube.api, configurations)
                n.show("webhook", server.url)
                n.show("registered", ", ".join(f"{c['kind']}/{c['metadata']['name']}" for c in configurations))
                n.title("start the rollout controller (`reload-safe controller`, leader election through a Lease)")
                controller.start().wait_leading()
                n.show("leading", controller.identity)
                run_experiment(n, kube, core)
                rotate_a_secret(n, kube)
                n.title("the webhook's audit log (one JSON line per decision; values never logged)")
                for record in server.audit_records()[-4:]:
                    print(
                        "  "
                        + json.dumps(
                            {k: record.get(k) for k in ("webhook", "kind", "name", "mode", "decision", "config_hash")}
                        )
                    )
                report(n, cp.kubeconfig_path, key_file)
            finally:
                controller.stop()
                server.stop()
        n.title("everything stopped")
    return 0


def run_experiment(n: Narrator, kube: Kube, core: client.CoreV1Api) -> None:
    ns = "demo"
    core.create_namespace({"metadata": {"name": ns}})

    n.title("the article's ConfigMap and envFrom Deployment, in a namespace with the default policy (warn)")
    n.sent(f"kubectl apply -n {ns} -f configmap.yaml", SEED_CONFIGMAP)
    n.answered(kube.apply(SEED_CONFIGMAP, namespace=ns))
    n.sent(f"kubectl apply -n {ns} -f deployment.yaml", seed_deployment())
    answer = kube.apply(seed_deployment(), namespace=ns)
    n.answered(answer)
    n.show("stored pod template annotation", f"{HASH_ANNOTATION}: {template_hash(answer.body)}")
    n.say(
        "The Deployment is admitted, but the API server relays reload-safe's warning:"
        " editing env-config will never reach this pod."
    )

    n.title("label the namespace enforce: a new workload with the same problem is denied")
    n.sent(f"kubectl label namespace {ns} reload-safe.io/policy=enforce")
    core.patch_namespace(ns, {"metadata": {"labels": {"reload-safe.io/policy": "enforce"}}})
    time.sleep(1)
    second = seed_deployment(name="my-nginx-2")
    n.sent(f"kubectl apply -n {ns} -f deployment-2.yaml  (same spec, new name)")
    n.answered(kube.apply(second, namespace=ns))
    n.say(
        "The existing my-nginx keeps working (updates to it are warned, not denied),"
        " so `kubectl rollout restart` never breaks."
    )

    n.title("declare a reload strategy: reload-safe.io/reload: rollout")
    declared = seed_deployment({"reload-safe.io/reload": "rollout"}, name="my-nginx-2")
    n.sent(f"kubectl apply -n {ns} -f deployment-2.yaml", {"metadata": declared["metadata"]})
    answer = kube.apply(declared, namespace=ns)
    n.answered(answer)
    before = answer.body
    n.show("generation", before["metadata"]["generation"])
    n.show("config hash", template_hash(before))
    replica_sets = {name: _show_replica_sets(n, kube, ns, name) for name in ("my-nginx", "my-nginx-2")}

    n.title("`kubectl edit configmap env-config`: log_level INFO → DEBUG — and nothing else")
    edited = {**SEED_CONFIGMAP, "data": {"log_level": "DEBUG"}}
    n.sent(f"kubectl apply -n {ns} -f configmap.yaml", {"data": edited["data"]})
    n.answered(kube.apply(edited, namespace=ns))
    n.say(
        "In the article this is where the pods silently keep log_level=INFO. Here the rollout controller"
        " sees that content the Deployment consumes changed, waits out its debounce window, and writes the"
        " new hash into the pod template: the Deployment rolls on its own."
    )
    after = _wait_for_rollout(kube, ns, "my-nginx-2", before)
    n.show("generation", f"{before['metadata']['generation']} → {after['metadata']['generation']}")
    n.show("config hash", f"{template_hash(before)} → {template_hash(after)}")
    n.say(
        "kube-controller-manager turns the new pod template into a new ReplicaSet, which is what a rollout"
        " is; the Deployment that did not opt in gets none."
    )
    for name, opted in (("my-nginx-2", "opted in"), ("my-nginx", "did not opt in")):
        current = names(settled_replica_sets(kube, name, namespace=ns))
        new = [rs for rs in current if rs not in replica_sets[name]]
        n.show(f"new ReplicaSets of {name} ({opted})", ", ".join(new) if new else "none")
        replica_sets[name] = current
    for event in core.list_namespaced_event(ns).items:
        if event.reason == "ConfigChanged":
            n.show(f"Event {event.reason} on {event.involved_object.kind}/{event.involved_object.name}", event.message)

    n.title("re-apply the unchanged Deployment manifest: the webhook computes the same hash, nothing rolls")
    n.sent(f"kubectl apply -n {ns} -f deployment-2.yaml")
    again = kube.apply(declared, namespace=ns)
    n.answered(again)
    n.show("generation", again.body["metadata"]["generation"])
    current = names(settled_replica_sets(kube, "my-nginx-2", namespace=ns))
    n.show(
        "new ReplicaSets of my-nginx-2",
        ", ".join(rs for rs in current if rs not in replica_sets["my-nginx-2"]) or "none",
    )

    n.title("the subPath case: a file mounted with subPath is never refreshed either")
    n.sent(
        f"kubectl apply -n {ns} -f deployment-subpath.yaml",
        {"spec": {"template": {"spec": subpath_deployment()["spec"]["template"]["spec"]}}},
    )
    n.answered(kube.apply(subpath_deployment(), namespace=ns))


SECRET_NS = "demo"


def rotate_a_secret(n: Narrator, kube: Kube) -> None:
    """Contract v2: a rotated password reaches the pods through one rollout, and the hash on the
    template is an HMAC under the installation's key, which tells a reader nothing."""
    ns = SECRET_NS
    password = "hunter2"
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db-creds"},
        "stringData": {"password": password},
    }
    n.title("a Secret in envFrom: the same problem, where it hurts most (a rotated database password)")
    n.sent(f"kubectl apply -n {ns} -f secret.yaml  (stringData.password: ********)")
    n.answered(kube.apply(secret, namespace=ns))
    api = seed_deployment({"reload-safe.io/reload": "rollout"}, name="api")
    api["spec"]["template"]["spec"]["containers"][0]["envFrom"] = [{"secretRef": {"name": "db-creds"}}]
    n.sent(f"kubectl apply -n {ns} -f api.yaml  (envFrom: secretRef db-creds, reload-safe.io/reload: rollout)")
    answer = kube.apply(api, namespace=ns)
    n.answered(answer)
    before = answer.body
    n.show("config hash", template_hash(before))
    unkeyed = hashlib.sha256(f"password={password};".encode()).hexdigest()
    n.say(
        "The hash covers the password through HMAC-SHA256 under this installation's key: someone who can read"
        " the Deployment cannot test guesses against it (Reloader's unkeyed SHA-1 of `password=hunter2;`"
        f" would be {unkeyed[:16]}…; nothing like it is on the template)."
    )
    replica_sets = _show_replica_sets(n, kube, ns, "api")

    n.title("rotate the password: `kubectl apply` of the Secret with a new value")
    rotated = {**secret, "stringData": {"password": "correct horse battery staple"}}
    n.sent(f"kubectl apply -n {ns} -f secret.yaml  (stringData.password: ******** (new))")
    n.answered(kube.apply(rotated, namespace=ns))
    after = _wait_for_rollout(kube, ns, "api", before)
    n.show("config hash", f"{template_hash(before)} → {template_hash(after)}")
    current = names(settled_replica_sets(kube, "api", namespace=ns))
    new = [rs for rs in current if rs not in replica_sets]
    n.show("new ReplicaSets of api", ", ".join(new) if new else "none")


def report(n: Narrator, kubeconfig: Path, key_file: Path) -> None:
    """Issue 19: which workloads run configuration that has since changed."""
    n.title("`reload-safe report -n demo`: which workloads run configuration that has since changed?")
    n.sent("reload-safe report -n demo --hash-key-file hash-key")
    command = ["report", "-n", SECRET_NS, "--kubeconfig", str(kubeconfig), "--hash-key-file", str(key_file)]
    done = subprocess.run(
        [sys.executable, "-m", "webhook", *command],
        capture_output=True,
        text=True,
        check=False,
    )
    print(textwrap.indent(done.stdout.rstrip(), "  "))
    if done.stderr.strip():
        print(textwrap.indent(done.stderr.rstrip(), "  "))
    n.show("exit status", f"{done.returncode} (1: findings or stale workloads)")
    n.say(
        "my-nginx did not opt in: its pods started with log_level=INFO, the ConfigMap now says DEBUG, and"
        " nothing will restart them (stale). my-nginx-2 and api were rolled by the controller (current); their"
        " stale pods belong to the old ReplicaSets, which no kubelet here terminates (a real rollout would)."
    )


def _show_replica_sets(n: Narrator, kube: Kube, ns: str, name: str) -> list[str]:
    """Print the Deployment's ReplicaSets (once the deployment controller caught up) and
    return their names, to tell the new ones later."""
    current = names(settled_replica_sets(kube, name, namespace=ns))
    n.show(f"ReplicaSets of {name}", ", ".join(current))
    return current


def _wait_for_rollout(kube: Kube, ns: str, name: str, before: dict[str, Any], timeout: float = 60.0) -> dict[str, Any]:
    body: dict[str, Any] = eventually(
        lambda: kube.get("Deployment", name, namespace=ns).body,
        until=lambda body: template_hash(body) != template_hash(before),
        timeout=timeout,
        interval=0.5,
        what=f"the rollout of {name}",
    )
    return body


if __name__ == "__main__":
    sys.exit(main())
