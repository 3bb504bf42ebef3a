"""Add model in one form (#43 item 4): a provider (existing or new), the route and its
deployment made together through ``gateway.ops.add_model``, or nothing at all."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from html import unescape

import httpx
import pytest
from django.contrib.auth.models import User
from django.test import Client

from console import model_picker
from gateway.access import roles
from gateway.base import http
from gateway.catalog import store
from gateway.models import AuditEvent, Deployment, Membership, Provider, Route, Team

KEY = "sk-add-model-Otter-93b1"


@pytest.fixture
def openai(db, settings, tmp_path) -> Provider:
    settings.DATA_DIR = tmp_path  # the bundled catalog only
    store.reset()
    model_picker._live.clear()
    yield Provider.objects.create(
        name="openai", kind="openai", base_url="https://api.openai.com/v1"
    )
    store.reset()


def user_with(role: str, team: Team | None = None) -> Client:
    user = User.objects.create_user(f"u-{role}", password="pw-123456789")
    roles.set_role(user, role)
    if team is not None:
        Membership.objects.create(user=user, team=team, role=role)
    client = Client()
    client.force_login(user)
    return client


def counts() -> tuple[int, int, int, int]:
    return (
        Provider.objects.count(),
        Route.objects.count(),
        Deployment.objects.count(),
        AuditEvent.objects.count(),
    )


def new_provider(**extra: str) -> dict[str, str]:
    return {
        "provider": "new",
        "new-name": "local",
        "new-kind": "openai",
        "new-base_url": "http://127.0.0.1:9/v1",
        "new-secret": KEY,
        **extra,
    }


def test_existing_provider_route_named_after_the_model(staff_client: Client, openai) -> None:
    before = AuditEvent.objects.count()
    response = staff_client.post("/routes/add-model/", {"provider": openai.pk, "model": "gpt-4o"})
    assert response.status_code == 302
    route = Route.objects.get(name="gpt-4o")
    assert response["location"] == f"/routes/?added={route.pk}#route-{route.pk}"
    deployment = route.deployments.get()
    assert (deployment.provider, deployment.model) == (openai, "gpt-4o")
    # empty figures: the catalog's (nothing stored on the deployment)
    assert deployment.input_price is None and deployment.context_window is None
    assert AuditEvent.objects.count() >= before + 2  # the route and the deployment


def test_new_provider_route_and_figures(staff_client: Client, openai) -> None:
    data = new_provider(
        model="llama-3.1-8b", route_name="fast", input_price="0.1", context_window="8192"
    )
    response = staff_client.post("/routes/add-model/", data, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and response["HX-Redirect"].startswith("/routes/?added=")
    provider = Provider.objects.get(name="local")
    assert provider.base_url == "http://127.0.0.1:9/v1" and provider.stored_secret() == KEY
    deployment = Deployment.objects.get(route__name="fast")
    assert deployment.provider == provider and deployment.model == "llama-3.1-8b"
    assert deployment.input_price == Decimal("0.1") and deployment.context_window == 8192
    page = staff_client.get("/routes/").content.decode()
    assert "Added route fast" in page and KEY not in page


def test_every_error_at_once_and_nothing_written(staff_client: Client, openai) -> None:
    Route.objects.create(name="taken")
    before = counts()
    data = new_provider(**{"new-name": "openai"}, model="m1", route_name="taken")
    response = staff_client.post("/routes/add-model/", data)
    html = response.content.decode()
    assert response.status_code == 200
    # the provider's name, the route's name: both refused in the same answer
    assert "Provider with this Name already exists." in html
    assert "Route with this Name already exists." in html
    assert counts() == before  # no provider, route, deployment or audit row left behind


def test_a_later_part_failing_rolls_back_the_saved_ones(staff_client: Client, openai) -> None:
    """The provider and the route save, the deployment does not: none of them stays."""
    before = counts()
    data = new_provider(model="m1", route_name="fresh")
    data["new-name"] = "fresh-provider"
    response = staff_client.post(
        "/routes/add-model/", {**data, "model": "x" * 201}
    )  # too long for the form: nothing runs
    assert "Ensure this value has at most 200 characters" in response.content.decode()
    assert counts() == before
    from gateway.ops.add_model import AddModelErrors, NewProvider, add_model

    actor = roles.actor_for_user(User.objects.get(username="ops"))
    with pytest.raises(AddModelErrors) as caught:
        add_model(
            actor,
            NewProvider(
                {"name": "fresh-provider", "kind": "openai", "base_url": "http://127.0.0.1:9/v1"},
                KEY,
            ),
            {"name": "fresh"},
            {"model": "m1", "params": "not an object"},
        )
    assert caught.value.errors == {"deployment": {"params": ["must be an object"]}}
    assert counts() == before


def test_field_errors_are_shown_together(staff_client: Client, openai) -> None:
    data = new_provider(**{"new-name": "bad name"}, model="", input_price="-1")
    html = staff_client.post("/routes/add-model/", data).content.decode()
    assert html.count('class="errors"') >= 3  # provider name, model, price
    assert "Enter a valid “slug”" in html and "This field is required." in html
    assert "greater than or equal to 0" in html
    assert KEY not in html  # the typed secret is not sent back


def test_bad_route_name_names_the_rules(staff_client: Client, openai) -> None:
    data = {"provider": openai.pk, "model": "gpt-4o", "route_name": "has spaces"}
    html = staff_client.post("/routes/add-model/", data).content.decode()
    assert "letters, digits and . _ : / @ + - only" in html
    assert not Route.objects.exists()


def test_an_editor_adds_on_an_existing_provider_but_creates_none(openai) -> None:
    team = Team.objects.create(name="alpha")
    editor = user_with("editor", team)
    page = editor.get("/routes/add-model/").content.decode()
    assert 'value="new"' not in page and "New provider" not in page
    before = counts()
    refused = editor.post("/routes/add-model/", new_provider(model="m1"))
    assert "Select a valid choice" in refused.content.decode()  # "new" is not offered
    assert counts() == before
    # below the form, the operation asks the same decision (provider.change)
    from gateway.access.authorization import Denied
    from gateway.ops.add_model import NewProvider, add_model

    actor = roles.actor_for_user(User.objects.get(username="u-editor"))
    with pytest.raises(Denied, match="only owners and admins may change providers"):
        add_model(actor, NewProvider({"name": "x", "kind": "echo"}), {"name": "r"}, {"model": "m"})
    assert counts() == before
    made = editor.post("/routes/add-model/", {"provider": openai.pk, "model": "gpt-4o-mini"})
    assert made.status_code == 302
    assert list(Route.objects.get(name="gpt-4o-mini").teams.all()) == [team]


def test_members_and_viewers_are_refused(openai) -> None:
    for role in ("member", "viewer"):
        client = user_with(role)
        assert client.get("/routes/add-model/").status_code == 403
        response = client.post("/routes/add-model/", {"provider": openai.pk, "model": "gpt-4o"})
        assert response.status_code == 403
    assert not Route.objects.exists()


def test_the_model_list_and_the_catalog_figures(staff_client: Client, openai) -> None:
    asked: list[str] = []

    def upstream(request: httpx.Request) -> httpx.Response:
        asked.append(f"{request.url.host}{request.url.path} {request.headers.get('authorization')}")
        return httpx.Response(200, json={"data": [{"id": "gpt-4o"}, {"id": "house-model"}]})

    http.use_transport(httpx.MockTransport(upstream))
    # an existing provider: its own list first, then the catalog's
    html = staff_client.post(
        "/routes/add-model/models/", {"provider": openai.pk}, HTTP_HX_REQUEST="true"
    ).content.decode()
    values = re.findall(r'<option value="([^"]+)"', html)
    assert values[:2] == ["gpt-4o", "house-model"] and "gpt-4o-mini" in values
    assert "2 models listed by the provider" in html
    # a new provider, not saved: asked with the typed key, nothing written
    before = counts()
    html = staff_client.post(
        "/routes/add-model/models/", new_provider(), HTTP_HX_REQUEST="true"
    ).content.decode()
    assert asked[-1] == f"127.0.0.1/v1/models Bearer {KEY}"
    assert "2 models listed" in html and counts() == before
    # the catalog's figures for the model: placeholders, the route name the model's
    html = staff_client.post(
        "/routes/add-model/figures/", {"provider": openai.pk, "model": "gpt-4o"}
    ).content.decode()
    found = re.search(r'data-placeholders="([^"]+)"', html)
    assert found and json.loads(unescape(found.group(1))) == {
        "route_name": "gpt-4o",
        "input_price": "2.5",
        "output_price": "10",
        "context_window": "128000",
    }
    assert "Catalog openai/gpt-4o: $2.5 in / $10 out per 1M tokens · 128k context." in html
    # the whole page, opened with a model (the catalog's "Add as route"): the same figures
    html = staff_client.get("/routes/add-model/?model=gpt-4o").content.decode()
    assert 'placeholder="2.5"' in html and 'placeholder="128000"' in html


def test_an_unreachable_upstream_leaves_free_text(staff_client: Client, openai) -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    http.use_transport(httpx.MockTransport(down))
    html = staff_client.post("/routes/add-model/models/", new_provider()).content.decode()
    assert "did not list its models" in html and "Type the model id" in html
    assert KEY not in html


def test_a_new_provider_may_not_read_the_environment(staff_client: Client, openai) -> None:
    before = counts()
    data = new_provider(**{"new-secret": "os.environ/SECRET_KEY"}, model="m1")
    html = staff_client.post("/routes/add-model/", data).content.decode()
    assert "SECRET_KEY" in html and counts() == before
    asked: list[str] = []
    http.use_transport(
        httpx.MockTransport(lambda r: asked.append(str(r.url)) or httpx.Response(200))
    )
    staff_client.post("/routes/add-model/models/", data)
    assert asked == []  # the listing never resolved the reference


def test_a_model_without_known_limits_warns_of_budgeted_keys(staff_client: Client, openai) -> None:
    """A model the catalog knows no context window or max output of: every key with a
    budget refuses its requests without max_tokens, which the form says before the
    model is added (and the routes page after)."""
    html = staff_client.post(
        "/routes/add-model/figures/", {"provider": openai.pk, "model": "house-model"}
    ).content.decode()
    assert "No context window or max output is known for house-model" in html
    assert "refuse its requests that do not set max_tokens" in html
    # a known model, or a context window typed: no warning
    for data in (
        {"provider": openai.pk, "model": "gpt-4o"},
        {"provider": openai.pk, "model": "house-model", "context_window": "32000"},
    ):
        html = staff_client.post("/routes/add-model/figures/", data).content.decode()
        assert "No context window" not in html, data
    response = staff_client.post(
        "/routes/add-model/", {"provider": openai.pk, "model": "house-model"}, follow=True
    )
    assert "No context window or max output is known for house-model" in response.content.decode()


def test_the_added_banner_is_in_the_new_routes_card(staff_client: Client, openai) -> None:
    """The page opens at the new route (its anchor), so the banner is in that card: at the
    top of the page it was above the fold (#66). Without ``added`` it stays on top."""
    Route.objects.create(name="aaa-first")
    page = staff_client.post(
        "/routes/add-model/", {"provider": openai.pk, "model": "gpt-4o"}, follow=True
    ).content.decode()
    route = Route.objects.get(name="gpt-4o")
    assert page.count("Added route gpt-4o") == 1
    card = page.index(f'id="route-{route.pk}"')
    assert card < page.index("Added route gpt-4o") < page.index("</article>", card)
    # opened without ``added`` (or naming no listed route) the banner stays on top
    staff_client.post("/routes/add-model/", {"provider": openai.pk, "model": "gpt-4o-mini"})
    plain = staff_client.get("/routes/?added=999999").content.decode()
    assert plain.index("Added route gpt-4o-mini") < plain.index('class="route-list"')
