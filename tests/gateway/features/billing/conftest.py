"""The alerts' webhook receiver on 127.0.0.1, for the bill drift's alert, and
Anthropic's bill (OpenAI's, ``openai_bill``, is in tests/gateway/conftest.py: the
command's tests use it too)."""

from collections.abc import Iterator

import pytest

from tests.gateway.features.alerts.conftest import receiver  # noqa: F401 (the fixture)
from tests.gateway.features.billing.bill_drift_rows import ANTHROPIC_KEY
from tests.gateway.features.billing.bill_server import BillServer, bill_server


@pytest.fixture
def anthropic_bill(monkeypatch: pytest.MonkeyPatch) -> Iterator[BillServer]:
    """Anthropic's cost report and usage API on 127.0.0.1 answering the golden pages, its
    admin key and address set."""
    with bill_server(
        "anthropic", ANTHROPIC_KEY, "anthropic_cost_report.json", "anthropic_usage_messages.json"
    ) as server:
        monkeypatch.setenv("SWITCHYARD_ANTHROPIC_ADMIN_KEY", ANTHROPIC_KEY)
        monkeypatch.setenv("SWITCHYARD_ANTHROPIC_ADMIN_BASE_URL", server.url)
        yield server
