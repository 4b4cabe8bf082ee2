"""A Secret's values as the API server stores them (`stringData` over base64 `data`), and the
errors for what it would refuse: they name the Secret and the key, never the value."""

from __future__ import annotations

import pytest

from tests.support.builders import container, env_from, pod_spec, secret_env_from, secret_env_ref, workload
from webhook.policy import secret_names
from webhook.policy.model import SecretContent
from webhook.policy.secrets import SecretDataError, decoded_secret_data, secret_content, secret_digest

PLANTED = "not-base64-but-a-value!!"


def test_data_is_decoded_and_string_data_overrides_key_by_key() -> None:
    obj = {
        "metadata": {"name": "s"},
        "data": {"c": None, "a": "b2xk", "b": "a2VwdA=="},
        "stringData": {"a": "new", "n": 5, "e": None},
    }
    assert decoded_secret_data(obj) == {"a": b"new", "b": b"kept", "c": b"", "n": b"5", "e": b""}


def test_a_secret_without_data_has_no_values() -> None:
    assert decoded_secret_data({"metadata": {"name": "s"}}) == {}


@pytest.mark.parametrize(
    "value",
    [PLANTED, 42, "aGVs*bG8=", "aGVsbG8=aGVsbG8=", "aGVsbG8"],
    ids=["not-base64", "a-number", "outside-the-alphabet", "data-after-padding", "padding-missing"],
)
def test_a_bad_value_is_refused_naming_the_secret_and_key_never_the_value(value: object) -> None:
    with pytest.raises(SecretDataError) as raised:
        decoded_secret_data({"metadata": {"name": "db-creds"}, "data": {"password": value}})
    message = str(raised.value)
    assert '"db-creds"' in message
    assert '"password"' in message
    assert str(value) not in message
    assert raised.value.__cause__ is None


def test_the_digest_is_hmac_sha256_hex() -> None:
    assert secret_digest(b"hunter2", hash_key=b"reload-safe-test-key-0123456789abcdef") == (
        "59090ff33e312df6d9fe124d0033240b2c605d3b1e6bd73447d60d763e361fcb"
    )


def test_secret_names_are_the_secrets_only() -> None:
    spec = pod_spec(
        container(envFrom=[env_from("cfg"), secret_env_from("b")], env=[secret_env_ref("a", "k")]),
    )
    assert secret_names(workload("Deployment", spec)) == frozenset({"a", "b"})
    kindless = workload("Deployment", spec)
    del kindless["kind"]
    assert secret_names(kindless, kind="Deployment") == frozenset({"a", "b"})
    assert secret_names(kindless) == frozenset()


def test_secret_content_keeps_the_name_and_a_read_only_copy_of_the_digests() -> None:
    digests = {"password": "d1"}
    content = SecretContent(name="db-creds", digests=digests)
    digests["password"] = "changed"
    assert content.digests == {"password": "d1"}
    with pytest.raises(TypeError):
        content.digests["password"] = "changed"  # type: ignore[index]
    built = secret_content(
        name="db-creds", data={"password": b"x"}, immutable=True, reloader_match=True, hash_key=b"k" * 32
    )
    assert (built.name, built.immutable, built.reloader_match) == ("db-creds", True, True)
    assert dict(built.digests) == {"password": secret_digest(b"x", hash_key=b"k" * 32)}
