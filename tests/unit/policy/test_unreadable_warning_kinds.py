"""The warning for configuration that could not be read names each object with its kind."""

from __future__ import annotations

import pytest

from webhook.policy.messages import unreadable_warning


def test_configmaps_only_name_the_kind_once() -> None:
    assert unreadable_warning(["a", "b"]) == (
        "reload-safe: could not read ConfigMap a, b; they are judged as unknown and the config hash was left unchanged"
    )


def test_one_secret_is_singular() -> None:
    assert unreadable_warning([], ["db"]) == (
        "reload-safe: could not read Secret db; it is judged as unknown and the config hash was left unchanged"
    )


@pytest.mark.parametrize(
    ("configmaps", "secrets", "listed"),
    [
        (["a"], ["s"], "ConfigMap a, Secret s;"),
        (["a", "b"], ["s", "t"], "ConfigMap a, ConfigMap b, Secret s, …;"),
    ],
)
def test_mixed_kinds_name_each_object_with_its_kind(configmaps: list[str], secrets: list[str], listed: str) -> None:
    warning = unreadable_warning(configmaps, secrets)
    assert f"could not read {listed}" in warning
    assert len(warning) <= 256
