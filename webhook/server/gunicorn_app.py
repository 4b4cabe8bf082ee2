"""gunicorn, configured for an admission webhook, with the hooks that make workers safe.

Production settings and why:

- One `gthread` worker per pod (capacity comes from replicas) with 128 threads
  (`ServerSettings.threads`): one per connection the API server may hold open at once. A
  connection that has finished its TLS handshake but carries no request yet (Go's transport
  dials ahead when a burst starts) holds a thread until `sockets.FIRST_BYTES_GRACE` (2 s). 32
  connections at max rate made up to 83 at once (measured); with 32 threads, 32 answers then
  waited 2.05 s; with 128 none waited over 1 s (docs/performance.md).
- HTTPS only, through the `ssl_context` hook: `tls.ReloadingTLS` hands out the current
  context, so a rotated certificate is used by new connections without a restart.
- Bounded input: request line 4 KiB, 50 header fields of at most 8 KiB, the body checked by
  the app (7 MiB); slow clients are cut off by `sockets.DeadlineSSLSocket`; `timeout` restarts
  a worker whose main loop stops (a stuck process, not a slow request).
- Idle connections cost no thread: gunicorn's gthread worker (24+) hands every new connection
  to a pool thread that waits up to 5 s for its first bytes before parking it on the poller,
  so a few hundred connections that send nothing held every thread for minutes (measured: 100
  idle TCP connections delayed a review by 55 s). `NEW_CONNECTION_WAIT` cuts that wait to a
  moment; a parked connection gets a thread again as soon as it sends something.
- Graceful shutdown: on SIGTERM gunicorn stops accepting, lets in-flight requests finish for
  up to `graceful_timeout` (below Kubernetes' default 30 s grace period) and exits 0; every
  answered request has its audit line written before the response leaves.
- `preload_app` off: each worker builds its app after fork (`load`), where the cluster caches
  start their threads, and accepts connections once they have synced (at most `SYNC_WAIT`).
  No thread, connection or lock is created in the master before fork.
- The heap is frozen (`gc.freeze`) in the master before each fork and in a worker once its
  caches have synced: see `_freeze_heap`.
- Hooks: `when_ready` logs; `pre_fork` freezes the master's heap; `post_fork` gives the
  worker's TLS holder a fresh lock; `worker_exit` stops the caches (joining their threads, so
  no thread is inside a socket read while the interpreter shuts down) and closes the audit file.
"""

from __future__ import annotations

import gc
import logging
import os
import time
from typing import Any, Final

from flask import Flask
from gunicorn.app.base import BaseApplication

from webhook.server import metrics
from webhook.server.inputs import InputsFactory
from webhook.server.runtime import WorkerRuntime, build_worker
from webhook.server.settings import ServerSettings
from webhook.server.tls import ReloadingTLS

GRACEFUL_TIMEOUT: Final = 25
WORKER_TIMEOUT: Final = 30
KEEPALIVE: Final = 30
SYNC_WAIT: Final = 20.0
"""How long a new worker waits for its caches before it accepts connections anyway."""
NEW_CONNECTION_WAIT: Final = 0.02
"""How long a pool thread waits for a new connection's first bytes before parking it."""

log = logging.getLogger(__name__)


class WebhookServer(BaseApplication):  # type: ignore[misc]  # gunicorn ships no type hints
    """`reload-safe serve` as a gunicorn application."""

    def __init__(
        self,
        *,
        settings: ServerSettings,
        inputs_factory: InputsFactory,
        tls: ReloadingTLS,
    ) -> None:
        self._settings = settings
        self._inputs_factory = inputs_factory
        self._tls = tls
        self._runtime: WorkerRuntime | None = None
        self._worker: Any = None
        _park_idle_connections_sooner()
        super().__init__()

    def options(self) -> dict[str, Any]:
        s = self._settings
        return {
            "bind": [s.bind],
            "workers": s.workers,
            "worker_class": "gthread",
            "threads": s.threads,
            "worker_connections": 1000,
            "timeout": WORKER_TIMEOUT,
            "graceful_timeout": GRACEFUL_TIMEOUT,
            "keepalive": KEEPALIVE,
            "limit_request_line": 4094,
            "limit_request_fields": 50,
            "limit_request_field_size": 8190,
            "certfile": str(s.cert_file),
            "keyfile": str(s.key_file),
            "ssl_context": self._tls.gunicorn_ssl_context,
            "preload_app": False,
            "sendfile": False,
            "accesslog": None,
            "errorlog": "-",
            "loglevel": s.log_level,
            "proc_name": "reload-safe",
            "worker_tmp_dir": "/dev/shm" if os.path.isdir("/dev/shm") else None,
            "control_socket_disable": True,
            "when_ready": self._when_ready,
            "pre_fork": self._pre_fork,
            "post_fork": self._post_fork,
            "worker_exit": self._worker_exit,
        }

    def load_config(self) -> None:
        for key, value in self.options().items():
            if key in self.cfg.settings:  # settings differ a little across gunicorn versions
                self.cfg.set(key, value)

    def load(self) -> Flask:
        """Runs in each worker, after fork; returns once the worker's caches are synced."""
        self._runtime = build_worker(
            inputs_factory=self._inputs_factory,
            tls=self._tls,
            audit_file=self._settings.audit_file,
            audit_skipped=self._settings.log_level == "debug",
        )
        self._wait_for_sync()
        _freeze_heap()
        return self._runtime.app

    def _wait_for_sync(self) -> None:
        """A worker accepts connections only after this returns: while its caches are still
        listing, requests go to the workers that are ready (or wait in the listen backlog, so
        a probe sees "not ready"). After SYNC_WAIT it serves anyway, answering /readyz 503 and
        reading what the cache lacks directly, so a slow API server cannot keep it down.
        """
        assert self._runtime is not None
        deadline = time.monotonic() + SYNC_WAIT
        while not self._runtime.inputs.synced() and time.monotonic() < deadline:
            time.sleep(0.05)
            if self._worker is not None:
                self._worker.notify()  # the arbiter restarts a worker silent for `timeout`
        if not self._runtime.inputs.synced():
            log.warning("caches not synced after %.0fs: serving, /readyz answers 503 until they are", SYNC_WAIT)

    def _when_ready(self, server: Any) -> None:
        log.info("reload-safe serving on https://%s", self._settings.bind)

    def _pre_fork(self, server: Any, worker: Any) -> None:
        _freeze_heap()

    def _post_fork(self, server: Any, worker: Any) -> None:
        self._worker = worker
        self._tls.after_fork(
            on_loaded=metrics.certificate_loaded,
            on_failed=metrics.certificate_failed,
            on_in_use=metrics.certificate_in_use,
        )

    def _worker_exit(self, server: Any, worker: Any) -> None:
        if self._runtime is not None:
            self._runtime.close()


def _freeze_heap() -> None:
    """Move every object alive now out of the garbage collector's sight (`gc.freeze`).

    In the master, just before fork: a worker's full collections then never write to the
    headers of the objects it inherited, so those pages stay shared with the master instead of
    being copied into each worker. In a worker, once its caches have synced: what start-up
    built (modules, the app, the caches) lives as long as the worker, and a full collection no
    longer walks it on the request path. Frozen objects are still freed when no longer
    referenced; only a reference cycle among them would stay.
    """
    gc.collect()
    gc.freeze()


def _park_idle_connections_sooner() -> None:
    """Set before fork, so every worker inherits it (see the module docstring). gunicorn reads
    the constant on each new connection; versions without it wait on the poller already."""
    from gunicorn.workers import gthread  # noqa: PLC0415  # the worker class, only when serving

    if hasattr(gthread, "DEFAULT_WORKER_DATA_TIMEOUT"):
        gthread.DEFAULT_WORKER_DATA_TIMEOUT = NEW_CONNECTION_WAIT
