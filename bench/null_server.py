"""`python -m bench.null_server --port P --cert-file C --key-file K`: serve the null webhook.

Started like `reload-safe serve`: the certificate is loaded by the same `ReloadingTLS`, and the
worker and thread counts are `reload-safe serve`'s own defaults, read from its command-line options so the two
can never drift apart.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any, Final

from webhook.cli.serve import serve
from webhook.policy import Mode
from webhook.server.settings import ServerSettings, any_address

PATCHING_PREFIX: Final = "/patching"
"""Where the null app's routes also patch (bench/nullapp.py)."""


def serve_default(name: str) -> Any:
    """The default of one `reload-safe serve` option (e.g. "workers")."""
    return next(param.default for param in serve.params if param.name == name)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.null_server")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert-file", type=Path, required=True)
    parser.add_argument("--key-file", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level="INFO", stream=sys.stderr, format="%(asctime)s %(levelname)s [%(process)d] %(message)s")
    from bench.nullapp import NullWebhookServer  # noqa: PLC0415 - the server stack is heavy
    from webhook.server.inputs import static_inputs  # noqa: PLC0415
    from webhook.server.tls import CertificateFiles, ReloadingTLS  # noqa: PLC0415

    settings = ServerSettings(
        cert_file=args.cert_file,
        key_file=args.key_file,
        port=args.port,
        host=any_address(),
        workers=serve_default("workers"),
        threads=serve_default("threads"),
        log_level=serve_default("log_level"),
    )
    tls = ReloadingTLS(CertificateFiles(cert_file=args.cert_file, key_file=args.key_file))
    tls.load()
    inputs = static_inputs(configmap_files=(), mode=Mode.WARN, own_namespace=None)  # never built: load() is ours
    NullWebhookServer(settings=settings, inputs_factory=inputs, tls=tls).run()


if __name__ == "__main__":
    main()
