"""The audit log: one JSON line per evaluated admission request (SPEC "Audit log").

`record` turns a decided `Outcome` into the line's fields; `writer` appends lines so that no
line is lost or interleaved, and so that a failing write never reaches the request.
"""

from webhook.audit.record import error_record, outcome_record, rfc3339
from webhook.audit.writer import AuditWriter, open_audit_writer

__all__ = ["AuditWriter", "error_record", "open_audit_writer", "outcome_record", "rfc3339"]
