"""Read a review's body within limits: JSON content type, at most 7 MiB, never unbounded.

The API server sends at most a few MiB (etcd's object limit is 1.5 MiB; an UPDATE carries two
objects). A larger body is refused before it is read when Content-Length says so, and a body
without a length (chunked) is read only up to the limit plus one byte, so no request can make
a worker hold more than 7 MiB of input.

Why not Flask's `MAX_CONTENT_LENGTH` alone: with werkzeug 3.1.9 (Flask 3.1.3) a chunked body
over the limit is cut at the limit and handed over as if whole (a 400 for broken JSON, not a
413), and a client that stops sending becomes werkzeug's `ClientDisconnected` (400), not a 408.
tests/server/test_endpoints.py (`test_chunked_body_over_7_mib_is_413_after_reading_the_limit`)
fails with it; see docs/operating.md.
"""

from __future__ import annotations

from typing import Any, Final

MAX_BODY: Final = 7 * 1024 * 1024
CHUNK: Final = 256 * 1024
JSON_TYPE: Final = "application/json"


class BodyRejected(Exception):
    """The body cannot be accepted; `status` is the HTTP code to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def check_headers(*, mimetype: str, content_length: int | None) -> None:
    """Refuse a wrong content type (400) or an announced size over the limit (413)."""
    if mimetype != JSON_TYPE:
        raise BodyRejected(400, f"content type must be {JSON_TYPE}")
    if content_length is not None and content_length > MAX_BODY:
        raise BodyRejected(413, f"body larger than {MAX_BODY} bytes")


def read_body(stream: Any) -> bytes:
    """Read the whole body, refusing (413) as soon as it passes the limit."""
    parts: list[bytes] = []
    size = 0
    try:
        while True:
            chunk = stream.read(min(CHUNK, MAX_BODY + 1 - size))
            if not chunk:
                break
            parts.append(chunk)
            size += len(chunk)
            if size > MAX_BODY:
                raise BodyRejected(413, f"body larger than {MAX_BODY} bytes")
    except TimeoutError as error:
        raise BodyRejected(408, "timed out reading the request body") from error
    except BodyRejected:
        raise
    except Exception as error:
        # gunicorn raises its own parse errors for broken chunked encoding; a peer may reset.
        raise BodyRejected(400, "the request body could not be read") from error
    return b"".join(parts)
