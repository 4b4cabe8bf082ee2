"""`reload-safe scan REPO/` on repositories shaped like real ones, through the console script.

PATH is set for each run, so what scan finds on it (helm, kubectl) is what the test says: an
empty folder (no tools), the tools cache's helm, or kubectl alone.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.chart.conftest import _find_helm
from tests.cli.repo_shapes import FILES, only, write_repo
from tests.cli.test_console_script import script

HELM_NO_TOOL = "Helm chart: install helm or pipe `helm template` output"
NO_KIND = "not a Kubernetes object: no apiVersion and kind"
NOT_OBJECT = "YAML or JSON that is not an object or a list of objects"
CLASS_NAMES = ("yaml.", "Error(", "ScannerError", "ParserError", "ConstructorError", "tag:yaml.org", "constructor")


def scan(*args: str, cwd: Path, path: str | None, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """The console script run from `cwd` with exactly `path` as PATH (None: an empty folder)."""
    env = {**os.environ, "PATH": path if path is not None else str(cwd / ".no-tools")}
    return subprocess.run(
        [script(), "scan", *args],
        cwd=cwd,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def scan_json(*args: str, cwd: Path, path: str | None = None) -> tuple[int, dict[str, Any]]:
    result = scan("--format", "json", *args, cwd=cwd, path=path)
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, json.loads(result.stdout)


def skipped(report: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    return [(s["file"], s["reason"], s["detail"]) for s in report["summary"]["skipped"]["files"]]


def flush(name: str) -> str:
    """FILES[name] without its indentation, to append lines to."""
    return textwrap.dedent(FILES[name]).lstrip("\n")


def helm_dir() -> str:
    helm, problem = _find_helm()
    if helm is None:
        pytest.skip(problem)
    assert not problem, problem
    return str(Path(helm).parent)


def path_with(tmp_path: Path, *tools: str) -> str:
    """A PATH folder holding only links to `tools` (absolute paths)."""
    folder = tmp_path / ".tools"
    folder.mkdir(exist_ok=True)
    for tool in tools:
        (folder / Path(tool).name).symlink_to(tool)
    return str(folder)


# --- a folder scan gets through the folder -------------------------------------------------------


def test_repository_without_tools_reports_findings_and_every_skip(tmp_path: Path) -> None:
    repo = write_repo(tmp_path / "repo")
    code, report = scan_json(".", cwd=repo)
    assert code == 1
    assert [(f["name"], f["source"]["file"]) for f in report["findings"]] == [("worker", "manifests/worker.yaml")]
    assert skipped(report) == [
        (".github/workflows/ci.yml", NO_KIND, None),
        ("charts/app", HELM_NO_TOOL, None),
        ("deploy/base", "kustomization: install kubectl or kustomize, or pipe `kubectl kustomize` output", None),
        (
            "deploy/overlays/prod",
            "kustomization: install kubectl or kustomize, or pipe `kubectl kustomize` output",
            None,
        ),
        ("docs/keywords.json", NOT_OBJECT, "it is a list"),
        ("docs/title.json", NOT_OBJECT, "it is a string"),
        ("mkdocs.yml", NO_KIND, None),
        ("package.json", NO_KIND, None),
    ]
    assert report["summary"]["skipped"]["by_reason"] == {
        NO_KIND: 3,
        "kustomization: install kubectl or kustomize, or pipe `kubectl kustomize` output": 2,
        NOT_OBJECT: 2,
        HELM_NO_TOOL: 1,
    }
    assert report["summary"]["configmaps"] == 1  # manifests/operators.yaml, with `equals: =`


def test_text_lists_skips_under_a_skipped_heading_by_reason(tmp_path: Path) -> None:
    repo = write_repo(tmp_path / "repo", files=only("docs/", "mkdocs.yml", "charts/", "manifests/"))
    result = scan(".", cwd=repo, path=None)
    assert result.returncode == 1, result.stderr
    block = result.stdout.split("skipped (4 inputs):\n", 1)[1].split("\n\n", 1)[0]
    assert block.splitlines() == [
        f"  {NOT_OBJECT} (2)",
        "    - docs/keywords.json: it is a list",
        "    - docs/title.json: it is a string",
        f"  {HELM_NO_TOOL} (1)",
        "    - charts/app",
        f"  {NO_KIND} (1)",
        "    - mkdocs.yml",
    ]
    assert result.stdout.rstrip().endswith("; 4 not scanned, see skipped)")


def test_sarif_records_skips_as_tool_execution_notifications(tmp_path: Path) -> None:
    repo = write_repo(tmp_path / "repo", files=only("charts/", "manifests/"))
    result = scan("--format", "sarif", ".", cwd=repo, path=None)
    assert result.returncode == 1, result.stderr
    (invocation,) = json.loads(result.stdout)["runs"][0]["invocations"]
    assert invocation["executionSuccessful"] is True
    (note,) = invocation["toolExecutionNotifications"]
    assert note["level"] == "warning"
    assert note["message"]["text"] == f"not scanned: {HELM_NO_TOOL}"
    assert note["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "charts/app"


def test_strict_makes_any_skip_exit_2_after_the_report(tmp_path: Path) -> None:
    repo = write_repo(tmp_path / "repo", files=only("manifests/", "mkdocs.yml"))
    result = scan("--strict", ".", cwd=repo, path=None)
    assert result.returncode == 2
    assert "Deployment jobs/worker" in result.stdout
    assert result.stderr.strip() == "Error: --strict: 1 input(s) skipped as not manifests"
    clean = scan("--strict", "manifests", cwd=repo, path=None)
    assert clean.returncode == 1, clean.stderr


def test_a_named_file_that_cannot_be_read_is_still_exit_2(tmp_path: Path) -> None:
    repo = write_repo(tmp_path / "repo", files=only("manifests/"))
    (repo / "manifests" / "locked.yaml").write_bytes(b"\xff\xfe kind: Pod")
    walked = scan(".", cwd=repo, path=None)
    assert walked.returncode == 1, walked.stderr
    assert "cannot be read (1)\n    - manifests/locked.yaml: not UTF-8 text (byte 0)" in walked.stdout
    named = scan("manifests/locked.yaml", "manifests/worker.yaml", cwd=repo, path=None)
    assert named.returncode == 2
    assert named.stderr.strip() == "Error: manifests/locked.yaml: cannot read: not UTF-8 text (byte 0)"
    assert named.stdout == ""


# --- YAML as Kubernetes reads it -----------------------------------------------------------------


def test_the_equals_scalar_of_a_crd_enum_and_a_configmap_is_read(tmp_path: Path) -> None:
    repo = write_repo(tmp_path / "repo", files=only("manifests/crds/", "manifests/operators.yaml"))
    code, report = scan_json("manifests", cwd=repo)
    assert code == 0
    assert report["summary"]["objects"] == 2
    assert report["summary"]["configmaps"] == 1
    assert skipped(report) == []


def test_an_equals_scalar_covering_configmap_counts(tmp_path: Path) -> None:
    """The ConfigMap with `equals: =` is built (not skipped) and, immutable, covers the workload."""
    immutable = flush("manifests/operators.yaml") + "immutable: true\n"
    worker = FILES["manifests/worker.yaml"].replace("worker-settings", "operators")
    repo = write_repo(tmp_path / "repo", files={"a/cm.yaml": immutable, "a/worker.yaml": worker})
    code, report = scan_json("a", cwd=repo)
    assert (code, report["summary"]["workloads"], report["findings"]) == (0, 1, [])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\n\tlabels: {}\n",
            "bad.yaml:5:1: not valid YAML or JSON: a tab used for indentation (YAML allows spaces only)",
            id="tab",
        ),
        pytest.param(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  labels:\n    ? {a: 1}\n    : b\n",
            "bad.yaml:6:7: not valid YAML or JSON: a mapping key is itself a mapping or a list,"
            " which JSON and Kubernetes cannot hold",
            id="unhashable-key",
        ),
        pytest.param(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: x, labels: {a: b}\n",
            "bad.yaml:4:1: not valid YAML or JSON: a `{` mapping that is not closed by `}`",
            id="unclosed-flow",
        ),
        pytest.param(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a: b\n",
            "bad.yaml:4:10: not valid YAML or JSON: a `key: value` where a plain value was expected"
            " (quote a value that contains `: `)",
            id="colon-in-value",
        ),
    ],
)
def test_a_yaml_error_names_file_line_column_in_plain_words(tmp_path: Path, text: str, expected: str) -> None:
    (tmp_path / "bad.yaml").write_text(text, encoding="utf-8")
    result = scan("bad.yaml", cwd=tmp_path, path=None)
    assert result.returncode == 2
    assert result.stderr.strip() == f"Error: {expected}"
    assert not any(name in result.stderr for name in CLASS_NAMES), result.stderr


def test_custom_tags_are_a_plain_skip_never_a_tag_uri(tmp_path: Path) -> None:
    pod = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\nspec: !!python/name:os.system\n"
    repo = write_repo(tmp_path / "repo", files={"cfn.yaml": pod, **only("manifests/worker.yaml")})
    code, report = scan_json(".", cwd=repo)
    assert code == 1
    assert skipped(report) == [
        (
            "cfn.yaml",
            "YAML for another program: it uses tags Kubernetes does not read",
            "line 5, column 7: the tag `!!python/name:os.system` belongs to another program"
            " (Kubernetes reads no custom YAML tags)",
        )
    ]


def test_a_helm_template_named_on_the_command_line_says_to_render_it(tmp_path: Path) -> None:
    repo = write_repo(tmp_path / "repo", files=only("charts/", "manifests/worker.yaml"))
    result = scan("charts/app/templates/deployment.yaml", "manifests/worker.yaml", cwd=repo, path=None)
    assert result.returncode == 1, result.stderr
    assert "  Helm template: scan `helm template` output instead (1)\n" in result.stdout
    assert "    - charts/app/templates/deployment.yaml: line " in result.stdout


# --- empty input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        pytest.param(
            ["-"],
            "",
            "Error: no Kubernetes object in stdin (if stdin comes from `helm template` or another command,"
            " did it fail?); use --allow-empty if that is expected",
            id="empty-stdin",
        ),
        pytest.param(
            ["empty"],
            "",
            "Error: no Kubernetes object in the inputs; use --allow-empty if that is expected",
            id="folder",
        ),
        pytest.param(
            ["docs"],
            "",
            f"Error: no Kubernetes object in the inputs (2 skipped: 2 {NOT_OBJECT});"
            " use --allow-empty if that is expected",
            id="nothing-kubernetes",
        ),
    ],
)
def test_no_kubernetes_object_is_exit_2_unless_allowed(
    tmp_path: Path, args: list[str], stdin: str, message: str
) -> None:
    repo = write_repo(tmp_path / "repo", files=only("docs/"))
    (repo / "empty").mkdir()
    result = scan(*args, cwd=repo, path=None, stdin=stdin)
    assert (result.returncode, result.stdout, result.stderr.strip()) == (2, "", message)
    allowed = scan("--allow-empty", *args, cwd=repo, path=None, stdin=stdin)
    assert allowed.returncode == 0, allowed.stderr
    assert "no findings in 0 workloads" in allowed.stdout


def test_a_failing_helm_template_in_a_pipe_fails_the_scan(tmp_path: Path) -> None:
    helm = str(Path(helm_dir()) / "helm")
    failed = subprocess.run([helm, "template", str(tmp_path / "no-chart")], capture_output=True, text=True, check=False)
    assert failed.returncode != 0
    result = scan("-", cwd=tmp_path, path=None, stdin=failed.stdout)
    assert result.returncode == 2
    assert "no Kubernetes object in stdin" in result.stderr


# --- SARIF fingerprints ----------------------------------------------------------------------------


def fingerprints(result: subprocess.CompletedProcess[str]) -> list[str]:
    assert result.returncode == 1, result.stderr
    return [r["partialFingerprints"]["reloadSafeFinding/v2"] for r in json.loads(result.stdout)["runs"][0]["results"]]


def test_the_same_workload_in_two_files_is_two_alerts_and_stays_put(tmp_path: Path) -> None:
    worker = FILES["manifests/worker.yaml"]
    repo = write_repo(tmp_path / "repo", files={"staging/worker.yaml": worker, "prod/worker.yaml": worker})
    before = fingerprints(scan("--format", "sarif", ".", cwd=repo, path=None))
    assert len(set(before)) == 2
    moved = "# moved down\n---\napiVersion: v1\nkind: Service\nmetadata: {name: s}\n---\n"
    (repo / "prod" / "worker.yaml").write_text(moved + (repo / "prod" / "worker.yaml").read_text(), encoding="utf-8")
    assert fingerprints(scan("--format", "sarif", ".", cwd=repo, path=None)) == before


# --- charts and kustomizations rendered ------------------------------------------------------------


def test_a_chart_is_rendered_with_helm_and_findings_point_at_the_template(tmp_path: Path) -> None:
    repo = write_repo(tmp_path / "repo", files=only("charts/"))
    code, report = scan_json(".", cwd=repo, path=helm_dir())
    assert code == 1
    assert [(f["name"], f["configmap"], f["source"]) for f in report["findings"]] == [
        (
            "release-name-app",
            "release-name-app-settings",
            {"file": "charts/app/templates/deployment.yaml", "document": 0, "line": None},
        )
    ]
    assert report["summary"]["configmaps"] == 1
    assert skipped(report) == []
    text = scan(".", cwd=repo, path=helm_dir())
    assert text.stdout.startswith("Deployment release-name-app (charts/app/templates/deployment.yaml, document 0)\n")


def test_values_files_are_passed_to_helm(tmp_path: Path) -> None:
    repo = write_repo(tmp_path / "repo", files=only("charts/"))
    code, report = scan_json("--values", "charts/app/ci/rollout-values.yaml", "charts/app", cwd=repo, path=helm_dir())
    assert code == 0
    assert report["summary"]["workloads"] == 1


def test_a_chart_with_missing_dependencies_is_reported_as_such(tmp_path: Path) -> None:
    chart = dict(only("charts/"))
    chart["charts/app/Chart.yaml"] = flush("charts/app/Chart.yaml") + (
        "dependencies:\n  - name: redis\n    version: 18.x.x\n    repository: https://charts.bitnami.com/bitnami\n"
    )
    repo = write_repo(tmp_path / "repo", files={**chart, **only("manifests/worker.yaml")})
    code, report = scan_json(".", cwd=repo, path=helm_dir())
    assert code == 1
    ((file, reason, detail),) = skipped(report)
    assert (file, reason) == ("charts/app", "Helm chart: dependencies missing, run `helm dependency build`")
    assert detail is not None
    assert detail.endswith("found in Chart.yaml, but missing in charts/ directory: redis")
    named = scan("charts/app", cwd=repo, path=helm_dir())
    assert named.returncode == 2
    assert named.stderr.startswith("Error: charts/app: Helm chart: dependencies missing, run `helm dependency build`: ")
    assert "Traceback" not in named.stderr


def test_a_broken_template_shows_helms_error_in_plain_words(tmp_path: Path) -> None:
    chart = dict(only("charts/"))
    chart["charts/app/templates/broken.yaml"] = "metadata:\n  name: {{ .Values.nope.deeper }}\n"
    repo = write_repo(tmp_path / "repo", files=chart)
    result = scan("charts/app", cwd=repo, path=helm_dir())
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(
        "Error: charts/app: Helm chart: `helm template` failed: template: app/templates/broken.yaml:2"
    )
    assert "nil pointer evaluating interface {}.deeper" in line


def _kustomize_tool() -> str:
    found = shutil.which("kubectl") or shutil.which("kustomize")
    if found is None:
        pytest.skip("neither kubectl nor kustomize is on PATH: kustomization rendering not tested")
    return found


def test_a_kustomization_is_rendered_base_and_overlay(tmp_path: Path) -> None:
    repo = write_repo(tmp_path / "repo", files=only("deploy/"))
    code, report = scan_json(".", cwd=repo, path=path_with(tmp_path, _kustomize_tool()))
    assert code == 1
    assert [(f["namespace"], f["name"], f["type"], f["source"]["file"]) for f in report["findings"]] == [
        (None, "api", "env", "deploy/base/kustomization.yaml"),
        ("prod", "api", "env", "deploy/overlays/prod/kustomization.yaml"),
    ]
    assert report["summary"]["configmaps"] == 2
