"""`reload-safe scan --format text|json|sarif`: the same findings, for people, scripts and code scanning."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft4Validator, FormatChecker

from tests.cli.conftest import Run, Write
from tests.cli.helpers import configmap, container, env_from, env_key, workload, yaml_docs
from tests.support.spec import SCAN_FINDING_FIELDS

SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
RULE_IDS = ["reload-safe/env", "reload-safe/envFrom", "reload-safe/subPath", "reload-safe/invalid-annotation"]

MIXED = (
    workload(name="web", containers=[container(**env_key("settings", "level"), **env_from("settings"))]),
    workload(
        "StatefulSet",
        name="db",
        namespace=None,
        containers=[container(volumeMounts=[{"name": "v", "mountPath": "/etc/db.conf", "subPath": "db.conf"}])],
        volumes=[{"name": "v", "configMap": {"name": "files"}}],
        annotations={"reload-safe.io/reload": "yes"},
    ),
    workload(name="fine", annotations={"reload-safe.io/reload": "rollout"}),
    workload("ReplicaSet", name="owned", owned=True),
    configmap("settings", namespace="team"),
)


@pytest.fixture
def mixed(write: Write, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Manifests with every finding type, scanned from their folder so paths are relative."""
    write("deploy/app.yaml", yaml_docs(*MIXED))
    monkeypatch.chdir(tmp_path)
    return "deploy/app.yaml"


def scan(run: Run, fmt: str, *args: str, input: str | None = None) -> Any:
    result = run("scan", "--format", fmt, *args, input=input)
    assert result.exit_code in (0, 1), result.stderr
    return result


# --- every format -----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["text", "json", "sarif"])
@pytest.mark.parametrize(
    ("objects", "code"), [pytest.param(MIXED, 1, id="findings"), pytest.param(MIXED[2:], 0, id="clean")]
)
def test_exit_status_is_the_same_in_every_format(
    run: Run, write: Write, fmt: str, objects: tuple[dict[str, Any], ...], code: int
) -> None:
    assert scan(run, fmt, str(write("m.yaml", yaml_docs(*objects)))).exit_code == code


def test_default_format_is_text(run: Run, mixed: str) -> None:
    assert run("scan", mixed).stdout == run("scan", "--format", "text", mixed).stdout


# --- json ---------------------------------------------------------------------------------------


def test_json_report(run: Run, mixed: str) -> None:
    report = json.loads(scan(run, "json", mixed).stdout)
    assert set(report) == {"findings", "summary"}
    assert all(set(f) == SCAN_FINDING_FIELDS for f in report["findings"])
    assert [(f["kind"], f["namespace"], f["name"], f["type"]) for f in report["findings"]] == [
        ("Deployment", "team", "web", "env"),
        ("Deployment", "team", "web", "envFrom"),
        ("StatefulSet", None, "db", "subPath"),
        ("StatefulSet", None, "db", "invalid-annotation"),
    ]
    env, _, sub_path, invalid = report["findings"]
    assert (env["key"], env["mount_path"]) == ("level", None)
    assert (sub_path["key"], sub_path["mount_path"], sub_path["configmap"]) == (None, "/etc/db.conf", "files")
    assert (invalid["container"], invalid["configmap"], invalid["key"], invalid["mount_path"]) == (None,) * 4
    assert env["source"] == {"file": "deploy/app.yaml", "document": 0, "line": 1}
    assert sub_path["source"]["document"] == 1
    assert report["summary"] == {
        "files": 1,
        "documents": 5,
        "objects": 5,
        "configmaps": 1,
        "workloads": 3,
        "workloads_with_findings": 2,
        "skipped": {"owned": 1, "deleting": 0, "files": [], "by_reason": {}},
        "findings": 4,
        "by_type": {"env": 1, "envFrom": 1, "subPath": 1, "invalid-annotation": 1},
    }


def test_json_messages_are_the_full_text(run: Run, mixed: str) -> None:
    message = json.loads(scan(run, "json", mixed).stdout)["findings"][0]["message"]
    assert message.startswith('Deployment team/web, container "app": the env reference to ConfigMap "settings"')
    assert "Fix:" in message
    assert len(message) > 256  # the full form, not the short warning


# --- text ----------------------------------------------------------------------------------------


def test_text_groups_findings_by_workload(run: Run, mixed: str) -> None:
    lines = scan(run, "text", mixed).stdout.splitlines()
    assert lines[0] == "Deployment team/web (deploy/app.yaml:1)"
    assert lines[1].startswith("  - env: Deployment team/web, container ")
    assert lines[2].startswith("  - envFrom: ")
    assert lines[3] == ""
    db = lines.index(next(line for line in lines if line.startswith("StatefulSet ")))
    assert lines[db].startswith("StatefulSet db (deploy/app.yaml:")
    assert lines[db + 1].startswith("  - subPath: ")
    assert lines[db + 2].startswith("  - invalid-annotation: ")
    assert lines[-1] == (
        "reload-safe scan: 4 findings (env 1, envFrom 1, subPath 1, invalid-annotation 1) in 2 of 3 workloads"
        " (1 file, 5 objects, 1 ConfigMap; skipped 1 owned, 0 being deleted)"
    )
    assert not any("fine" in line for line in lines)


def test_text_when_clean(run: Run) -> None:
    result = scan(run, "text", "-", input=yaml_docs(workload(annotations={"reload-safe.io/reload": "none"})))
    assert result.stdout == "reload-safe scan: no findings in 1 workload (1 file, 1 object, 0 ConfigMaps)\n"


def test_text_names_stdin(run: Run) -> None:
    assert scan(run, "text", "-", input=yaml_docs(workload())).stdout.startswith("Deployment team/web (stdin:1)\n")


# --- sarif --------------------------------------------------------------------------------------


def sarif(run: Run, *args: str, input: str | None = None) -> Any:
    log = json.loads(scan(run, "sarif", *args, input=input).stdout)
    errors = sorted(Draft4Validator(SCHEMA, format_checker=FormatChecker()).iter_errors(log), key=str)
    assert not errors, [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors]
    return log


def test_sarif_is_valid_sarif_2_1_0(run: Run, mixed: str) -> None:
    log = sarif(run, mixed)
    assert log["version"] == "2.1.0"
    assert log["$schema"].endswith("sarif-schema-2.1.0.json")
    driver = log["runs"][0]["tool"]["driver"]
    assert driver["name"] == "reload-safe"
    assert driver["version"]
    assert [rule["id"] for rule in driver["rules"]] == RULE_IDS
    for rule in driver["rules"]:
        assert rule["shortDescription"]["text"]
        assert rule["fullDescription"]["text"]
        assert rule["help"]["text"]
        assert rule["defaultConfiguration"]["level"] == "error"


def test_sarif_results(run: Run, mixed: str) -> None:
    log = sarif(run, mixed)
    rules = log["runs"][0]["tool"]["driver"]["rules"]
    results = log["runs"][0]["results"]
    assert [r["ruleId"] for r in results] == RULE_IDS
    for result in results:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["level"] == "error"
        assert result["message"]["text"]
        physical = result["locations"][0]["physicalLocation"]
        assert physical["artifactLocation"]["uri"] == "deploy/app.yaml"
        assert physical["region"]["startLine"] >= 1
    assert results[0]["locations"][0]["physicalLocation"]["region"]["startLine"] == 1


def test_sarif_without_findings_is_valid(run: Run, write: Write) -> None:
    log = sarif(run, str(write("clean.yaml", yaml_docs(*MIXED[2:]))))
    assert log["runs"][0]["results"] == []


def fingerprints(log: Any) -> list[str]:
    return [r["partialFingerprints"]["reloadSafeFinding/v2"] for r in log["runs"][0]["results"]]


def test_sarif_fingerprints_are_distinct_and_survive_moved_lines(run: Run, write: Write) -> None:
    path = write("m.yaml", yaml_docs(*MIXED))
    before = fingerprints(sarif(run, str(path)))
    path.write_text("# a comment\n\n" + yaml_docs(configmap("unrelated"), *MIXED), encoding="utf-8")
    after = fingerprints(sarif(run, str(path)))
    assert before == after
    assert len(set(before)) == len(before)


def test_sarif_fingerprints_tell_two_invalid_annotations_apart(run: Run, write: Write) -> None:
    obj = workload(annotations={"reload-safe.io/reload": "a"}, template_annotations={"reload-safe.io/reload": "b"})
    found = fingerprints(sarif(run, str(write("m.yaml", yaml_docs(obj)))))
    assert len(found) == 3
    assert len(set(found)) == 3


@pytest.mark.parametrize(
    ("where", "uri"),
    [
        pytest.param("inside", "sub%20dir/m%23.yaml", id="relative-and-escaped"),
        pytest.param("outside", "file:///", id="outside-the-folder"),
        pytest.param("stdin", "stdin", id="stdin"),
    ],
)
def test_sarif_artifact_uris(
    *, run: Run, write: Write, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str, uri: str
) -> None:
    path = write("sub dir/m#.yaml", yaml_docs(workload()))
    if where == "stdin":
        log = sarif(run, "-", input=yaml_docs(workload()))
    else:
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        monkeypatch.chdir(tmp_path if where == "inside" else elsewhere)
        log = sarif(run, str(path))
    found = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert found.startswith(uri)
