"""A loopback Kubernetes control plane (etcd + kube-apiserver + kube-controller-manager) for tests.

Modelled on controller-runtime's envtest: real etcd, kube-apiserver and kube-controller-manager
binaries (built from Go modules by ``tests/tools/build.sh``), started on 127.0.0.1 with ports
picked at run time, in a temporary folder holding the certificates, the etcd data, the logs
and a kubeconfig. kube-controller-manager runs the workload controllers (Deployments make
ReplicaSets, ReplicaSets make Pods), the garbage collector and the namespace controller (a
deleted namespace really goes away); ``controller_manager=False`` leaves it out, as before.
There is no scheduler or kubelet: Pods are created and stay ``Pending``.

Usage::

    from tests.envtest import ControlPlane

    with ControlPlane(audit=True) as cp:
        api = cp.api_client()                   # kubernetes.client.ApiClient
        ns = cp.new_namespace("demo")
        ...
        cp.restart_apiserver()                  # same port, same data
        events = cp.read_audit_events()

See docs/envtest.md for the whole API.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import importlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import yaml

from .certs import ADMIN_GROUP, ADMIN_USER, CONTROLLER_MANAGER_USER, CertPaths, generate_control_plane_certs

__all__ = [
    "BUILD_SCRIPT",
    "DEFAULT_AUDIT_POLICY",
    "DEFAULT_CLI_KUBECONFIG",
    "DEFAULT_CONTROLLERS",
    "ControlPlane",
    "ControlPlaneError",
    "ensure_tools",
    "free_port",
    "new_namespace",
    "pinned_versions",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOLS_DIR = REPO_ROOT / "tests" / "tools"
BUILD_SCRIPT = TOOLS_DIR / "build.sh"
#: Where ``python -m tests.envtest`` (``make cluster``) writes its kubeconfig by default;
#: ``RELOAD_SAFE_KUBECONFIG`` overrides it.
DEFAULT_CLI_KUBECONFIG = "/tmp/reload-safe/kubeconfig"
LOOPBACK = "127.0.0.1"
SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"
TOOL_NAMES = ("kube-apiserver", "kube-controller-manager", "etcd", "helm")

#: The controllers ``ControlPlane`` runs in kube-controller-manager: the workload controllers
#: (so a rollout is a new ReplicaSet, as a user sees it), the garbage collector (owned objects
#: go with their owner) and the namespace controller (deleted namespaces go away), and the
#: service-account controllers. Left out: everything that needs nodes, a cloud or a network
#: (node lifecycle, IPAM, routes, services, endpoints), certificates, quotas, and the
#: ``kube-root-ca.crt`` publisher, whose ConfigMap in every namespace would only add noise
#: for a ConfigMap-watching webhook.
DEFAULT_CONTROLLERS: tuple[str, ...] = (
    "deployment-controller",
    "replicaset-controller",
    "statefulset-controller",
    "daemonset-controller",
    "job-controller",
    "cronjob-controller",
    "replicationcontroller-controller",
    "garbage-collector-controller",
    "namespace-controller",
    "serviceaccount-controller",
    "serviceaccount-token-controller",
)

#: Audit policy used by ``ControlPlane(audit=True)``: Metadata level (which carries the
#: admission webhooks' ``auditAnnotations``, and never a request or response body) for
#: workloads, pods, ConfigMaps, Secrets (who read them) and namespaces; nothing else.
DEFAULT_AUDIT_POLICY: dict[str, Any] = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [
        {
            "level": "Metadata",
            "resources": [
                {
                    "group": "",
                    "resources": ["pods", "replicationcontrollers", "configmaps", "secrets", "namespaces"],
                },
                {"group": "apps"},
                {"group": "batch"},
            ],
        },
        {"level": "None"},
    ],
}


class ControlPlaneError(RuntimeError):
    """The control plane could not be built, started or stopped."""


# --------------------------------------------------------------------------- tools


def ensure_tools(*, quiet: bool = False) -> Path:
    """Return the folder holding ``kube-apiserver``, ``kube-controller-manager``, ``etcd`` and ``helm``.

    ``RELOAD_SAFE_TOOLS`` (what ``make test`` exports; ``RELOAD_SAFE_TOOLS_DIR`` is an alias),
    when set, names a folder of ready binaries and is used as is. Otherwise
    ``tests/tools/build.sh`` builds them once (several minutes on first use) into its cache
    and prints the folder; its progress goes to our stderr unless ``quiet``.
    """
    override = os.environ.get("RELOAD_SAFE_TOOLS") or os.environ.get("RELOAD_SAFE_TOOLS_DIR")
    if override:
        directory = Path(override)
    else:
        proc = subprocess.run(
            ["bash", str(BUILD_SCRIPT)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE if quiet else None,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            detail = proc.stderr[-4000:] if quiet and proc.stderr else "(see its output above)"
            raise ControlPlaneError(f"{BUILD_SCRIPT} failed with exit status {proc.returncode}: {detail}")
        lines = [line for line in proc.stdout.splitlines() if line.strip()]
        if not lines:
            raise ControlPlaneError(f"{BUILD_SCRIPT} printed no tools folder")
        directory = Path(lines[-1].strip())
    missing = [n for n in TOOL_NAMES if not os.access(directory / n, os.X_OK)]
    if missing:
        raise ControlPlaneError(
            f"{directory} lacks executable {', '.join(missing)} (an older tools cache? `make tools` builds them)"
        )
    return directory


def _go_mod_version(go_mod: Path, module: str) -> str:
    for line in go_mod.read_text().splitlines():
        if "=>" in line:
            continue
        fields = line.split()
        for i, field in enumerate(fields[:-1]):
            if field == module and re.match(r"v\d", fields[i + 1]):
                return fields[i + 1]
    raise ControlPlaneError(f"{module} not required in {go_mod}")


def pinned_versions() -> dict[str, str]:
    """The versions pinned in tests/tools: ``{"kubernetes": "v1.37.2", "etcd": ..., "helm": ...}``."""
    return {
        "kubernetes": _go_mod_version(TOOLS_DIR / "go.mod", "k8s.io/kubernetes"),
        "etcd": _go_mod_version(TOOLS_DIR / "etcd" / "go.mod", "go.etcd.io/etcd/server/v3"),
        "helm": _go_mod_version(TOOLS_DIR / "helm" / "go.mod", "helm.sh/helm/v3"),
    }


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port that was free on ``host`` a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _free_ports(count: int) -> list[int]:
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(sock)
            sock.bind((LOOPBACK, 0))
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for sock in socks:
            sock.close()


# --------------------------------------------------------------------------- processes

_PDEATHSIG = shutil.which("setpriv")


class _Process:
    """One child process with a fixed command line, its own process group and a log file."""

    def __init__(self, name: str, log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        self.argv: list[str] = []
        self.popen: subprocess.Popen[bytes] | None = None
        self._log_offset = 0
        self._log_file: IO[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen is not None and self.popen.poll() is None else None

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def exit_code(self) -> int | None:
        return None if self.popen is None else self.popen.poll()

    def start(self, argv: Sequence[str]) -> None:
        if self.running():
            raise ControlPlaneError(f"{self.name} is already running (pid {self.pid})")
        self.argv = list(argv)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self._log_offset = log.tell()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
        log.write(f"=== {stamp} starting: {' '.join(self.argv)}\n".encode())
        log.flush()
        cmd = list(self.argv)
        if _PDEATHSIG:
            # The kernel kills the child if the Python process dies without cleaning up.
            cmd = [_PDEATHSIG, "--pdeathsig", "KILL", "--", *cmd]
        try:
            self.popen = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group: killpg reaches any children
                close_fds=True,
            )
        except OSError as exc:
            log.close()
            raise ControlPlaneError(f"cannot start {self.name}: {exc}") from exc
        self._log_file = log

    def stop(self, timeout: float, *, graceful: bool = True) -> None:
        """SIGTERM the process group, SIGKILL it after ``timeout`` s; wait for the exit."""
        popen = self.popen
        if popen is None:
            return
        if popen.poll() is None:
            self._signal_group(popen.pid, signal.SIGTERM if graceful else signal.SIGKILL)
            try:
                popen.wait(timeout=timeout if graceful else 10)
            except subprocess.TimeoutExpired:
                self._signal_group(popen.pid, signal.SIGKILL)
                popen.wait(timeout=10)
        # Anything left in the group (none expected) goes too.
        self._signal_group(popen.pid, signal.SIGKILL)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    @staticmethod
    def _signal_group(pgid: int, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)

    def tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines that this run (since its last start) wrote to its log."""
        try:
            with self.log_path.open("rb") as f:
                f.seek(self._log_offset)
                data = f.read()
        except OSError:
            return ""
        text = data.decode("utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])


# --------------------------------------------------------------------------- control plane


class ControlPlane:
    """etcd + kube-apiserver + kube-controller-manager on 127.0.0.1, for tests and ``make cluster``.

    Args:
        tools_dir: folder with the binaries of :data:`TOOL_NAMES`; default :func:`ensure_tools`.
        work_dir: folder for certs, data, logs and kubeconfig; default a new temp folder,
            removed by :meth:`stop` (unless ``keep_work_dir`` or ``RELOAD_SAFE_ENVTEST_KEEP=1``).
            A given folder is never removed.
        kubeconfig_path: where to write the admin kubeconfig; default ``work_dir/kubeconfig``.
        audit: ``True`` writes :data:`DEFAULT_AUDIT_POLICY`; a mapping is used as the audit
            policy; the API server then logs JSON events to :attr:`audit_log_path`.
        admission_control_config: an ``AdmissionConfiguration`` (mapping, written as YAML) or
            the path of one, passed as ``--admission-control-config-file``.
        controller_manager: run kube-controller-manager (default); ``False`` gives the bare
            etcd + kube-apiserver of earlier versions, where nothing reconciles anything (a
            benchmark that times creates alone, or a test that must see objects untouched).
        apiserver_args / etcd_args / controller_manager_args: flags (name without ``--`` ->
            value) that override or add to the defaults; a value of ``None`` removes a
            default flag.
        start_timeout: seconds to wait for each process to become healthy.
        stop_timeout: seconds between SIGTERM and SIGKILL.
    """

    def __init__(
        self,
        *,
        tools_dir: Path | str | None = None,
        work_dir: Path | str | None = None,
        kubeconfig_path: Path | str | None = None,
        audit: bool | Mapping[str, Any] = False,
        admission_control_config: Mapping[str, Any] | Path | str | None = None,
        apiserver_args: Mapping[str, str | None] | None = None,
        etcd_args: Mapping[str, str | None] | None = None,
        controller_manager: bool = True,
        controller_manager_args: Mapping[str, str | None] | None = None,
        start_timeout: float = 120.0,
        stop_timeout: float = 15.0,
        keep_work_dir: bool | None = None,
    ) -> None:
        self._tools_dir = Path(tools_dir) if tools_dir is not None else None
        self._given_work_dir = Path(work_dir) if work_dir is not None else None
        self._given_kubeconfig = Path(kubeconfig_path) if kubeconfig_path is not None else None
        self._audit = audit
        self._admission_control_config = admission_control_config
        self._apiserver_overrides = dict(apiserver_args or {})
        self._etcd_overrides = dict(etcd_args or {})
        self.controller_manager_enabled = controller_manager
        self._controller_manager_overrides = dict(controller_manager_args or {})
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        if keep_work_dir is None:
            keep_work_dir = os.environ.get("RELOAD_SAFE_ENVTEST_KEEP", "") not in ("", "0")
        self.keep_work_dir = keep_work_dir

        self._work_dir: Path | None = None
        self._certs: CertPaths | None = None
        self._kubeconfig: Path | None = None
        self._audit_log: Path | None = None
        self._admission_control_path: Path | None = None
        self.apiserver_port = 0
        self.etcd_port = 0
        self.etcd_peer_port = 0
        #: kube-controller-manager's secure port (healthz, metrics); 0 without it.
        self.controller_manager_port = 0
        #: Effective kube-apiserver flags (name -> value); edit, then :meth:`restart_apiserver`.
        self.apiserver_args: dict[str, str] = {}
        #: Effective etcd flags (name -> value); edit, then :meth:`restart_etcd`.
        self.etcd_args: dict[str, str] = {}
        #: Effective kube-controller-manager flags; edit, then :meth:`restart_controller_manager`.
        self.controller_manager_args: dict[str, str] = {}
        self._etcd: _Process | None = None
        self._apiserver: _Process | None = None
        self._controller_manager: _Process | None = None
        self._started = False

    # ------------------------------------------------------------------ properties

    def _need(self, value: Any, what: str) -> Any:
        if value is None:
            raise ControlPlaneError(f"control plane not started: no {what} yet")
        return value

    @property
    def work_dir(self) -> Path:
        return Path(self._need(self._work_dir, "work dir"))

    @property
    def tools_dir(self) -> Path:
        return Path(self._need(self._tools_dir, "tools dir"))

    @property
    def certs(self) -> CertPaths:
        certs: CertPaths = self._need(self._certs, "certificates")
        return certs

    @property
    def url(self) -> str:
        """``https://127.0.0.1:<port>`` of the API server."""
        self._need(self._started or None, "URL")
        return f"https://{LOOPBACK}:{self.apiserver_port}"

    @property
    def etcd_url(self) -> str:
        self._need(self._started or None, "etcd URL")
        return f"http://{LOOPBACK}:{self.etcd_port}"

    @property
    def kubeconfig_path(self) -> Path:
        return Path(self._need(self._kubeconfig, "kubeconfig"))

    @property
    def ca_file(self) -> Path:
        """The CA that signed the API server's serving cert and the admin client cert."""
        return self.certs.ca_cert

    @property
    def client_cert_file(self) -> Path:
        return self.certs.admin_cert

    @property
    def client_key_file(self) -> Path:
        return self.certs.admin_key

    @property
    def audit_log_path(self) -> Path | None:
        """The API server's JSON audit log, or ``None`` without ``audit=``."""
        return self._audit_log

    @property
    def apiserver_log_path(self) -> Path:
        return self.work_dir / "logs" / "kube-apiserver.log"

    @property
    def etcd_log_path(self) -> Path:
        return self.work_dir / "logs" / "etcd.log"

    @property
    def controller_manager_log_path(self) -> Path:
        return self.work_dir / "logs" / "kube-controller-manager.log"

    @property
    def controller_manager_kubeconfig_path(self) -> Path:
        """kube-controller-manager's kubeconfig (user ``system:kube-controller-manager``)."""
        return self.work_dir / "kube-controller-manager.kubeconfig"

    @property
    def controller_manager_pid(self) -> int | None:
        return self._controller_manager.pid if self._controller_manager else None

    @property
    def controller_manager_running(self) -> bool:
        return self._controller_manager is not None and self._controller_manager.running()

    @property
    def apiserver_pid(self) -> int | None:
        return self._apiserver.pid if self._apiserver else None

    @property
    def etcd_pid(self) -> int | None:
        return self._etcd.pid if self._etcd else None

    @property
    def apiserver_running(self) -> bool:
        return self._apiserver is not None and self._apiserver.running()

    @property
    def etcd_running(self) -> bool:
        return self._etcd is not None and self._etcd.running()

    def binary(self, name: str) -> Path:
        """Path of one of the built tools (:data:`TOOL_NAMES`)."""
        if self._tools_dir is None:
            self._tools_dir = ensure_tools()
        return self._tools_dir / name

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> ControlPlane:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> ControlPlane:
        """Start etcd, kube-apiserver, then kube-controller-manager (unless disabled); return
        when the API server's ``/readyz`` is healthy and the controllers are running."""
        if self._started:
            raise ControlPlaneError("control plane already started")
        if self._tools_dir is None:
            self._tools_dir = ensure_tools()
        needed = ("etcd", "kube-apiserver", *(("kube-controller-manager",) if self.controller_manager_enabled else ()))
        for name in needed:
            if not os.access(self._tools_dir / name, os.X_OK):
                raise ControlPlaneError(f"no executable {name} in {self._tools_dir}")
        if self._given_work_dir is not None:
            self._work_dir = self._given_work_dir
            self._work_dir.mkdir(parents=True, exist_ok=True)
        else:
            self._work_dir = Path(tempfile.mkdtemp(prefix="reload-safe-envtest-"))
        atexit.register(self._atexit)
        try:
            self._prepare_files()
            for attempt in range(3):
                self.etcd_port, self.etcd_peer_port, self.apiserver_port = _free_ports(3)
                self._started = True
                try:
                    self.start_etcd()
                    self.start_apiserver()
                    break
                except ControlPlaneError as exc:
                    self._stop_processes()
                    self._etcd = self._apiserver = None  # new ports, new flags
                    shutil.rmtree(self.work_dir / "etcd", ignore_errors=True)
                    if attempt == 2 or "address already in use" not in str(exc):
                        raise
            self._write_kubeconfig()
            if self.controller_manager_enabled:
                self._start_controller_manager_on_a_free_port()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop kube-controller-manager, kube-apiserver, then etcd (SIGTERM, SIGKILL after
        ``stop_timeout``); clean up."""
        self._stop_processes()
        self._started = False
        with contextlib.suppress(Exception):
            atexit.unregister(self._atexit)
        if self._work_dir is not None and self._given_work_dir is None and not self.keep_work_dir:
            shutil.rmtree(self._work_dir, ignore_errors=True)
            self._work_dir = None

    def _stop_processes(self) -> None:
        if self._controller_manager is not None:
            self._controller_manager.stop(self.stop_timeout)
        if self._apiserver is not None:
            self._apiserver.stop(self.stop_timeout)
        if self._etcd is not None:
            self._etcd.stop(self.stop_timeout)

    def _atexit(self) -> None:
        with contextlib.suppress(Exception):
            self.stop()

    # --- etcd

    def start_etcd(self) -> None:
        """(Re)start etcd with the same ports and data dir; wait until healthy."""
        self._need(self._started or None, "ports")
        if self._etcd is None:
            self._etcd = _Process("etcd", self.etcd_log_path)
            self.etcd_args = self._etcd_flags()
        self._etcd.start([str(self.binary("etcd")), *_flags(self.etcd_args)])
        self._wait_etcd(self.start_timeout)

    def stop_etcd(self, *, graceful: bool = True) -> None:
        """Stop etcd alone (the API server keeps running and reports etcd unhealthy)."""
        if self._etcd is not None:
            self._etcd.stop(self.stop_timeout, graceful=graceful)

    def restart_etcd(self, *, graceful: bool = True) -> None:
        """Stop and start etcd (same port and data); wait until the API server is ready again."""
        self.stop_etcd(graceful=graceful)
        self.start_etcd()
        if self.apiserver_running:
            self.wait_ready()

    # --- kube-apiserver

    def start_apiserver(self) -> None:
        """(Re)start kube-apiserver with :attr:`apiserver_args`; wait for ``/readyz``."""
        self._need(self._started or None, "ports")
        if self._apiserver is None:
            self._apiserver = _Process("kube-apiserver", self.apiserver_log_path)
            self.apiserver_args = self._apiserver_flags()
        self._apiserver.start([str(self.binary("kube-apiserver")), *_flags(self.apiserver_args)])
        self.wait_ready()

    def stop_apiserver(self, *, graceful: bool = True) -> None:
        """Stop kube-apiserver alone (etcd and its data stay)."""
        if self._apiserver is not None:
            self._apiserver.stop(self.stop_timeout, graceful=graceful)

    def restart_apiserver(self, *, graceful: bool = True) -> None:
        """Stop and start kube-apiserver on the same port, with :attr:`apiserver_args`."""
        self.stop_apiserver(graceful=graceful)
        self.start_apiserver()

    # --- kube-controller-manager

    def _start_controller_manager_on_a_free_port(self) -> None:
        """Its port is picked after the others: retry on a new one if it was taken meanwhile."""
        for attempt in range(3):
            self.controller_manager_port = _free_ports(1)[0]
            self._controller_manager = None  # new port, new flags
            try:
                self.start_controller_manager()
                return
            except ControlPlaneError as exc:
                self.stop_controller_manager()
                if attempt == 2 or "address already in use" not in str(exc):
                    raise

    def start_controller_manager(self) -> None:
        """(Re)start kube-controller-manager with :attr:`controller_manager_args`; wait until
        it is healthy and its controllers run (the ``default`` ServiceAccount exists)."""
        self._need(self._started or None, "ports")
        if self._controller_manager is None:
            self._write_controller_manager_kubeconfig()
            self._controller_manager = _Process("kube-controller-manager", self.controller_manager_log_path)
            self.controller_manager_args = self._controller_manager_flags()
        binary = str(self.binary("kube-controller-manager"))
        self._controller_manager.start([binary, *_flags(self.controller_manager_args)])
        self.wait_controller_manager()

    def stop_controller_manager(self, *, graceful: bool = True) -> None:
        """Stop kube-controller-manager alone: objects stay, nothing reconciles them."""
        if self._controller_manager is not None:
            self._controller_manager.stop(self.stop_timeout, graceful=graceful)

    def restart_controller_manager(self, *, graceful: bool = True) -> None:
        """Stop and start kube-controller-manager (same port, :attr:`controller_manager_args`)."""
        self.stop_controller_manager(graceful=graceful)
        self.start_controller_manager()

    # ------------------------------------------------------------------ configuration

    def _prepare_files(self) -> None:
        work = self.work_dir
        self._certs = generate_control_plane_certs(work / "pki")
        self._kubeconfig = self._given_kubeconfig or work / "kubeconfig"
        if self._audit:
            policy = DEFAULT_AUDIT_POLICY if self._audit is True else dict(self._audit)
            audit_dir = work / "audit"
            audit_dir.mkdir(parents=True, exist_ok=True)
            (audit_dir / "policy.yaml").write_text(yaml.safe_dump(policy, sort_keys=False))
            self._audit_log = audit_dir / "audit.log"
        if isinstance(self._admission_control_config, Mapping):
            path = work / "admission-control.yaml"
            path.write_text(yaml.safe_dump(dict(self._admission_control_config), sort_keys=False))
            self._admission_control_path = path
        elif self._admission_control_config is not None:
            self._admission_control_path = Path(self._admission_control_config).resolve()
        else:
            self._admission_control_path = None

    def _etcd_flags(self) -> dict[str, str]:
        peer = f"http://{LOOPBACK}:{self.etcd_peer_port}"
        client = f"http://{LOOPBACK}:{self.etcd_port}"
        flags = {
            "name": "envtest",
            "data-dir": str(self.work_dir / "etcd"),
            "listen-client-urls": client,
            "advertise-client-urls": client,
            "listen-peer-urls": peer,
            "initial-advertise-peer-urls": peer,
            "initial-cluster": f"envtest={peer}",
            "unsafe-no-fsync": "true",  # test data: speed over durability, like envtest
            "log-level": "warn",
        }
        return _merge(flags, self._etcd_overrides)

    def _apiserver_flags(self) -> dict[str, str]:
        certs = self.certs
        flags = {
            "etcd-servers": f"http://{LOOPBACK}:{self.etcd_port}",
            "bind-address": LOOPBACK,
            "advertise-address": LOOPBACK,
            # A loopback advertise address is refused by the endpoint reconciler that keeps
            # the "kubernetes" Service's endpoints; nothing here needs those endpoints.
            "endpoint-reconciler-type": "none",
            "secure-port": str(self.apiserver_port),
            "cert-dir": str(self.work_dir / "apiserver-certs"),
            "tls-cert-file": str(certs.serving_cert),
            "tls-private-key-file": str(certs.serving_key),
            "client-ca-file": str(certs.ca_cert),
            "service-account-issuer": f"https://{LOOPBACK}:{self.apiserver_port}",
            "service-account-key-file": str(certs.sa_public_key),
            "service-account-signing-key-file": str(certs.sa_private_key),
            "service-cluster-ip-range": SERVICE_CLUSTER_IP_RANGE,
            "authorization-mode": "RBAC",
            "allow-privileged": "true",
            "enable-admission-plugins": "MutatingAdmissionWebhook,ValidatingAdmissionWebhook",
            # kube-controller-manager makes a namespace's "default" ServiceAccount a moment
            # after the namespace (and not at all with controller_manager=False): with this
            # plugin on, a Pod created in that moment would be refused.
            "disable-admission-plugins": "ServiceAccount",
            # End open watches when told to stop: otherwise a SIGTERM waits for the watches of
            # kube-controller-manager (and of reload-safe) until the 60 s shutdown timeout, and
            # restart_apiserver() took 17 s, ending in SIGKILL, instead of 3.5 s.
            "shutdown-watch-termination-grace-period": "2s",
        }
        if self._audit_log is not None:
            flags["audit-policy-file"] = str(self._audit_log.parent / "policy.yaml")
            flags["audit-log-path"] = str(self._audit_log)
            flags["audit-log-format"] = "json"
            flags["audit-log-mode"] = "blocking"
        if self._admission_control_path is not None:
            flags["admission-control-config-file"] = str(self._admission_control_path)
        return _merge(flags, self._apiserver_overrides)

    def _controller_manager_flags(self) -> dict[str, str]:
        """A kubeadm-like kube-controller-manager, on loopback, without leader election.

        Each controller uses its own service account (``--use-service-account-credentials``,
        as kubeadm sets it), so what it creates reaches the webhooks as
        ``system:serviceaccount:kube-system:<controller>`` with that controller's bootstrap
        RBAC, as in a real cluster. The client rate limit is raised from 20/s so that tests
        creating a few hundred Deployments do not wait on it.
        """
        certs = self.certs
        kubeconfig = str(self.controller_manager_kubeconfig_path)
        flags = {
            "kubeconfig": kubeconfig,
            "authentication-kubeconfig": kubeconfig,
            "authorization-kubeconfig": kubeconfig,
            # Client certificates are checked against --client-ca-file alone: this API server
            # has no front proxy, so there is no request-header CA to look up.
            "authentication-skip-lookup": "true",
            "bind-address": LOOPBACK,
            "secure-port": str(self.controller_manager_port),
            "tls-cert-file": str(certs.controller_manager_serving_cert),
            "tls-private-key-file": str(certs.controller_manager_serving_key),
            "client-ca-file": str(certs.ca_cert),
            "cert-dir": str(self.work_dir / "controller-manager-certs"),
            "leader-elect": "false",
            "controllers": ",".join(DEFAULT_CONTROLLERS),
            "use-service-account-credentials": "true",
            "service-account-private-key-file": str(certs.sa_private_key),
            "root-ca-file": str(certs.ca_cert),
            "service-cluster-ip-range": SERVICE_CLUSTER_IP_RANGE,
            "kube-api-qps": "200",
            "kube-api-burst": "400",
        }
        return _merge(flags, self._controller_manager_overrides)

    def _write_controller_manager_kubeconfig(self) -> None:
        certs = self.certs
        config = _kubeconfig(
            server=self.url,
            ca_file=certs.ca_cert,
            user=CONTROLLER_MANAGER_USER,
            cert_file=certs.controller_manager_cert,
            key_file=certs.controller_manager_key,
        )
        _write_private_yaml(self.controller_manager_kubeconfig_path, config)

    def _write_kubeconfig(self) -> None:
        certs = self.certs
        config = _kubeconfig(
            server=self.url,
            ca_file=certs.ca_cert,
            user=ADMIN_USER,
            cert_file=certs.admin_cert,
            key_file=certs.admin_key,
        )
        _write_private_yaml(self.kubeconfig_path, config)

    # ------------------------------------------------------------------ health

    def _ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.certs.ca_cert))
        ctx.load_cert_chain(str(self.certs.admin_cert), str(self.certs.admin_key))
        return ctx

    def _get(self, url: str, context: ssl.SSLContext | None, timeout: float = 3.0) -> tuple[int, str]:
        handlers: list[urllib.request.BaseHandler] = [urllib.request.ProxyHandler({})]
        if context is not None:
            handlers.append(urllib.request.HTTPSHandler(context=context))
        opener = urllib.request.build_opener(*handlers)
        try:
            with opener.open(url, timeout=timeout) as resp:
                return int(resp.status), resp.read().decode("utf-8", errors="replace")
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode("utf-8", errors="replace")

    def _wait(self, proc: _Process, check: str, timeout: float, probe: Any) -> None:
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while True:
            code = proc.exit_code()
            if code is not None:
                raise ControlPlaneError(
                    f"{proc.name} exited with status {code} while starting; "
                    f"last lines of {proc.log_path}:\n{proc.tail()}"
                )
            try:
                ok, last = probe()
                if ok:
                    return
            except (OSError, ssl.SSLError, ValueError) as exc:
                last = f"{type(exc).__name__}: {exc}"
            if time.monotonic() > deadline:
                raise ControlPlaneError(
                    f"{proc.name} not healthy ({check}) after {timeout:.0f}s; last answer: {last[-2000:]}\n"
                    f"last lines of {proc.log_path}:\n{proc.tail()}"
                )
            time.sleep(0.25)

    def _wait_etcd(self, timeout: float) -> None:
        proc = self._need(self._etcd, "etcd")
        url = f"http://{LOOPBACK}:{self.etcd_port}/health"

        def probe() -> tuple[bool, str]:
            status, body = self._get(url, None)
            healthy = status == 200 and json.loads(body).get("health") == "true"
            return healthy, f"HTTP {status}: {body}"

        self._wait(proc, url, timeout, probe)

    def wait_ready(self, timeout: float | None = None) -> None:
        """Wait until kube-apiserver's ``/readyz`` is 200 and namespace ``default`` exists."""
        proc = self._need(self._apiserver, "kube-apiserver")
        ctx = self._ssl_context()
        base = f"https://{LOOPBACK}:{self.apiserver_port}"

        def probe() -> tuple[bool, str]:
            status, body = self._get(f"{base}/readyz?verbose", ctx)
            if status != 200:
                return False, f"/readyz HTTP {status}: {body}"
            status, body = self._get(f"{base}/api/v1/namespaces/default", ctx)
            return status == 200, f"GET namespace default: HTTP {status}: {body}"

        self._wait(proc, f"{base}/readyz", self.start_timeout if timeout is None else timeout, probe)

    def wait_controller_manager(self, timeout: float | None = None) -> None:
        """Wait until kube-controller-manager's ``/healthz`` is 200 (over TLS, checked
        against the CA) and its controllers act: the serviceaccount controller has made the
        ``default`` ServiceAccount of namespace ``default``, which it does once its caches
        synced (a healthy process alone may not have started any controller yet)."""
        proc = self._need(self._controller_manager, "kube-controller-manager")
        ctx = self._ssl_context()
        healthz = f"https://{LOOPBACK}:{self.controller_manager_port}/healthz"
        account = f"https://{LOOPBACK}:{self.apiserver_port}/api/v1/namespaces/default/serviceaccounts/default"

        def probe() -> tuple[bool, str]:
            status, body = self._get(healthz, ctx)
            if status != 200:
                return False, f"/healthz HTTP {status}: {body}"
            status, body = self._get(account, ctx)
            return status == 200, f"GET serviceaccount default/default: HTTP {status}: {body}"

        self._wait(proc, healthz, self.start_timeout if timeout is None else timeout, probe)

    # ------------------------------------------------------------------ helpers

    def apiserver_version(self) -> str:
        """What ``kube-apiserver --version`` prints, e.g. ``Kubernetes v1.37.2``."""
        out = subprocess.run(
            [str(self.binary("kube-apiserver")), "--version"],
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip()

    def api_client(self) -> Any:
        """A ``kubernetes.client.ApiClient`` for the admin user (``system:masters``)."""
        config = _kubernetes_module("kubernetes.config")
        return config.new_client_from_config(config_file=str(self.kubeconfig_path))

    def new_namespace(self, prefix: str = "e2e", labels: Mapping[str, str] | None = None) -> str:
        """Create a namespace named ``<prefix>-<random>`` and return its name."""
        return new_namespace(self.api_client(), prefix=prefix, labels=labels)

    def read_audit_events(self) -> list[dict[str, Any]]:
        """The API server's audit events so far (one dict per JSON line)."""
        path = self._need(self._audit_log, "audit log (start with audit=True)")
        if not Path(path).exists():
            return []
        events: list[dict[str, Any]] = []
        for line in Path(path).read_text().splitlines():
            if line.strip():
                events.append(json.loads(line))
        return events

    def describe(self) -> dict[str, Any]:
        """Paths, ports and pids, as printed by ``python -m tests.envtest``."""
        return {
            "url": self.url,
            "kubeconfig": str(self.kubeconfig_path),
            "ca_file": str(self.ca_file),
            "client_cert_file": str(self.client_cert_file),
            "client_key_file": str(self.client_key_file),
            "admin_user": ADMIN_USER,
            "admin_groups": [ADMIN_GROUP],
            "etcd_url": self.etcd_url,
            "work_dir": str(self.work_dir),
            "apiserver_log": str(self.apiserver_log_path),
            "etcd_log": str(self.etcd_log_path),
            "audit_log": str(self._audit_log) if self._audit_log else None,
            "apiserver_pid": self.apiserver_pid,
            "etcd_pid": self.etcd_pid,
            "controller_manager_pid": self.controller_manager_pid,
            "controller_manager_log": (
                str(self.controller_manager_log_path) if self.controller_manager_enabled else None
            ),
            "tools_dir": str(self.tools_dir),
        }

    def process_tails(self, lines: int = 40) -> Iterator[tuple[str, str]]:
        """(name, last log lines) of each process started, for error messages."""
        for proc in (self._etcd, self._apiserver, self._controller_manager):
            if proc is not None:
                yield proc.name, proc.tail(lines)


# --------------------------------------------------------------------------- module helpers


def _flags(flags: Mapping[str, str]) -> list[str]:
    return [f"--{name}={value}" for name, value in flags.items()]


def _merge(defaults: dict[str, str], overrides: Mapping[str, str | None]) -> dict[str, str]:
    merged = dict(defaults)
    for raw_name, value in overrides.items():
        name = raw_name.lstrip("-")
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = value
    return merged


def _kubeconfig(*, server: str, ca_file: Path, user: str, cert_file: Path, key_file: Path) -> dict[str, Any]:
    """A kubeconfig with the CA and the client certificate inline (it stands alone)."""

    def b64(path: Path) -> str:
        return base64.b64encode(path.read_bytes()).decode()

    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "envtest", "cluster": {"server": server, "certificate-authority-data": b64(ca_file)}}],
        "users": [
            {
                "name": user,
                "user": {"client-certificate-data": b64(cert_file), "client-key-data": b64(key_file)},
            }
        ],
        "contexts": [{"name": "envtest", "context": {"cluster": "envtest", "user": user, "namespace": "default"}}],
        "current-context": "envtest",
        "preferences": {},
    }


def _write_private_yaml(path: Path, document: Mapping[str, Any]) -> None:
    """Write ``document`` as YAML, mode 0600 (it holds a private key), atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(yaml.safe_dump(dict(document), sort_keys=False))
    tmp.chmod(0o600)
    tmp.replace(path)


def _kubernetes_module(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ControlPlaneError(
            f"the official Kubernetes Python client is needed ({exc}): pip install kubernetes"
        ) from exc


def new_namespace(api_client: Any, prefix: str = "e2e", labels: Mapping[str, str] | None = None) -> str:
    """Create namespace ``<prefix>-<8 hex>`` with ``labels`` through ``api_client``; return its name.

    Works against any cluster (``kubernetes.client.ApiClient``). A deleted namespace goes away
    only where a namespace controller runs (``ControlPlane(controller_manager=False)`` has none:
    it stays ``Terminating``).
    """
    client = _kubernetes_module("kubernetes.client")
    name = f"{prefix}-{secrets.token_hex(4)}"
    body = client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels=dict(labels or {})))
    client.CoreV1Api(api_client).create_namespace(body)
    return name
