"""Measured figures of the reliability tests, gathered for docs/reliability.md.

Each test records what it measured (`record("fuzz", inputs=…, server_errors=…)`). The figures
are appended as JSON lines to `$RELOAD_SAFE_FIGURES` (default
`$TMPDIR/reload-safe-reliability/figures.jsonl`) and printed in pytest's terminal summary, so a
plain `pytest -q` run shows them without `-s`, and the file keeps them for writing the doc.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

_RECORDED: list[dict[str, Any]] = []


def figures_file() -> Path:
    default = Path(tempfile.gettempdir()) / "reload-safe-reliability" / "figures.jsonl"
    return Path(os.environ.get("RELOAD_SAFE_FIGURES", str(default)))


def record(test: str, **values: Any) -> None:
    """Keep one test's figures (printed at the end of the session, appended to the file)."""
    entry = {"test": test, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **values}
    _RECORDED.append(entry)
    path = figures_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as out:
            out.write(json.dumps(entry, default=str) + "\n")
    except OSError:
        pass  # the figures are a by-product: a read-only TMPDIR must not fail a test


def recorded() -> list[dict[str, Any]]:
    return list(_RECORDED)
