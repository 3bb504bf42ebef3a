"""Provider settings that are ``os.environ/NAME`` references (base URL, api version)
are read when the provider is called: the URL follows the variable, and an unset one
is a 502 naming it, never a crash and never the secret."""

from __future__ import annotations

import pytest

from gateway.base.entries import ProviderEntry
from gateway.base.errors import ConfigurationError
from gateway.providers import wire
from gateway.providers.base import adapter_for

SECRET = "sk-wire-Never-Shown-5521"


def entry(kind: str, base_url: str, api_version: str = "") -> ProviderEntry:
    return ProviderEntry(7, "up", kind, base_url, SECRET, {}, api_version, None)


@pytest.mark.parametrize(
    ("kind", "path", "expected"),
    [
        ("openai", "chat/completions", "http://llm.internal:8000/v1/chat/completions"),
        ("anthropic", "/v1/messages", "http://llm.internal:8000/v1/messages"),
    ],
)
def test_base_url_reference_follows_the_variable(
    monkeypatch: pytest.MonkeyPatch, kind: str, path: str, expected: str
) -> None:
    adapter = adapter_for(entry(kind, "os.environ/SY_TEST_BASE"))
    monkeypatch.setenv("SY_TEST_BASE", "http://llm.internal:8000/v1/")
    assert adapter.url(path) == expected
    monkeypatch.setenv("SY_TEST_BASE", "https://other.example/v1")
    assert adapter.url(path) == expected.replace(
        "http://llm.internal:8000", "https://other.example"
    )


@pytest.mark.parametrize(
    "value",
    ["https://proxy.example", "https://proxy.example/v1", "https://proxy.example/v1/messages"],
)
def test_anthropic_reference_is_the_host_root_however_written(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    """As the importer normalises a literal api_base, so the adapter a referenced one."""
    monkeypatch.setenv("SY_TEST_BASE", value)
    adapter = adapter_for(entry("anthropic", "os.environ/SY_TEST_BASE"))
    assert adapter.url("/v1/messages") == "https://proxy.example/v1/messages"


def test_azure_base_url_and_api_version_references(monkeypatch: pytest.MonkeyPatch) -> None:
    adapter = adapter_for(entry("azure", "os.environ/SY_AZ_BASE", "os.environ/SY_AZ_VERSION"))
    monkeypatch.setenv("SY_AZ_BASE", "https://acme.openai.azure.com/")
    monkeypatch.setenv("SY_AZ_VERSION", "2025-01-01-preview")
    assert adapter.url("models") == (
        "https://acme.openai.azure.com/openai/models?api-version=2025-01-01-preview"
    )


@pytest.mark.parametrize(
    ("base_url", "api_version", "missing"),
    [
        ("os.environ/SY_UNSET_BASE", "", "SY_UNSET_BASE"),
        ("https://acme.openai.azure.com", "os.environ/SY_UNSET_VERSION", "SY_UNSET_VERSION"),
    ],
)
def test_unset_reference_is_a_configuration_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, base_url: str, api_version: str, missing: str
) -> None:
    monkeypatch.delenv(missing, raising=False)
    adapter = adapter_for(entry("azure", base_url, api_version))
    with pytest.raises(ConfigurationError) as caught:  # no retry, no cooldown: failover
        adapter.url("models")
    assert caught.value.status == 500
    assert f"environment variable {missing} is not set" in str(caught.value)
    assert "provider 'up'" in str(caught.value) and SECRET not in str(caught.value)


def test_literal_base_url_is_used_as_is() -> None:
    assert wire.base_url(entry("openai", "http://h:8000/v1/")) == "http://h:8000/v1"


def test_extra_headers_are_resolved_and_an_unset_one_names_its_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SY_WIRE_ORG", "org-7")
    monkeypatch.delenv("SY_WIRE_UNSET", raising=False)
    headers = {"X-Org": "os.environ/SY_WIRE_ORG", "X-Plain": "p"}
    provider = ProviderEntry(7, "up", "openai", "", SECRET, headers, "", None)
    assert wire.extra_headers(provider) == {"X-Org": "org-7", "X-Plain": "p"}
    provider = ProviderEntry(
        7, "up", "openai", "", SECRET, {"X": "os.environ/SY_WIRE_UNSET"}, "", None
    )
    with pytest.raises(ConfigurationError, match="provider 'up'.*SY_WIRE_UNSET"):
        wire.extra_headers(provider)
