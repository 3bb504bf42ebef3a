"""Where a host credential may be sent (``gateway.base.secrets.families``, M17): a name of
a known vendor's family to that vendor's hosts over https, any other name nowhere,
unless the operator pairs the name with an endpoint in ``SWITCHYARD_ENV_ENDPOINTS``.
(The console and /api saves that ask it: ``tests/gateway/web/test_references.py``.)"""

from __future__ import annotations

import pytest

from gateway.base.secrets import families

# --- the table --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "url", "sent"),
    [
        ("AWS_SECRET_ACCESS_KEY", "https://bedrock-runtime.eu-west-1.amazonaws.com", True),
        ("AWS_SECRET_ACCESS_KEY", "https://evil.example", False),
        ("AWS_SECRET_ACCESS_KEY", "https://amazonaws.com.evil.example", False),
        ("OPENAI_API_KEY", "https://api.openai.com/v1", True),
        ("OPENAI_API_KEY", "http://api.openai.com/v1", False),  # never in clear
        ("OPENAI_API_KEY", "https://acme.openai.azure.com", False),
        ("AZURE_API_KEY", "https://acme.openai.azure.com", True),
        ("ANTHROPIC_API_KEY", "https://api.anthropic.com", True),
        ("GEMINI_API_KEY", "https://generativelanguage.googleapis.com", True),
        ("GUARD_API_KEY", "https://guard.example.com", False),  # no vendor: nowhere
        ("OPENAI_API_KEY", "", False),  # where it goes is not known
    ],
)
def test_a_host_credential_goes_to_its_own_vendors_hosts(name: str, url: str, sent: bool) -> None:
    assert (families.refusal(name, url) is None) is sent


def test_the_operator_pairs_a_variable_with_one_endpoint(monkeypatch) -> None:
    monkeypatch.setenv(
        "SWITCHYARD_ENV_ENDPOINTS",
        "GUARD_API_KEY=https://guard.example.com/v2,LLM_*=http://llm:8000",
    )
    assert families.refusal("GUARD_API_KEY", "https://guard.example.com/v2/check") is None
    assert families.refusal("GUARD_API_KEY", "https://guard.example.com/v2") is None
    assert families.refusal("GUARD_API_KEY", "https://guard.example.com/v3") is not None
    assert families.refusal("GUARD_API_KEY", "https://guard.example.com:8443/v2") is not None
    assert families.refusal("LLM_TOKEN", "http://llm:8000/v1") is None
    assert families.refusal("OPENAI_API_KEY", "http://llm:8000/v1") is not None  # not paired
    monkeypatch.setenv("SWITCHYARD_ENV_ENDPOINTS", "no pair here")
    with pytest.raises(ValueError, match="SWITCHYARD_ENV_ENDPOINTS"):
        families.check_endpoints_setting()


def test_a_name_belongs_to_the_family_whose_pattern_it_matches() -> None:
    assert families.family_of("AWS_ACCESS_KEY_ID").label == "AWS"
    assert families.family_of("CO_API_KEY").label == "Cohere"
    assert families.family_of("VERTEXAI_CREDENTIALS").label == "Google"
    assert families.family_of("MY_AWS_KEY") is None  # a family's names start with it
    assert families.family_of("CO_API_KEY_2") is None


@pytest.mark.parametrize(
    "setting",
    ["KEY", "BAD NAME=https://x.example", "KEY=ftp://x.example", "KEY=https://", "K=http://h:x"],
)
def test_a_malformed_pairing_is_named_and_pairs_nothing(monkeypatch, setting: str) -> None:
    monkeypatch.setenv("SWITCHYARD_ENV_ENDPOINTS", setting)
    with pytest.raises(ValueError, match="SWITCHYARD_ENV_ENDPOINTS"):
        families.check_endpoints_setting()
    assert families.refusal("KEY", "https://x.example") is not None


def test_a_refusal_names_the_variable_host_and_setting_never_a_value() -> None:
    why = families.refusal("OPENAI_API_KEY", "https://collect.example/v1")
    assert why is not None and "OpenAI's credential" in why and "collect.example" in why
    assert "SWITCHYARD_ENV_ENDPOINTS (OPENAI_API_KEY=https://collect.example/v1)" in why
    unknown = families.refusal("GUARD_KEY", "")
    assert unknown is not None and "not known when saved" in unknown and "https://host" in unknown
    assert "no known vendor" in (families.refusal("GUARD_KEY", "https://g.example") or "")
    assert families.refusal("AWS_KEY", "https://AMAZONAWS.com./x") is None  # host as called
