"""The cluster report with Secrets (issue 19 with SPEC v2): a Secret-consuming workload's state
needs the hash key; without it the state is `unknown`, with the reason."""

from __future__ import annotations

from typing import Any

from tests.support.builders import cm, container, pod_spec, workload
from tests.support.spec import V1_DATA, V2_HASH, V2_HASH_KEY, V2_SECRET
from webhook.clusterreport import Tally
from webhook.clusterreport.render import render_text, report_json
from webhook.policy.secrets import secret_content

VECTOR = pod_spec(container(envFrom=[{"configMapRef": {"name": "env-config"}}, {"secretRef": {"name": V2_SECRET}}]))
CONFIGMAPS = {"team": {"env-config": cm("env-config", V1_DATA)}}


def _deployment(stored: str) -> dict[str, Any]:
    obj = workload(
        "Deployment",
        VECTOR,
        name="api",
        namespace="team",
        template_annotations={"reload-safe.io/config-hash": stored},
    )
    obj["metadata"]["uid"] = "uid-api"  # the report keys workloads by uid, as listed ones have
    return obj


def _secrets(password: bytes) -> dict[str, dict[str, object]]:
    content = secret_content(
        name=V2_SECRET, data={"password": password}, immutable=False, reloader_match=False, hash_key=V2_HASH_KEY
    )
    return {"team": {V2_SECRET: content}}


def test_with_the_key_a_workload_stamped_with_the_v2_vector_is_current_and_stale_after_a_rotation() -> None:
    for password, state in ((b"hunter2", "current"), (b"rotated", "stale")):
        tally = Tally(configmaps=CONFIGMAPS, secrets=_secrets(password))  # type: ignore[arg-type]
        tally.add_workload(_deployment(V2_HASH), kind="Deployment")
        (row,) = report_json(tally.report())["workloads"]
        assert row["state"] == state


def test_without_the_key_a_secret_consumer_is_unknown_with_the_reason() -> None:
    tally = Tally(configmaps=CONFIGMAPS)
    tally.add_workload(_deployment(V2_HASH), kind="Deployment")
    report = tally.report()
    (row,) = report_json(report)["workloads"]
    assert (row["state"], row["config_hash"], row["current_hash"]) == ("unknown", V2_HASH, None)
    assert "hash key" in render_text(report)
