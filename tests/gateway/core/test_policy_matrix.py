"""Every declared endpoint (``gateway.base.endpoints.ENDPOINTS``) crossed with every
policy of the request path but the guardrails (those: ``tests/gateway/features/guardrails/
test_endpoint_matrix.py``), built from the declaration, with the mock upstream:

- the route bound: a key whose route list leaves the route out, and a key of a team
  the route is not open to, are refused 403 in the caller's own format with nothing
  sent upstream (the control: an allowed key of the route's team is answered);
- the rpm and tpm: a key's second request in a minute past an rpm (a tpm) of 1 is a 429;
- the budget: a key whose budget is spent, and a key of a team whose budget is spent,
  are a 429 ``budget_exceeded`` with nothing sent upstream (the control: the same
  budget, unspent, is answered);
- the tags: the key's, the header's and the body's (JSON bodies) land on the journal
  row, and the body's never reach the upstream;
- the journal: every request, answered or refused, writes exactly one row naming its
  key and its route;
- the owner's role: keys of an owner, an admin, an editor, a member and a viewer, as
  the registry builds them from the database, are answered and limited alike (the /v1
  plane reads the key, never its owner's console role);
- the budget hold: priced as declared (``costs``; a text generator on a priced model
  with no known ceiling asks for ``max_tokens``, images and audio hold the flat amount);
- stored objects: every kind an endpoint declares it ``owns`` names the test showing
  another key cannot read one.

A new endpoint is covered the day it is declared: it needs a sample
(``tests/gateway/endpoint_samples.py``, shown by declaring one more here), and an
endpoint the edge serves without a declaration fails (shown by serving one more); an
undeclared job that is reached anyway gets every policy (``service.UNDECLARED``).

The Realtime socket runs through its ASGI app with the upstream's socket replaced by
one that closes at once (normally): its handshake is the request the policies judge."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from channels.testing import WebsocketCommunicator

from gateway import journal
from gateway.access import registry
from gateway.base import background, endpoints, hooks, http, lifecycle
from gateway.base.endpoints import Endpoint
from gateway.base.entries import KeyEntry, RouteEntry, TagEntry, TeamEntry
from gateway.base.errors import GatewayError, PermissionDenied, RateLimited
from gateway.core import jobs, realtime, service
from gateway.core.call import Caller, StreamReply
from gateway.edge import dialects, realtime_socket
from gateway.features.gemini_live import plugin as live_plugin
from gateway.features.gemini_live import socket as live_socket
from gateway.limits import limits, spend
from tests.gateway.endpoint_samples import (
    GEMINI,
    SAMPLES,
    SOCKETS,
    Sample,
    answer,
    as_json,
    sample_route,
    served,
)
from tests.gateway.entries import route, snapshot

# chat is one declaration served in every client dialect (and over the Responses
# WebSocket and in batch lines, which go through the same ``service.handle``): each
# dialect refuses in its own format, so each is a case of its own (nothing stored: what
# is stored is its key's alone, OWNED_BY_THE_KEY below)
DIALECTS: dict[str, Sample] = {
    "chat/responses": Sample(
        "responses",
        as_json(lambda t: {"model": "m", "input": f"say {t}", "store": False}),
        endpoint="chat",
    ),
    "chat/anthropic": Sample(
        "anthropic",
        as_json(
            lambda t: {
                "model": "m",
                "max_tokens": 16,
                "messages": [{"role": "user", "content": f"say {t}"}],
            }
        ),
        endpoint="chat",
    ),  # fmt: skip
    "chat/gemini": Sample(
        "gemini",
        as_json(lambda t: {"model": "m", "contents": [{"role": "user", "parts": [{"text": t}]}]}),
        endpoint="chat",
    ),
    "chat/interactions": Sample(
        "gemini_interactions",
        as_json(lambda t: {"model": "m", "input": f"say {t}", "store": False}),
        endpoint="chat",
    ),  # fmt: skip
}
CASES: dict[str, Sample] = {**SAMPLES, **DIALECTS}  # every HTTP case
DECLARED = sorted([*endpoints.ENDPOINTS, *DIALECTS])  # every case, the sockets' too
HTTP = sorted(CASES)
_ids = itertools.count(70_000)

TEAM = TeamEntry(id=8101, name="ours", rpm_limit=None, tpm_limit=None, budget_usd=None,
                 budget_period="month")  # fmt: skip
OTHER_TEAM = dataclasses.replace(TEAM, id=8102, name="theirs")
SPENT_TEAM = dataclasses.replace(TEAM, id=8103, name="spent", budget_usd=Decimal(1))
BUDGET = Decimal(1)


def key(**fields: Any) -> KeyEntry:
    made: dict[str, Any] = dict(
        id=next(_ids), name="matrix", prefix="sy-matrix", routes=None, rpm_limit=None,
        tpm_limit=None, budget_usd=None, budget_period="month", expires_at=None,
        revoked=False,
    )  # fmt: skip
    made.update(fields)
    made["name"] = f"matrix-{made['id']}"
    return KeyEntry(**made)


@dataclasses.dataclass
class Outcome:
    status: int
    error: dict[str, Any] | None  # the error as the caller got it (its whole envelope)


class Upstream:
    """The mock upstream (HTTP through ``httpx.MockTransport``, the Realtime socket
    through ``realtime._connect``): what reached it, and the journal's records."""

    def __init__(self) -> None:
        self.seen: list[bytes] = []
        self.records: list[journal.Record] = []
        self.spent: dict[int | str | None, Decimal] = {}  # a counter's spend in the database


class ClosingSocket:
    """An upstream Realtime socket that closes normally as soon as it is read."""

    close_code = 1000
    close_reason = ""

    def __aiter__(self) -> ClosingSocket:
        return self

    async def __anext__(self) -> str:
        raise StopAsyncIteration

    async def send(self, data: Any) -> None:
        raise AssertionError("nothing is sent upstream in these sessions")

    async def close(self, code: int = 1000) -> None:
        return None


@pytest.fixture
def upstream(
    monkeypatch: pytest.MonkeyPatch, snapshot_reset: None, settings: Any
) -> Iterator[Upstream]:
    settings.REDIS_URL = ""
    limits.reset()
    state = Upstream()
    state.records = journal_rows
    journal_rows.clear()
    monkeypatch.setattr(journal, "record", state.records.append)

    async def load_spend(key_id: int, start: Any, end_user: str | None = None) -> Decimal:
        return state.spent.get(key_id, Decimal(0))

    async def load_counter_spend(counter: int | str, start: Any) -> Decimal:
        return state.spent.get(counter, Decimal(0))

    monkeypatch.setattr(spend, "load_spend", load_spend)
    monkeypatch.setattr(spend, "load_counter_spend", load_counter_spend)

    def handler(request: httpx.Request) -> httpx.Response:
        state.seen.append(request.read())
        return answer(request)

    async def connect(
        deployment: Any, query: Any, beta: Any, path: str, secret: Any = None
    ) -> ClosingSocket:
        state.seen.append(b"realtime socket")
        return ClosingSocket()

    async def started() -> None:
        return None

    async def connect_live(deployment: Any, setup: Any, version: str) -> tuple[Any, str]:
        state.seen.append(b"live socket")
        return ClosingSocket(), '{"setupComplete": {}}'

    monkeypatch.setattr(realtime, "_connect", connect)
    monkeypatch.setattr(live_socket, "_connect", connect_live)
    monkeypatch.setattr(lifecycle, "ensure_started", started)
    http.use_transport(httpx.MockTransport(handler))
    yield state
    http.use_transport(None)
    limits.reset()


journal_rows: list[journal.Record] = []  # the records of the test under way


@dataclasses.dataclass(frozen=True)
class SocketCase:
    """How a declared socket is opened: its module (its app, its ``resolve_fresh_caller``
    replaced), its path, the client's first message, the route's provider; ``events``:
    a refusal is an ``error`` event (OpenAI's), else the close's code and reason
    (Google's)."""

    module: Any
    path: str
    first: str | None
    provider: Any
    events: bool


SOCKET_CASES = {
    "realtime": SocketCase(realtime_socket, "/v1/realtime?model=m", None, None, True),
    "gemini_live": SocketCase(
        live_socket,
        live_plugin.PATHS[0],
        '{"setup": {"model": "models/m"}}',
        GEMINI,
        False,
    ),
}


def sample_of(name: str) -> Sample:
    if name in CASES:
        return CASES[name]
    return Sample("openai", lambda text: (b"", {}), provider=SOCKET_CASES[name].provider)


def declaration(case: str) -> Endpoint:
    """The declaration a case is a request to."""
    return endpoints.ENDPOINTS[case.split("/")[0]]


def install(name: str, teams: frozenset[int] | None = frozenset({TEAM.id})) -> RouteEntry:
    """The route ``m`` answering ``name``'s sample, open to ``teams`` (None: all)."""
    made = dataclasses.replace(sample_route(sample_of(name)), teams=teams)
    registry.install(snapshot(made))
    return made


def with_tags(raw: bytes, tags: list[str]) -> bytes:
    body = orjson.loads(raw)
    body["metadata"] = {"tags": tags}
    return orjson.dumps(body)


async def ask(
    name: str, k: KeyEntry, headers: dict[str, str] | None = None, body_tags: Sequence[str] = ()
) -> Outcome:
    """``name``'s sample request made with key ``k`` (the whole answer read)."""
    headers = dict(headers or {})
    if name in SOCKETS:
        return await _ask_socket(SOCKET_CASES[name], k, headers)
    sample = CASES[name]
    raw, form_headers = sample.body("hello")
    if body_tags:
        raw = with_tags(raw, list(body_tags))
    reply = await service.handle(
        sample.endpoint or name,
        sample.dialect,
        raw,
        {**form_headers, **headers},
        Caller(key=k),
        sample.path_fields,
    )
    body = reply.body if not isinstance(reply, StreamReply) else b"".join(
        [chunk async for chunk in reply.chunks]
    )  # fmt: skip
    await background.done()  # settled (the budget's spend, the rpm's tokens)
    error = orjson.loads(body) if reply.status != 200 else None
    return Outcome(reply.status, error)


async def _ask_socket(case: SocketCase, k: KeyEntry, headers: dict[str, str]) -> Outcome:
    """A session opened with ``k``: refused (its ``error`` event, or its close's code
    and reason; the row's status), or opened and closed at once by the upstream (200)."""

    async def caller(found: dict[str, str], token: str | None = None) -> Caller:
        return Caller(key=k)

    resolve = case.module.resolve_fresh_caller
    case.module.resolve_fresh_caller = caller
    try:
        communicator = WebsocketCommunicator(
            case.module.app,
            case.path,
            headers=[(n.encode(), v.encode()) for n, v in headers.items()],
        )
        connected, _ = await communicator.connect(timeout=5)
        assert connected
        if case.first is not None:
            await communicator.send_to(text_data=case.first)
        error: dict[str, Any] | None = None
        while True:
            message = await communicator.receive_output(timeout=5)
            if message["type"] == "websocket.send" and case.events:
                event = orjson.loads(message["text"])
                if event.get("type") == "error":
                    error = event
            if message["type"] == "websocket.close":
                if not case.events and message["code"] not in (1000, 1005):
                    error = {"code": message["code"], "reason": message.get("reason", "")}
                break
        await communicator.wait(5)
    finally:
        case.module.resolve_fresh_caller = resolve
    rows = [r for r in journal_rows if r.key_id == k.id]
    return Outcome(rows[-1].status, error)


def caller_format(name: str, outcome: Outcome, error: type[GatewayError], code: str) -> None:
    """The refusal is the caller's dialect's own error (the Realtime ``error`` event on
    the socket), with the status the dialect gives ``error``."""
    assert outcome.error is not None
    if name in SOCKETS and not SOCKET_CASES[name].events:  # a close, as Google's
        code_, why = live_socket.close_for(error(outcome.error["reason"], code=code))
        assert outcome.error == {"code": code_, "reason": why}
        return
    if name in SOCKETS:
        got = outcome.error["error"]
        expected = realtime_socket.error_event(error(got["message"], code=code))
        wanted = orjson.loads(expected)["error"]
        assert {k: v for k, v in got.items() if k != "event_id"} == {
            k: v for k, v in wanted.items() if k != "event_id"
        }
        return
    sample = CASES[name]
    message = outcome.error["error"]["message"]
    made = error(message, code=code)
    assert outcome.error == service.protocol(sample.dialect).render_error(made)
    assert outcome.status == service.client_status(made, sample.dialect)


def one_row(state: Upstream, k: KeyEntry, status: int) -> journal.Record:
    rows = [r for r in state.records if r.key_id == k.id]
    assert len(rows) == 1, [(r.endpoint, r.status) for r in rows]
    [row] = rows
    assert (row.key_name, row.status, row.route) == (k.name, status, "m")
    return row


# --- the declaration covers what is served, and every declaration has a sample ---------


def missing_samples() -> set[str]:
    return set(endpoints.ENDPOINTS) - set(SAMPLES) - set(SOCKETS)


def undeclared() -> set[str]:
    return served() - endpoints.every_name()


def test_every_declared_endpoint_has_a_sample_and_every_served_one_a_declaration(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert missing_samples() == set()
    assert undeclared() == set()
    # a test-only endpoint declared without a sample is caught...
    monkeypatch.setitem(endpoints.ENDPOINTS, "new_thing", Endpoint("new_thing", None, "nothing"))
    assert missing_samples() == {"new_thing"}
    # ...and so is one served without a declaration
    monkeypatch.delitem(endpoints.ENDPOINTS, "new_thing")
    monkeypatch.setitem(dialects.POST_ROUTES, "/v1/new/thing", ("new_thing", "openai"))
    assert undeclared() == {"new_thing"}


@pytest.fixture
def url_conf_restored() -> Iterator[None]:
    from django.urls import clear_url_caches

    yield
    clear_url_caches()  # (after monkeypatch put the URL conf back)


def test_every_api_path_is_declared_whatever_serves_it(
    monkeypatch: pytest.MonkeyPatch, url_conf_restored: None
) -> None:
    """What is served is derived from everything that serves a request: the edge's route
    table (its stored objects, conversations, files, batches, signed links, ``/mcp``
    declared as ``RESOURCES``), the API's sockets and the whole URL conf. Each way an API
    path could go undeclared is caught."""
    from django.http import HttpResponse
    from django.urls import clear_url_caches, path

    from console import routing
    from gateway.edge import endpoints as edge
    from gateway.server import asgi, urls

    assert undeclared() == set()
    served_now = served()
    assert set(endpoints.RESOURCES) <= served_now  # each is served, none declared idly
    # a row of the route table serving a store nobody declared...
    monkeypatch.setattr(
        edge, "ROUTES", (*edge.ROUTES, edge.Route("new", edge._mcp, edge.GatewayApp.mcp,
                                                  edge._declared("new_store")))
    )  # fmt: skip
    assert undeclared() == {"new_store"}
    # ...or an API path while saying it serves none
    monkeypatch.setattr(
        edge, "ROUTES", (*edge.ROUTES[:-1], edge.Route("new", edge._mcp, edge.GatewayApp.mcp))
    )
    assert undeclared() == {"row:new"}
    monkeypatch.undo()
    # a socket of the API without a declaration
    monkeypatch.setitem(asgi.API_SOCKETS, "/v1/new/socket", ("new_socket",))
    assert undeclared() == {"new_socket"}
    monkeypatch.undo()
    # a console socket or a Django view under an API prefix (the edge answers those paths
    # itself: nothing there is declared)

    def view(request: Any) -> HttpResponse:
        return HttpResponse()

    monkeypatch.setattr(
        routing, "websocket_urlpatterns", [*routing.websocket_urlpatterns, path("v1/tail/", view)]
    )
    assert undeclared() == {"socket:v1/tail/"}
    monkeypatch.undo()
    monkeypatch.setattr(urls, "urlpatterns", [*urls.urlpatterns, path("mcp/widgets", view)])
    clear_url_caches()
    assert undeclared() == {"django:mcp/widgets"}


def test_what_generates_nothing_is_declared_apart() -> None:
    """A name is one declaration: generating (``ENDPOINTS``, every policy of the
    pipeline) or not (``RESOURCES``, its own admission), never both."""
    assert set(endpoints.ENDPOINTS) & set(endpoints.RESOURCES) == set()
    admissions = {
        *(endpoints.KEY, endpoints.KEY_RATE, endpoints.MCP_GRANT, endpoints.A2A_GRANT),
        endpoints.SIGNED_LINK,
    }
    assert {r.admission for r in endpoints.RESOURCES.values()} <= admissions


def test_every_endpoint_is_routed_and_priced_as_declared() -> None:
    """What the pipeline derives from the declaration: every endpoint names a route
    (route.call, team bound, limits); only a count, a stored turn and a Realtime client
    secret (its session is priced as it runs) cost nothing."""
    assert all(e.routed for e in endpoints.ENDPOINTS.values())
    free = {name for name, e in endpoints.ENDPOINTS.items() if not e.billable}
    assert free == {"count_tokens", "input_tokens", "prepare", "realtime_client_secret"}
    text = {name for name, e in endpoints.ENDPOINTS.items() if e.generates_text}
    assert text == {"chat", "compact", "completions", "realtime", "gemini_live"}


# --- (a) the route's bound: the key's route list, the route's teams -------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("name", DECLARED)
async def test_a_key_outside_the_routes_bound_is_refused(name: str, upstream: Upstream) -> None:
    install(name)
    allowed = key(team=TEAM, routes=frozenset({"m"}))
    outcome = await ask(name, allowed)  # the control: the path is live
    assert outcome.status == 200, outcome.error
    assert bool(upstream.seen) == sample_of(name).upstream
    one_row(upstream, allowed, 200)
    upstream.seen.clear()
    for refused in (key(team=TEAM, routes=frozenset({"other"})), key(team=OTHER_TEAM)):
        outcome = await ask(name, refused)
        assert outcome.status == 403, outcome.error
        caller_format(name, outcome, PermissionDenied, "permission_denied")
        assert upstream.seen == []  # nothing reached the upstream
        one_row(upstream, refused, 403)


# --- (b) the rpm and the tpm ----------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("name", DECLARED)
async def test_a_key_over_its_rpm_is_refused(name: str, upstream: Upstream) -> None:
    install(name, teams=None)
    limited = key(rpm_limit=1)
    assert (await ask(name, limited)).status == 200
    upstream.seen.clear()
    outcome = await ask(name, limited)
    assert outcome.status == 429, outcome.error
    caller_format(name, outcome, RateLimited, "rate_limit_exceeded")
    assert upstream.seen == []
    assert [r.status for r in upstream.records if r.key_id == limited.id] == [200, 429]


@pytest.mark.django_db
@pytest.mark.parametrize("name", DECLARED)
async def test_a_key_over_its_tpm_is_refused(name: str, upstream: Upstream) -> None:
    """A tpm of 1: the first request passes alone (one larger than the tpm is never
    refused outright) and counts the tokens its journal row reports; the next one is
    over when there were any (a count, a stored turn, an answer of images or audio
    that reports none used none)."""
    install(name, teams=None)
    limited = key(tpm_limit=1)
    assert (await ask(name, limited)).status == 200
    [first] = [r for r in upstream.records if r.key_id == limited.id]
    used = first.input_tokens + first.output_tokens + first.cache_read_tokens
    upstream.seen.clear()
    outcome = await ask(name, limited)
    if not used:
        assert outcome.status == 200, outcome.error
        return
    assert outcome.status == 429, outcome.error
    caller_format(name, outcome, RateLimited, "rate_limit_exceeded")
    assert upstream.seen == []


# --- (c) the budget -------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("name", DECLARED)
async def test_a_spent_budget_is_refused(name: str, upstream: Upstream) -> None:
    install(name, teams=None)
    unspent = key(budget_usd=BUDGET)
    assert (await ask(name, unspent)).status == 200  # the control: the same budget, unspent
    upstream.seen.clear()
    spent = key(budget_usd=BUDGET)
    of_team = key(team=SPENT_TEAM)
    upstream.spent = {spent.id: BUDGET, -SPENT_TEAM.id: BUDGET}
    for refused in (spent, of_team):
        outcome = await ask(name, refused)
        assert outcome.status == 429, outcome.error
        caller_format(name, outcome, RateLimited, "budget_exceeded")
        assert upstream.seen == []
        one_row(upstream, refused, 429)


@pytest.mark.django_db
@pytest.mark.parametrize("name", DECLARED)
async def test_a_spent_tag_budget_is_refused(name: str, upstream: Upstream) -> None:
    """A key with no budget of its own, its request carrying a tag whose budget is spent
    (``TagBudget``), is a 429 ``budget_exceeded`` with nothing sent upstream; the control:
    the same key with a tag whose budget is unspent is answered."""
    install(name, teams=None)
    registry.current().tag_limits = {
        t.name: t for t in (TagEntry(9101, "spent-tag", None, None, BUDGET, "month"),
                            TagEntry(9102, "open-tag", None, None, BUDGET, "month"))
    }  # fmt: skip
    upstream.spent = {spend.tag_counter("spent-tag"): BUDGET}
    plain = key()
    assert (await ask(name, plain, {"x-switchyard-tags": "open-tag"})).status == 200
    upstream.seen.clear()
    outcome = await ask(name, plain, {"x-switchyard-tags": "spent-tag"})
    assert outcome.status == 429, outcome.error
    caller_format(name, outcome, RateLimited, "budget_exceeded")
    assert upstream.seen == []


# --- (d) tags and (e) the journal row -------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("name", DECLARED)
async def test_tags_land_on_the_one_journal_row_and_never_upstream(
    name: str, upstream: Upstream
) -> None:
    install(name, teams=None)
    tagged = key(tags=("from-key",))
    json_body = name in CASES and not (CASES[name].form or CASES[name].verbatim)
    outcome = await ask(
        name,
        tagged,
        {"x-switchyard-tags": "from-header"},
        body_tags=["from-body"] if json_body else [],
    )
    assert outcome.status == 200, outcome.error
    row = one_row(upstream, tagged, 200)
    wanted = ("from-key", "from-header", *(("from-body",) if json_body else ()))
    assert row.tags == wanted
    assert row.endpoint == (sample_of(name).endpoint or name)
    assert not any(b"from-body" in sent or b"from-key" in sent for sent in upstream.seen)


# --- (f) keys of every role, as the registry builds them ------------------------------------

ROLES = ("owner", "admin", "editor", "member", "viewer")


def _keys_of_every_role() -> dict[str, KeyEntry]:
    """A key owned (and minted) by a user of each role, in one team, rpm 1: the
    snapshot's entries for them, built from the database."""
    from django.contrib.auth.models import User

    from gateway.access import roles
    from gateway.models import ApiKey, Team

    team = Team.objects.create(name="matrix")
    hashes: dict[str, str] = {}
    for role in ROLES:
        user = User.objects.create_user(f"matrix-{role}", password="pw-123456789")
        roles.set_role(user, role)
        roles.assign_membership(user, team, role)
        hashes[role] = role[0] * 64
        ApiKey.objects.create(
            name=f"{role}-key", prefix=f"sy-{role}", key_hash=hashes[role], team=team,
            user=user, minted_by=user, rpm_limit=1,
        )  # fmt: skip
    built = registry.build_snapshot()
    return {role: built.keys[hashes[role]] for role in ROLES}


@pytest.mark.django_db(transaction=True)
async def test_keys_of_every_role_are_served_and_limited_alike(upstream: Upstream) -> None:
    from asgiref.sync import sync_to_async

    keys = await sync_to_async(_keys_of_every_role)()
    team_id = next(iter(keys.values())).team.id  # type: ignore[union-attr]
    seen: dict[str, list[int]] = {}
    for name in DECLARED:
        install(name, teams=frozenset({team_id}))
        limits.reset()
        for role, k in keys.items():
            statuses = [(await ask(name, k)).status, (await ask(name, k)).status]
            seen.setdefault(name, []).extend(statuses)
            assert statuses == [200, 429], (name, role)
    assert set(seen) == set(DECLARED)


# --- an endpoint nobody declared still gets every policy ------------------------------------


class _NewJob(jobs._Embeddings):
    multipart = False


@pytest.mark.django_db
async def test_an_undeclared_endpoint_gets_every_policy(upstream: Upstream) -> None:
    """A job served without a declaration (a feature's, registered by mistake) is
    held to every policy, never fewer: the route's bound, the rpm and the journal."""
    registry.install(snapshot(dataclasses.replace(route("m", "up"), teams=frozenset({TEAM.id}))))
    hooks.endpoint_jobs.register("new_thing", _NewJob)
    try:
        raw, _ = SAMPLES["embeddings"].body("hi")

        async def ask_new(k: KeyEntry) -> int:
            reply = await service.handle("new_thing", "openai", raw, {}, Caller(key=k))
            assert not isinstance(reply, StreamReply)
            return reply.status

        limited = key(team=TEAM, rpm_limit=1)
        assert [await ask_new(limited), await ask_new(limited)] == [200, 429]
        assert await ask_new(key(team=OTHER_TEAM)) == 403
        rows = [r for r in upstream.records if r.endpoint == "new_thing"]
        assert [r.status for r in rows] == [200, 429, 403]
    finally:
        hooks.endpoint_jobs._entries.pop("new_thing")


# --- the budget hold follows the declared cost ----------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("name", [n for n in HTTP if declaration(n).billable])
async def test_a_budget_hold_follows_the_declared_cost(name: str, upstream: Upstream) -> None:
    """A budgeted key on a priced model with no known output ceiling: an endpoint that
    generates text is refused (``max_tokens_required``: never held at a guess), with
    nothing sent upstream; one priced otherwise (images, audio, vectors, scores) holds
    the flat reservation and is answered (so is a request naming its own ceiling). Read
    from the declaration, also for a job
    answering for another endpoint's (a Gemini client's image output is not chat)."""
    made = sample_route(CASES[name])
    priced = tuple(
        dataclasses.replace(d, input_price=Decimal(1), output_price=Decimal(1))
        for d in made.deployments
    )
    registry.install(snapshot(dataclasses.replace(made, deployments=priced)))
    budgeted = key(budget_usd=Decimal(100))
    outcome = await ask(name, budgeted)
    bounded = b'"max_tokens"' in CASES[name].body("hi")[0]  # (Anthropic's is required)
    if declaration(name).generates_text and not bounded:
        assert outcome.status == 400 and upstream.seen == [], outcome.error
        assert outcome.error is not None and "max_tokens" in outcome.error["error"]["message"]
    else:
        assert outcome.status == 200, outcome.error
    one_row(upstream, budgeted, outcome.status)


# --- what a request stores is its key's alone ------------------------------------------------

# each kind of object an endpoint declares it stores (``Endpoint.owns``) -> the test that
# another key asking for one of them finds nothing
OWNED_BY_THE_KEY = {
    "response": "tests/gateway/features/responses/test_state.py::"
    "test_another_key_sees_nothing_and_gets_the_unknown_id_404",
    "interaction": "tests/gateway/features/interactions/test_service.py::"
    "test_another_keys_interaction_is_a_404_and_cannot_be_continued",
    "conversation": "tests/gateway/features/responses/test_conversations.py::"
    "test_another_keys_conversation_is_not_found",
    "image_file": "tests/gateway/access/test_authorization_matrix.py::"
    "test_a_signed_file_link_is_its_own_credential_and_its_keys_alone",
    "file": "tests/gateway/access/test_authorization_matrix.py::"
    "test_files_and_batches_are_their_keys_own",
    "batch": "tests/gateway/access/test_authorization_matrix.py::"
    "test_files_and_batches_are_their_keys_own",
    "mcp_session": "tests/gateway/features/mcp/test_sessions.py::test_another_keys_session_is_unknown",
    "a2a_task": "tests/gateway/features/a2a/test_live_a2a.py::test_another_teams_key_finds_no_task",
}


def test_every_stored_object_kind_has_its_cross_key_test() -> None:
    """A new kind of stored object (a new ``owns``) fails here until a test shows that
    another key cannot read it (IDOR)."""
    root = Path(__file__).resolve().parents[3]
    declared = {kind for e in endpoints.ENDPOINTS.values() for kind in e.owns}
    declared |= {kind for r in endpoints.RESOURCES.values() for kind in r.owns}
    assert declared == set(OWNED_BY_THE_KEY)
    for where in OWNED_BY_THE_KEY.values():
        path, test = where.split("::")
        assert f"def {test}(" in (root / path).read_text(), where
