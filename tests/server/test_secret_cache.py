"""The server's Secret source (SPEC v2): digests only, the field selector on list and watch,
one direct GET on a miss, and failures that name the Secret, never a value."""

from __future__ import annotations

import base64
import logging
from collections.abc import Mapping
from typing import Any

import pytest

from tests.support.spec import V2_HASH_KEY
from webhook.policy import ABSENT, UNREADABLE, SecretContent
from webhook.policy.secrets import secret_digest
from webhook.sources.kubeapi import KubeListWatch
from webhook.sources.secrets import SECRET_FIELD_SELECTOR, ClusterSecrets, SecretConverter

VALUE = "planted-Value-4f1b9c"


def _secret(name: str, value: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "ns"},
        "data": {"password": base64.b64encode(value.encode()).decode()},
    }


class Cache:
    def __init__(self, items: Mapping[tuple[str, str], SecretContent]) -> None:
        self.items = dict(items)
        self.absent: set[tuple[str, str]] = set()
        self.synced = True

    def get(self, key: tuple[str, str], /) -> SecretContent | None:
        return self.items.get(key)

    def known_absent(self, key: tuple[str, str], /) -> bool:
        return key in self.absent

    def remember_absent(self, key: tuple[str, str], /) -> None:
        self.absent.add(key)


class Getter:
    def __init__(self, found: Mapping[str, Any] | None = None, error: Exception | None = None) -> None:
        self.found, self.error, self.calls = found, error, 0

    def get(self, *, namespace: str, name: str) -> Mapping[str, Any] | None:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return self.found


def test_the_converter_keeps_digests_never_the_value() -> None:
    content = SecretConverter(hash_key=V2_HASH_KEY)(_secret("db", VALUE))
    assert dict(content.digests) == {"password": secret_digest(VALUE.encode(), hash_key=V2_HASH_KEY)}
    assert VALUE not in repr(content)


def test_a_miss_is_read_once_and_an_absent_secret_remembered() -> None:
    getter = Getter(found=None)
    secrets = ClusterSecrets(cache=Cache({}), getter=getter, convert=SecretConverter(hash_key=V2_HASH_KEY))
    assert secrets.get(namespace="ns", name="db") is ABSENT
    assert secrets.get(namespace="ns", name="db") is ABSENT
    assert getter.calls == 1


def test_a_secret_newer_than_the_cache_is_read_directly() -> None:
    secrets = ClusterSecrets(
        cache=Cache({}), getter=Getter(found=_secret("db", VALUE)), convert=SecretConverter(hash_key=V2_HASH_KEY)
    )
    found = secrets.get(namespace="ns", name="db")
    assert isinstance(found, SecretContent)
    assert set(found.digests) == {"password"}


def test_a_failed_read_is_unreadable_and_logs_the_name_not_the_error_text(caplog: pytest.LogCaptureFixture) -> None:
    getter = Getter(error=RuntimeError(f"boom {VALUE}"))
    secrets = ClusterSecrets(cache=Cache({}), getter=getter, convert=SecretConverter(hash_key=V2_HASH_KEY))
    with caplog.at_level(logging.WARNING):
        assert secrets.get(namespace="ns", name="db") is UNREADABLE
    assert "ns/db" in caplog.text
    assert VALUE not in caplog.text


def test_the_field_selector_is_sent_on_list_and_watch() -> None:
    calls: list[dict[str, Any]] = []

    def call(**options: Any) -> Any:
        calls.append(options)
        raise RuntimeError("stop here")

    source = KubeListWatch(call=call, field_selector=SECRET_FIELD_SELECTOR)
    with pytest.raises(RuntimeError):
        next(iter(source.list()))
    with pytest.raises(RuntimeError):
        next(iter(source.watch(resource_version="1")))
    assert [c["field_selector"] for c in calls] == [SECRET_FIELD_SELECTOR] * 2
    assert SECRET_FIELD_SELECTOR == "type!=kubernetes.io/service-account-token,type!=helm.sh/release.v1"
