"""Deployments nothing prices are flagged, not silently counted at $0: the dashboard
lists them with a link to set a price, the routes page marks each one (issue #32)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client

from gateway.catalog import store
from gateway.models import Deployment, Provider, Route


@pytest.fixture
def rows(db, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    store.reset()
    proxy = Provider.objects.create(
        name="proxy", kind="openai", base_url="https://llm-proxy.internal.example/v1"
    )
    vllm = Provider.objects.create(name="gpu", kind="openai", base_url="http://gpu-box:8000/v1")
    echo = Provider.objects.create(name="echo", kind="echo")
    route = Route.objects.create(name="mixed")
    out = {
        "proxied": Deployment.objects.create(route=route, provider=proxy, model="gpt-4o"),
        "finetune": Deployment.objects.create(route=route, provider=vllm, model="my-finetune"),
        "custom": Deployment.objects.create(
            route=route, provider=vllm, model="llama-70b", input_price=Decimal("0.5")
        ),
        "off": Deployment.objects.create(
            route=route, provider=vllm, model="old-model", enabled=False
        ),
        "echo": Deployment.objects.create(route=route, provider=echo, model="echo-1"),
    }
    yield out
    store.reset()


def test_the_dashboard_names_each_unpriced_deployment_with_a_link(staff_client: Client, rows):
    html = staff_client.get("/").content.decode()
    start = html.index('id="unpriced-notice"')
    notice = html[start : html.index("</div>", start)]
    assert "1 deployment without a price" in notice
    assert "mixed → gpu/my-finetune" in notice
    assert f'href="/deployments/{rows["finetune"].pk}/"' in notice
    # priced by the catalog (OpenAI's name), a custom price, off, or the echo test provider
    for name in ("gpt-4o", "llama-70b", "old-model", "echo-1"):
        assert name not in notice


def test_no_notice_once_every_deployment_is_priced(staff_client: Client, rows):
    rows["finetune"].output_price = Decimal("0")  # a price of 0 is a choice, not a gap
    rows["finetune"].save()
    assert 'id="unpriced-notice"' not in staff_client.get("/").content.decode()


def test_the_routes_page_shows_each_price_source(staff_client: Client, rows):
    html = staff_client.get("/routes/").content.decode()

    def row(deployment: Deployment) -> str:
        start = html.index(f'id="deployment-{deployment.pk}"')
        return html[start : html.index('class="dep-actions"', start)]

    assert "(catalog openai/gpt-4o)" in row(rows["proxied"])
    unpriced = row(rows["finetune"])
    assert "(unpriced)" in unpriced and ">set a price</a>" in unpriced
    assert "(input custom price, output unpriced)" in row(rows["custom"])


def test_a_member_sees_the_notice_without_links_that_would_403(rows):
    """A member may not edit deployments: the dashboard names the unpriced one without
    "set a price" (its link led to a 403, #66); every link left on the page opens."""
    from django.contrib.auth.models import User

    from gateway.access import roles

    member = User.objects.create_user("member-m", password="pw-123456789")
    roles.set_role(member, "member")
    client = Client()
    client.force_login(member)
    html = client.get("/").content.decode()
    assert "set a price" not in html
    assert f'href="/deployments/{rows["finetune"].pk}/"' not in html
    assert client.get(f"/deployments/{rows['finetune'].pk}/").status_code == 403
