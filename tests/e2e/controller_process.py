"""A real `reload-safe controller` process against the loopback control plane."""

from __future__ import annotations

import sys
import urllib.request
from pathlib import Path

from tests.e2e.process import ProcessGroup
from tests.envtest import free_port
from tests.support.polling import eventually

LEASE_NAMESPACE = "reload-safe"


class ControllerProcess(ProcessGroup):
    def __init__(
        self,
        *,
        kubeconfig: Path,
        work_dir: Path,
        identity: str,
        debounce: float = 1.0,
        hash_key_file: Path | None = None,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        super().__init__(name=f"controller {identity}", log_file=work_dir / f"controller-{identity}.log")
        self.kubeconfig = kubeconfig
        self.identity = identity
        self.debounce = debounce
        self.metrics_port = free_port()
        self.hash_key_file = hash_key_file
        self.extra_args = extra_args

    def start(self) -> ControllerProcess:
        argv = [
            sys.executable, "-m", "webhook", "controller",
            "--kubeconfig", str(self.kubeconfig),
            "--leader-election-namespace", LEASE_NAMESPACE,
            "--identity", self.identity,
            "--lease-duration", "4", "--renew-deadline", "3", "--retry-period", "1",
            "--debounce", str(self.debounce),
            "--metrics-port", str(self.metrics_port),
            "--log-level", "debug",
        ]  # fmt: skip
        if self.hash_key_file is not None:
            argv += ["--hash-key-file", str(self.hash_key_file)]
        argv += self.extra_args
        self.spawn(argv)
        return self

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as response:
            return str(response.read().decode())

    def metric(self, name: str) -> float:
        """Sum of a metric's samples (0 when absent)."""
        total = 0.0
        for line in self.metrics().splitlines():
            if line.startswith(name) and not line.startswith("#"):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def wait_leading(self, *, timeout: float = 30.0) -> None:
        def leading() -> bool:
            self.check_alive()
            try:
                return self.metric("reload_safe_controller_leader") == 1 and "caches synced" in self.log()
            except OSError:
                return False

        try:
            eventually(leading, timeout=timeout, interval=0.2, what=f"{self.identity} leading")
        except AssertionError:
            raise AssertionError(f"{self.identity} never led:\n{self.log_tail()}") from None
