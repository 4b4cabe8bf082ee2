"""The null webhook: the production gunicorn application with a Flask app that decides nothing.

It is the floor the stack can reach: the same `WebhookServer` (gunicorn `gthread`, the same
worker and thread counts, the same TLS context and deadline sockets, the same request limits),
the same Flask, the same body checks and the same JSON decode and encode functions as the
real routes, and then it answers `allowed` with the request's uid. What the real server costs
above this is the policy, the audit line and the metrics: the part the project controls.

Imported only after `prepare_directory()` (like the real server), because the production
modules import prometheus_client, which picks its multiprocess mode at import.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, request

from webhook.server.app import _json  # the production encoder: the floor must use the same
from webhook.server.body import BodyRejected, check_headers, read_body
from webhook.server.gunicorn_app import WebhookServer
from webhook.server.reviews import Answer, _parse_json, error_answer


def create_null_app() -> Flask:
    """/mutate and /validate answer `allowed`; /healthz and /readyz answer 200."""
    app = Flask("reload-safe-null")

    def review() -> Response:
        try:
            check_headers(mimetype=request.mimetype, content_length=request.content_length)
            body = _parse_json(read_body(request.environ["wsgi.input"]))
        except BodyRejected as rejected:
            return _json(error_answer(rejected.status, rejected.message, Connection="close"))
        except ValueError as error:
            return _json(error_answer(400, str(error)))
        envelope: Any = body
        uid = envelope["request"]["uid"]
        return _json(
            Answer(
                200,
                {
                    "apiVersion": "admission.k8s.io/v1",
                    "kind": "AdmissionReview",
                    "response": {"uid": uid, "allowed": True},
                },
            )
        )

    def ok() -> Response:
        return _json(Answer(200, {"status": "ok"}))

    app.add_url_rule("/mutate", "mutate", review, methods=["POST"], provide_automatic_options=False)
    app.add_url_rule("/validate", "validate", review, methods=["POST"], provide_automatic_options=False)
    app.add_url_rule("/healthz", "healthz", ok, methods=["GET"], provide_automatic_options=False)
    app.add_url_rule("/readyz", "readyz", ok, methods=["GET"], provide_automatic_options=False)
    return app


class NullWebhookServer(WebhookServer):
    """`WebhookServer` whose workers serve the null app instead of building the real one."""

    def load(self) -> Flask:
        return create_null_app()
