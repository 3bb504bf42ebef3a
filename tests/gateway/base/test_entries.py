"""The registry's entries (``gateway.base.entries``): the price tier a request pays and
what its usage costs (reasoning priced apart, cache reads saved), what the catalog says
of a deployment, a key's MCP grant within its team's, limits, route allowance and own
identity, and the snapshot's lookups of a route (exact, then patterns) and of a key
(the master key, else by hash)."""

from __future__ import annotations

import dataclasses
import hashlib
from decimal import Decimal
from types import SimpleNamespace

import pytest

from gateway.base import entries
from gateway.base.entries import (
    MASTER,
    GuardrailEntry,
    KeyEntry,
    LimitsEntry,
    OAuthTarget,
    Snapshot,
    charged_key,
    mcp_list,
    mcp_within,
    own_identity,
    tier_for,
)
from gateway.base.types import Usage
from tests.gateway.entries import deployment, route

D = Decimal
TIERS = {"flex": None, "long_context": None, "long_context_flex": None, "priority": None}


@pytest.mark.parametrize(
    ("service", "prompt", "tier"),
    [
        ("", 100, None),
        ("default", 100, None),  # not a service tier: the standard one
        ("flex", 100, "flex"),
        ("", 300, "long_context"),
        ("flex", 300, "long_context_flex"),
        ("priority", 300, "priority"),  # no long_context_priority: the service tier's
        ("batch", 300, "long_context"),  # nor batch: long context's
        ("batch", 100, None),  # a tier the model does not price
    ],
)
def test_the_tier_a_request_pays(service: str, prompt: int, tier: str | None) -> None:
    assert tier_for(TIERS, 200, service, prompt) == tier


def test_no_long_context_threshold_means_no_long_context_tier() -> None:
    assert tier_for(TIERS, None, "", 10**9) is None


def priced(**extra):  # type: ignore[no-untyped-def]
    return deployment(
        "r", "m", input_price=D(2), output_price=D(8), cache_read_price=D("0.5"),
        cache_write_price=D(3), **extra,
    )  # fmt: skip


def test_usage_costs_its_tokens_at_the_prices_per_million() -> None:
    usage = Usage(input_tokens=1_000_000, output_tokens=500_000, cache_read_tokens=2_000_000)
    assert priced().cost(usage) == D(2) + D(4) + D(1)
    assert priced().cache_saved(usage) == D(3)  # 2M reads at 1.5 less than input
    written = Usage(cache_write_tokens=1_000_000)
    assert priced().cache_saved(written) == D(-1)  # writes never read back


def test_reasoning_is_priced_apart_within_the_output_tokens_only() -> None:
    reasoning = priced(reasoning_price=D(20))
    assert reasoning.cost(Usage(output_tokens=1_000_000, reasoning_tokens=250_000)) == D(11)
    odd = Usage(output_tokens=100, reasoning_tokens=200)  # more than the output: ignored
    assert reasoning.cost(odd) == D(100) * 8 / 1_000_000


def test_a_tier_replaces_every_price() -> None:
    tiered = priced(
        tier_prices={"flex": (D(1), D(4), D("0.25"), D(1))},
        reasoning_price=D(20),
        long_context_above=None,
    )
    usage = Usage(input_tokens=1_000_000, output_tokens=1_000_000, reasoning_tokens=10)
    assert tiered.tier(usage, "flex") == "flex" and tiered.tier(usage) is None
    assert tiered.cost(usage, "flex") == D(5)  # no reasoning price in a tier
    assert tiered.prices(usage, "flex") == (D(1), D(4), D("0.25"), D(1))
    assert tiered.prices(usage) == (D(2), D(8), D("0.5"), D(3))
    assert priced().tier(usage, "flex") is None  # no tiers priced


def test_what_the_catalog_says_of_a_deployment() -> None:
    plain = deployment("r", "m", supports_reasoning=True)
    assert plain.label == "mock/m"
    assert plain.supports("vision") is None and plain.echo_reasoning
    assert plain.takes_reasoning_effort
    facts = SimpleNamespace(has=lambda c: c == "reasoning_echo", reasoning_control="always")
    listed = deployment("r", "m", catalog=facts)
    assert listed.supports("reasoning_echo") and listed.supports("vision") is False
    assert listed.echo_reasoning and not listed.takes_reasoning_effort


def test_a_stored_mcp_list_is_a_set_of_names() -> None:
    assert mcp_list(["a", 2]) == frozenset({"a", "2"})
    assert mcp_list("a") == frozenset() and mcp_list(None) == frozenset()


@pytest.mark.parametrize(
    ("own", "team", "within"),
    [
        ({"docs", "wiki__read"}, None, {"docs", "wiki__read"}),  # no team list
        ({"docs"}, {"*"}, {"docs"}),
        ({"*"}, {"docs", "wiki__read"}, {"docs", "wiki__read"}),
        ({"docs__search"}, {"docs"}, {"docs__search"}),  # the team allows the whole server
        ({"docs"}, {"docs__search", "docs__read", "wiki__x"}, {"docs__search", "docs__read"}),
        ({"wiki", "docs__x"}, set(), set()),  # an empty team list allows nothing
    ],
)
def test_a_keys_mcp_grant_is_within_its_teams(own, team, within) -> None:
    assert mcp_within(own, team) == frozenset(within)


def test_limits_keys_and_identities() -> None:
    assert not LimitsEntry(1, "t", None, None, None, "month").limited
    assert LimitsEntry(1, "t", None, 10, None, "month").limited
    key = KeyEntry(3, "k", "sy-k", frozenset({"chat"}), None, None, None, "month", None, False)
    assert key.allows("chat") and not key.allows("embed") and not key.is_master
    assert MASTER.is_master and MASTER.allows("anything")
    assert own_identity(5, 5) and not own_identity(5, 6) and not own_identity(None, None)
    mine = KeyEntry(
        3, "k", "p", None, None, None, None, "month", None, False, user_id=5, minted_by=5
    )
    assert mine.own_identity and not key.own_identity
    assert OAuthTarget("agent", 1, "helper", "https://a").label == "agent helper"
    assert hash(GuardrailEntry(7, "g", "words", frozenset())) == 7


def test_a_snapshot_finds_a_route_by_name_then_by_pattern() -> None:
    exact, wild = route("gpt-4o", "m"), route("gpt-*", "m")
    snap = Snapshot(routes={"gpt-4o": exact}, patterns=[wild])
    assert snap.route("gpt-4o") is exact
    assert snap.route("gpt-5") is wild
    assert snap.route("claude") is None


def test_a_snapshot_finds_the_master_key_or_a_key_by_its_hash(settings) -> None:
    settings.SWITCHYARD_MASTER_KEY = "sy-master-entries"
    key = KeyEntry(3, "k", "sy-k", None, None, None, None, "month", None, False)
    snap = Snapshot(keys={hashlib.sha256(b"sy-raw").hexdigest(): key})
    assert snap.key("sy-master-entries") is MASTER
    assert snap.key("sy-raw") is key
    assert snap.key("sy-other") is None and snap.key("") is None
    settings.SWITCHYARD_MASTER_KEY = "sy-master-changed"  # a settings change is seen
    assert snap.key("sy-master-entries") is None
    settings.SWITCHYARD_MASTER_KEY = ""
    assert snap.key("") is None and entries._master_key() == b""


def test_a_call_made_for_a_request_is_charged_to_its_key_allowed_the_route() -> None:
    """A judge's, an embedding's or a web search's call (``charged_key``)."""
    narrow = dataclasses.replace(MASTER, id=5, name="narrow", routes=frozenset({"chat"}))
    assert charged_key(None, "embed") is MASTER
    widened = charged_key(narrow, "embed")
    assert widened.routes == {"chat", "embed"} and widened.id == 5
    assert narrow.routes == {"chat"}
    assert charged_key(narrow, "chat") is narrow  # already allowed
    every = dataclasses.replace(narrow, routes=None)
    assert charged_key(every, "embed") is every


def test_same_named_copies_the_named_attributes_and_only_those() -> None:
    row = SimpleNamespace(id=3, name="gpt", secret="sk-1", timeout=None)
    assert entries.same_named(row, "id name  timeout") == {"id": 3, "name": "gpt", "timeout": None}
    assert entries.same_named(row, "") == {}
    with pytest.raises(AttributeError):  # a name the row lacks is a mistake, not a default
        entries.same_named(row, "id missing")


def test_a_snapshot_finds_a_key_by_its_row_id_never_an_end_users_view_of_it() -> None:
    key = dataclasses.replace(MASTER, id=7, name="seven")
    viewed = dataclasses.replace(key, end_user="alice")
    snap = Snapshot(keys={"a": viewed, "b": key})
    assert snap.key_by_id(7) is key
    assert snap.key_by_id(8) is None and snap.key_by_id(None) is None
    assert Snapshot(keys={"a": viewed}).key_by_id(7) is None
