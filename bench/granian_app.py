"""`granian --interface wsgi bench.granian_app:app`: reload-safe's own app on granian.

The production Flask app (`create_app`, `ReviewService`, the audit writer, static ConfigMaps in
`warn`), built from the same pieces as `reload-safe serve --source static` builds in its
gunicorn worker, served by granian instead: with bench/granian_null.py it tells what the
policy costs on granian's floor, and what switching servers would change for a review.
granian passes no arguments to its target, so the ConfigMaps file and the audit file come from
the environment (`BENCH_CONFIGMAPS`, `BENCH_AUDIT_FILE`).
"""

from __future__ import annotations

import os

from webhook.audit import open_audit_writer
from webhook.policy.model import Mode
from webhook.server.app import create_app
from webhook.server.inputs import static_inputs
from webhook.server.readiness import Readiness
from webhook.server.reviews import ReviewService

_inputs = static_inputs(configmap_files=(os.environ["BENCH_CONFIGMAPS"],), mode=Mode.WARN, own_namespace=None)()
app = create_app(
    service=ReviewService(
        configmaps=_inputs.configmaps,
        namespaces=_inputs.namespaces,
        secrets=_inputs.secrets,
        audit=open_audit_writer(os.environ["BENCH_AUDIT_FILE"]),
    ),
    readiness=Readiness(_inputs.ready, _inputs.state),
)
