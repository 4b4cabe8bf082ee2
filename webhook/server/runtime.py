"""What the server process holds, built in the gunicorn worker: inputs, audit writer, Flask app.

Everything with a thread, a connection or a lock is made here, in the worker, never in the
master before fork (a forked lock may be held forever; a forked connection is shared by two
processes). `close` is called from the worker's exit hook, after the last request.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from flask import Flask

from webhook.audit import AuditWriter, open_audit_writer
from webhook.server import metrics
from webhook.server.app import create_app
from webhook.server.inputs import Inputs, InputsFactory
from webhook.server.readiness import Readiness
from webhook.server.reviews import ReviewService
from webhook.server.tls import ReloadingTLS


@dataclass(frozen=True, kw_only=True)
class WorkerRuntime:
    app: Flask
    inputs: Inputs
    audit: AuditWriter

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.inputs.stop()
        self.audit.close()


def build_worker(
    *,
    inputs_factory: InputsFactory,
    tls: ReloadingTLS,
    audit_file: str,
    audit_skipped: bool,
) -> WorkerRuntime:
    inputs = inputs_factory()
    audit = open_audit_writer(audit_file, on_failure=metrics.audit_failed)
    service = ReviewService(
        configmaps=inputs.configmaps,
        namespaces=inputs.namespaces,
        secrets=inputs.secrets,
        audit=audit,
        audit_skipped=audit_skipped,
    )
    readiness = Readiness({"certificate": lambda: tls.loaded, **inputs.ready}, inputs.state)
    return WorkerRuntime(app=create_app(service=service, readiness=readiness), inputs=inputs, audit=audit)
