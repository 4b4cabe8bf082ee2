"""`reload-safe serve` with one fault injected, for the internal-error test only.

No input makes the real handler fail (it judges malformed objects as far as they can be read),
so this wrapper replaces the policy's `evaluate` inside the admission handler with one that
raises for objects carrying the annotation `test.reload-safe.io/fail`, then runs the real
command line. gunicorn forks its workers from this process, so they inherit the replacement.
Production code has no fault hook at all: nothing can switch this on in a deployment.

Usage: python tests/server/fault_serve.py serve [flags...]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from webhook.admission import handler
from webhook.cli.main import cli
from webhook.policy import Decision

FAIL_ANNOTATION = "test.reload-safe.io/fail"
SECRET = "do-not-log-this-value"

_real_evaluate = handler.evaluate  # type: ignore[attr-defined]


def _failing_evaluate(*, obj: Mapping[str, Any], **kwargs: Any) -> Decision:
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    if FAIL_ANNOTATION in annotations:
        raise RuntimeError(f"injected failure carrying {SECRET}")
    return _real_evaluate(obj=obj, **kwargs)


if __name__ == "__main__":
    # Only in the serve process this file starts: test_failures imports the names above, and a
    # patch at import time would put the fault into every in-process test collected with it.
    handler.evaluate = _failing_evaluate  # type: ignore[attr-defined]
    cli()
