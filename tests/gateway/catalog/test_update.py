"""``manage.py update_catalog FILE``: refresh prices from either format into the
user's override, report what changed, fail with one clear line."""

from __future__ import annotations

import json
from decimal import Decimal
from io import StringIO
from pathlib import Path

import httpx
import pytest
from django.core.management import CommandError, call_command

from gateway import catalog
from gateway.access import registry
from gateway.catalog import update
from gateway.models import Deployment, Provider, RegistryState, Route

ROOT = Path(__file__).resolve().parents[3]
LITELLM = {
    "sample_spec": {"litellm_provider": "one of the providers"},
    # gpt-4o got cheaper; its parallel-tools and other flags stay as LiteLLM says
    "gpt-4o": {
        "litellm_provider": "openai",
        "mode": "chat",
        "input_cost_per_token": 2e-06,
        "output_cost_per_token": 8e-06,
        "cache_read_input_token_cost": 1e-06,
        "max_input_tokens": 128000,
        "max_output_tokens": 16384,
        "supports_function_calling": True,
        "supports_parallel_function_calling": True,
        "supports_vision": True,
        "supports_pdf_input": True,
        "supports_prompt_caching": True,
        "supports_response_schema": True,
    },
    "gpt-7-preview": {
        "litellm_provider": "openai",
        "mode": "chat",
        "input_cost_per_token": 1e-05,
        "output_cost_per_token": 4e-05,
        "max_input_tokens": 2000000,
    },
}


def run(path: str, **options) -> str:
    out = StringIO()
    call_command("update_catalog", path, stdout=out, **options)
    return out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_a_litellm_file_updates_prices_and_reports_them(tmp_path, settings):
    source = tmp_path / "model_prices_and_context_window.json"
    source.write_text(json.dumps(LITELLM))
    version = RegistryState.objects.filter(pk=1).values_list("version", flat=True).first() or 0
    out = run(str(source), date="2026-11-20")
    assert "read LiteLLM file: 1 added, 1 updated, 0 unchanged" in out
    assert "openai/gpt-4o: input $2.5 -> $2, output $10 -> $8, cache_read $1.25 -> $1" in out
    override = json.loads((settings.DATA_DIR / "catalog.json").read_text())
    assert override["updated"] == "2026-11-20"
    assert set(override["providers"]["openai"]["models"]) == {"gpt-4o", "gpt-7-preview"}
    loaded = catalog.load()
    gpt4o = loaded.get("openai", "gpt-4o")
    assert (gpt4o.input, gpt4o.output, gpt4o.as_of) == (Decimal(2), Decimal(8), "2026-11-20")
    assert loaded.get("openai", "gpt-4o-2024-08-06").input == Decimal(2)  # aliases follow
    assert loaded.get("openai", "gpt-4o-mini").input == Decimal("0.15")  # untouched: bundled
    # every worker rebuilds its snapshot (and so re-reads the catalog)
    assert RegistryState.objects.get(pk=1).version > version

    again = run(str(source), date="2026-11-21")
    assert "0 added, 0 updated, 2 unchanged" in again and "nothing changed" in again


@pytest.mark.django_db(transaction=True)
def test_deployments_without_prices_are_charged_the_refreshed_price(tmp_path, snapshot_reset):
    provider = Provider.objects.create(
        name="openai", kind="openai", base_url="https://api.openai.com/v1"
    )
    route = Route.objects.create(name="gpt4o")
    Deployment.objects.create(route=route, provider=provider, model="gpt-4o")
    assert registry.rebuild().route("gpt4o").deployments[0].input_price == Decimal("2.5")
    source = tmp_path / "prices.json"
    source.write_text(json.dumps(LITELLM))
    run(str(source), date="2026-11-20")
    deployment = registry.current().route("gpt4o").deployments[0]
    assert deployment.input_price == Decimal(2)
    assert deployment.sources["input_price"] == "catalog 2026-11-20"


@pytest.mark.django_db(transaction=True)
def test_a_catalog_format_file_is_read_too(tmp_path):
    source = tmp_path / "refresh.json"
    source.write_text(
        json.dumps(
            {
                "schema": 1,
                "updated": "2026-11-20",
                "providers": {
                    "deepseek": {
                        "source": "https://api-docs.deepseek.com/quick_start/pricing",
                        "as_of": "2026-11-20",
                        "models": {"deepseek-chat": {"input": 0.3, "output": 0.5}},
                    }
                },
            }
        )
    )
    out = run(str(source), date="2026-11-20")
    assert "read catalog file: 0 added, 1 updated" in out
    assert catalog.load().get("deepseek", "deepseek-chat").input == Decimal("0.3")


NEWER = {
    # a newer map: claude-opus-5 gets cheaper and gains a batch tier; the catalog's own
    # rules and Bedrock's API versions for it are not LiteLLM's to say, and stay
    "claude-opus-5": {
        "litellm_provider": "anthropic",
        "mode": "chat",
        "input_cost_per_token": 4e-06,
        "output_cost_per_token": 2e-05,
        "input_cost_per_token_batches": 2e-06,
        "output_cost_per_token_batches": 1e-05,
        "max_input_tokens": 1000000,
        "supports_reasoning": True,
    },
    "anthropic.claude-opus-5": {
        "litellm_provider": "bedrock_converse",
        "mode": "chat",
        "input_cost_per_token": 4e-06,
        "output_cost_per_token": 2e-05,
        "input_cost_per_token_above_200k_tokens": 8e-06,
        "supports_reasoning": True,
    },
}


@pytest.mark.django_db(transaction=True)
def test_a_newer_map_refreshes_prices_and_tiers_keeping_rules_and_versions(tmp_path):
    before = catalog.load()
    assert before.get("anthropic", "claude-opus-5").rules  # control: the bundled rule
    assert before.get("bedrock", "anthropic.claude-opus-5").api_versions
    source = tmp_path / "newer.json"
    source.write_text(json.dumps(NEWER))
    run(str(source), date="2026-12-01")
    after = catalog.load()
    opus = after.get("anthropic", "claude-opus-5")
    assert (opus.input, opus.as_of) == (Decimal(4), "2026-12-01")
    assert opus.rules == before.get("anthropic", "claude-opus-5").rules
    assert dict(opus.tiers)["batch"].input == Decimal(2)
    bedrock = after.get("bedrock", "anthropic.claude-opus-5")
    assert bedrock.api_versions == ("2023-06-01", "2026-10-21")
    assert bedrock.rules == before.get("bedrock", "anthropic.claude-opus-5").rules
    assert bedrock.long_context_above == 200_000 and bedrock.tier("long_context")


@pytest.mark.django_db(transaction=True)
def test_an_address_is_read_without_a_release(tmp_path, monkeypatch):
    """``update_catalog https://…`` reads LiteLLM's current map from where it is
    published (here a mock), so a price change needs no Switchyard release."""
    asked: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(str(request.url))
        if request.url.path.endswith("/missing.json"):
            return httpx.Response(404)
        return httpx.Response(200, json=LITELLM)

    monkeypatch.setattr(update, "TRANSPORT", httpx.MockTransport(handler))
    url = "https://prices.test/model_prices_and_context_window.json"
    out = run(url, date="2026-11-20")
    assert asked == [url]
    assert "read LiteLLM file: 1 added, 1 updated" in out
    assert catalog.load().get("openai", "gpt-4o").input == Decimal(2)
    with pytest.raises(CommandError, match="missing.json: the server answered 404"):
        run("https://prices.test/missing.json")
