"""A provider kind is its adapter class (its facts declared) plus one line in
``gateway.providers.kinds``: with that line (added here at run time) the kind can be
created through the API and the console form, with its own settings and help, is served
by ``adapter_for``, and needs no migration."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

from gateway.access import registry
from gateway.base.documents import Accepts
from gateway.base.entries import DeploymentEntry, ProviderEntry
from gateway.base.types import ChatRequest, ChatResponse, Message, Text
from gateway.catalog import KindVendor
from gateway.models import Provider
from gateway.providers import kinds
from gateway.providers.base import Exchange, adapter_for
from gateway.providers.base import Provider as Adapter
from gateway.providers.kinds import FormHelp, Keyless, Kind, Setting
from tests.gateway.entries import deployment

MASTER = "sy-master-toy-kind"


class ToyProvider(Adapter):
    """Answers with the colour it was configured with."""

    kind = "toy"
    needs_base_url = False
    documents = Accepts()  # the facts every kind states (tests/.../test_kind_facts.py)
    catalog_vendor = KindVendor()
    keyless = Keyless()
    trace_name = "toy"
    settings_taken = (Setting("toy_colour", "Toy colour", "The colour every answer names."),)
    form_help = FormHelp(
        base_url="Toy: no address needed.",
        secret="Toy: any token.",
        api_version="Toy: the toy protocol version.",
        secret_label="Toy token",
    )

    async def complete(
        self, request: ChatRequest, deployment: DeploymentEntry, exchange: Exchange
    ) -> ChatResponse:
        colour = {**self.provider.settings, **deployment.params}.get("toy_colour", "grey")
        return ChatResponse(id="toy-1", model=deployment.model, parts=[Text(f"{colour}!")])


@pytest.fixture
def toy_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    """The one line a new kind takes."""
    line = Kind("toy", "Toy provider", f"{__name__}:ToyProvider")
    monkeypatch.setitem(kinds.KINDS, line.name, line)


@pytest.fixture
def api(db, settings) -> Client:
    settings.SWITCHYARD_MASTER_KEY = MASTER
    return Client(HTTP_AUTHORIZATION=f"Bearer {MASTER}")


@pytest.fixture
def staff_client(db) -> Client:
    client = Client()
    client.force_login(User.objects.create_user("ops", password="pw-123456789", is_staff=True))
    return client


def test_an_unregistered_kind_is_refused(api: Client) -> None:
    """Without the line the kind does not exist (so the tests below test the line)."""
    response = api.post(
        "/api/providers/", {"name": "t", "kind": "toy"}, content_type="application/json"
    )
    assert response.status_code == 422
    assert "kind" in response.json()["errors"]


async def test_adapter_for_serves_the_kind_its_line_names(toy_kind) -> None:
    entry = ProviderEntry(1, "t", "toy", "", "", {}, "", None, settings={"toy_colour": "teal"})
    adapter = adapter_for(entry)
    assert isinstance(adapter, ToyProvider)
    request = ChatRequest(model="toy-route", messages=[Message("user", [Text("hi")])])
    answer = await adapter.complete(
        request, deployment("toy-route", "toy-1", provider=entry), Exchange()
    )
    assert answer.text() == "teal!"


def test_created_through_the_api_with_its_settings(toy_kind, api: Client) -> None:
    response = api.post(
        "/api/providers/",
        {"name": "toys", "kind": "toy", "settings": {"toy_colour": "teal"}, "secret": "tok"},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["kind"], body["base_url"], body["settings"]) == ("toy", "", {"toy_colour": "teal"})
    assert Provider.objects.get(name="toys").get_kind_display() == "Toy provider"
    # another kind's setting is refused, naming what the toy kind takes
    response = api.post(
        "/api/providers/",
        {"name": "toys2", "kind": "toy", "settings": {"aws_region_name": "us-east-1"}},
        content_type="application/json",
    )
    assert response.status_code == 422
    assert "takes: toy_colour" in response.json()["errors"]["settings"][0]
    # and the snapshot built from the row is served by the toy adapter
    entry = next(p for p in registry.build_snapshot().providers.values() if p.name == "toys")
    assert isinstance(adapter_for(entry), ToyProvider)
    assert entry.settings == {"toy_colour": "teal"}


def test_the_console_form_offers_it_with_its_own_fields_and_help(
    toy_kind, staff_client: Client
) -> None:
    html = staff_client.get("/providers/new/").content.decode()
    assert '<option value="toy">Toy provider</option>' in html
    field_div = html.split('name="toy_colour"')[0].rsplit("<div", 1)[1]
    assert 'data-kinds="toy">' in field_div and "Toy colour" in field_div
    for text in ("Toy: no address needed.", "Toy: any token.", "Toy: the toy protocol version."):
        assert f'data-kinds="toy">{text}' in html
    assert '<span data-kinds="toy">Toy token</span>' in html
    api_version_div = html.split('name="api_version"')[0].rsplit('<div class="field', 1)[1]
    assert "toy" in api_version_div.split('data-kinds="')[1].split('"')[0].split()

    response = staff_client.post(
        "/providers/new/",
        {"name": "toys", "kind": "toy", "toy_colour": "teal", "extra_headers": "{}"},
    )
    assert response.status_code == 302, response.content.decode()
    provider = Provider.objects.get(name="toys")
    assert (provider.kind, provider.base_url, provider.settings) == ("toy", "", {"toy_colour": "teal"})  # fmt: skip
    page = staff_client.get(f"/providers/{provider.pk}/").content.decode()
    assert 'value="teal"' in page


def test_a_new_kind_needs_no_migration(toy_kind, db) -> None:
    field = Provider._meta.get_field("kind")
    assert field.deconstruct()[3]["choices"] is kinds.choices  # not a frozen list
    assert ("toy", "Toy provider") in field.choices
    out = io.StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)  # exits 1 on changes
    assert "No changes detected" in out.getvalue()
