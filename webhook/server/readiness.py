"""`/readyz`: serve admission traffic only when every answer would be a real one.

A worker is ready when its serving certificate is loaded and its ConfigMap and Namespace
caches have finished their first list; before that, a cache miss would cost every request a
round trip to the API server, and a namespace's mode could be unknown. Each check is a cheap
callable read on every probe, so readiness is never stale.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping


class Readiness:
    def __init__(
        self, checks: Mapping[str, Callable[[], bool]], states: Mapping[str, Callable[[], str]] | None = None
    ) -> None:
        self._checks = dict(checks)
        self._states = dict(states or {})

    def waiting_for(self) -> list[str]:
        """The names of the checks that do not pass yet (empty: ready)."""
        return [name for name, check in self._checks.items() if not _passes(check)]

    def states(self) -> dict[str, str]:
        """Informational state of each cache (`watching`, `reconnecting`): shown by /readyz,
        never a reason to be unready. A synced cache that lost the API server still answers
        from memory, and failing every replica's probe at once would pull the webhook out of
        the Service and hand every admission to the failure policy."""
        return {name: _state(get) for name, get in self._states.items()}


def _state(get: Callable[[], str]) -> str:
    try:
        return str(get())
    except Exception:
        return "unknown"


def _passes(check: Callable[[], bool]) -> bool:
    try:
        return bool(check())
    except Exception:
        return False
