"""`reload-safe scan` inputs: files, folders, stdin, pipes; YAML, JSON, `List`; and input it refuses."""

from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import Run, Write
from tests.cli.helpers import configmap, one_line_error, workload, yaml_docs

ENV_DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  template:
    spec:
      containers:
      - name: app
        envFrom:
        - configMapRef: {{name: settings}}
"""


def deployment(name: str = "web") -> str:
    return ENV_DEPLOYMENT.format(name=name).lstrip("\n")


def sources(run: Run, *args: str, input: str | None = None) -> list[tuple[str, str, int, int | None]]:
    """(name, file, document, line) of each finding."""
    result = run("scan", "--format", "json", *args, input=input)
    assert result.exit_code in (0, 1), result.stderr
    return [
        (f["name"], f["source"]["file"], f["source"]["document"], f["source"]["line"])
        for f in json.loads(result.stdout)["findings"]
    ]


# --- where objects come from -------------------------------------------------------------------


def test_folders_are_walked_recursively_for_yaml_yml_json(run: Run, write: Write, tmp_path: Path) -> None:
    write("charts/a/deep/one.yaml", deployment("one"))
    write("charts/b/two.yml", deployment("two"))
    write("charts/three.json", json.dumps(workload(name="three")))
    write("charts/notes.txt", "not: [yaml")
    write("charts/templates.tpl", "{{ .Values }}")
    found = sources(run, str(tmp_path / "charts"))
    assert sorted(name for name, *_ in found) == ["one", "three", "two"]


def test_files_and_folders_mix(run: Run, write: Write, tmp_path: Path) -> None:
    single = write("single.yaml", deployment("single"))
    write("dir/inner.yaml", deployment("inner"))
    found = sources(run, str(single), str(tmp_path / "dir"))
    assert [name for name, *_ in found] == ["single", "inner"]


def test_multi_document_yaml_like_helm_template(run: Run) -> None:
    stream = (
        "---\n"
        "# Source: app/templates/service.yaml\n"
        "apiVersion: v1\nkind: Service\nmetadata: {name: web}\n"
        "---\n"
        "# Source: app/templates/empty.yaml\n"
        "---\n"
        "# Source: app/templates/deployment.yaml\n" + deployment("first") + "---\n---\n" + deployment("second")
    )
    found = sources(run, "-", input=stream)
    assert found == [("first", "-", 1, 10), ("second", "-", 2, 23)]


def test_list_kinds_are_flattened_with_item_lines(run: Run, write: Write) -> None:
    text = """
    apiVersion: v1
    kind: List
    items:
    - apiVersion: v1
      kind: ConfigMap
      metadata: {name: settings}
    - apiVersion: apps/v1
      kind: Deployment
      metadata: {name: listed}
      spec:
        template:
          spec:
            containers: [{name: app, envFrom: [{configMapRef: {name: other}}]}]
    """
    path = write("list.yaml", text)
    assert sources(run, str(path)) == [("listed", str(path), 0, 7)]


def test_typed_lists_too(run: Run, write: Write) -> None:
    listed = {"apiVersion": "apps/v1", "kind": "DeploymentList", "items": [workload(name="a"), workload(name="b")]}
    found = sources(run, str(write("list.json", json.dumps(listed, indent=2))))
    assert [name for name, *_ in found] == ["a", "b"]


def test_json_file(run: Run, write: Write) -> None:
    path = write("deploy.json", json.dumps(workload(name="from-json"), indent="\t"))
    assert sources(run, str(path)) == [("from-json", str(path), 0, 1)]


def test_stdin(run: Run) -> None:
    assert sources(run, "-", input=deployment("piped")) == [("piped", "-", 0, 1)]


def test_stdin_and_files_together_share_configmaps(run: Run, write: Write) -> None:
    cm = write("cm.yaml", yaml_docs(configmap("settings", immutable=True)))
    assert sources(run, str(cm), "-", input=deployment("piped")) == []


def test_named_pipe(run: Run, tmp_path: Path) -> None:
    """`reload-safe scan <(helm template ...)` hands over a pipe, not a regular file."""
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)

    def feed() -> None:
        with fifo.open("w", encoding="utf-8") as pipe:
            pipe.write(deployment("piped"))

    writer = threading.Thread(target=feed)
    writer.start()
    try:
        assert sources(run, str(fifo)) == [("piped", str(fifo), 0, 1)]
    finally:
        writer.join(timeout=5)


def test_line_numbers_and_document_indices(run: Run, write: Write) -> None:
    text = "# leading comment\n\n" + deployment("a") + "---\n# only a comment\n---\n\n" + deployment("b")
    path = write("many.yaml", text)
    assert sources(run, str(path)) == [("a", str(path), 0, 3), ("b", str(path), 1, 18)]


# --- input it refuses --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        pytest.param(deployment() + "---\nkind: [unclosed\n", ["bad.yaml:14", "not valid YAML"], id="not-yaml"),
        pytest.param("a: b\n  c: d\n", ["bad.yaml:2", "not valid YAML"], id="bad-indentation"),
        pytest.param('{"kind": "Pod",\n "x": [}', ["bad.yaml:2", "not valid YAML or JSON"], id="bad-json"),
        pytest.param("kind: List\nitems: [1]\n", ["bad.yaml:1", "item 0 is not an object"], id="list-item-scalar"),
        pytest.param("a: [" * 30_000, ["bad.yaml:1", "nested more than 1000 levels"], id="deep-flow"),
        pytest.param("k:\n" + "- " * 30_000 + "x\n", ["bad.yaml:2", "nested more than 1000 levels"], id="deep-block"),
        pytest.param(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: [x]\n", ["bad.yaml:1", "data is not a map"],
            id="configmap-data-not-a-map",
        ),
        pytest.param(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n", ["bad.yaml:1", "metadata.name"], id="configmap-no-name"
        ),
    ],
)  # fmt: skip
def test_unreadable_input_names_file_and_line(run: Run, write: Write, text: str, fragments: list[str]) -> None:
    one_line_error(run("scan", str(write("bad.yaml", text))), *fragments)


@pytest.mark.parametrize(
    ("text", "line"),
    [
        pytest.param(deployment() + "---\nk: " + "[" * 30_000, 13, id="deep-in-the-second-document"),
        pytest.param("\n" + '{"a":' * 30_000 + "1" + "}" * 30_000, 2, id="deep-json"),
        pytest.param("a: " + "[" * 1000 + "]" * 1000, 1, id="one-level-too-many"),
    ],
)
def test_too_deep_names_the_line(run: Run, write: Write, text: str, line: int) -> None:
    path = write("deep.yaml", raw=text.encode())
    one_line_error(run("scan", str(path)), f"deep.yaml:{line}:", "nested more than 1000")


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("a: " + "[" * 999 + "]" * 999 + "\n", id="exactly-the-limit"),
        pytest.param(deployment() + "  annotations: {note: '" + "x" * 20_000 + "'}\n", id="a-very-long-line"),
        pytest.param(deployment() + "---\n" + "a: [[[[[]]]]]\n" * 2_000, id="many-brackets-shallow"),
    ],
)
def test_deep_looking_but_shallow_input_is_read(run: Run, write: Write, text: str) -> None:
    result = run("scan", "--allow-empty", str(write("wide.yaml", text)))
    assert result.exit_code in (0, 1), result.stderr


def test_not_utf8(run: Run, write: Write) -> None:
    path = write("binary.yaml", raw=b"\xff\xfe\x00kind: Pod")
    one_line_error(run("scan", str(path)), "binary.yaml", "cannot read")


def test_missing_path(run: Run, tmp_path: Path) -> None:
    one_line_error(run("scan", str(tmp_path / "nope.yaml")), "nope.yaml", "no such file or directory")


def test_broken_symlink(run: Run, tmp_path: Path) -> None:
    link = tmp_path / "link.yaml"
    link.symlink_to(tmp_path / "gone.yaml")
    one_line_error(run("scan", str(link)), "link.yaml")


def test_bad_stdin_names_stdin(run: Run) -> None:
    one_line_error(run("scan", "-", input="kind: [x\n"), "stdin:", "not valid YAML")


def test_a_bad_file_in_a_folder_is_skipped_with_line_and_column(run: Run, write: Write, tmp_path: Path) -> None:
    write("dir/a.yaml", deployment("fine"))
    bad = write("dir/b.yaml", "kind: [x\n")
    result = run("scan", "--format", "json", str(tmp_path / "dir"))
    assert result.exit_code == 1, result.stderr
    report = json.loads(result.stdout)
    assert [f["name"] for f in report["findings"]] == ["fine"]
    assert report["summary"]["skipped"]["files"] == [
        {
            "file": str(bad),
            "reason": "not valid YAML or JSON",
            "detail": "line 2, column 1: a `[` list that is not closed by `]`",
        }
    ]


def test_a_configmap_the_api_server_would_refuse_is_skipped_in_a_folder(run: Run, write: Write, tmp_path: Path) -> None:
    """A bad ConfigMap found by a walk is listed, not fatal (named on the command line it is exit 2)."""
    write("dir/a.yaml", deployment("fine"))
    bad = write("dir/testdata/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: [x]\n")
    result = run("scan", "--format", "json", str(tmp_path / "dir"))
    assert result.exit_code == 1, result.stderr
    report = json.loads(result.stdout)
    assert [f["name"] for f in report["findings"]] == ["fine"]
    assert report["summary"]["skipped"]["files"] == [
        {
            "file": str(bad),
            "reason": "a ConfigMap the API server would refuse",
            "detail": f'{bad}:1: ConfigMap "a": data is not a map',
        }
    ]
    strict = run("scan", "--strict", str(tmp_path / "dir"))
    assert strict.exit_code == 2
    one_line_error(run("scan", str(bad)), f"{bad}:1", "data is not a map")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        pytest.param([], "Missing argument", id="no-path"),
        pytest.param(["--format", "xml", "x.yaml"], "xml", id="unknown-format"),
        pytest.param(["-", "-"], "stdin", id="stdin-twice"),
        pytest.param(["--bogus", "x.yaml"], "--bogus", id="unknown-option"),
    ],
)
def test_bad_usage_exits_2(run: Run, args: list[str], fragment: str) -> None:
    result = run("scan", *args, input="")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert fragment in result.stderr


def test_empty_input_is_exit_2_unless_allowed(run: Run, write: Write) -> None:
    args = ("scan", str(write("empty.yaml", "")), "-")
    one_line_error(run(*args, input="---\n# nothing\n"), "no Kubernetes object in the inputs", "--allow-empty")
    allowed = run(*args, "--allow-empty", input="---\n# nothing\n")
    assert allowed.exit_code == 0
    assert "no findings in 0 workloads" in allowed.stdout


def test_wide_but_shallow_json_is_not_mistaken_for_deep(run: Run, write: Write) -> None:
    many: dict[str, Any] = {"apiVersion": "v1", "kind": "List", "items": [workload(name=f"w{i}") for i in range(400)]}
    result = run("scan", "--format", "json", str(write("wide.json", json.dumps(many))))
    assert result.exit_code == 1
    assert json.loads(result.stdout)["summary"]["findings"] == 400


def test_a_json_array_of_objects_is_read_item_by_item(run: Run, write: Write) -> None:
    path = write("objects.json", json.dumps([workload(name="first"), configmap("other")], indent=2))
    assert sources(run, str(path)) == [("first", str(path), 0, 2)]


def test_a_hung_helm_is_stopped_by_the_timeout_and_named(
    run: Run, write: Write, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from webhook.manifests import render

    sleep = shutil.which("sleep")
    assert sleep is not None
    helm = write("bin/helm", f"#!/bin/sh\nexec {sleep} 30\n")  # exec: no grandchild holding the pipes
    helm.chmod(0o755)
    write("repo/chart/Chart.yaml", "apiVersion: v2\nname: chart\nversion: 0.1.0\n")
    write("repo/plain.yaml", deployment("plain"))
    monkeypatch.setenv("PATH", str(helm.parent))
    monkeypatch.setattr(render, "TIMEOUT_SECONDS", 0.5)
    result = run("scan", "--format", "json", str(tmp_path / "repo"))
    assert result.exit_code == 1, result.stderr
    assert json.loads(result.stdout)["summary"]["skipped"]["files"] == [
        {
            "file": str(tmp_path / "repo" / "chart"),
            "reason": "Helm chart: `helm template` failed",
            "detail": f"`helm template {tmp_path / 'repo' / 'chart'}` did not finish in 0.5 s",
        }
    ]
