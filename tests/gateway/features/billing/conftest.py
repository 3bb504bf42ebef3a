"""The alerts' webhook receiver on 127.0.0.1, for the bill drift's alert, and
Anthropic's bill (OpenAI's, ``openai_bill``, is in tests/gateway/conftest.py: the
command's tests use it too)."""

from collections.abc import Iterator

import pytest

from tests.gateway.features.alerts.conftest import receiver  # noqa: F401 (the fixture)
from tests.gateway.features.billing.bill_drift_rows import admin_api
from tests.gateway.features.billing.bill_server import BillServer


@pytest.fixture
def anthropic_bill(monkeypatch: pytest.MonkeyPatch) -> Iterator[BillServer]:
    """Anthropic's cost report and usage API on 127.0.0.1 answering the golden pages, its
    admin key and address set."""
    with admin_api("anthropic", monkeypatch) as server:
        yield server
