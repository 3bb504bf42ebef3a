"""LiteLLM's names for Switchyard's: model prefixes and the provider kind and default
base URL each stands for, capability flags' ``model_info`` keys, and the base URL a
provider's requests go to."""

from __future__ import annotations

from gateway.catalog import capability_flags
from gateway.models import Provider
from gateway.ops.litellm import prefixes


def test_every_kind_with_a_prefix_names_a_service_of_that_kind():
    for kind, prefix in prefixes.PREFIX_BY_KIND.items():
        assert prefixes.SERVICES[prefix].kind == kind
    openai = prefixes.SERVICES["groq"]
    assert (openai.kind, openai.default_base) == (
        Provider.Kind.OPENAI,
        "https://api.groq.com/openai/v1",
    )


def test_each_capability_flag_by_its_model_info_key():
    keys = prefixes.flag_keys()
    assert len(keys) == len(capability_flags.FLAGS)
    for flag in capability_flags.FLAGS:
        assert keys[flag.litellm_key] == flag.name


def test_the_base_url_requests_go_to():
    own = Provider(name="p", kind=Provider.Kind.OPENAI, base_url="https://llm.example.test/v1/")
    assert prefixes.effective_base(own) == "https://llm.example.test/v1"
    blank = Provider(name="a", kind=Provider.Kind.ANTHROPIC, base_url="")
    assert prefixes.effective_base(blank) == "https://api.anthropic.com"
    echo = Provider(name="e", kind=Provider.Kind.ECHO, base_url="")
    assert prefixes.effective_base(echo) == ""
