"""The semantic cache through the official SDKs, in process (the gateway's ASGI app; a
mock OpenAI upstream through ``httpx.MockTransport`` answering chat and embeddings with
deterministic vectors): a paraphrase above the threshold is a hit, streamed or not, with
no chat call upstream and a journal row saying its similarity and what it saved; below
the threshold is a miss; another key or another team never sees the entry; an expired
entry is not served; an Anthropic client gets the answer in its own dialect; an entry
kept by one process is found by another through the store."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import math
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import anthropic
import httpx
import httpx2
import openai
import orjson
import pytest

from gateway import journal
from gateway.access import registry
from gateway.base import background, http, lifecycle
from gateway.base.entries import KeyEntry, TeamEntry
from gateway.base.types import ChatResponse, Text, Usage
from gateway.core import cache
from gateway.edge import endpoints
from gateway.features.semantic_cache import announce, index, plugin
from gateway.models import SemanticCacheEntry
from tests.gateway.entries import deployment, route, snapshot

MASTER_KEY = "sy-master-semantic-test-0123456789"
ALICE, BOB, CAROL = "sy-alice-semantic-0123456789", "sy-bob-semantic-0123456789", "sy-carol-0123"
TEAM = TeamEntry(7, "search", None, None, None, "total")
OTHER_TEAM = TeamEntry(8, "billing", None, None, None, "total")

ASKED = "What is the capital of France?"
PARAPHRASE = "Which city is France's capital?"
UNRELATED = "What is the capital of Germany?"
# what the mock embeds for a text holding each phrase (cosine to ASKED: 1, 0.97, 0.6)
VECTORS = {
    ASKED: [1.0, 0.0, 0.0, 0.0],
    PARAPHRASE: [0.97, math.sqrt(1 - 0.97**2), 0.0, 0.0],
    UNRELATED: [0.6, 0.0, 0.8, 0.0],
}
ANSWER_TEXT = "Paris is the capital of France."


def chat_answer() -> dict[str, Any]:
    return {
        "id": "c1", "object": "chat.completion", "created": 1, "model": "up-chat",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": ANSWER_TEXT},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500},
    }  # fmt: skip


def chat_stream() -> bytes:
    base = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "up-chat"}
    chunks = [
        {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]},
        *(
            {**base, "choices": [{"index": 0, "delta": {"content": word}}]}
            for word in ("Paris is ", "the capital ", "of France.")
        ),
        {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {**base, "choices": [], "usage": chat_answer()["usage"]},
    ]
    return b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"


class Upstream:
    def __init__(self) -> None:
        self.chats: list[dict[str, Any]] = []
        self.embedded: list[str] = []
        self.embeddings_down = False

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = orjson.loads(request.content)
        if request.url.path.endswith("/embeddings"):
            text = body["input"]
            self.embedded.append(text)
            if self.embeddings_down:
                return httpx.Response(503, json={"error": {"message": "overloaded"}})
            vector = next((v for k, v in VECTORS.items() if k in text), [0.0, 0.0, 0.0, 1.0])
            return httpx.Response(
                200,
                json={
                    "object": "list",
                    "data": [{"object": "embedding", "index": 0, "embedding": vector}],
                    "model": body["model"],
                    "usage": {"prompt_tokens": 8, "total_tokens": 8},
                },
            )
        self.chats.append(body)
        if body.get("stream"):
            return httpx.Response(
                200, headers={"content-type": "text/event-stream"}, content=chat_stream()
            )
        return httpx.Response(200, json=chat_answer())


def key(id_: int, name: str, team: TeamEntry | None) -> KeyEntry:
    return KeyEntry(id_, name, name[:8], None, None, None, None, "total", None, False, team=team)


def semantic(scope: str = "key", ttl: int = 300, **more: Any) -> Any:
    chat = dataclasses.replace(
        route("faq", "up-chat", max_attempts=1),
        deployments=(
            deployment("faq", "up-chat", input_price=Decimal(2), output_price=Decimal(8)),
        ),
    )
    return dataclasses.replace(
        chat,
        semantic_cache_ttl=ttl,
        semantic_cache_threshold=0.95,
        semantic_cache_scope=scope,
        semantic_cache_route="embedder",
        **more,
    )


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch, snapshot_reset, settings) -> Iterator[Any]:
    settings.SWITCHYARD_MASTER_KEY = MASTER_KEY
    settings.REDIS_URL = ""

    async def started() -> None:
        return None

    monkeypatch.setattr(lifecycle, "ensure_started", started)
    recorded: list[journal.Record] = []
    monkeypatch.setattr(journal, "record", recorded.append)
    upstream = Upstream()
    http.use_transport(httpx.MockTransport(upstream))
    index.reset()
    cache.reset()

    def install(faq: Any) -> None:
        embedder = dataclasses.replace(
            route("embedder", "text-embedding-3-small", max_attempts=1),
            deployments=(
                deployment("embedder", "text-embedding-3-small", input_price=Decimal("0.02")),
            ),
        )
        snap = snapshot(faq, embedder)
        for raw, entry in (
            (ALICE, key(1, "alice", TEAM)),
            (BOB, key(2, "bob", TEAM)),
            (CAROL, key(3, "carol", OTHER_TEAM)),
        ):
            snap.keys[hashlib.sha256(raw.encode()).hexdigest()] = entry
        registry.install(snap)

    install(semantic())
    yield upstream, recorded, install
    http.use_transport(None)
    index.reset()


def app_client() -> httpx.AsyncClient:
    app = endpoints.GatewayApp(django_app=None)  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw")


def sdk(api_key: str = MASTER_KEY) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url="http://gw/v1", api_key=api_key, http_client=app_client(), max_retries=0
    )


async def ask(text: str, api_key: str = MASTER_KEY) -> tuple[str, str]:
    """(the answer's text, the x-switchyard-cache header); the index filled after."""
    raw = await sdk(api_key).chat.completions.with_raw_response.create(
        model="faq", messages=[{"role": "user", "content": text}]
    )
    answer = raw.parse()
    await settle()
    return answer.choices[0].message.content or "", raw.headers.get("x-switchyard-cache", "")


async def settle() -> None:
    """Let the background loads and writes end (a refresh is due at once in tests)."""
    await background.done()


def chat_rows(recorded: list[journal.Record]) -> list[journal.Record]:
    return [r for r in recorded if r.endpoint == "chat"]


@pytest.fixture(autouse=True)
def _refresh_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHYARD_SEMANTIC_CACHE_REFRESH", "0")


@pytest.mark.django_db(transaction=True)
async def test_a_paraphrase_above_the_threshold_is_a_hit_and_says_what_it_saved(gateway):
    upstream, recorded, _ = gateway
    assert await ask(ASKED) == (ANSWER_TEXT, "miss")
    assert len(upstream.chats) == 1
    text, header = await ask(PARAPHRASE)
    assert (text, header) == (ANSWER_TEXT, "hit")
    assert len(upstream.chats) == 1  # answered without a chat call upstream
    assert len(upstream.embedded) == 2  # each request embedded once, by the embedding route
    hit = chat_rows(recorded)[-1]
    assert hit.cache_hit and hit.cost_usd == 0
    assert hit.cache_similarity == pytest.approx(0.97, abs=1e-4)
    # the answer cost 1000 input tokens at $2/M and 500 output at $8/M when it was made
    assert hit.cache_hit_saved_usd == Decimal("0.006")
    embeddings = [r for r in recorded if r.endpoint == "embeddings"]
    assert len(embeddings) == 2 and all(r.route == "embedder" for r in embeddings)
    assert all(r.key_name == "master" or r.key_id is None for r in embeddings)  # the caller's
    assert all(r.cost_usd > 0 for r in embeddings)  # charged like any embedding call
    kept = SemanticCacheEntry.objects.filter(route="faq", scope="key:master")
    assert await kept.acount() == 1


@pytest.mark.django_db(transaction=True)
async def test_below_the_threshold_is_a_miss(gateway):
    upstream, recorded, _ = gateway
    await ask(ASKED)
    assert await ask(UNRELATED) == (ANSWER_TEXT, "miss")
    assert len(upstream.chats) == 2
    assert chat_rows(recorded)[-1].cache_similarity is None


@pytest.mark.django_db(transaction=True)
async def test_a_streamed_paraphrase_is_replayed_as_a_stream(gateway):
    upstream, recorded, _ = gateway
    stream = await sdk().chat.completions.create(
        model="faq", messages=[{"role": "user", "content": ASKED}], stream=True
    )
    live = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    await settle()
    assert live == ANSWER_TEXT and len(upstream.chats) == 1
    stream = await sdk().chat.completions.create(
        model="faq",
        messages=[{"role": "user", "content": PARAPHRASE}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [c async for c in stream]
    replayed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finishes = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert replayed == ANSWER_TEXT and finishes == ["stop"]
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 500
    assert len(upstream.chats) == 1
    assert chat_rows(recorded)[-1].cache_hit


@pytest.mark.django_db(transaction=True)
async def test_another_key_never_sees_a_key_scoped_entry(gateway):
    upstream, _, _ = gateway
    await ask(ASKED, ALICE)
    assert (await ask(PARAPHRASE, ALICE))[1] == "hit"
    assert (await ask(PARAPHRASE, BOB))[1] == "miss"  # same team, another key
    assert (await ask(PARAPHRASE, MASTER_KEY))[1] == "miss"
    assert len(upstream.chats) == 3


@pytest.mark.django_db(transaction=True)
async def test_a_team_scope_shares_within_the_team_only(gateway):
    upstream, _, install = gateway
    install(semantic("team"))
    await ask(ASKED, ALICE)
    assert (await ask(PARAPHRASE, BOB))[1] == "hit"  # Alice's team mate
    assert (await ask(PARAPHRASE, CAROL))[1] == "miss"  # another team
    assert len(upstream.chats) == 2
    scopes = {s async for s in SemanticCacheEntry.objects.values_list("scope", flat=True)}
    assert scopes == {"team:7", "team:8"}


@pytest.mark.django_db(transaction=True)
async def test_an_expired_entry_is_not_served(gateway, monkeypatch):
    upstream, _, install = gateway
    install(semantic(ttl=30))
    await ask(ASKED)
    later = index.now() + 31
    monkeypatch.setattr(index, "now", lambda: later)
    assert (await ask(PARAPHRASE))[1] == "miss"
    assert len(upstream.chats) == 2


@pytest.mark.django_db(transaction=True)
async def test_another_process_finds_the_entry_in_the_store_but_never_an_expired_one(gateway):
    upstream, _, _ = gateway
    await ask(ASKED)
    index.reset()  # a process that never saw it: its first ask loads the index
    # (that load on its own: beside the first ask's own write, SQLite's shared-cache
    # test database answers "table is locked", which a file database in WAL never does)
    plugin._index("faq", "key:master")
    await settle()
    assert (await ask(UNRELATED))[1] == "miss"
    assert (await ask(PARAPHRASE))[1] == "hit"
    await SemanticCacheEntry.objects.aupdate(expires_at="2000-01-01T00:00:00Z")
    index.reset()
    await ask(UNRELATED)  # loads: the expired rows are not read
    loaded = index.peek("faq", "key:master")
    assert loaded is not None and {e.answer for e in loaded.entries} <= {
        e.answer for e in loaded.entries if e.expires_at > index.now()
    }
    assert (await ask(PARAPHRASE))[1] == "miss"


@pytest.mark.django_db(transaction=True)
async def test_an_anthropic_client_gets_the_answer_in_its_own_dialect(gateway):
    upstream, recorded, _ = gateway
    await ask(ASKED)
    app = endpoints.GatewayApp(django_app=None)  # type: ignore[arg-type]
    on_httpx2 = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://gw")
    client = anthropic.AsyncAnthropic(
        base_url="http://gw", api_key=MASTER_KEY, http_client=on_httpx2, max_retries=0
    )
    message = await client.messages.create(
        model="faq", max_tokens=100, messages=[{"role": "user", "content": PARAPHRASE}]
    )
    assert message.type == "message" and message.stop_reason == "end_turn"
    assert message.content[0].type == "text" and message.content[0].text == ANSWER_TEXT
    async with client.messages.stream(
        model="faq", max_tokens=100, messages=[{"role": "user", "content": PARAPHRASE}]
    ) as stream:
        streamed = await stream.get_final_message()
    assert streamed.content[0].text == ANSWER_TEXT
    assert len(upstream.chats) == 1
    assert [r.cache_hit for r in chat_rows(recorded)] == [False, True, True]


@pytest.mark.django_db(transaction=True)
async def test_requests_with_tools_or_in_other_dialects_are_left_alone(gateway):
    upstream, _, install = gateway
    await ask(ASKED)
    tool = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}
    await sdk().chat.completions.create(
        model="faq", messages=[{"role": "user", "content": PARAPHRASE}], tools=[tool]
    )
    assert len(upstream.chats) == 2 and len(upstream.embedded) == 1  # not even embedded
    install(semantic(semantic_cache_dialects=frozenset({"anthropic"})))
    assert (await ask(PARAPHRASE))[1] == ""  # OpenAI chat is not among its dialects: not asked
    assert len(upstream.embedded) == 1


@pytest.mark.django_db(transaction=True)
async def test_an_embedding_route_that_fails_is_a_miss_never_the_requests_error(gateway):
    upstream, recorded, _ = gateway
    upstream.embeddings_down = True
    assert await ask(ASKED) == (ANSWER_TEXT, "miss")  # answered upstream
    assert await ask(ASKED) == (ANSWER_TEXT, "miss")  # and nothing was kept
    assert len(upstream.chats) == 2 and await SemanticCacheEntry.objects.acount() == 0
    failed = [r for r in recorded if r.endpoint == "embeddings"]
    assert failed and all(r.status >= 500 for r in failed)  # journaled as the key's calls
    assert all(r.status == 200 for r in chat_rows(recorded))


@pytest.mark.django_db(transaction=True)
async def test_no_store_neither_reads_nor_keeps(gateway):
    upstream, _, _ = gateway
    await sdk().chat.completions.create(
        model="faq",
        messages=[{"role": "user", "content": ASKED}],
        extra_headers={"Cache-Control": "no-store"},
    )
    await settle()
    assert not upstream.embedded and await SemanticCacheEntry.objects.acount() == 0


@pytest.mark.django_db(transaction=True)
async def test_with_redis_an_entry_kept_by_another_process_is_heard_at_once(
    gateway, settings, monkeypatch
):
    """With REDIS_URL, an entry another process keeps is announced: this process serves
    it without waiting for its index's refresh from the store (set to an hour here)."""
    from tests.gateway.conftest import REDIS_URL
    from tests.own_redis import redis_up

    if not redis_up():
        pytest.skip("Redis is not running")
    upstream, _, _ = gateway
    settings.REDIS_URL = REDIS_URL
    monkeypatch.setattr(announce, "CHANNEL", f"switchyard-test:semantic:{uuid.uuid4().hex}")
    monkeypatch.setenv("SWITCHYARD_SEMANTIC_CACHE_REFRESH", "3600")
    announce.reset()
    try:
        await ask(UNRELATED)  # this process's index of (faq, key:master), and its listener
        vector = index.unit(VECTORS[ASKED])
        assert vector is not None
        answer = cache.codec.encode(
            ChatResponse("r1", "up-chat", parts=[Text("Announced: Paris.")], usage=Usage(3, 4))
        )
        elsewhere = index.Entry(10_000, vector, index.now() + 300, answer, Decimal("0.001"))
        for _ in range(50):  # the subscription is up once a publish reaches it
            await announce.publish("faq", "key:master", elsewhere)
            await asyncio.sleep(0.1)
            found = index.peek("faq", "key:master")
            if found is not None and 10_000 in found.ids:
                break
        assert await ask(PARAPHRASE) == ("Announced: Paris.", "hit")
        assert len(upstream.chats) == 1  # UNRELATED's only
    finally:
        for task in list(lifecycle._tasks):
            if task.get_name() == "semantic-cache-news":
                task.cancel()
                lifecycle._tasks.remove(task)
        announce.reset()
