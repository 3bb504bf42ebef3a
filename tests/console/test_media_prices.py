"""Image and audio deployments show the per-unit price in force (per image, second of
audio or character, or per token) and its source on the routes page, the deployment
form and in the catalog browser; the form sets ``price_per_image``,
``price_per_second`` and ``price_per_character`` as fields of their own."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.test import Client

from gateway.catalog import media, store
from gateway.models import Deployment, Provider, Route

OPENAI = "openai.com/api/pricing (2025-10)"


@pytest.fixture
def media_rows(db, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    store.reset()
    provider = Provider.objects.create(
        name="openai", kind="openai", base_url="https://api.openai.com/v1"
    )
    route = Route.objects.create(name="studio")
    rows = {
        model: Deployment.objects.create(route=route, provider=provider, model=model, params=params)
        for model, params in (
            ("dall-e-3", {}),
            ("gpt-image-1", {}),
            ("whisper-1", {}),
            ("tts-1", {}),
            ("local-whisper", {"price_per_second": "0.002", "temperature": 0}),
            ("my-tts", {"mode": "audio_speech"}),
        )
    }
    yield provider, route, rows
    store.reset()


def row_of(html: str, deployment: Deployment) -> str:
    start = html.index(f'id="deployment-{deployment.pk}"')
    return html[start : html.index('class="dep-actions"', start)]


def test_routes_page_shows_the_unit_price_in_force_and_its_source(staff_client: Client, media_rows):
    _, _, rows = media_rows
    html = staff_client.get("/routes/").content.decode()
    shown = {model: row_of(html, d) for model, d in rows.items()}
    assert (
        f'$0.04-$0.12 per image (by size and quality) <small class="muted">({OPENAI})'
        in shown["dall-e-3"]
    )
    assert f'$5 in / $40 out per 1M tokens <small class="muted">({OPENAI})' in shown["gpt-image-1"]
    assert "$0.0001 per second ($0.006 a minute)" in shown["whisper-1"]
    assert "$0.000015 per character" in shown["tts-1"]
    assert "$0.002 per second" in shown["local-whisper"]
    assert "(set on the deployment)" in shown["local-whisper"]
    assert "no price: set a price per character" in shown["my-tts"]
    assert "set a price" in shown["my-tts"] and "set a price" not in shown["tts-1"]
    assert "per 1M tokens" not in shown["whisper-1"]  # not the empty token prices


def test_the_form_edits_unit_prices_as_fields_kept_in_params(staff_client: Client, media_rows):
    provider, _, rows = media_rows
    local = rows["local-whisper"]
    html = staff_client.get(f"/deployments/{local.pk}/").content.decode()
    assert 'name="price_per_second" value="0.002"' in html
    assert "in force: $0.002 per second (set on the deployment)" in html
    params_shown = html[html.index('name="params"') :]
    params_shown = params_shown[params_shown.index(">") + 1 : params_shown.index("</textarea>")]
    assert "price_per_second" not in params_shown and "temperature" in params_shown
    base = {"provider": provider.pk, "model": "local-whisper", "weight": "1", "enabled": "on"}
    staff_client.post(
        f"/deployments/{local.pk}/",
        {**base, "price_per_second": "0.0005", "params": json.dumps({"temperature": 0})},
    )
    local.refresh_from_db()
    assert local.params == {"temperature": 0, "price_per_second": "0.0005"}
    staff_client.post(f"/deployments/{local.pk}/", {**base, "params": '{"temperature": 0}'})
    local.refresh_from_db()
    assert local.params == {"temperature": 0}  # an emptied field drops the price
    refused = staff_client.post(f"/deployments/{local.pk}/", {**base, "price_per_image": "-1"})
    assert "greater than or equal to 0" in refused.content.decode()
    tts = rows["my-tts"]
    staff_client.post(
        f"/deployments/{tts.pk}/",
        {**base, "model": "my-tts", "price_per_character": "0.00001",
         "params": '{"mode": "audio_speech"}'},
    )  # fmt: skip
    tts.refresh_from_db()
    assert tts.params == {"mode": "audio_speech", "price_per_character": "0.00001"}
    html = staff_client.get("/routes/").content.decode()
    assert "$0.00001 per character" in row_of(html, tts)


def test_catalog_browser_lists_media_models_with_unit_prices(staff_client: Client, media_rows):
    html = staff_client.get("/catalog/?mode=image_generation").content.decode()
    assert "dall" in html and f"$0.04-$0.12 per image (by size and quality) ({OPENAI})" in html
    assert "gpt-4o-mini" not in html  # chat models are not images
    html = staff_client.get("/catalog/?mode=audio_transcription&q=whisper").content.decode()
    assert "$0.00003083 per second" in html and "groq.com/pricing" in html
    html = staff_client.get("/catalog/?mode=audio_speech").content.decode()
    assert "$0.000015 per character" in html
    every = staff_client.get("/catalog/?mode=&q=tts-1").content.decode()
    assert "tts-1" in every


def test_every_table_model_has_a_price_text_and_source():
    for _vendor, model, price in media.listing():
        shown = media.in_force(model, {}, None)
        assert shown is not None and shown["priced"] and price.source in shown["source"]
    assert media.in_force("gpt-4o", {}, None) is None
    own = media.in_force("whisper-1", {}, None, (Decimal("1"), None))
    assert own is not None and "$1 in / $0 out per 1M tokens" in own["text"]
