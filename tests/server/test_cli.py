"""`reload-safe serve` start-up: --dev certificates, and refusals before anything listens."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.server.harness import CONFIGMAPS, Server, fixture_bytes, free_port, serve_command


@pytest.mark.server
def test_dev_creates_certificates_and_serves_on_loopback(tmp_path: Path) -> None:
    ca = tmp_path / "certs" / "ca.crt"
    server = Server(workdir=tmp_path, ca_file=ca, args=["--dev", "--source", "static", "--configmaps", str(CONFIGMAPS)])
    try:
        server.wait_ready()
        assert sorted(p.name for p in (tmp_path / "certs").iterdir()) == ["ca.crt", "ca.key", "tls.crt", "tls.key"]
        assert server.post("/validate", fixture_bytes("deployment-envfrom-create.json")).status == 200
        assert f"Listening at: https://127.0.0.1:{server.port}" in server.stderr()
    finally:
        assert server.stop() == 0
    first = (tmp_path / "certs" / "tls.crt").read_bytes()

    again = Server(workdir=tmp_path, ca_file=ca, args=["--dev", "--source", "static"])
    try:
        again.wait_ready()
    finally:
        again.stop()
    assert (tmp_path / "certs" / "tls.crt").read_bytes() == first  # reused, caBundle stays valid


def run_serve(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("RELOAD_SAFE_")}
    full_env.update(env or {})
    return subprocess.run(
        [*serve_command(), "--port", str(free_port()), *args],
        cwd=cwd, env=full_env, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "HTTPS only"),
        (("--cert-file", "x.crt"), "go together"),
        (("--dev", "--configmaps", str(CONFIGMAPS)), "need --source static"),
        (("--dev", "--namespace-policy", "enforce"), "need --source static"),
        (("--dev", "--source", "static", "--kubeconfig", "k"), "needs --source cluster"),
        (("--dev", "--source", "static", "--default-policy", "strict"), "Invalid value"),
        (("--dev", "--source", "static", "--workers", "0"), "Invalid value"),
        (("--cert-file", "missing.crt", "--key-file", "missing.key", "--source", "static"), "cannot load"),
        (("--dev", "--source", "static", "--audit-file", "/nonexistent/dir/audit.log"), "cannot open the audit file"),
    ],
)
def test_bad_configuration_exits_2_before_listening(args: tuple[str, ...], message: str, tmp_path: Path) -> None:
    result = run_serve(*args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Listening at" not in result.stderr


def test_unreadable_configmaps_file_exits_2(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\nbinaryData: {k: '!!notbase64'}\n")
    result = run_serve("--dev", "--source", "static", "--configmaps", str(broken), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "not valid base64" in result.stderr


def test_cluster_source_without_credentials_exits_2(tmp_path: Path) -> None:
    result = run_serve("--dev", "--kubeconfig", str(tmp_path / "none"), cwd=tmp_path, env={"HOME": str(tmp_path)})
    assert result.returncode == 2, result.stderr
    assert "cannot load Kubernetes credentials" in result.stderr


def test_help_lists_every_flag() -> None:
    result = subprocess.run([*serve_command(), "--help"], capture_output=True, text=True, timeout=30, check=True)
    for flag in (
        "--port", "--cert-file", "--key-file", "--client-ca-file", "--source", "--configmaps",
        "--namespace-policy", "--default-policy", "--own-namespace", "--audit-file", "--workers",
        "--threads", "--log-level", "--kubeconfig", "--dev",
    ):  # fmt: skip
        assert flag in result.stdout
