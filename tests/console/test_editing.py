"""Creating and editing through the console: it saves through admin_ops and shows
admin_ops' validation errors next to the field they belong to."""

from __future__ import annotations

import re
from decimal import Decimal

from django.test import Client

from gateway.models import ApiKey, Deployment, Provider, Route

from .conftest import SECRET


def field_error(html: str, field: str) -> str:
    """The error text rendered in the field group of input ``field``."""
    match = re.search(
        r'<div class="field has-error[^"]*">(?:(?!<div class="field).)*?id="id_'
        + field
        + r'"(?:(?!<div class="field).)*?<div class="errors" role="alert">([^<]+)</div>',
        html,
        re.S,
    )
    return match.group(1) if match else ""


def test_provider_create_keeps_secret_encrypted_and_edit_keeps_it(staff_client: Client, db) -> None:
    response = staff_client.post(
        "/providers/new/",
        {
            "name": "openai",
            "kind": "openai",
            "base_url": "https://api.example/v1",
            "secret": SECRET,
            "extra_headers": "{}",
        },
    )
    assert response.status_code == 302
    provider = Provider.objects.get(name="openai")
    assert provider.secret_ciphertext and SECRET not in provider.secret_ciphertext
    staff_client.post(
        f"/providers/{provider.pk}/",
        {"name": "openai", "kind": "openai", "base_url": "https://api.example/v2", "secret": ""},
    )
    provider.refresh_from_db()
    assert provider.base_url.endswith("/v2") and provider.stored_secret() == SECRET
    staff_client.post(
        f"/providers/{provider.pk}/",
        {
            "name": "openai",
            "kind": "openai",
            "base_url": "https://api.example/v2",
            "clear_secret": "on",
        },
    )
    provider.refresh_from_db()
    assert not provider.has_secret


def test_provider_model_validation_shows_next_to_field(staff_client: Client, db) -> None:
    response = staff_client.post(
        "/providers/new/", {"name": "x", "kind": "openai", "base_url": ""}, HTTP_HX_REQUEST="true"
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "required for this kind" in field_error(html, "base_url")
    assert not Provider.objects.filter(name="x").exists()


def test_provider_base_url_may_be_an_environment_reference(staff_client: Client, db) -> None:
    response = staff_client.post(
        "/providers/new/",
        {"name": "vllm", "kind": "openai", "base_url": "os.environ/VLLM_BASE", "extra_headers": ""},
    )
    assert response.status_code == 302
    assert Provider.objects.get(name="vllm").base_url == "os.environ/VLLM_BASE"
    html = staff_client.post(
        "/providers/new/",
        {"name": "bad", "kind": "openai", "base_url": "os.environ/VLLM BASE"},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert "not a valid environment reference" in field_error(html, "base_url")


def test_route_name_and_fallback_errors_next_to_fields(staff_client: Client, db) -> None:
    html = staff_client.post(
        "/routes/new/",
        {"name": "has spaces", "strategy": "weighted", "max_attempts": 3},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert "letters, digits" in field_error(html, "name")
    html = staff_client.post(
        "/routes/new/",
        {"name": "ok", "strategy": "weighted", "max_attempts": 3, "fallbacks": "nope"},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert "unknown route(s): nope" in field_error(html, "fallbacks")
    assert not Route.objects.exists()


def test_route_edit_in_place_returns_the_card(staff_client: Client, registry_rows) -> None:
    route = registry_rows["route"]
    response = staff_client.post(
        f"/routes/{route.pk}/",
        {"name": "chat", "strategy": "least_busy", "max_attempts": 2, "description": "hi"},
        HTTP_HX_REQUEST="true",
    )
    assert response["HX-Retarget"] == f"#route-{route.pk}"
    assert f'id="route-{route.pk}"' in response.content.decode()
    route.refresh_from_db()
    assert route.strategy == "least_busy" and route.drop_params is False and not route.enabled


def test_deployment_add_edit_delete(staff_client: Client, registry_rows) -> None:
    route, provider = registry_rows["route"], registry_rows["provider"]
    base = {
        "provider": provider.pk,
        "model": "m2",
        "weight": "-1",
        "input_price": "0",
        "output_price": "0",
        "cache_read_price": "0",
        "cache_write_price": "0",
    }
    html = staff_client.post(
        f"/routes/{route.pk}/deployments/new/", base, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "greater than or equal to 0" in field_error(html, "weight")
    response = staff_client.post(
        f"/routes/{route.pk}/deployments/new/",
        {**base, "weight": "3", "supports_reasoning": "true", "enabled": "on"},
        HTTP_HX_REQUEST="true",
    )
    assert response["HX-Retarget"] == f"#route-{route.pk}"
    created = Deployment.objects.get(model="m2")
    # capabilities are yes / no / "from the catalog" (None) since the model catalog
    assert created.weight == 3 and created.supports_reasoning is True
    assert created.supports_tools is None and created.input_price == 0
    assert created.search_unit_price is None  # rerank: the catalog's price, if any
    staff_client.post(
        f"/deployments/{created.pk}/",
        {**base, "weight": "3", "search_unit_price": "0.0025", "enabled": "on"},
        HTTP_HX_REQUEST="true",
    )
    created.refresh_from_db()
    assert created.search_unit_price == Decimal("0.0025")
    staff_client.post(f"/deployments/{created.pk}/delete/", HTTP_HX_REQUEST="true")
    assert not Deployment.objects.filter(pk=created.pk).exists()


def test_provider_in_use_cannot_be_deleted(staff_client: Client, registry_rows) -> None:
    provider = registry_rows["provider"]
    response = staff_client.post(f"/providers/{provider.pk}/delete/", HTTP_HX_REQUEST="true")
    assert "used by route(s) chat" in response.content.decode()
    assert Provider.objects.filter(pk=provider.pk).exists()


def test_key_shown_once_then_revoked(staff_client: Client, db) -> None:
    html = staff_client.post(
        "/keys/new/",
        {"name": "ci", "budget_usd": "3", "budget_period": "day"},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    raw = re.search(r'id="new-key" value="(sy-[^"]+)"', html).group(1)
    key = ApiKey.objects.get(name="ci")
    assert key.key_hash == ApiKey.hash_key(raw)
    assert raw not in staff_client.get("/keys/").content.decode()
    html = staff_client.post(f"/keys/{key.pk}/revoke/", HTTP_HX_REQUEST="true").content.decode()
    assert "revoked" in html
    key.refresh_from_db()
    assert key.revoked_at is not None


def test_key_validation_error_next_to_field(staff_client: Client, db) -> None:
    html = staff_client.post(
        "/keys/new/", {"name": "", "budget_period": "month"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "required" in field_error(html, "name")


def test_import_preview_then_apply(staff_client: Client, db) -> None:
    config = (
        "model_list:\n  - model_name: imported\n    litellm_params:\n"
        "      model: openai/gpt-4o-mini\n      api_base: http://127.0.0.1:9/v1\n"
    )
    html = staff_client.post("/routes/import/", {"config": config}).content.decode()
    assert "imported" in html and "Apply these changes" in html
    assert not Route.objects.filter(name="imported").exists()
    html = staff_client.post("/routes/import/", {"config": config, "apply": "1"}).content.decode()
    assert "Imported." in html
    assert Route.objects.filter(name="imported").exists()
    export = staff_client.get("/routes/export/")
    assert export["Content-Disposition"] == 'attachment; filename="config.yaml"'
    assert "imported" in export.content.decode()


def test_import_error_shown_on_the_field(staff_client: Client, db) -> None:
    html = staff_client.post("/routes/import/", {"config": "model_list: [\n"}).content.decode()
    assert "invalid YAML" in field_error(html, "config")


def test_test_connection_shows_upstream_error_inline(staff_client: Client, registry_rows) -> None:
    provider = registry_rows["provider"]  # http://127.0.0.1:9 refuses connections
    html = staff_client.post(
        f"/providers/{provider.pk}/test/", HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "<strong>upstream failed</strong> after" in html and "alert error" in html
    assert SECRET not in html


def test_route_cache_settings_are_edited_in_the_form(staff_client: Client, registry_rows) -> None:
    route = registry_rows["route"]
    form = staff_client.get(f"/routes/{route.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert 'name="cache_ttl"' in form and 'name="cache_scope"' in form
    response = staff_client.post(
        f"/routes/{route.pk}/",
        {
            "name": "chat",
            "strategy": "weighted",
            "max_attempts": 2,
            "cache_ttl": 120,
            "cache_scope": "key",
        },
        HTTP_HX_REQUEST="true",
    )
    assert "120 s, per key" in response.content.decode()
    route.refresh_from_db()
    assert route.cache_ttl == 120 and route.cache_scope == "key"
    html = staff_client.post(
        f"/routes/{route.pk}/",
        {"name": "chat", "strategy": "weighted", "max_attempts": 2, "cache_ttl": -1},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert field_error(html, "cache_ttl")
    route.refresh_from_db()
    assert route.cache_ttl == 120


def test_route_semantic_cache_settings_are_edited_in_the_form(
    staff_client: Client, registry_rows
) -> None:
    route = registry_rows["route"]
    embedder = Route.objects.create(name="embedder")
    Deployment.objects.create(
        route=embedder, provider=registry_rows["provider"], model="text-embedding-3-small"
    )
    form = staff_client.get(f"/routes/{route.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert 'name="semantic_cache_route"' in form and 'name="semantic_cache_dialects"' in form
    fields = {"name": "chat", "strategy": "weighted", "max_attempts": 2}
    semantic = {"semantic_cache_ttl": 300, "semantic_cache_threshold": 0.9}
    response = staff_client.post(
        f"/routes/{route.pk}/",
        {**fields, **semantic, "semantic_cache_scope": "team",
         "semantic_cache_route": "embedder", "semantic_cache_dialects": ["anthropic"]},
        HTTP_HX_REQUEST="true",
    )  # fmt: skip
    assert "300 s, similarity ≥ 0.9, per team" in response.content.decode()
    route.refresh_from_db()
    assert (route.semantic_cache_ttl, route.semantic_cache_route) == (300, "embedder")
    assert route.semantic_cache_dialects == ["anthropic"]
    html = staff_client.post(
        f"/routes/{route.pk}/",
        {**fields, **semantic, "semantic_cache_route": "chat-x"},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert "unknown route" in field_error(html, "semantic_cache_route")
    html = staff_client.post(
        f"/routes/{route.pk}/",
        {**fields, **semantic, "semantic_cache_route": "chat"},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert "cannot embed for itself" in field_error(html, "semantic_cache_route")
    route.refresh_from_db()
    assert route.semantic_cache_route == "embedder"


def test_route_retry_budget_is_edited_in_the_form(staff_client: Client, registry_rows) -> None:
    route = registry_rows["route"]
    form = staff_client.get(f"/routes/{route.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert 'name="retry_budget"' in form
    fields = {"name": "chat", "strategy": "weighted", "max_attempts": 2}
    response = staff_client.post(
        f"/routes/{route.pk}/", {**fields, "retry_budget": 0.5}, HTTP_HX_REQUEST="true"
    )
    assert "retries ≤ 50% of requests" in response.content.decode()
    route.refresh_from_db()
    assert route.retry_budget == 0.5
    html = staff_client.post(
        f"/routes/{route.pk}/", {**fields, "retry_budget": -1}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert field_error(html, "retry_budget")
    staff_client.post(f"/routes/{route.pk}/", fields, HTTP_HX_REQUEST="true")
    route.refresh_from_db()
    assert route.retry_budget is None  # empty: the server's default


def test_deployment_top_k_capability_checkbox(staff_client: Client, registry_rows) -> None:
    route, provider = registry_rows["route"], registry_rows["provider"]
    form = staff_client.get(f"/routes/{route.pk}/deployments/new/").content.decode()
    assert 'name="supports_top_k"' in form
    staff_client.post(
        f"/routes/{route.pk}/deployments/new/",
        {
            "provider": provider.pk,
            "model": "qwen",
            "weight": "1",
            "input_price": "0",
            "output_price": "0",
            "cache_read_price": "0",
            "cache_write_price": "0",
            "enabled": "on",
            "supports_top_k": "on",
        },
        HTTP_HX_REQUEST="true",
    )
    created = Deployment.objects.get(model="qwen")
    assert created.supports_top_k is True
    page = staff_client.get("/routes/").content.decode()
    assert "<i>top_k</i>" in page


def test_creating_a_route_leads_on_to_its_deployment_form(
    staff_client: Client, registry_rows
) -> None:
    """ "Create route" lands on the new route's deployment form (with or without htmx),
    which says the route was created; the deployment saved there lands on the route."""
    provider = registry_rows["provider"]
    fields = {"name": "fresh", "strategy": "weighted", "max_attempts": 3, "enabled": "on"}
    response = staff_client.post("/routes/new/", fields)
    route = Route.objects.get(name="fresh")
    assert response.status_code == 302
    assert response["Location"] == f"/routes/{route.pk}/deployments/new/"
    form = staff_client.get(response["Location"]).content.decode()
    assert "Created route fresh" in form and "Add a deployment to" in form
    fields["name"] = "fresh-htmx"
    response = staff_client.post("/routes/new/", fields, HTTP_HX_REQUEST="true")
    other = Route.objects.get(name="fresh-htmx")
    assert response["HX-Redirect"] == f"/routes/{other.pk}/deployments/new/"
    saved = staff_client.post(
        f"/routes/{route.pk}/deployments/new/",
        {"provider": provider.pk, "model": "m-new", "weight": "1", "enabled": "on"},
    )
    assert saved.status_code == 302 and saved["Location"] == f"/routes/#route-{route.pk}"
    assert route.deployments.get().model == "m-new"


def test_without_a_provider_a_new_route_lands_on_its_card(staff_client: Client, db) -> None:
    response = staff_client.post(
        "/routes/new/", {"name": "lonely", "strategy": "weighted", "max_attempts": 3}
    )
    route = Route.objects.get(name="lonely")
    assert response["Location"] == f"/routes/?new={route.pk}#route-{route.pk}"


def test_route_form_edits_context_window_fallbacks_in_order(
    staff_client: Client, registry_rows
) -> None:
    route = registry_rows["route"]
    for name in ("mid", "big"):
        Route.objects.create(name=name)
    base = {"name": route.name, "strategy": "weighted", "max_attempts": 3}
    staff_client.post(
        f"/routes/{route.pk}/",
        {**base, "context_window_fallbacks": "mid, big"},
        HTTP_HX_REQUEST="true",
    )
    route.refresh_from_db()
    assert route.context_window_fallbacks == ["mid", "big"]
    card = staff_client.get("/routes/").content.decode()
    assert "mid, big" in card  # the card says where too-long prompts go
    html = staff_client.post(
        f"/routes/{route.pk}/",
        {**base, "context_window_fallbacks": "huge"},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert "unknown route(s): huge" in field_error(html, "context_window_fallbacks")


def test_route_batch_mode_is_edited_in_the_form(staff_client: Client, registry_rows) -> None:
    route = registry_rows["route"]
    form = staff_client.get(f"/routes/{route.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert 'name="batch_mode"' in form
    base = {"name": "chat", "strategy": "weighted", "max_attempts": 2}
    response = staff_client.post(
        f"/routes/{route.pk}/", {**base, "batch_mode": "native"}, HTTP_HX_REQUEST="true"
    )
    assert "native only" in response.content.decode()
    route.refresh_from_db()
    assert route.batch_mode == "native"
    html = staff_client.post(
        f"/routes/{route.pk}/", {**base, "batch_mode": "always"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert field_error(html, "batch_mode")
    staff_client.post(f"/routes/{route.pk}/", base, HTTP_HX_REQUEST="true")
    route.refresh_from_db()
    assert route.batch_mode == "auto"  # left empty: the default


def test_the_route_form_reports_every_error_in_one_submit(staff_client: Client, db) -> None:
    """A field the form refuses (bad JSON), a name already taken (the model's check) and
    an unknown fallback (the save's check) came one submit at a time (#66: three
    submits); the first submit names them all, and nothing is written."""
    Route.objects.create(name="taken")
    html = staff_client.post(
        "/routes/new/",
        {
            "name": "taken",
            "strategy": "weighted",
            "max_attempts": 3,
            "default_params": "{not json",
            "fallbacks": "nope",
            "shadow_routes": "ghost",
        },
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert "JSON" in field_error(html, "default_params")
    assert "already exists" in field_error(html, "name")
    assert "unknown route(s): nope" in field_error(html, "fallbacks")
    assert "unknown route(s): ghost" in field_error(html, "shadow_routes")
    assert Route.objects.count() == 1
    # editing: the same, and the stored route is left as it was
    route = Route.objects.create(name="other")
    html = staff_client.post(
        f"/routes/{route.pk}/",
        {"name": "taken", "strategy": "weighted", "max_attempts": "x", "fallbacks": "nope"},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert field_error(html, "max_attempts")
    assert "already exists" in field_error(html, "name")
    assert "unknown route(s): nope" in field_error(html, "fallbacks")
    route.refresh_from_db()
    assert route.name == "other" and route.fallbacks in ([], None)


def test_the_import_preview_marks_a_new_deployment_not_its_existing_route_new(
    staff_client: Client, registry_rows
) -> None:
    """A config adding a deployment to the existing route "chat": the "new" pill is the
    deployment's, beside it, never beside the route that exists (#66)."""
    config = (
        "model_list:\n  - model_name: chat\n    litellm_params:\n"
        "      model: openai/gpt-x\n      api_base: http://127.0.0.1:9/v1\n"
        "  - model_name: chat\n    litellm_params:\n"
        "      model: openai/gpt-y\n      api_base: http://127.0.0.1:9/v1\n"
    )
    html = staff_client.post("/routes/import/", {"config": config}).content.decode()
    cells = re.findall(
        r"<tr class=\"create first\">\s*<td>(.*?)</td>\s*<td class=\"mono\">(.*?)</td>", html, re.S
    )
    assert cells, html[html.find("import-plan") :][:3000]
    deployments = [(r, i) for r, i in cells if "muted" in r]  # the route named, muted
    assert deployments
    for route_cell, item_cell in deployments:
        assert ">new<" not in route_cell and ">new<" in item_cell
