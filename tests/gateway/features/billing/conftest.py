"""The alerts' webhook receiver on 127.0.0.1, for the bill drift's alert."""

from tests.gateway.features.alerts.conftest import receiver  # noqa: F401 (the fixture)
