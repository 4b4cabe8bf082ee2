"""AdmissionReview wire format and the handler that answers it, with no HTTP in sight."""

from webhook.admission.handler import Outcome, WebhookKind, decide, handle
from webhook.admission.ports import ConfigMapReader, NamespaceModes, SecretReader
from webhook.admission.review import (
    AdmissionRequest,
    AdmissionResponse,
    BadReview,
    decode_review,
    encode_response,
)

__all__ = [
    "AdmissionRequest",
    "AdmissionResponse",
    "BadReview",
    "ConfigMapReader",
    "NamespaceModes",
    "Outcome",
    "SecretReader",
    "WebhookKind",
    "decide",
    "decode_review",
    "encode_response",
    "handle",
]
