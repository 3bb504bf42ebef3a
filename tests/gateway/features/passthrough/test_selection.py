"""Which provider a passthrough request reaches (the rule in ``selection``'s docstring):
the vendor a provider answers to, the operator's switch and path list, the provider a
caller names, and the one open to the key."""

from __future__ import annotations

import dataclasses

import openai
import pytest

from gateway.access import registry
from gateway.base.entries import ProviderEntry, RouteEntry
from gateway.base.errors import ConfigurationError, InvalidRequest, ModelNotFound
from gateway.features.passthrough import selection
from tests.gateway.entries import route, snapshot
from tests.gateway.features.passthrough.conftest import MODEL, Gateway, key_entry, oai
from tests.gateway.features.passthrough.vendor import Answer


def provider(kind: str, base_url: str = "", name: str = "p", **settings: str) -> ProviderEntry:
    settings = {"passthrough": "on", **settings}  # off unless turned on
    return ProviderEntry(1, name, kind, base_url, "secret", {}, "", None, settings=settings)


@pytest.mark.parametrize(
    ("kind", "base_url", "prefix"),
    [
        ("openai", "https://api.openai.com/v1", "openai"),
        ("openai", "https://api.mistral.ai/v1", "mistral"),  # its host's vendor
        ("openai", "https://api.groq.com/openai/v1", "groq"),
        ("openai", "https://api.together.xyz/v1", "together_ai"),
        ("openai", "http://10.0.0.7:8000/v1", "openai"),  # self-hosted: its kind's names
        ("openai_responses", "", "openai"),
        ("azure", "https://acme.openai.azure.com", "azure"),
        ("anthropic", "", "anthropic"),
        ("gemini", "", "gemini"),
        ("gemini_interactions", "", "gemini"),
        ("vertex_ai", "", "vertex_ai"),
        ("bedrock", "", "bedrock"),
        ("cohere", "", "cohere"),
        ("echo", "", None),  # no vendor API to reach
    ],
)
def test_a_provider_answers_to_its_vendors_prefix(
    kind: str, base_url: str, prefix: str | None
) -> None:
    assert selection.prefix_of_provider(provider(kind, base_url)) == prefix


def test_the_operators_switch_and_path_list() -> None:
    assert selection.enabled(provider("openai")) and selection.enabled(
        provider("openai", passthrough="on")
    )
    assert not selection.enabled(provider("openai", passthrough="OFF"))
    listed = provider("openai", passthrough_paths="/v1/models, /v1/files/")
    assert selection.allowed_paths(listed) == ("/v1/models", "/v1/files/")
    assert selection.allowed_paths(provider("openai")) == ()


def test_a_setting_from_the_environment_is_read_when_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """References are not checked when saved: a bad value is the operator's error, a 500
    naming the setting, never a passthrough left open."""
    monkeypatch.setenv("PT_SWITCH", "off")
    monkeypatch.setenv("PT_PATHS", "v1/models")
    assert not selection.enabled(provider("openai", passthrough="os.environ/PT_SWITCH"))
    with pytest.raises(
        ConfigurationError, match="settings.passthrough_paths: 'v1/models' does not start with /"
    ):
        selection.allowed_paths(provider("openai", passthrough_paths="os.environ/PT_PATHS"))
    monkeypatch.setenv("PT_SWITCH", "maybe")
    with pytest.raises(ConfigurationError, match="settings.passthrough: 'maybe' is not on or off"):
        selection.enabled(provider("openai", passthrough="os.environ/PT_SWITCH"))


def install(*routes: RouteEntry) -> None:
    registry.install(snapshot(*routes))


def test_the_provider_named_and_the_one_open_to_the_key(snapshot_reset: None) -> None:
    one = provider("openai", "https://api.openai.com/v1", name="one")
    two = dataclasses.replace(provider("openai", "https://api.openai.com/v1", name="two"), id=2)
    off = dataclasses.replace(
        provider("openai", "https://api.openai.com/v1", name="off", passthrough="off"), id=3
    )
    install(
        route("a", "m", provider=one), route("b", "m", provider=two), route("c", "m", provider=off)
    )
    only_a = key_entry(1, "main", routes=frozenset({"a"}))
    chosen = selection.choose(only_a, "openai", "")
    assert (chosen.reach.provider.name, chosen.route.name) == ("one", "a")
    assert chosen.deployment.provider.name == "one" and chosen.open_to_key
    every = key_entry(2, "both")
    with pytest.raises(
        InvalidRequest, match=r"several providers answer /openai/ for this key \(one, two\)"
    ):
        selection.choose(every, "openai", "")  # (off is not named: it answers nothing)
    assert selection.choose(every, "openai", "two").reach.provider.name == "two"
    with pytest.raises(ModelNotFound, match="no provider named 'off'"):
        selection.choose(every, "openai", "off")
    with pytest.raises(ModelNotFound, match="no provider answers /anthropic/"):
        selection.choose(every, "anthropic", "")
    # a key open to none of them: refused (by the job) on the first route of the first
    nobody = key_entry(3, "outsider", routes=frozenset({"zzz"}))
    refused = selection.choose(nobody, "openai", "")
    assert (refused.route.name, refused.open_to_key) == ("a", False)


def with_settings(gw: Gateway, **settings: str) -> None:
    """``openai-beta``'s route with the provider's settings changed (passthrough on
    unless they say otherwise)."""
    settings = {"passthrough": "on", **settings}
    made = gw.routes["gpt-beta"]
    deployments = tuple(
        dataclasses.replace(d, provider=dataclasses.replace(d.provider, settings=settings))
        for d in made.deployments
    )
    gw.install(routes={**gw.routes, "gpt-beta": dataclasses.replace(made, deployments=deployments)})


async def test_an_operator_limits_passthrough_to_listed_paths_or_turns_it_off(gw: Gateway) -> None:
    gw.vendor.answer("GET", "/v1/models/up-gpt", Answer(body=MODEL))
    with_settings(gw, passthrough_paths="/v1/models")
    sdk = oai(gw, "beta")
    assert (await sdk.models.retrieve("up-gpt")).id == "up-gpt"
    with pytest.raises(openai.PermissionDeniedError) as outside:
        await sdk.files.list()
    assert outside.value.code == "path_not_allowed" and "/v1/models" in str(outside.value)
    with_settings(gw, passthrough="off")  # openai-main still answers, not to this key
    with pytest.raises(openai.PermissionDeniedError) as off:
        await sdk.models.retrieve("up-gpt")
    assert "may use no provider answering /openai/" in str(off.value)
    assert "gpt" not in str(off.value).replace("/openai/", "")  # no route named to it
    assert [s.path for s in gw.vendor.seen] == ["/v1/models/up-gpt"]
    assert [r.status for r in gw.rows("beta")] == [200, 403, 403]


async def test_passthrough_is_off_until_the_operator_turns_it_on(gw: Gateway) -> None:
    """A provider's whole account is behind passthrough: a provider with no setting is
    not reached, however many routes a key has on it."""
    gw.vendor.answer("GET", "/v1/models/up-gpt", Answer(body=MODEL))
    made = gw.routes["gpt-beta"]
    deployments = tuple(
        dataclasses.replace(d, provider=dataclasses.replace(d.provider, settings={}))
        for d in made.deployments
    )
    gw.install(routes={**gw.routes, "gpt-beta": dataclasses.replace(made, deployments=deployments)})
    with pytest.raises(openai.PermissionDeniedError):
        await oai(gw, "beta").models.retrieve("up-gpt")
    assert gw.vendor.seen == []


async def test_a_listed_path_is_not_told_to_a_key_the_route_refuses(gw: Gateway) -> None:
    """The path list is checked once the key may call the route: a key allowed none
    gets the route's 403, not the provider's list."""
    with_settings(gw, passthrough_paths="/v1/models")
    with pytest.raises(openai.PermissionDeniedError) as refused:
        await oai(gw, "outsider").files.list()
    assert refused.value.code != "path_not_allowed" and "/v1/models" not in str(refused.value)
