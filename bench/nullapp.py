"""The null webhook: the production gunicorn application with a Flask app that decides nothing.

It is the floor the stack can reach: the same `WebhookServer` (gunicorn `gthread`, the same
worker and thread counts, the same TLS context and deadline sockets, the same request limits),
the same Flask, the same body checks and the same JSON decode and encode functions as the
real routes, and then it answers `allowed` with the request's uid. What the real server costs
above this is the policy, the audit line and the metrics: the part the project controls.

Under `/patching/` the same answers carry, from /mutate, the JSONPatch reload-safe returns for
a workload whose hash is new (built by its own `policy.patch.hash_patch`), with a constant
hash. That is the floor of a *mutating* webhook: the API server applies a returned patch and
decodes the object again, work that any patch costs it, whatever computed the patch (measured
in the end-to-end phase, bench/cluster.py).
"""

from __future__ import annotations

from typing import Any, Final

from flask import Flask, Response, request

from bench.null_server import PATCHING_PREFIX
from webhook.admission import encode_response
from webhook.admission.responses import allowed, patched
from webhook.policy.model import JSONPatch
from webhook.policy.patch import hash_patch
from webhook.policy.shapes import mapping
from webhook.policy.workloads import TEMPLATE_PATHS
from webhook.server.app import _json  # the production encoder: the floor must use the same
from webhook.server.body import BodyRejected, check_headers, read_body
from webhook.server.gunicorn_app import WebhookServer
from webhook.server.reviews import Answer, _parse_json, error_answer

CONSTANT_HASH: Final = "sha256:" + "0" * 64


def constant_hash_patch(review_request: Any) -> JSONPatch | None:
    """reload-safe's own patch builder with a constant value, aimed where reload-safe aims it
    (the kind's pod template; a kind it does not know, the object's own metadata): the patch
    costs the API server what reload-safe's does, and deciding it costs nothing."""
    kind = mapping(mapping(review_request).get("kind")).get("kind")
    template_path = TEMPLATE_PATHS.get(kind, ()) if isinstance(kind, str) else ()
    obj = mapping(mapping(review_request).get("object"))
    return hash_patch(obj, template_path=template_path, value=CONSTANT_HASH)


def create_null_app() -> Flask:
    """/mutate and /validate answer `allowed` (under /patching/, /mutate also patches);
    /healthz and /readyz answer 200."""
    app = Flask("reload-safe-null")

    def review(*, patching: bool = False) -> Response:
        try:
            check_headers(mimetype=request.mimetype, content_length=request.content_length)
            body = _parse_json(read_body(request.environ["wsgi.input"]))
        except BodyRejected as rejected:
            return _json(error_answer(rejected.status, rejected.message, Connection="close"))
        except ValueError as error:
            return _json(error_answer(400, str(error)))
        envelope: Any = body
        uid = envelope["request"]["uid"]
        answer = patched(uid, constant_hash_patch(envelope["request"])) if patching else allowed(uid)
        return _json(Answer(200, encode_response(answer)))

    def patching_mutate() -> Response:
        return review(patching=True)

    def ok() -> Response:
        return _json(Answer(200, {"status": "ok"}))

    app.add_url_rule("/mutate", "mutate", review, methods=["POST"], provide_automatic_options=False)
    app.add_url_rule("/validate", "validate", review, methods=["POST"], provide_automatic_options=False)
    for path, view in (("/mutate", patching_mutate), ("/validate", review)):
        app.add_url_rule(
            PATCHING_PREFIX + path, "patching" + path, view, methods=["POST"], provide_automatic_options=False
        )
    app.add_url_rule("/healthz", "healthz", ok, methods=["GET"], provide_automatic_options=False)
    app.add_url_rule("/readyz", "readyz", ok, methods=["GET"], provide_automatic_options=False)
    return app


class NullWebhookServer(WebhookServer):
    """`WebhookServer` whose workers serve the null app instead of building the real one."""

    def load(self) -> Flask:
        return create_null_app()
