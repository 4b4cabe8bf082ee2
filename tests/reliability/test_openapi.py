"""docs/openapi.yaml is a valid OpenAPI 3.1 document and describes every route the server has.

(That every answer matches it is checked by the fuzz campaign, test_fuzz.py.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from webhook.server.app import create_app
from webhook.server.readiness import Readiness

OPENAPI = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"


def document() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(OPENAPI.read_text())
    return loaded


def test_the_document_is_valid_openapi() -> None:
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(document())


def test_every_route_and_method_is_described() -> None:
    app = create_app(service=None, readiness=Readiness({}))  # type: ignore[arg-type]  # routes only
    routes = {
        (rule.rule, method.lower())
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"
        for method in rule.methods or ()
        if method not in ("HEAD", "OPTIONS")
    }
    described = {(path, method) for path, item in document()["paths"].items() for method in item}
    assert routes == described
