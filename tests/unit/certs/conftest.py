"""Shared fixtures: a fixed clock and the Service identity the chart uses by default."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from webhook.certs.generate import Identity, service_identity
from webhook.certs.renew import RenewalPolicy

NOW = datetime(2030, 1, 15, 12, 0, tzinfo=UTC)


@pytest.fixture
def now() -> datetime:
    return NOW


@pytest.fixture
def identity() -> Identity:
    return service_identity(service="reload-safe", namespace="reload-safe-system")


@pytest.fixture
def policy() -> RenewalPolicy:
    return RenewalPolicy()
