"""Render the chart with a real `helm` binary and hand the objects to the tests.

helm is found, in this order, at: $HELM; $RELOAD_SAFE_TOOLS/helm (what `make test` exports);
`helm` on PATH; the folder printed last by tests/tools/build.sh (which builds it from Go
modules once, then reuses the cache). The tests skip only when none of these yields a binary.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "reload-safe"
BUILD_SCRIPT = REPO / "tests" / "tools" / "build.sh"
SCENARIOS = sorted(CHART.glob("ci/*-values.yaml"))
RELEASE = "rs"
NAMESPACE = "rs-system"
KUBE_VERSION = "1.37.0"
"""Rendered for, and validated against, this Kubernetes version (kubernetes-validate ships it)."""

Manifest = dict[str, Any]


@cache
def _find_helm() -> tuple[str | None, str]:
    """(path, problem): no path means helm is absent (skip); a path with a problem, an error."""
    explicit = os.environ.get("HELM")
    if explicit:
        # Set on purpose, so a wrong value is an error to report, not a reason to skip.
        return explicit, "" if os.access(explicit, os.X_OK) else f"HELM={explicit} is not an executable file"
    tools = os.environ.get("RELOAD_SAFE_TOOLS")
    if tools and os.access(Path(tools) / "helm", os.X_OK):
        return str(Path(tools) / "helm"), ""
    on_path = shutil.which("helm")
    if on_path:
        return on_path, ""
    if not BUILD_SCRIPT.exists():
        return None, f"no helm: $HELM and $RELOAD_SAFE_TOOLS unset, none on PATH, and {BUILD_SCRIPT} is missing"
    try:
        built = subprocess.run(["bash", str(BUILD_SCRIPT)], capture_output=True, text=True, timeout=3000, check=False)
    except subprocess.TimeoutExpired:
        return None, f"no helm: {BUILD_SCRIPT} timed out"
    lines = built.stdout.strip().splitlines()
    candidate = Path(lines[-1]) / "helm" if built.returncode == 0 and lines else None
    if candidate is None or not os.access(candidate, os.X_OK):
        tail = "\n".join(built.stderr.strip().splitlines()[-5:])
        return None, f"no helm: $HELM unset, none on PATH, {BUILD_SCRIPT} gave none (exit {built.returncode}): {tail}"
    return str(candidate), ""


@pytest.fixture(scope="session")
def helm() -> str:
    path, reason = _find_helm()
    if path is None:
        pytest.skip(reason)
    if reason:
        pytest.fail(reason)
    return path


@dataclass(frozen=True)
class HelmRun:
    returncode: int
    stdout: str
    stderr: str


def run_helm(helm: str, *args: str) -> HelmRun:
    result = subprocess.run([helm, *args], capture_output=True, text=True, timeout=120, check=False)
    return HelmRun(returncode=result.returncode, stdout=result.stdout, stderr=result.stderr)


@cache
def _template(helm: str, values: tuple[str, ...], sets: tuple[str, ...]) -> HelmRun:
    args = ["template", RELEASE, str(CHART), "--namespace", NAMESPACE, "--kube-version", KUBE_VERSION]
    for path in values:
        args += ["--values", path]
    for assignment in sets:
        args += ["--set", assignment]
    return run_helm(helm, *args)


Render = Callable[..., list[Manifest]]


@pytest.fixture(scope="session")
def template(helm: str) -> Callable[..., HelmRun]:
    """Run `helm template`; keyword `values` (paths) and `sets` (--set strings)."""

    def run(*, values: tuple[Path, ...] = (), sets: tuple[str, ...] = ()) -> HelmRun:
        return _template(helm, tuple(str(v) for v in values), sets)

    return run


@pytest.fixture(scope="session")
def render(template: Callable[..., HelmRun]) -> Render:
    """Render and parse; fails the test with helm's message if rendering fails."""

    def run(*, values: tuple[Path, ...] = (), sets: tuple[str, ...] = ()) -> list[Manifest]:
        result = template(values=values, sets=sets)
        assert result.returncode == 0, result.stderr
        return [doc for doc in yaml.safe_load_all(result.stdout) if doc]

    return run


def scenario(name: str) -> Path:
    return CHART / "ci" / f"{name}-values.yaml"


def find(manifests: list[Manifest], kind: str, name: str | None = None) -> list[Manifest]:
    return [m for m in manifests if m["kind"] == kind and (name is None or m["metadata"]["name"] == name)]


def one(manifests: list[Manifest], kind: str, name: str | None = None) -> Manifest:
    found = find(manifests, kind, name)
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {[m['metadata']['name'] for m in found]}"
    return found[0]


def pod_specs(manifests: list[Manifest]) -> Iterator[tuple[str, Manifest]]:
    """Every pod spec in the render, labelled kind/name."""
    for m in manifests:
        label = f"{m['kind']}/{m['metadata']['name']}"
        if m["kind"] == "Pod":
            yield label, m["spec"]
        elif m["kind"] in {"Deployment", "StatefulSet", "DaemonSet", "Job"}:
            yield label, m["spec"]["template"]["spec"]
        elif m["kind"] == "CronJob":
            yield label, m["spec"]["jobTemplate"]["spec"]["template"]["spec"]
