"""The Flask application: five routes, JSON errors, nothing that could take a worker down.

Routes only translate HTTP: size and content-type checks (`body`), then `ReviewService` for
the two webhooks, `Readiness` for /readyz and `metrics.render` for /metrics. Every error a
client can provoke is answered with `{"error": ...}` JSON (400, 404, 405, 408, 413), and any
other failure with a JSON 500, so the API server always gets a parseable answer.
"""

from __future__ import annotations

import logging
import time
from typing import Final

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from webhook.admission import WebhookKind
from webhook.policy.jsontext import compact_json
from webhook.server import metrics
from webhook.server.body import BodyRejected, check_headers, read_body
from webhook.server.readiness import Readiness
from webhook.server.reviews import Answer, ReviewService, error_answer
from webhook.sources.budget import read_budget

log = logging.getLogger(__name__)

_ENDPOINTS: Final = frozenset({"mutate", "validate", "healthz", "readyz", "metrics"})


def create_app(*, service: ReviewService, readiness: Readiness) -> Flask:
    """The WSGI application one gunicorn worker serves."""
    app = Flask("reload-safe")

    def review(webhook: WebhookKind) -> Response:
        started = time.perf_counter()
        endpoint = "mutate" if webhook is WebhookKind.MUTATING else "validate"
        try:
            check_headers(mimetype=request.mimetype, content_length=request.content_length)
            body = read_body(request.environ["wsgi.input"])
        except BodyRejected as rejected:
            metrics.observe_rejected(endpoint=endpoint, code=rejected.status)
            # The rest of a refused body is not read: close rather than drain it.
            return _json(error_answer(rejected.status, rejected.message, Connection="close"))
        with read_budget():  # cache misses may ask the API server: never past timeoutSeconds
            return _json(service.answer(body, webhook=webhook, started=started))

    def mutate() -> Response:
        return review(WebhookKind.MUTATING)

    def validate() -> Response:
        return review(WebhookKind.VALIDATING)

    def healthz() -> Response:
        return _json(Answer(200, {"status": "ok"}))

    def readyz() -> Response:
        waiting = readiness.waiting_for()
        caches = {"caches": states} if (states := readiness.states()) else {}
        if waiting:
            return _json(Answer(503, {"status": "not ready", "waiting_for": waiting, **caches}))
        return _json(Answer(200, {"status": "ready", **caches}))

    def prometheus() -> Response:
        body, content_type = metrics.render()
        return Response(body, status=200, content_type=content_type)

    # No automatic OPTIONS: every method but the route's own is answered 405.
    for path, view, method in (
        ("/mutate", mutate, "POST"),
        ("/validate", validate, "POST"),
        ("/healthz", healthz, "GET"),
        ("/readyz", readyz, "GET"),
        ("/metrics", prometheus, "GET"),
    ):
        app.add_url_rule(path, view_func=view, methods=[method], provide_automatic_options=False)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        code = error.code or 500
        metrics.observe_rejected(endpoint=_endpoint_label(request.path), code=code)
        response = _json(error_answer(code, error.description or error.name))
        allow = error.get_response().headers.get("Allow")
        if allow:
            response.headers["Allow"] = allow
        return response

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response:
        log.error("internal error on %s %s: %s", request.method, request.path, type(error).__name__)
        return _json(error_answer(500, f"internal error ({type(error).__name__})"))

    return app


def _endpoint_label(path: str) -> str:
    """A bounded label: a client choosing paths must not create new metric series."""
    name = path.strip("/")
    return name if name in _ENDPOINTS else "other"


def _json(answer: Answer) -> Response:
    response = Response(
        compact_json(answer.body),
        status=answer.status,
        content_type="application/json",
    )
    for name, value in answer.headers.items():
        response.headers[name] = value
    return response
