"""One admission review, from request body to HTTP answer, audit line and metrics.

The order matters: the answer is decided first (decode → handle → encode), then the audit line
is written and the metrics counted, then the answer is returned. Auditing and counting come
after the decision and swallow their own failures, so they can never change or fail an answer;
and a response leaves only after its audit line is written, so at shutdown the audit log holds
a line for every review answered. Any exception while deciding becomes HTTP 500 with a JSON
error and an audit line with decision `error`; the worker keeps serving.
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from webhook.admission import (
    AdmissionRequest,
    BadReview,
    ConfigMapReader,
    NamespaceModes,
    Outcome,
    SecretReader,
    WebhookKind,
    decode_review,
    encode_response,
    handle,
)
from webhook.audit import AuditWriter, error_record, outcome_record
from webhook.policy import Verdict
from webhook.server import metrics
from webhook.server.problems import RateLimitedLog

log = logging.getLogger(__name__)

Handler = Callable[..., Outcome]


@dataclass(frozen=True, slots=True)
class Answer:
    """An HTTP status and a JSON body."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def error_answer(status: int, message: str, **headers: str) -> Answer:
    return Answer(status, {"error": message}, dict(headers))


@dataclass(frozen=True, kw_only=True)
class ReviewService:
    """Everything a worker needs to answer reviews: the two inputs, the audit log, the clock."""

    configmaps: ConfigMapReader
    namespaces: NamespaceModes
    audit: AuditWriter
    secrets: SecretReader | None = None
    """None without a hash key: Secret references are judged without reading Secrets."""
    audit_skipped: bool = False
    """Write audit lines for skipped requests too (SPEC: only at debug level)."""
    problems: RateLimitedLog = field(default_factory=RateLimitedLog)
    handler: Handler = handle
    now: Callable[[], datetime] = lambda: datetime.now(UTC)

    def answer(self, body: bytes, *, webhook: WebhookKind, started: float) -> Answer:
        """The HTTP answer to one POST /mutate or /validate body (already size-checked)."""
        endpoint = _endpoint(webhook)
        try:
            request = decode_review(_parse_json(body))
        except BadReview as error:
            metrics.observe_rejected(endpoint=endpoint, code=400)
            return error_answer(400, str(error))
        try:
            outcome = self.handler(
                request, webhook=webhook, configmaps=self.configmaps, namespaces=self.namespaces, secrets=self.secrets
            )
            answer = Answer(200, encode_response(outcome.response))
        except Exception as error:
            return self._failed(request, webhook=webhook, started=started, error=error)
        self._record(outcome, started=started)
        return answer

    def _record(self, outcome: Outcome, *, started: float) -> None:
        try:
            if outcome.namespace_problem:
                self.problems.problem(outcome.namespace_problem)
            seconds = time.perf_counter() - started
            if outcome.verdict is not Verdict.SKIPPED or self.audit_skipped:
                self.audit.write(outcome_record(outcome, ts=self.now(), latency_ms=seconds * 1000))
            metrics.observe_outcome(outcome, endpoint=_endpoint(outcome.webhook), seconds=seconds)
        except Exception:
            log.exception("recording a decided review failed (the answer stands)")

    def _failed(self, request: AdmissionRequest, *, webhook: WebhookKind, started: float, error: Exception) -> Answer:
        # The exception's message is not logged: it could quote the object or a ConfigMap value.
        name = type(error).__name__
        frames = "".join(traceback.TracebackException.from_exception(error).stack.format())
        log.error("internal error answering %s review uid=%s: %s\n%s", webhook, request.uid, name, frames)
        try:
            seconds = time.perf_counter() - started
            self.audit.write(
                error_record(request, webhook=webhook, ts=self.now(), latency_ms=seconds * 1000, error=name)
            )
            metrics.observe_error(
                endpoint=_endpoint(webhook), kind=request.kind, operation=request.operation, seconds=seconds
            )
        except Exception:
            log.exception("recording a failed review failed")
        return error_answer(500, f"internal error ({name}); the request was not evaluated")


def _parse_json(body: bytes) -> object:
    """Decode with orjson (the decode is a fifth of a review's CPU; orjson takes half the time
    of `json`), falling back to `json` for what orjson refuses but `json` reads (NaN, lone
    surrogates, UTF-16/32 bodies), so no body is refused that was answered before. (orjson reads
    an integer over 64 bits as a float: no number in an object is ever used in an answer.)"""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as error:
        # JSONDecodeError and UnicodeDecodeError are ValueErrors; a very deep body recurses.
        raise BadReview("body is not valid JSON") from error


def _endpoint(webhook: WebhookKind) -> str:
    return "mutate" if webhook is WebhookKind.MUTATING else "validate"
