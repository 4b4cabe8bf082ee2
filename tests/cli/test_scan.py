"""`reload-safe scan`: what it finds, with the rules of enforce mode, in manifests on disk."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import pytest

from tests.cli.conftest import Run, Write
from tests.cli.helpers import configmap, container, env_from, env_key, workload, yaml_docs

SEED = Path(__file__).parent.parent / "fixtures" / "seed"


def scan_json(run: Run, *args: str, input: str | None = None) -> tuple[int, dict[str, Any]]:
    result = run("scan", "--format", "json", *args, input=input)
    assert result.exit_code in (0, 1), result.stderr
    return result.exit_code, json.loads(result.stdout)


def scan_objects(run: Run, write: Write, *objects: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return scan_json(run, str(write("manifests.yaml", yaml_docs(*objects))))


# --- the seed experiment ---------------------------------------------------------------------


def test_seed_env_deployment_is_a_finding(run: Run) -> None:
    code, report = scan_json(run, str(SEED / "env-deployment.yaml"))
    assert code == 1
    assert report["findings"] == [
        {
            "kind": "Deployment",
            "namespace": None,
            "name": "my-nginx",
            "container": "my-nginx",
            "type": "envFrom",
            "configmap": "env-config",
            "secret": None,
            "key": None,
            "mount_path": None,
            "message": ANY,
            "source": {"file": str(SEED / "env-deployment.yaml"), "document": 0, "line": 1},
        }
    ]
    message = report["findings"][0]["message"]
    assert message.startswith(
        'Deployment my-nginx, container "my-nginx": the envFrom reference to ConfigMap "env-config"'
    )
    assert "reload-safe.io/reload: rollout" in message


def test_seed_volume_deployment_is_clean(run: Run) -> None:
    code, report = scan_json(run, str(SEED / "volume-deployment.yaml"))
    assert code == 0
    assert report["findings"] == []
    assert report["summary"]["workloads"] == 1
    assert report["summary"]["configmaps"] == 1


def test_seed_folder_together(run: Run) -> None:
    code, report = scan_json(run, str(SEED))
    assert code == 1
    assert [f["configmap"] for f in report["findings"]] == ["env-config"]
    assert report["summary"]["files"] == 2


# --- references and findings -----------------------------------------------------------------


def test_one_finding_per_container_and_reference(run: Run, write: Write) -> None:
    app = container(
        **env_key("settings", "a", "b", "a"),
        envFrom=[{"configMapRef": {"name": "settings"}}, {"configMapRef": {"name": "settings"}}],
        volumeMounts=[
            {"name": "cfg", "mountPath": "/etc/a.conf", "subPath": "a.conf"},
            {"name": "cfg", "mountPath": "/etc/b.conf", "subPathExpr": "$(POD)"},
            {"name": "cfg", "mountPath": "/etc/live"},
        ],
    )
    volumes = [{"name": "cfg", "configMap": {"name": "files"}}]
    code, report = scan_objects(
        run, write, workload(containers=[app, container("side", **env_key("settings", "a"))], volumes=volumes)
    )
    assert code == 1
    found = [(f["container"], f["type"], f["configmap"], f["key"], f["mount_path"]) for f in report["findings"]]
    assert found == [
        ("app", "env", "settings", "a", None),
        ("app", "env", "settings", "b", None),
        ("app", "envFrom", "settings", None, None),
        ("app", "subPath", "files", None, "/etc/a.conf"),
        ("app", "subPath", "files", None, "/etc/b.conf"),
        ("side", "env", "settings", "a", None),
    ]
    assert report["summary"]["by_type"] == {"env": 3, "envFrom": 1, "subPath": 2, "invalid-annotation": 0}


def test_invalid_annotation_has_no_container_or_configmap(run: Run, write: Write) -> None:
    obj = workload(
        containers=[container()], annotations={"reload-safe.io/reload": "Rollout"},
        template_annotations={"reload-safe.io/reload": "always"},
    )  # fmt: skip
    code, report = scan_objects(run, write, obj)
    assert code == 1
    assert [(f["type"], f["container"], f["configmap"]) for f in report["findings"]] == [
        ("invalid-annotation", None, None),
        ("invalid-annotation", None, None),
    ]


@pytest.mark.parametrize(
    ("kind", "findings"),
    [
        pytest.param("Deployment", 0, id="deployment-covered"),
        pytest.param("StatefulSet", 0, id="statefulset-covered"),
        pytest.param("DaemonSet", 0, id="daemonset-covered"),
        pytest.param("CronJob", 0, id="cronjob-covered"),
        pytest.param("Pod", 1, id="pod-not-covered"),
        pytest.param("Job", 1, id="job-not-covered"),
        pytest.param("ReplicaSet", 1, id="replicaset-not-covered"),
        pytest.param("ReplicationController", 1, id="rc-not-covered"),
    ],
)
def test_rollout_covers_only_kinds_whose_pods_get_replaced(run: Run, write: Write, kind: str, findings: int) -> None:
    code, report = scan_objects(run, write, workload(kind, annotations={"reload-safe.io/reload": "rollout"}))
    assert len(report["findings"]) == findings
    assert code == findings
    if findings:
        assert "does not cover" in report["findings"][0]["message"]


def test_any_api_version_is_a_workload(run: Run, write: Write) -> None:
    obj = workload()
    obj["apiVersion"] = "extensions/v1beta1"
    code, _ = scan_objects(run, write, obj)
    assert code == 1


# --- what is skipped ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flag", "summary_key"),
    [pytest.param("owned", "owned", id="owned"), pytest.param("deleting", "deleting", id="being-deleted")],
)
def test_owned_and_deleting_objects_are_skipped(run: Run, write: Write, flag: str, summary_key: str) -> None:
    code, report = scan_objects(run, write, workload("ReplicaSet", **{flag: True}))
    assert code == 0
    assert report["findings"] == []
    assert report["summary"]["skipped"][summary_key] == 1
    assert report["summary"]["workloads"] == 0


def test_non_workloads_are_passed_over_and_a_values_document_is_listed(run: Run, write: Write) -> None:
    others = [
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}},
        {"replicaCount": 3, "image": {"repository": "nginx"}},  # a values.yaml
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"a": "b"}},
        {"apiVersion": "example.com/v1", "kind": "Widget", "spec": {"template": {"spec": {"containers": []}}}},
    ]
    code, report = scan_objects(run, write, *others)
    assert code == 0
    assert report["summary"]["objects"] == 3
    assert report["summary"]["workloads"] == 0
    assert [(s["reason"], s["detail"]) for s in report["summary"]["skipped"]["files"]] == [
        ("not a Kubernetes object: no apiVersion and kind", "document 1, line 9")
    ]


def test_kube_system_is_scanned_too(run: Run, write: Write) -> None:
    code, report = scan_objects(run, write, workload(namespace="kube-system"))
    assert code == 1
    assert report["findings"][0]["namespace"] == "kube-system"


@pytest.mark.parametrize(
    "obj",
    [
        pytest.param({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"}}, id="no-spec"),
        pytest.param({"kind": "Deployment", "spec": {"template": "oops"}}, id="template-is-a-string"),
        pytest.param({"kind": "Deployment", "metadata": [], "spec": []}, id="metadata-is-a-list"),
        pytest.param({"kind": "Pod", "spec": {"containers": "app"}}, id="containers-is-a-string"),
        pytest.param(
            {"kind": "Pod", "spec": {"containers": [5, None, {"env": 3, "envFrom": "x"}]}}, id="junk-containers"
        ),
        pytest.param(
            {"kind": "Pod", "spec": {"containers": [{"name": 7, "volumeMounts": [{"name": "v", "subPath": 3}]}],
                                     "volumes": [{"name": "v", "configMap": {"name": ["x"]}}]}},
            id="wrong-scalar-types",
        ),
        pytest.param({"kind": 42}, id="kind-is-a-number"),
    ],
)  # fmt: skip
def test_malformed_workloads_are_judged_as_far_as_they_read(run: Run, write: Write, obj: dict[str, Any]) -> None:
    code, report = scan_objects(run, write, obj)
    assert code == 0
    assert report["findings"] == []


def test_malformed_workload_with_a_readable_reference_is_still_found(run: Run, write: Write) -> None:
    obj = {
        "kind": "Pod",
        "metadata": "x",
        "spec": {"containers": [None, {"envFrom": [{"configMapRef": {"name": "c"}}]}]},
    }
    code, report = scan_objects(run, write, obj)
    assert code == 1
    assert report["findings"][0]["container"] == "containers[1]"
    assert report["findings"][0]["name"] is None


# --- ConfigMaps among the inputs ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cm_namespace", "workload_namespace", "covered"),
    [
        pytest.param(None, None, True, id="both-default"),
        pytest.param("default", None, True, id="explicit-default-cm"),
        pytest.param(None, "default", True, id="explicit-default-workload"),
        pytest.param("team", "team", True, id="same-namespace"),
        pytest.param("other", "team", False, id="other-namespace"),
        pytest.param(None, "team", False, id="cm-in-default-workload-elsewhere"),
    ],
)
def test_immutable_configmap_from_inputs_covers(
    *, run: Run, write: Write, tmp_path: Path, cm_namespace: str | None, workload_namespace: str | None, covered: bool
) -> None:
    write("cm/immutable.yaml", yaml_docs(configmap("settings", namespace=cm_namespace, immutable=True)))
    write("app/deploy.yaml", yaml_docs(workload(namespace=workload_namespace)))
    code, report = scan_json(run, str(tmp_path / "app"), str(tmp_path / "cm"))
    assert code == (0 if covered else 1)
    assert len(report["findings"]) == (0 if covered else 1)


def test_reloader_match_from_inputs(run: Run, write: Write) -> None:
    search = {"reloader.stakater.com/search": "true"}
    matched = workload(name="a", annotations=search, containers=[container(**env_from("matched"))])
    unmatched = workload(name="b", annotations=search, containers=[container(**env_from("plain"))])
    code, report = scan_objects(
        run,
        write,
        matched,
        unmatched,
        configmap("matched", namespace="team", match=True),
        configmap("plain", namespace="team"),
    )
    assert code == 1
    assert [f["name"] for f in report["findings"]] == ["b"]


def test_configmap_later_in_the_inputs_still_counts(run: Run, write: Write) -> None:
    code, _ = scan_objects(run, write, workload(namespace=None), configmap("settings", immutable=True))
    assert code == 0


def test_yaml_boolean_annotations_count_as_strings(run: Run, write: Write) -> None:
    text = """
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: web
      annotations: {reloader.stakater.com/auto: true}
    spec:
      template:
        spec:
          containers: [{name: app, envFrom: [{configMapRef: {name: settings}}]}]
    """
    code, _ = scan_json(run, str(write("d.yaml", text)))
    assert code == 0


# --- Secrets (SPEC v2): found and judged, `immutable` and `match` from the inputs, never hashed ---


def _secret(name: str, **fields: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": "team"},  # the workloads' namespace
        "data": {"password": "aHVudGVyMg=="},
        **fields,
    }


SECRET_CONSUMER = workload(containers=[container(envFrom=[{"secretRef": {"name": "db-creds"}}])])


def test_a_secret_envfrom_is_a_finding_naming_the_secret(run: Run, write: Write) -> None:
    path = write("app.yaml", yaml_docs(_secret("db-creds"), SECRET_CONSUMER))
    code, report = scan_json(run, str(path))
    assert code == 1
    (finding,) = report["findings"]
    assert (finding["type"], finding["secret"], finding["configmap"]) == ("envFrom", "db-creds", None)
    assert 'Secret "db-creds"' in finding["message"]
    assert "aHVudGVyMg==" not in json.dumps(report)


def test_an_immutable_secret_among_the_inputs_covers(run: Run, write: Write) -> None:
    path = write("app.yaml", yaml_docs(_secret("db-creds", immutable=True), SECRET_CONSUMER))
    code, report = scan_json(run, str(path))
    assert (code, report["findings"]) == (0, [])


@pytest.mark.parametrize(("match", "findings"), [("true", 0), ("false", 1), ("yes", 1)])
def test_reloader_search_counts_a_secret_match_only_when_true(
    run: Run, write: Write, match: str, findings: int
) -> None:
    annotations = {"reloader.stakater.com/match": match}
    secret = _secret("db-creds", metadata={"name": "db-creds", "namespace": "team", "annotations": annotations})
    searching = workload(
        containers=[container(envFrom=[{"secretRef": {"name": "db-creds"}}])],
        annotations={"reloader.stakater.com/search": "true"},
    )
    _, report = scan_json(run, str(write("app.yaml", yaml_docs(secret, searching))))
    assert len(report["findings"]) == findings
