"""The console's deployment health page: the last check, and a new one on demand."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.gateway.ops.test_deployment_health import SECRET, registry_rows, upstreams  # noqa: F401


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("upstreams")
def test_the_console_page_checks_on_demand(staff_client: Client) -> None:
    registry_rows()
    page = staff_client.get("/routes/health/").content.decode()
    assert "Check every deployment now" in page
    fragment = staff_client.post("/routes/health/", HTTP_HX_REQUEST="true").content.decode()
    assert fragment.lstrip().startswith('<section id="health-results"')
    assert "3 healthy · 2 unhealthy · 0 misconfigured" not in fragment  # misconfigured apart
    assert "3 healthy · 1 unhealthy · 1 misconfigured" in fragment
    assert "HEALTH_UNSET_KEY" in fragment and SECRET not in fragment
    again = staff_client.get("/routes/health/").content.decode()  # the last check, shown
    assert "gpt-bad" in again and "unhealthy" in again
    assert Client().get("/routes/health/").status_code == 302  # signed out
