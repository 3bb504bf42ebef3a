"""Issue #43's console defects that show without a browser (the Django test client):
each test failed before its fix."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_pasted_config_over_djangos_cap_is_a_field_error(staff_client, settings) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    response = staff_client.post("/routes/import/", {"config": "x" * 20_000, "preview": "1"})
    assert response.status_code == 200
    form = response.context["form"]
    assert "Too large to paste" in form.errors["config"][0]


def test_provider_batch_settings_are_checked(staff_client) -> None:
    from gateway.models import Provider

    response = staff_client.post(
        "/providers/new/",
        {
            "name": "batchy",
            "kind": "openai",
            "base_url": "http://127.0.0.1:9/v1",
            "native_batches": "maybe",
            "batch_discount": "2",
            "extra_headers": "{}",
        },
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert "not on or off" in errors["native_batches"][0]
    assert "not between 0 and 1" in errors["batch_discount"][0]
    assert not Provider.objects.filter(name="batchy").exists()


def test_the_model_refuses_a_bad_batch_setting_for_every_caller() -> None:
    from django.core.exceptions import ValidationError

    from gateway.models import Provider

    provider = Provider(
        name="b2",
        kind="openai",
        base_url="http://127.0.0.1:9/v1",
        settings={"batch_discount": "200%"},
    )
    with pytest.raises(ValidationError, match="batch_discount: '200%' is not a number"):
        provider.full_clean()
    provider.settings = {"batch_discount": "0.5", "native_batches": "Off"}
    provider.full_clean()


def test_shadow_routes_must_exist_like_fallbacks(staff_client) -> None:
    from gateway.models import Route

    Route.objects.create(name="known")
    response = staff_client.post(
        "/routes/new/",
        {
            "name": "shadowed",
            "strategy": "weighted",
            "max_attempts": "3",
            "fallbacks": "nope-fb",
            "shadow_routes": "known, nope-shadow",
            "shadow_percent": "10",
            "default_params": "{}",
        },
    )
    errors = response.context["form"].errors
    assert errors["shadow_routes"] == ["unknown route(s): nope-shadow"]
    assert errors["fallbacks"] == ["unknown route(s): nope-fb"]  # both at once
    assert not Route.objects.filter(name="shadowed").exists()


def test_a_keys_mcp_allow_list_warns_of_unknown_servers(staff_client) -> None:
    from gateway.models import ApiKey, McpServer

    McpServer.objects.create(name="docs", url="http://127.0.0.1:9/mcp")
    response = staff_client.post(
        "/keys/new/",
        {"name": "mcp-key", "budget_period": "month", "mcp_allowed": "docs, dosc"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    text = response.content.decode()
    assert "MCP server &#x27;dosc&#x27; is not registered" in text
    assert "&#x27;docs&#x27; is not registered" not in text
    assert ApiKey.objects.filter(name="mcp-key").exists()  # saved all the same


WEAK_MASTER = "model_list: []\ngeneral_settings: {master_key: sk-1234}\n"


def test_the_import_page_asks_before_a_weak_master_key(staff_client):
    from gateway.models import ApiKey

    preview = staff_client.post("/routes/import/", {"config": WEAK_MASTER, "preview": "1"})
    assert "anyone could guess it" in preview.content.decode()
    staff_client.post("/routes/import/", {"config": WEAK_MASTER, "apply": "1"})
    assert not ApiKey.objects.exists()
    opted = staff_client.post(
        "/routes/import/", {"config": WEAK_MASTER, "preview": "1", "allow_weak_master_key": "on"}
    )
    assert 'name="allow_weak_master_key" value="on"' in opted.content.decode()
    staff_client.post(
        "/routes/import/", {"config": WEAK_MASTER, "apply": "1", "allow_weak_master_key": "on"}
    )
    assert ApiKey.objects.filter(name="litellm-master-key").exists()


def test_the_nav_is_one_table_and_shows_each_role_its_pages(staff_client) -> None:
    from console import nav

    links = [link for section in nav.sections() for link in section.links]
    assert len({link.url for link in links}) == len(links) >= 15
    page = staff_client.get("/routes/").content.decode()
    for link in links:  # an owner sees every page (but the connect-only MCP link)
        assert (f'href="{link.href()}"' in page) != bool(link.unless), link
    assert 'aria-current="page">Routes</a>' in page


def test_a_member_sees_no_admin_sections_links(db) -> None:
    from django.contrib.auth.models import User
    from django.test import Client

    from gateway.models import Membership, Profile, Team

    member = User.objects.create_user("mo", password="pw-123456789")
    Profile.objects.create(user=member, role="member")
    Membership.objects.create(team=Team.objects.create(name="t1"), user=member, role="member")
    client = Client()
    client.force_login(member)
    page = client.get("/keys/").content.decode()
    assert ">Keys</a>" in page and ">Providers</a>" not in page and ">Users</a>" not in page


def test_get_keys_new_leads_to_the_form_not_a_blank_405(staff_client) -> None:
    response = staff_client.get("/keys/new/")
    assert response.status_code == 302 and response["Location"] == "/keys/#new-key-form"


def test_budgets_and_prices_show_as_typed_in_edit_forms(staff_client) -> None:
    from decimal import Decimal

    from gateway.models import ApiKey, Team

    key = ApiKey.objects.create(
        name="k", prefix="sy-k", key_hash="k" * 64, budget_usd=Decimal("0.5000")
    )
    page = staff_client.get(f"/keys/{key.pk}/edit/").content.decode()
    assert 'value="0.5"' in page and "0.5000" not in page
    team = Team.objects.create(name="t", budget_usd=Decimal("12.0000"))
    page = staff_client.get(f"/teams/{team.pk}/").content.decode()
    assert 'value="12"' in page and "12.0000" not in page


def test_the_team_form_says_names_are_slugs(staff_client) -> None:
    assert "letters, digits, - and _ (no spaces)" in staff_client.get("/teams/").content.decode()


def test_the_readme_uses_the_port_the_server_listens_on() -> None:
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    ports = set(re.findall(r"localhost:(\d{4})\b", readme))
    assert ports == {"4000"}, ports  # manage.py serve's default (SWITCHYARD_PORT)


def test_spend_csv_writes_plain_decimals_and_names_the_master_key_once(staff_client) -> None:
    from decimal import Decimal

    from django.utils import timezone

    from gateway.models.telemetry import SpendRollup

    hour = timezone.now().replace(minute=0, second=0, microsecond=0)
    SpendRollup.objects.create(
        hour=hour, key_id=0, key_name="master", requests=1, cost_usd=Decimal("0")
    )
    SpendRollup.objects.create(
        hour=hour, key_id=0, key_name="cheap", requests=1, cost_usd=Decimal("0.00012")
    )
    response = staff_client.get("/spend/export.csv?group_by=key")
    text = response.content.decode()
    assert "0E-8" not in text and "E-" not in text
    lines = {line.split(",")[0]: line for line in text.splitlines()[1:]}
    assert lines["master"].endswith(",0") and lines["cheap"].endswith(",0.00012")
    page = staff_client.get("/spend/").content.decode()
    assert "master key" in page and ">master<" not in page


def _member_client(name: str = "mem"):
    from django.contrib.auth.models import User
    from django.test import Client

    from gateway.models import Membership, Profile, Team

    member = User.objects.create_user(name, password="pw-123456789")
    Profile.objects.create(user=member, role="member")
    team, _ = Team.objects.get_or_create(name="t-members")
    Membership.objects.create(team=team, user=member, role="member")
    client = Client()
    client.force_login(member)
    return client


def test_members_see_no_admin_only_calls_to_action(db) -> None:
    client = _member_client()
    for path in ("/", "/keys/"):
        page = client.get(path).content.decode()
        assert "/usage/" not in page, path  # a link to a 403 for them
    assert client.get("/usage/").status_code == 403


def test_a_viewer_sees_unpriced_but_no_set_a_price(registry_rows) -> None:
    from django.contrib.auth.models import User
    from django.test import Client

    from gateway.models import Profile

    registry_rows["deployment"].input_price = registry_rows["deployment"].output_price = None
    registry_rows["deployment"].model = "no-such-model-in-the-catalog"
    registry_rows["deployment"].save()
    viewer = User.objects.create_user("vi", password="pw-123456789")
    Profile.objects.create(user=viewer, role="viewer")
    client = Client()
    client.force_login(viewer)
    page = client.get("/routes/").content.decode()
    assert "unpriced" in page and "set a price" not in page


def test_one_request_is_not_1_requests(staff_client, registry_rows) -> None:
    from gateway.telemetry import rollups

    rollups.rebuild()
    page = staff_client.get("/routes/").content.decode()
    assert "1 request</a>" in page and "1 requests" not in page


def test_dataset_rows_are_numbered_from_one(staff_client) -> None:
    from console.evals import datasets
    from console.evals.parsing import parse_file

    rows = parse_file("d.jsonl", b'{"prompt": "first"}\n{"prompt": "second"}\n')
    dataset = datasets.create("numbered", rows)
    page = staff_client.get(f"/evals/datasets/{dataset.pk}/").content.decode()
    assert '<td class="num">1</td><td>first' in page
    assert '<td class="num">2</td><td>second' in page
