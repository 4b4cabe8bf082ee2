"""Render Helm charts and kustomizations with the tools their authors use, as subprocesses.

This is the only place the scan runs other programs. Each run has a timeout, and a failure is
turned into one plain sentence from the tool's own stderr (its `Error:` line), so a broken
chart reads as such, not as a traceback.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Final

TIMEOUT_SECONDS: Final = 120.0
"""A chart with many subcharts renders in seconds; two minutes means a hung plugin or tool."""
HELM_RELEASE: Final = "release-name"
"""The release name `helm template` uses when given none; charts print it in names."""
_SOURCE: Final = re.compile(r"^# Source: (\S.*?)\s*$", re.MULTILINE)
_MISSING_DEPENDENCY: Final = re.compile(r"missing in charts/ directory|found in Chart\.yaml, but missing")


class RenderError(RuntimeError):
    """The tool ran and failed (or timed out); the message is its reason in plain words."""

    def __init__(self, message: str, *, missing_dependencies: bool = False) -> None:
        super().__init__(message)
        self.missing_dependencies = missing_dependencies


@dataclass(frozen=True, slots=True)
class Rendered:
    text: str
    command: str
    """The command line that produced it, for messages."""


def helm() -> str | None:
    return shutil.which("helm")


def kustomize_command() -> list[str] | None:
    """`kubectl kustomize`, else `kustomize build`: whichever is on PATH."""
    if kubectl := shutil.which("kubectl"):
        return [kubectl, "kustomize"]
    if kustomize := shutil.which("kustomize"):
        return [kustomize, "build"]
    return None


def render_chart(chart: Path, *, helm_path: str, values: tuple[str, ...] = ()) -> Rendered:
    """`helm template` with the chart's default values, then each `--values` file in order."""
    command = [helm_path, "template", HELM_RELEASE, str(chart)]
    for file in values:
        command += ["--values", file]
    return _run(command, shown=f"helm template {chart}")


def render_kustomization(folder: Path, *, command: list[str]) -> Rendered:
    return _run([*command, str(folder)], shown=f"{Path(command[0]).name} {' '.join(command[1:])} {folder}")


def template_sources(text: str) -> list[tuple[int, str]]:
    """(offset, `chart/templates/x.yaml`) of each `# Source:` comment in helm's output."""
    return [(match.start(), match.group(1)) for match in _SOURCE.finditer(text)]


def _run(command: list[str], *, shown: str) -> Rendered:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_SECONDS, check=False)
    except subprocess.TimeoutExpired as error:
        raise RenderError(f"`{shown}` did not finish in {TIMEOUT_SECONDS:g} s") from error
    except OSError as error:
        raise RenderError(f"`{shown}` could not start: {error.strerror or error}") from error
    if done.returncode != 0:
        reason = _plain_stderr(done.stderr) or f"exit status {done.returncode}"
        raise RenderError(reason, missing_dependencies=bool(_MISSING_DEPENDENCY.search(done.stderr)))
    return Rendered(text=done.stdout, command=shown)


def _plain_stderr(stderr: str) -> str:
    """The tool's `Error: ...` line without the prefix (else its last line), on one line."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error:")]
    chosen = errors[-1] if errors else (lines[-1] if lines else "")
    return re.sub(r"\s+", " ", chosen.removeprefix("Error:").strip())
