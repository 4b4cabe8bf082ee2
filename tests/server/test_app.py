"""The Flask app in process: readiness while caches sync, and answers that stay JSON."""

from __future__ import annotations

from pathlib import Path

from tests.server.harness import fixture_bytes
from webhook.admission import WebhookKind
from webhook.audit import open_audit_writer
from webhook.policy import Mode
from webhook.server.app import create_app
from webhook.server.readiness import Readiness
from webhook.server.reviews import ReviewService
from webhook.sources.static import StaticConfigMaps, StaticNamespaceModes


def app_with(tmp_path: Path, *, ready: dict[str, bool], handler: object = None) -> object:
    service = ReviewService(
        configmaps=StaticConfigMaps([]),
        namespaces=StaticNamespaceModes(Mode.WARN),
        audit=open_audit_writer(str(tmp_path / "audit.jsonl")),
        **({"handler": handler} if handler else {}),  # type: ignore[arg-type]
    )
    checks = {name: (lambda value=value: value) for name, value in ready.items()}
    return create_app(service=service, readiness=Readiness(checks))


def test_readyz_names_what_it_waits_for(tmp_path: Path) -> None:
    app = app_with(tmp_path, ready={"certificate": True, "configmaps": False, "namespaces": False})
    response = app.test_client().get("/readyz")  # type: ignore[attr-defined]
    assert response.status_code == 503
    assert response.json == {"status": "not ready", "waiting_for": ["configmaps", "namespaces"]}
    assert app.test_client().get("/healthz").status_code == 200  # type: ignore[attr-defined]


def test_a_failing_readiness_check_counts_as_not_ready() -> None:
    def broken() -> bool:
        raise RuntimeError("cache gone")

    assert Readiness({"configmaps": broken, "certificate": lambda: True}).waiting_for() == ["configmaps"]


def test_handler_failure_is_500_with_an_error_audit_line(tmp_path: Path) -> None:
    def failing(request: object, **kwargs: object) -> object:
        raise KeyError("secret-key-name")

    app = app_with(tmp_path, ready={}, handler=failing)
    response = app.test_client().post(  # type: ignore[attr-defined]
        "/mutate", data=fixture_bytes("deployment-envfrom-create.json", uid="e1"), content_type="application/json"
    )
    assert response.status_code == 500
    assert response.json == {"error": "internal error (KeyError); the request was not evaluated"}
    line = (tmp_path / "audit.jsonl").read_text()
    assert '"decision":"error"' in line
    assert '"uid":"e1"' in line
    assert "secret-key-name" not in line


def test_each_route_answers_as_its_own_webhook(tmp_path: Path) -> None:
    app = app_with(tmp_path, ready={})
    for path, webhook in (("/mutate", WebhookKind.MUTATING), ("/validate", WebhookKind.VALIDATING)):
        response = app.test_client().post(  # type: ignore[attr-defined]
            path, data=fixture_bytes("deployment-envfrom-create.json", uid=path), content_type="application/json"
        )
        assert response.status_code == 200
        assert f'"webhook":"{webhook}"' in (tmp_path / "audit.jsonl").read_text()
