"""`granian --interface wsgi bench.granian_null:app`: the null webhook on granian instead of gunicorn.

The same Flask app as bench/nullapp.py (same body checks, JSON decode and encode), served by
granian (Rust HTTP server, WSGI interface, TLS), one process: the HTTP server comparison of
docs/performance.md, measured in the same run as gunicorn's null webhook.
"""

from __future__ import annotations

from bench.nullapp import create_null_app

app = create_null_app()
