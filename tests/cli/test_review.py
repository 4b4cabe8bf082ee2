"""`reload-safe review`: one AdmissionReview in, the combined answer of both webhooks out."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.cli.conftest import Run, Write
from tests.cli.helpers import (
    admission_review,
    configmap,
    container,
    decoded_patch,
    env_from,
    one_line_error,
    patched_hash,
    workload,
    yaml_docs,
)
from tests.support.spec import V1_HASH as SEED_HASH
from webhook.policy import HASH_ANNOTATION

ENV_CONFIG = configmap("env-config", data={"log_level": "INFO"})
SEED_DEPLOYMENT = workload(containers=[container(**env_from("env-config"))])


def review(run: Run, write: Write, obj: Any, *args: str, cms: list[Any] | None = None, **request: Any) -> Any:
    """Run `review` on an AdmissionReview for `obj`; `cms` go to one --configmaps file."""
    options = list(args)
    if cms is not None:
        options += ["--configmaps", str(write("configmaps.yaml", yaml_docs(*cms)))]
    result = run("review", *options, input=admission_review(obj, **request))
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


# --- the combined response ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "allowed", "warnings", "decision", "patched"),
    [
        pytest.param("enforce", False, 0, "denied", True, id="enforce-denies-and-still-patches"),
        pytest.param("warn", True, 1, "warned", True, id="warn-allows-with-one-warning"),
        pytest.param("audit", True, 0, "allowed", False, id="audit-observes-only"),
        pytest.param("off", True, 0, "skipped", False, id="off-does-nothing"),
    ],
)
def test_mode_shapes_the_combined_response(
    *, run: Run, write: Write, mode: str, allowed: bool, warnings: int, decision: str, patched: bool
) -> None:
    body = review(run, write, SEED_DEPLOYMENT, "--namespace-policy", mode, cms=[ENV_CONFIG])
    response = body["response"]
    assert body["apiVersion"] == "admission.k8s.io/v1"
    assert body["kind"] == "AdmissionReview"
    assert response["uid"] == "0f5c7e2a-uid"
    assert response["allowed"] is allowed
    assert len(response.get("warnings", [])) == warnings
    assert response["auditAnnotations"]["decision"] == decision
    assert patched_hash(body) == (SEED_HASH if patched else None)
    if allowed:
        assert "status" not in response
    else:
        assert response["status"]["code"] == 403
        assert response["status"]["reason"] == "Forbidden"
        assert 'ConfigMap "env-config"' in response["status"]["message"]


def test_default_mode_is_warn_and_default_file_is_stdin(run: Run) -> None:
    result = run("review", input=admission_review(SEED_DEPLOYMENT))
    response = json.loads(result.stdout)["response"]
    assert result.exit_code == 0
    assert response["allowed"] is True
    assert response["auditAnnotations"] == {"decision": "warned", "violations": "1"}


@pytest.mark.parametrize("arg", [pytest.param("-", id="dash"), pytest.param("file", id="file")])
def test_reads_a_file_or_stdin(run: Run, write: Write, arg: str) -> None:
    text = admission_review(SEED_DEPLOYMENT)
    result = run("review", str(write("review.json", text))) if arg == "file" else run("review", "-", input=text)
    assert result.exit_code == 0
    assert json.loads(result.stdout)["response"]["auditAnnotations"]["decision"] == "warned"


def test_covered_workload_is_allowed_silently_with_its_hash(run: Run, write: Write) -> None:
    covered = workload(
        containers=[container(**env_from("env-config"))], annotations={"reload-safe.io/reload": "rollout"}
    )
    body = review(run, write, covered, "--namespace-policy", "enforce", cms=[ENV_CONFIG])
    assert body["response"]["allowed"] is True
    assert "warnings" not in body["response"]
    assert patched_hash(body) == SEED_HASH
    assert decoded_patch(body) == [
        {"op": "add", "path": "/spec/template/metadata/annotations/reload-safe.io~1config-hash", "value": SEED_HASH}
    ]


def test_current_hash_means_no_patch(run: Run, write: Write) -> None:
    current = workload(
        containers=[container(**env_from("env-config"))], template_annotations={HASH_ANNOTATION: SEED_HASH}
    )
    body = review(run, write, current, "--namespace-policy", "enforce", cms=[ENV_CONFIG])
    assert "patch" not in body["response"]
    assert "patchType" not in body["response"]
    assert body["response"]["allowed"] is False


def test_update_keeps_existing_violations_as_warnings(run: Run, write: Write) -> None:
    body = review(
        run, write, SEED_DEPLOYMENT, "--namespace-policy", "enforce", cms=[ENV_CONFIG],
        operation="UPDATE", old=SEED_DEPLOYMENT,
    )  # fmt: skip
    assert body["response"]["allowed"] is True
    assert len(body["response"]["warnings"]) == 1


def test_kube_system_is_never_evaluated(run: Run, write: Write) -> None:
    body = review(run, write, SEED_DEPLOYMENT, "--namespace-policy", "enforce", namespace="kube-system")
    assert body["response"]["allowed"] is True
    assert body["response"]["auditAnnotations"]["decision"] == "skipped"


def test_malformed_object_is_still_answered(run: Run) -> None:
    result = run("review", input=admission_review({"kind": "Deployment", "spec": "not a map", "metadata": []}))
    assert result.exit_code == 0
    assert json.loads(result.stdout)["response"]["allowed"] is True


# --- --configmaps --------------------------------------------------------------------------


def absent_hash(run: Run) -> str | None:
    """The hash when no ConfigMap is given: `env-config` counts as not existing."""
    body = json.loads(run("review", input=admission_review(SEED_DEPLOYMENT)).stdout)
    return patched_hash(body)


@pytest.mark.parametrize(
    ("cm_namespace", "request_namespace", "found"),
    [
        pytest.param(None, "team", True, id="no-namespace-matches-the-request"),
        pytest.param("team", "team", True, id="same-namespace"),
        pytest.param("other", "team", False, id="other-namespace-counts-as-missing"),
        pytest.param("default", None, True, id="request-without-namespace-is-default"),
    ],
)
def test_configmap_namespace_matching(
    run: Run, write: Write, cm_namespace: str | None, request_namespace: str | None, found: bool
) -> None:
    cm = configmap("env-config", namespace=cm_namespace, data={"log_level": "INFO"})
    obj = workload(namespace=None, containers=[container(**env_from("env-config"))])
    body = review(run, write, obj, cms=[cm], namespace=request_namespace)
    if found:
        assert patched_hash(body) == SEED_HASH
    else:
        assert patched_hash(body) == absent_hash(run) != SEED_HASH


def test_missing_configmap_still_gets_a_hash_of_its_absence(run: Run) -> None:
    missing = absent_hash(run)
    assert missing is not None
    assert missing.startswith("sha256:")
    assert missing != SEED_HASH


def test_configmaps_is_repeatable_and_reads_folders(run: Run, write: Write) -> None:
    write("cms/a/env.yaml", yaml_docs(ENV_CONFIG))
    write("cms/ignored.txt", "not yaml: [")
    immutable = write("other.yaml", yaml_docs(configmap("settings", immutable=True)))
    obj = workload(containers=[container(**env_from("env-config")), container("side", **env_from("settings"))])
    cms_dir = str(immutable.parent / "cms")
    result = run(
        "review", "--configmaps", cms_dir, "--configmaps", str(immutable), "--namespace-policy", "enforce",
        input=admission_review(obj),
    )  # fmt: skip
    response = json.loads(result.stdout)["response"]
    assert result.exit_code == 0
    assert response["allowed"] is False
    assert "settings" not in response["status"]["message"]  # immutable: covered
    assert 'ConfigMap "env-config"' in response["status"]["message"]


def test_configmap_values_never_appear(run: Run, write: Write) -> None:
    secret = configmap("env-config", data={"password": "hunter2-very-secret"})
    body = review(run, write, SEED_DEPLOYMENT, "--namespace-policy", "enforce", cms=[secret])
    assert "hunter2" not in json.dumps(body)


# --- exit codes and bad input ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "stdin", "fragments"),
    [
        pytest.param(["--namespace-policy", "strict"], None, ["strict"], id="unknown-mode"),
        pytest.param([], "this is not json", ["stdin", "not valid JSON"], id="not-json"),
        pytest.param([], '{"apiVersion": "v1", "kind": "Pod"}', ["stdin", "AdmissionReview"], id="not-a-review"),
        pytest.param([], "[1, 2]", ["not a JSON object"], id="json-array"),
        pytest.param(
            [], '{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {}}',
            ["request.uid"], id="no-uid",
        ),
        pytest.param(
            [], '{"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview", "request": {"uid": "u"}}',
            ["admission.k8s.io/v1"], id="v1beta1",
        ),
        pytest.param(["/nonexistent/review.json"], "", ["/nonexistent/review.json", "cannot read"], id="no-file"),
        pytest.param(
            ["--configmaps", "/nonexistent/cms"], admission_review(SEED_DEPLOYMENT), ["/nonexistent/cms"],
            id="no-configmaps-file",
        ),
        pytest.param(["-", "--configmaps", "-"], "{}", ["stdin"], id="stdin-twice"),
        pytest.param(["--bogus"], "{}", ["--bogus"], id="unknown-option"),
    ],
)  # fmt: skip
def test_bad_input_exits_2(run: Run, args: list[str], stdin: str | None, fragments: list[str]) -> None:
    result = run("review", *args, input=stdin)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: ")
    for fragment in fragments:
        assert fragment in last


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        pytest.param("kind: ConfigMap\nmetadata: {name: a\n", ["cms.yaml:", "not valid YAML"], id="not-yaml"),
        pytest.param(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: [1, 2]\n",
            ["cms.yaml:1", "data is not a map"], id="data-not-a-map",
        ),
        pytest.param(
            "---\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\nbinaryData: {k: '!!'}\n",
            ["cms.yaml:3", "not valid base64"], id="bad-base64",
        ),
        pytest.param("- 1\n- 2\n", ["cms.yaml:1", "not an object"], id="a-list"),
    ],
)  # fmt: skip
def test_bad_configmaps_file_names_file_and_line(run: Run, write: Write, text: str, fragments: list[str]) -> None:
    path = write("cms.yaml", text)
    result = run("review", "--configmaps", str(path), input=admission_review(SEED_DEPLOYMENT))
    one_line_error(result, *fragments)


def test_bad_configmap_error_never_quotes_values(run: Run, write: Write) -> None:
    path = write("cms.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\nbinaryData: {k: 'secret!!'}\n")
    result = run("review", "--configmaps", str(path), input=admission_review(SEED_DEPLOYMENT))
    assert result.exit_code == 2
    assert "secret" not in result.stderr


# --- Secrets (SPEC v2) ---------------------------------------------------------------------------

DB_CREDS = {
    "apiVersion": "v1",
    "kind": "Secret",
    "metadata": {"name": "db-creds"},
    "data": {"password": "aHVudGVyMg=="},
}
VECTOR_DEPLOYMENT = workload(
    containers=[container(envFrom=[{"configMapRef": {"name": "env-config"}}, {"secretRef": {"name": "db-creds"}}])],
    annotations={"reload-safe.io/reload": "rollout"},
)


def test_with_the_hash_key_secrets_from_the_manifests_give_the_v2_vector(run: Run, write: Write) -> None:
    key = write("hash-key", "reload-safe-test-key-0123456789abcdef\n")
    body = review(run, write, VECTOR_DEPLOYMENT, "--hash-key-file", str(key), cms=[ENV_CONFIG, DB_CREDS])
    assert patched_hash(body) == "sha256:253b24589d9f1fafeed0fed060f8057de16660c1ab7f1269d0188d5d519b9946"
    assert "aHVudGVyMg==" not in json.dumps(body)


def test_without_the_hash_key_secrets_add_nothing_and_the_hash_is_v1(run: Run, write: Write) -> None:
    body = review(run, write, VECTOR_DEPLOYMENT, cms=[ENV_CONFIG, DB_CREDS])
    assert patched_hash(body) == SEED_HASH


def test_a_short_hash_key_is_refused_in_plain_words(run: Run, write: Write) -> None:
    key = write("hash-key", "too-short\n")
    cms = write("configmaps.yaml", yaml_docs(ENV_CONFIG))
    result = run(
        "review", "--hash-key-file", str(key), "--configmaps", str(cms), input=admission_review(VECTOR_DEPLOYMENT)
    )
    assert result.exit_code == 2
    assert "at least 32" in result.stderr
    assert "Traceback" not in result.stderr
