"""``python -m tests.envtest``: run a loopback control plane until Ctrl-C or SIGTERM.

Builds (first run only) or reuses kube-apiserver, kube-controller-manager, etcd and helm via
tests/tools/build.sh, starts etcd, kube-apiserver and kube-controller-manager (unless
``--no-controller-manager``) on 127.0.0.1, writes an admin kubeconfig to
``--kubeconfig`` (default ``${RELOAD_SAFE_KUBECONFIG:-/tmp/reload-safe/kubeconfig}``) and a
JSON description beside it (``<kubeconfig>.json``), then waits. This is what
``make cluster`` runs.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from .controlplane import DEFAULT_CLI_KUBECONFIG, ControlPlane, ControlPlaneError, ensure_tools


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.envtest",
        description="Run etcd + kube-apiserver + kube-controller-manager on 127.0.0.1 until Ctrl-C / SIGTERM.",
    )
    parser.add_argument(
        "--kubeconfig",
        default=os.environ.get("RELOAD_SAFE_KUBECONFIG") or DEFAULT_CLI_KUBECONFIG,
        help="where to write the admin kubeconfig (default: $RELOAD_SAFE_KUBECONFIG or %(default)s)",
    )
    parser.add_argument("--work-dir", help="folder for certs, etcd data and logs (kept); default: a temp folder")
    parser.add_argument("--audit", action="store_true", help="enable the API server's audit log")
    parser.add_argument(
        "--admission-control-config",
        metavar="FILE",
        help="AdmissionConfiguration file for --admission-control-config-file",
    )
    parser.add_argument(
        "--apiserver-arg",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra or overriding kube-apiserver flag (repeatable), e.g. v=2",
    )
    parser.add_argument(
        "--no-controller-manager",
        action="store_true",
        help="do not run kube-controller-manager (no ReplicaSets, Pods, garbage collection or namespace deletion)",
    )
    parser.add_argument(
        "--controller-manager-arg",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra or overriding kube-controller-manager flag (repeatable), e.g. v=4",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp work dir on exit")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    overrides = _overrides("--apiserver-arg", args.apiserver_arg)
    kcm_overrides = _overrides("--controller-manager-arg", args.controller_manager_arg)
    if overrides is None or kcm_overrides is None:
        return 2

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)

    kubeconfig = Path(args.kubeconfig).resolve()
    try:
        tools = ensure_tools()
        if stop.is_set():
            return 130
        print(f"tools: {tools}", file=sys.stderr)
        cp = ControlPlane(
            tools_dir=tools,
            work_dir=args.work_dir,
            kubeconfig_path=kubeconfig,
            audit=args.audit,
            admission_control_config=args.admission_control_config,
            apiserver_args=overrides,
            controller_manager=not args.no_controller_manager,
            controller_manager_args=kcm_overrides,
            keep_work_dir=args.keep,
        )
        cp.start()
    except ControlPlaneError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1

    info_path = kubeconfig.with_name(kubeconfig.name + ".json")
    try:
        info = cp.describe()
        info_path.write_text(json.dumps(info, indent=2) + "\n")
        print(f"control plane ready: {cp.url} ({cp.apiserver_version()})")
        print(f"kubeconfig: {kubeconfig}")
        print(f"details:    {info_path}")
        if info["audit_log"]:
            print(f"audit log:  {info['audit_log']}")
        logs = [cp.apiserver_log_path, cp.etcd_log_path]
        if cp.controller_manager_enabled:
            print("controllers: kube-controller-manager (Deployments make ReplicaSets and Pending Pods)")
            logs.append(cp.controller_manager_log_path)
        print(f"logs:       {', '.join(map(str, logs))}")
        print(f"use it:     export KUBECONFIG={kubeconfig}")
        print(f"helm:       KUBECONFIG={kubeconfig} {cp.binary('helm')} list -A")
        print("Ctrl-C (or SIGTERM) stops everything.", flush=True)
        while not stop.wait(1.0):
            for name, running in _liveness(cp):
                if not running:
                    tails = "\n".join(f"--- {n}:\n{t}" for n, t in cp.process_tails())
                    print(f"error: {name} exited unexpectedly\n{tails}", file=sys.stderr)
                    return 1
        print("stopping…", file=sys.stderr)
        return 0
    finally:
        cp.stop()
        info_path.unlink(missing_ok=True)
        kubeconfig.unlink(missing_ok=True)


def _overrides(option: str, items: list[str]) -> dict[str, str | None] | None:
    """NAME=VALUE flags as a mapping; ``None`` (after saying why) if one lacks its ``=``."""
    overrides: dict[str, str | None] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            print(f"{option} {item!r}: expected NAME=VALUE", file=sys.stderr)
            return None
        overrides[name.lstrip("-")] = value
    return overrides


def _liveness(cp: ControlPlane) -> list[tuple[str, bool]]:
    """Each process that should be running, and whether it is: one exiting ends the run."""
    checks = [("kube-apiserver", cp.apiserver_running), ("etcd", cp.etcd_running)]
    if cp.controller_manager_enabled:
        checks.append(("kube-controller-manager", cp.controller_manager_running))
    return checks


if __name__ == "__main__":
    sys.exit(main())
