"""The semantic cache across instances (issue #65): two Switchyard processes on one
PostgreSQL database and one Redis, a route that caches semantically per team. An answer
kept through instance A is a semantic hit on instance B for a paraphrase asked with
another key of the same team (its entry announced on Redis to B's index, no second
chat upstream), streamed to an Anthropic client in Anthropic's own events; a key of
another team asking the same on either instance is a miss. Needs the local PostgreSQL
and Redis; the upstream is the mock on 127.0.0.1, its embeddings a fixed vector per
phrase (cosine to the question: 1, 0.97, 0.6)."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.live import Gateway, running_gateway

from .mock_upstream import MockUpstream, Reply

pytestmark = pytest.mark.services

ALICE = "sy-alice-semantic-live-0123456789abcdef"  # team "search"
BOB = "sy-bob-semantic-live-0123456789abcdefgh"  # team "search"
CAROL = "sy-carol-semantic-live-0123456789abcdef"  # team "billing"

ASKED = "What is the capital of France?"
PARAPHRASE = "Which city is France's capital?"
UNRELATED = "What is the capital of Germany?"
WARM_UP = "Good morning"
VECTORS = {
    ASKED: [1.0, 0.0, 0.0, 0.0],
    PARAPHRASE: [0.97, math.sqrt(1 - 0.97**2), 0.0, 0.0],
    UNRELATED: [0.6, 0.0, 0.8, 0.0],
}
ANSWER = "Paris is the capital of France."

SETUP = """
from gateway.models import ApiKey, Deployment, Provider, Route, Team
p = Provider(name="mock", kind="openai", base_url="{url}/v1")
p.set_secret("sk-mock-0123456789abcdef")
p.save()
embedder = Route.objects.create(name="embedder", max_attempts=1)
Deployment.objects.create(route=embedder, provider=p, model="text-embedding-3-small")
faq = Route.objects.create(
    name="faq", max_attempts=1, semantic_cache_ttl=300, semantic_cache_threshold=0.95,
    semantic_cache_scope="team", semantic_cache_route="embedder",
)
Deployment.objects.create(route=faq, provider=p, model="up-chat")
search = Team.objects.create(name="search")
billing = Team.objects.create(name="billing")
for name, raw, team in (
    ("alice", "{alice}", search), ("bob", "{bob}", search), ("carol", "{carol}", billing)
):
    ApiKey.objects.create(name=name, prefix=raw[:10], key_hash=ApiKey.hash_key(raw), team=team)
"""


def embedding(text: str) -> list[float]:
    return next((v for k, v in VECTORS.items() if k in text), [0.0, 0.0, 0.0, 1.0])


@pytest.fixture(scope="module")
def pair(
    tmp_path_factory: pytest.TempPathFactory,
    database_url: str,
    redis_url: str,
) -> Iterator[tuple[Gateway, Gateway, MockUpstream, str]]:
    mock = MockUpstream().start()
    mock.embedding = embedding
    mock.default = lambda seen: Reply(text=ANSWER)
    env = {"DATABASE_URL": database_url, "REDIS_URL": redis_url}
    setup = SETUP.format(url=mock.url, alice=ALICE, bob=BOB, carol=CAROL)
    try:
        with (
            running_gateway(
                tmp_path_factory.mktemp("a"),
                env=env,
                seed=False,
                setup=[["shell", "-c", setup]],
            ) as a,
            running_gateway(tmp_path_factory.mktemp("b"), env=env, seed=False) as b,
        ):
            yield a, b, mock, redis_url
    finally:
        mock.stop()


def ask(gateway: Gateway, key: str, text: str) -> httpx.Response:
    return httpx.post(
        gateway.url + "/v1/chat/completions",
        headers={"Authorization": f"Bearer {key}"},
        json={"model": "faq", "messages": [{"role": "user", "content": text}]},
        timeout=15,
    )


def ask_anthropic_streamed(gateway: Gateway, key: str, text: str) -> httpx.Response:
    return httpx.post(
        gateway.url + "/v1/messages",
        headers={"x-api-key": key, "anthropic-version": "2023-06-01"},
        json={
            "model": "faq",
            "max_tokens": 100,
            "stream": True,
            "messages": [{"role": "user", "content": text}],
        },
        timeout=15,
    )


def answer_of(reply: httpx.Response) -> str:
    return str(reply.json()["choices"][0]["message"]["content"])


def chats(mock: MockUpstream) -> int:
    return len(mock.chat_requests())


def until_hit(gateway: Gateway, key: str, text: str, timeout: float = 10) -> None:
    """Ask until the answer is a hit (the process kept its own answer: its write done)."""
    deadline = time.monotonic() + timeout
    while ask(gateway, key, text).headers.get("x-switchyard-cache") != "hit":
        assert time.monotonic() < deadline, gateway.log()
        time.sleep(0.1)


class Announcements:
    """The semantic cache's Redis channel, listened to by the test as each instance
    listens: an entry announced has reached every subscriber."""

    def __init__(self, url: str) -> None:
        import redis

        from gateway.features.semantic_cache.announce import CHANNEL

        self.client: Any = redis.Redis.from_url(url)
        self.channel = CHANNEL
        client: Any = self.client
        self.pubsub: Any = client.pubsub()
        self.pubsub.subscribe(CHANNEL)
        self.pubsub.get_message(timeout=2)  # the subscription's confirmation

    def wait_for_listeners(self, count: int, timeout: float = 20) -> None:
        """Until ``count`` connections (this one included) are subscribed: an instance
        subscribes in the background once it first looks something up."""
        deadline = time.monotonic() + timeout
        while dict(self.client.pubsub_numsub(self.channel)).get(self.channel.encode(), 0) < count:
            assert time.monotonic() < deadline, "an instance never listened for the news"
            time.sleep(0.05)

    def wait(self, route: str, timeout: float = 10) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = self.pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
            if message is not None:
                data = json.loads(message["data"])
                if data["route"] == route:
                    return dict(data)
        pytest.fail("no semantic cache entry was announced")

    def close(self) -> None:
        self.pubsub.close()


def test_an_answer_kept_through_one_instance_is_a_semantic_hit_on_the_other_for_its_team(
    pair: tuple[Gateway, Gateway, MockUpstream, str],
) -> None:
    a, b, mock, url = pair
    # B asks once for the team first: its index of (faq, team) exists and B listens to
    # the announcements (an index is loaded, and the listener started, when first asked)
    warm = ask(b, ALICE, WARM_UP)
    assert warm.status_code == 200, b.log()
    until_hit(b, ALICE, WARM_UP)

    news = Announcements(url)
    try:
        news.wait_for_listeners(2)  # B and this test
        before = chats(mock)
        first = ask(a, ALICE, ASKED)
        assert first.status_code == 200, a.log()
        assert first.headers["x-switchyard-cache"] == "miss" and answer_of(first) == ANSWER
        assert chats(mock) == before + 1
        announced = news.wait("faq")
    finally:
        news.close()
    assert announced["scope"].startswith("team:")
    time.sleep(1.0)  # B's listener reads the same message (a loaded machine: some slack)

    # another key of the same team, on the other instance, a paraphrase: a hit
    hit = ask(b, BOB, PARAPHRASE)
    assert hit.status_code == 200, b.log()
    assert hit.headers["x-switchyard-cache"] == "hit", b.log()
    assert answer_of(hit) == ANSWER
    assert chats(mock) == before + 1  # no chat upstream for it

    # streamed to an Anthropic client, in Anthropic's events, from B's index
    streamed = ask_anthropic_streamed(b, BOB, PARAPHRASE)
    assert streamed.status_code == 200, b.log()
    assert streamed.headers["x-switchyard-cache"] == "hit"
    assert streamed.headers["content-type"].startswith("text/event-stream")
    events = [line[7:] for line in streamed.text.split("\n") if line.startswith("event: ")]
    assert events[0] == "message_start" and events[-1] == "message_stop", events
    data = [json.loads(line[6:]) for line in streamed.text.split("\n") if line[6:7] == "{"]
    text = "".join(
        d["delta"].get("text", "") for d in data if d.get("type") == "content_block_delta"
    )
    assert text == ANSWER
    assert chats(mock) == before + 1

    # too far from the question: a miss, answered upstream
    far = ask(b, BOB, UNRELATED)
    assert far.headers["x-switchyard-cache"] == "miss" and chats(mock) == before + 2


def test_another_teams_key_never_gets_the_entry_on_either_instance(
    pair: tuple[Gateway, Gateway, MockUpstream, str],
) -> None:
    a, b, mock, _ = pair
    until_hit(a, ALICE, ASKED)  # the team's entry is there (kept by the test above or now)
    for gateway in (a, b):
        before = chats(mock)
        reply = ask(gateway, CAROL, PARAPHRASE if gateway is a else ASKED)
        assert reply.status_code == 200, gateway.log()
        assert reply.headers["x-switchyard-cache"] == "miss", gateway.log()
        assert chats(mock) == before + 1
    streamed = ask_anthropic_streamed(b, CAROL, UNRELATED)
    assert streamed.status_code == 200 and streamed.headers["x-switchyard-cache"] == "miss"
