"""Agent tokens (``gateway.access.delegation``, issue #63): a token acts as its caller's
key as the snapshot has it now, in its run, on the surfaces it was minted for; expired,
forged, foreign, for another surface or of a revoked key: refused with a reason that
never quotes it. RFC 8693 exchange at ``/oauth/token`` narrows, never widens."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import time
from decimal import Decimal

import orjson
import pytest
from django.test import Client, override_settings

from gateway.access import delegation, registry
from gateway.base.entries import MASTER, AgentRun, KeyEntry, Snapshot
from gateway.web.callers import resolve_caller

EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS = "urn:ietf:params:oauth:token-type:access_token"
RUN = AgentRun(id="a2a_run1", agent="helper", task="t-1", context="c-1", budget_usd=Decimal("2"))


def entry(**fields: object) -> KeyEntry:
    base = dataclasses.replace(
        MASTER, id=7, name="caller", prefix="sy-caller", routes=frozenset({"chat"})
    )
    return dataclasses.replace(base, **fields)  # type: ignore[arg-type]


@pytest.fixture
def caller(snapshot_reset: None) -> KeyEntry:
    key = entry(mcp_allowed=frozenset({"tools__add"}), rpm_limit=5)
    registry.install(Snapshot(version=3, keys={hashlib.sha256(b"raw").hexdigest(): key}))
    return key


def token_for(key: KeyEntry, **kw: object) -> str:
    return delegation.mint(key, RUN, **kw)[0]  # type: ignore[arg-type]


def test_a_token_acts_as_its_key_in_its_run(caller: KeyEntry) -> None:
    checked = delegation.check(token_for(caller), "models")
    assert checked.key is not None and checked.problem == ""
    assert dataclasses.replace(checked.key, run=None) == caller  # the key's limits, no more
    assert checked.key.run == RUN
    resolved = resolve_caller({"authorization": f"Bearer {token_for(caller)}"})
    assert resolved.key is not None and resolved.key.id == caller.id


def test_the_key_narrowed_since_narrows_its_tokens(caller: KeyEntry) -> None:
    raw = token_for(caller)
    narrower = dataclasses.replace(caller, routes=frozenset(), rpm_limit=1)
    registry.install(Snapshot(version=4, keys={"h": narrower}))
    checked = delegation.check(raw, "models")
    assert checked.key is not None
    assert checked.key.routes == frozenset() and checked.key.rpm_limit == 1


@pytest.mark.parametrize(
    "why, make, surface, problem",
    [
        ("expired", lambda k: token_for(k, seconds=-1), "models", "expired"),
        ("audience", lambda k: token_for(k, audience=["mcp"]), "models", "not for models"),
        ("a2a", lambda k: token_for(k, audience=["models", "mcp"]), "a2a", "not for a2a"),
        ("agent", lambda k: token_for(k, audience=["a2a:other"]), "a2a:helper", "not for a2a:"),
        ("server", lambda k: token_for(k, audience=["mcp:web"]), "mcp:tools", "not for mcp:tools"),
        ("forged", lambda k: token_for(k)[:-2] + "xx", "models", "invalid agent token"),
        ("garbage", lambda k: delegation.PREFIX + "abc", "models", "invalid agent token"),
    ],
)
def test_refused_tokens_say_why(caller: KeyEntry, why, make, surface, problem) -> None:  # type: ignore[no-untyped-def]
    raw = make(caller)
    checked = delegation.check(raw, surface)
    assert checked.key is None and problem in checked.problem
    assert raw not in checked.problem


def test_claims_changed_without_the_signing_key_are_refused(caller: KeyEntry) -> None:
    raw = token_for(caller, audience=["mcp"])
    body, _, signature = raw[len(delegation.PREFIX) :].partition(".")
    claims = orjson.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims["aud"] = ["models", "mcp"]
    widened = base64.urlsafe_b64encode(orjson.dumps(claims)).rstrip(b"=").decode()
    assert delegation.check(f"{delegation.PREFIX}{widened}.{signature}", "models").key is None
    with override_settings(SECRET_KEY="another-gateway-" + "x" * 40):
        foreign = token_for(caller)  # another gateway's token (another SECRET_KEY)
    assert delegation.check(foreign, "models").problem == "invalid agent token"


def test_a_revoked_or_removed_key_takes_its_tokens_with_it(caller: KeyEntry) -> None:
    raw = token_for(caller)
    registry.install(Snapshot(version=5, keys={"h": dataclasses.replace(caller, revoked=True)}))
    assert "revoked" in delegation.check(raw, "models").problem
    registry.install(Snapshot(version=6, keys={}))
    assert "revoked" in delegation.check(raw, "models").problem


def test_the_master_key_is_never_carried() -> None:
    with pytest.raises(ValueError):
        delegation.mint(MASTER, RUN)


# --- RFC 8693 at /oauth/token ----------------------------------------------------------------


@pytest.fixture
def http_ok(monkeypatch: pytest.MonkeyPatch) -> None:
    """Django's test host is ``testserver`` over http: Authlib wants https otherwise."""
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")


def trade(subject: str, **extra: str) -> dict[str, object]:
    form = {"grant_type": EXCHANGE, "subject_token": subject, "subject_token_type": ACCESS}
    answer = Client().post("/oauth/token", {**form, **extra})
    body: dict[str, object] = answer.json()
    body["status"] = answer.status_code
    return body


@pytest.mark.django_db
def test_exchange_narrows_the_audience_and_keeps_the_run(caller: KeyEntry, http_ok: None) -> None:
    subject, expires = delegation.mint(caller, RUN, seconds=300)
    body = trade(subject, audience="models")
    assert body["status"] == 200, body
    assert body["issued_token_type"] == ACCESS and body["token_type"] == "Bearer"
    assert 0 < int(str(body["expires_in"])) <= 300
    issued = str(body["access_token"])
    assert delegation.check(issued, "models").key is not None
    assert delegation.check(issued, "mcp").key is None
    assert delegation.check(issued, "models").key.run == RUN  # type: ignore[union-attr]
    one_server = trade(subject, resource="http://testserver/mcp/tools")
    assert one_server["status"] == 200, one_server
    server_token = str(one_server["access_token"])
    assert delegation.check(server_token, "mcp:tools").key is not None
    assert delegation.check(server_token, "mcp:web").key is None
    assert expires >= int(time.time())


@pytest.mark.django_db
@pytest.mark.parametrize(
    "subject_of, extra, error",
    [
        (lambda k: token_for(k, audience=["mcp"]), {"audience": "models"}, "invalid_target"),
        (lambda k: token_for(k, audience=["models"]), {"audience": "a2a"}, "invalid_target"),
        (lambda k: token_for(k), {"audience": "a2a:"}, "invalid_target"),
        (lambda k: token_for(k), {"resource": "https://elsewhere.example/mcp"}, "invalid_target"),
        (lambda k: token_for(k, seconds=-1), {}, "invalid_grant"),
        (lambda k: "sk-a-virtual-key", {}, "invalid_grant"),
        (lambda k: token_for(k), {"subject_token_type": "urn:x"}, "invalid_request"),
        (lambda k: token_for(k), {"actor_token": "x"}, "invalid_request"),
    ],
)
def test_exchange_refusals_are_oauth_errors(caller, http_ok, subject_of, extra, error) -> None:  # type: ignore[no-untyped-def]
    subject = subject_of(caller)
    body = trade(subject, **extra)
    assert body["status"] == 400 and body["error"] == error, body
    assert subject not in str(body)


@pytest.mark.django_db
def test_the_metadata_lists_token_exchange() -> None:
    metadata = Client().get("/.well-known/oauth-authorization-server").json()
    assert EXCHANGE in metadata["grant_types_supported"]


def test_a_virtual_key_that_begins_like_a_token_is_still_a_key() -> None:
    """A key is ``sy-`` and URL-safe base64: it may begin ``agent-``, never holds a dot."""
    from gateway.access import delegation

    assert not delegation.is_agent_token("sy-agent-Zx81_q-0123456789abcdefghij")
    assert delegation.is_agent_token("sy-agent-eyJrIjoxfQ.c2lnbmF0dXJl")


# --- chains of agents ------------------------------------------------------------------------


def test_a_token_reaches_agents_as_it_reaches_mcp_servers(caller: KeyEntry) -> None:
    """``a2a`` reaches every agent (the key's grants still decide which), ``a2a:<agent>``
    that one; a token minted for a run reaches ``a2a`` unless narrowed."""
    assert delegation.check(token_for(caller), "a2a:helper").key is not None
    one = token_for(caller, audience=["a2a:helper"])
    assert delegation.check(one, "a2a:helper").key is not None
    assert delegation.check(one, "a2a:other").key is None
    assert delegation.check(one, "models").key is None


def test_a_chained_run_keeps_its_session_budget_depth_and_bounds(caller: KeyEntry) -> None:
    run = dataclasses.replace(RUN, session_budget_usd=Decimal("5"), depth=2)
    raw, expires = delegation.mint(caller, run, audience=["models", "a2a"], seconds=600)
    carried = delegation.check(raw, "a2a:next").key
    assert carried is not None and carried.run is not None
    assert carried.run == run  # the same run, session budget and depth
    assert carried.run.surfaces == ("a2a", "models") and carried.run.expires == expires
    # what is minted from it for the next agent lives no longer than it did
    onward, onward_expires = delegation.mint(caller, carried.run, seconds=3600)
    assert onward_expires == expires
    assert delegation.check(onward, "models").key is not None


@pytest.mark.django_db
def test_exchange_narrows_to_one_agent(caller: KeyEntry, http_ok: None) -> None:
    body = trade(token_for(caller), audience="a2a:helper")
    assert body["status"] == 200, body
    issued = str(body["access_token"])
    assert delegation.check(issued, "a2a:helper").key is not None
    assert delegation.check(issued, "a2a:other").key is None
