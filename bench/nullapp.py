"""The null webhook: the production gunicorn application with a Flask app that decides nothing.

It is the floor the stack can reach: the same `WebhookServer` (gunicorn `gthread`, the same
worker and thread counts, the same TLS context and deadline sockets, the same request limits),
the same Flask, the same body checks and the same JSON decode and encode functions as the
real routes, and then it answers `allowed` with the request's uid. What the real server costs
above this is the policy, the audit line and the metrics: the part the project controls.

Under `/patching/` the same answers carry, from /mutate, a one-operation JSONPatch that sets a
constant `reload-safe.io/config-hash` on the pod template (on a bare Pod, its own metadata), as
reload-safe does for a workload whose hash is new. That is the floor of a *mutating* webhook:
the API server applies a returned patch and decodes the object again, work that any patch
costs it, whatever computed the patch (measured in the end-to-end phase, bench/cluster.py).

Imported only after `prepare_directory()` (like the real server), because the production
modules import prometheus_client, which picks its multiprocess mode at import.
"""

from __future__ import annotations

import base64
import json
from typing import Any, Final

from flask import Flask, Response, request

from bench.null_server import PATCHING_PREFIX
from webhook.server.app import _json  # the production encoder: the floor must use the same
from webhook.server.body import BodyRejected, check_headers, read_body
from webhook.server.gunicorn_app import WebhookServer
from webhook.server.reviews import Answer, _parse_json, error_answer

CONSTANT_HASH: Final = "sha256:" + "0" * 64


def constant_hash_patch(obj: Any) -> str:
    """A base64 JSONPatch of one `add`, setting the hash annotation where reload-safe sets it;
    deciding nothing (a missing or odd object gets the patch aimed at its own metadata)."""
    template = _dig(obj, "spec", "template")
    on_template = isinstance(_dig(template, "metadata"), dict)
    base = "/spec/template/metadata" if on_template else "/metadata"
    operation: dict[str, Any]
    if isinstance(_dig(template if on_template else obj, "metadata", "annotations"), dict):
        operation = {"op": "add", "path": f"{base}/annotations/reload-safe.io~1config-hash", "value": CONSTANT_HASH}
    else:
        operation = {"op": "add", "path": f"{base}/annotations", "value": {"reload-safe.io/config-hash": CONSTANT_HASH}}
    return base64.b64encode(json.dumps([operation], separators=(",", ":")).encode()).decode("ascii")


def _dig(value: Any, *keys: str) -> Any:
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value


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
        response: dict[str, Any] = {"uid": uid, "allowed": True}
        if patching:
            response |= {"patchType": "JSONPatch", "patch": constant_hash_patch(envelope["request"].get("object"))}
        envelope_out = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response}
        return _json(Answer(200, envelope_out))

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
