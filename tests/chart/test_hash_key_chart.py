"""The hash key in the chart (SPEC v2 "Secrets", docs/secrets.md): made once by a hook in every
certificate mode, mounted read-only into the server and the controller, and nothing of it with
`secrets.enabled=false`."""

from __future__ import annotations

import pytest

from tests.chart.conftest import NAMESPACE, Manifest, Render, find, one, scenario

KEY_FILE = "/etc/reload-safe/hash-key/hash-key"
HOOK = "rs-reload-safe-hash-key-hook"


def _container(deployment: Manifest) -> Manifest:
    containers: list[Manifest] = deployment["spec"]["template"]["spec"]["containers"]
    return containers[0]


def _key_mounts(deployment: Manifest) -> tuple[list[Manifest], list[Manifest]]:
    spec = deployment["spec"]["template"]["spec"]
    mounts = [m for m in _container(deployment)["volumeMounts"] if m["name"] == "hash-key"]
    volumes = [v for v in spec["volumes"] if v["name"] == "hash-key"]
    return mounts, volumes


@pytest.mark.parametrize("values", ["default", "cert-manager", "provided"])
def test_the_key_hook_runs_in_every_certificate_mode_before_install_and_upgrade(render: Render, values: str) -> None:
    manifests = render(values=(scenario(values),), sets=("controller.enabled=true",))
    job = one(manifests, "Job", HOOK)
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    args = job["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[:2] == ["hash-key", "ensure"]
    assert "--secret=rs-reload-safe-hash-key" in args
    assert f"--namespace={NAMESPACE}" in args
    for name in ("rs-reload-safe", "rs-reload-safe-controller"):
        deployment = one(manifests, "Deployment", name)
        assert f"--hash-key-file={KEY_FILE}" in _container(deployment)["args"]
        mounts, volumes = _key_mounts(deployment)
        assert mounts == [{"name": "hash-key", "mountPath": "/etc/reload-safe/hash-key", "readOnly": True}]
        assert volumes[0]["secret"]["secretName"] == "rs-reload-safe-hash-key"


def test_the_hook_may_read_only_the_key_secret(render: Render) -> None:
    role = one(render(), "Role", HOOK)
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["rs-reload-safe-hash-key"], "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]},
    ]


def test_an_existing_key_secret_is_mounted_and_nothing_is_made(render: Render) -> None:
    manifests = render(sets=("secrets.hashKey.existingSecret=my-key", "controller.enabled=true"))
    assert not [m for m in manifests if m["metadata"]["name"] == HOOK]
    for name in ("rs-reload-safe", "rs-reload-safe-controller"):
        _, volumes = _key_mounts(one(manifests, "Deployment", name))
        assert volumes[0]["secret"]["secretName"] == "my-key"


def test_secrets_disabled_grants_mounts_and_passes_nothing(render: Render) -> None:
    manifests = render(sets=("secrets.enabled=false", "controller.enabled=true"))
    assert not [m for m in manifests if m["metadata"]["name"] == HOOK]
    for name in ("rs-reload-safe", "rs-reload-safe-controller"):
        deployment = one(manifests, "Deployment", name)
        assert not [a for a in _container(deployment)["args"] if a.startswith("--hash-key-file")]
        assert _key_mounts(deployment) == ([], [])
    for role in find(manifests, "ClusterRole"):
        assert not [r for r in role["rules"] if "secrets" in r["resources"]], role["metadata"]["name"]
