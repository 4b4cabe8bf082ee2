"""`bench.cluster.server_ms_per_create`: reload-safe's own time per end-to-end create, read from
its audit lines (the mutating and the validating line of each create, added)."""

from __future__ import annotations

from typing import Any

import pytest

from bench.cluster import server_ms_per_create

NS = "bench-e2e-ours-x1"


def line(name: str, webhook: str, latency_ms: float, namespace: str = NS) -> dict[str, Any]:
    return {"namespace": namespace, "name": name, "webhook": webhook, "latency_ms": latency_ms}


@pytest.mark.parametrize(
    ("records", "names", "expected"),
    [
        pytest.param(
            [line("app-1", "mutating", 0.4), line("app-1", "validating", 0.3)],
            ["app-1"],
            [0.7],
            id="both-lines-added",
        ),
        pytest.param(
            [
                line("app-2", "validating", 0.5),
                line("app-1", "mutating", 0.25),
                line("app-2", "mutating", 0.5),
                line("app-1", "validating", 0.25),
            ],
            ["app-1", "app-2"],
            [0.5, 1.0],
            id="in-the-order-of-the-names-whatever-the-order-of-the-lines",
        ),
        pytest.param(
            [
                line("canary", "mutating", 9.0),
                line("app-0", "mutating", 9.0),  # a warm-up create: not named
                line("app-1", "mutating", 9.0, namespace="bench-e2e-null-x1"),
                line("app-1", "mutating", 0.1),
                line("app-1", "validating", 0.2),
            ],
            ["app-1"],
            [0.3],
            id="other-creates-and-namespaces-left-out",
        ),
    ],
)
def test_adds_each_creates_two_lines(records: list[dict[str, Any]], names: list[str], expected: list[float]) -> None:
    assert server_ms_per_create(records, namespace=NS, names=names) == pytest.approx(expected)


def test_a_missing_line_is_an_error_not_a_gap() -> None:
    with pytest.raises(RuntimeError, match="1 audit lines missing"):
        server_ms_per_create([line("app-1", "mutating", 0.4)], namespace=NS, names=["app-1"])
