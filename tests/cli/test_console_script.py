"""The installed `reload-safe` console script, run as a real process, as CI pipelines run it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.helpers import admission_review, workload, yaml_docs

SEED = Path(__file__).parent.parent / "fixtures" / "seed"


def script() -> str:
    """The console script of the environment running the tests (a venv's bin first, then PATH)."""
    beside = Path(sys.executable).parent / "reload-safe"
    found = str(beside) if beside.exists() else shutil.which("reload-safe")
    if found is None:
        pytest.fail("the reload-safe console script is not installed: pip install -e .")
    return found


def run(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([script(), *args], input=input, capture_output=True, text=True, timeout=60, check=False)


def test_scan_seed_manifests() -> None:
    env = run("scan", "--format", "json", str(SEED / "env-deployment.yaml"))
    volume = run("scan", str(SEED / "volume-deployment.yaml"))
    assert env.returncode == 1, env.stderr
    assert [f["type"] for f in json.loads(env.stdout)["findings"]] == ["envFrom"]
    assert volume.returncode == 0, volume.stderr
    assert volume.stdout.startswith("reload-safe scan: no findings in 1 workload")


def test_helm_template_piped_to_scan() -> None:
    rendered = "".join(
        f"---\n# Source: app/templates/{name}.yaml\n" + (text or "")
        for name, text in [("notes", None), ("deploy", yaml_docs(workload(namespace=None)))]
    )
    result = run("scan", "-", input=rendered)
    assert result.returncode == 1, result.stderr
    assert result.stdout.startswith("Deployment web (stdin:5)\n")


def test_bad_input_is_one_line_and_exit_2() -> None:
    result = run("scan", "-", input="kind: [oops\n")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "Traceback" not in result.stderr


def test_review_round_trip() -> None:
    result = run("review", "--namespace-policy", "enforce", input=admission_review(workload()))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["response"]["allowed"] is False


def test_closed_pipe_is_not_a_traceback(tmp_path: Path) -> None:
    """`reload-safe scan big/ | head -1`: the reader leaves early; the scan must not crash loudly."""
    manifests = tmp_path / "many.yaml"
    manifests.write_text(yaml_docs(*(workload(name=f"w{i}") for i in range(400))), encoding="utf-8")
    with subprocess.Popen(
        [script(), "scan", str(manifests)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        assert process.stdout is not None
        assert process.stderr is not None
        assert process.stdout.readline().startswith("Deployment team/w0")
        process.stdout.close()
        stderr = process.stderr.read()
        process.wait(timeout=60)
    assert "Traceback" not in stderr
    assert process.returncode == 1
