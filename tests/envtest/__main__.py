"""``python -m tests.envtest``: run a loopback control plane until Ctrl-C or SIGTERM.

Builds (first run only) or reuses kube-apiserver, etcd and helm via tests/tools/build.sh,
starts etcd and kube-apiserver on 127.0.0.1, writes an admin kubeconfig to
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
        description="Run etcd + kube-apiserver on 127.0.0.1 until Ctrl-C / SIGTERM.",
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
    parser.add_argument("--keep", action="store_true", help="keep the temp work dir on exit")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    overrides: dict[str, str | None] = {}
    for item in args.apiserver_arg:
        name, sep, value = item.partition("=")
        if not sep:
            print(f"--apiserver-arg {item!r}: expected NAME=VALUE", file=sys.stderr)
            return 2
        overrides[name.lstrip("-")] = value

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
        print(f"logs:       {cp.apiserver_log_path}, {cp.etcd_log_path}")
        print(f"use it:     export KUBECONFIG={kubeconfig}")
        print(f"helm:       KUBECONFIG={kubeconfig} {cp.binary('helm')} list -A")
        print("Ctrl-C (or SIGTERM) stops everything.", flush=True)
        while not stop.wait(1.0):
            for name, running in (("kube-apiserver", cp.apiserver_running), ("etcd", cp.etcd_running)):
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


if __name__ == "__main__":
    sys.exit(main())
