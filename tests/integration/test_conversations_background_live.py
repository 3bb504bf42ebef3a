"""OpenAI Conversations and background Responses end to end: a real server with two
workers, the official ``openai`` SDK, routes on a mock OpenAI-compatible and a mock
Anthropic upstream.

Covered: conversations CRUD and item paging (newest first, ``limit``/``after``, the
SDK's cursor), ``responses.create(conversation=...)`` across turns on both upstreams
(the history sent upstream, the turns appended), another key's conversation a 404;
background: queued -> completed by polling, cancel (and cancelling again), the stream
replayed and resumed from ``starting_after`` with contiguous sequence numbers while it
runs, and a response whose server was killed mid-run completed by the next server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.live import running_gateway

from .conftest import Stack, setup_code
from .mock_upstream import MockUpstream, Reply
from .test_native_batches_live import kill_hard

ALICE_KEY = "sy-alice-0123456789abcdefghijklmnop"
BOB_KEY = "sy-bob-0123456789abcdefghijklmnopqr"
KEYS_SETUP = f"""
from gateway.models import ApiKey
for name, raw in (("alice", "{ALICE_KEY}"), ("bob", "{BOB_KEY}")):
    ApiKey.objects.create(name=name, prefix=raw[:10], key_hash=ApiKey.hash_key(raw))
"""
ROUTES = ["mock-gpt", "mock-claude"]
ENV = {"SWITCHYARD_BACKGROUND_LEASE_SECONDS": "1"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    mock = MockUpstream().start()
    try:
        with running_gateway(
            tmp_path_factory.mktemp("gateway"),
            setup=[
                ["shell", "-c", setup_code(mock.url, "http://127.0.0.1:9")],
                ["shell", "-c", KEYS_SETUP],
            ],
            env=ENV,
            workers=2,
        ) as gw:
            yield Stack(gw=gw, mock=mock, key=ALICE_KEY)
    finally:
        mock.stop()


@pytest.fixture
def mock(stack: Stack) -> Iterator[MockUpstream]:
    stack.mock.reset()
    yield stack.mock
    stack.mock.reset()


def client(stack: Stack, key: str = ALICE_KEY) -> openai.OpenAI:
    return stack.openai(key=key)


def user(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": text}


def texts_sent(route: str, body: dict[str, Any]) -> list[tuple[str, str]]:
    """(role, text) of every message the upstream received, system aside."""
    out = []
    for message in body["messages"]:
        content = message.get("content")
        if isinstance(content, list):
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        if message["role"] not in ("system", "developer") and content:
            out.append((message["role"], content))
    return out


def wait_status(c: openai.OpenAI, response_id: str, wanted: set[str], seconds: float = 30) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        response = c.responses.retrieve(response_id)
        if response.status in wanted:
            return response
        assert time.monotonic() < deadline, f"still {response.status}"
        time.sleep(0.1)


# --- conversations ------------------------------------------------------------------------


def test_conversations_crud_and_item_paging(stack: Stack) -> None:
    c = client(stack)
    conv = c.conversations.create(
        items=[user(f"line {n}") for n in range(3)], metadata={"topic": "demo"}
    )
    assert conv.id.startswith("conv_") and conv.object == "conversation"
    assert conv.metadata == {"topic": "demo"}

    again = client(stack).conversations.retrieve(conv.id)  # maybe on the other worker
    assert again.id == conv.id and again.created_at == conv.created_at
    updated = c.conversations.update(conv.id, metadata={"topic": "changed", "n": "2"})
    assert updated.metadata == {"topic": "changed", "n": "2"}
    assert c.conversations.retrieve(conv.id).metadata == {"topic": "changed", "n": "2"}

    added = c.conversations.items.create(conv.id, items=[user("line 3"), user("line 4")])
    assert [i.content[0].text for i in added.data] == ["line 3", "line 4"]

    page = c.conversations.items.list(conv.id, limit=2)
    assert [i.content[0].text for i in page.data] == ["line 4", "line 3"]  # newest first
    assert page.has_more and page.last_id == page.data[-1].id
    every = [i.content[0].text for i in page]  # the SDK follows ``after``
    assert every == [f"line {n}" for n in (4, 3, 2, 1, 0)]
    oldest = c.conversations.items.list(conv.id, order="asc", limit=3)
    assert [i.content[0].text for i in oldest.data] == ["line 0", "line 1", "line 2"]
    after = c.conversations.items.list(conv.id, order="asc", after=oldest.data[1].id)
    assert [i.content[0].text for i in after.data] == ["line 2", "line 3", "line 4"]
    assert not after.has_more

    item = c.conversations.items.retrieve(oldest.data[0].id, conversation_id=conv.id)
    assert item.type == "message" and item.role == "user" and item.content[0].text == "line 0"
    left = c.conversations.items.delete(oldest.data[0].id, conversation_id=conv.id)
    assert left.id == conv.id and left.object == "conversation"
    assert len(c.conversations.items.list(conv.id).data) == 4
    with pytest.raises(openai.NotFoundError):
        c.conversations.items.retrieve(oldest.data[0].id, conversation_id=conv.id)

    with pytest.raises(openai.BadRequestError):
        c.conversations.items.list(conv.id, limit=101)
    deleted = c.conversations.delete(conv.id)
    assert deleted.deleted is True and deleted.id == conv.id
    with pytest.raises(openai.NotFoundError):
        c.conversations.retrieve(conv.id)
    with pytest.raises(openai.NotFoundError):
        c.conversations.items.list(conv.id)


@pytest.mark.parametrize("route", ROUTES)
def test_responses_continue_and_extend_a_conversation(
    stack: Stack, mock: MockUpstream, route: str
) -> None:
    c = client(stack)
    conv = c.conversations.create(items=[user("My name is Ada.")])
    mock.queue(Reply(text="Hello Ada."), Reply(text="Your name is Ada."))

    first = c.responses.create(model=route, conversation=conv.id, input="Greet me.")
    assert first.output_text == "Hello Ada." and first.conversation.id == conv.id
    assert texts_sent(route, mock.last.body) == [
        ("user", "My name is Ada."),
        ("user", "Greet me."),
    ] or texts_sent(route, mock.last.body) == [("user", "My name is Ada.Greet me.")]

    with client(stack).responses.stream(  # streamed, maybe on the other worker
        model=route, conversation={"id": conv.id}, input="What is my name?"
    ) as stream:
        second = stream.get_final_response()
    assert second.output_text == "Your name is Ada."
    sent = "".join(text for _, text in texts_sent(route, mock.last.body))
    assert sent == "My name is Ada.Greet me.Hello Ada.What is my name?"
    assert [role for role, _ in texts_sent(route, mock.last.body)][-2] == "assistant"

    items = list(c.conversations.items.list(conv.id, order="asc"))
    kinds = [(i.role, i.content[0].text) for i in items]
    assert kinds == [
        ("user", "My name is Ada."),
        ("user", "Greet me."),
        ("assistant", "Hello Ada."),
        ("user", "What is my name?"),
        ("assistant", "Your name is Ada."),
    ]
    assert items[2].id == first.output[0].id  # the output items as the response had them
    stored = c.responses.retrieve(second.id)
    assert stored.conversation.id == conv.id


def test_another_keys_conversation_is_a_404(stack: Stack, mock: MockUpstream) -> None:
    conv = client(stack).conversations.create(items=[user("secret")])
    bob = client(stack, BOB_KEY)
    for attempt in (
        lambda: bob.conversations.retrieve(conv.id),
        lambda: bob.conversations.update(conv.id, metadata={"x": "y"}),
        lambda: bob.conversations.delete(conv.id),
        lambda: bob.conversations.items.list(conv.id),
        lambda: bob.conversations.items.create(conv.id, items=[user("mine now")]),
        lambda: bob.responses.create(model="mock-gpt", conversation=conv.id, input="hi"),
        lambda: bob.responses.create(
            model="mock-gpt", conversation=conv.id, input="hi", background=True
        ),
    ):
        with pytest.raises(openai.NotFoundError):
            attempt()
    assert mock.chat_requests() == []  # nothing reached the upstream
    assert len(client(stack).conversations.items.list(conv.id).data) == 1
    with pytest.raises(openai.BadRequestError):  # both at once: refused as OpenAI does
        client(stack).responses.create(
            model="mock-gpt", conversation=conv.id, previous_response_id="resp_x", input="hi"
        )


# --- background ------------------------------------------------------------------------------


@pytest.mark.parametrize("route", ROUTES)
def test_background_response_is_queued_then_completed(
    stack: Stack, mock: MockUpstream, route: str
) -> None:
    mock.queue(Reply(text="Done in the background.", delay=0.5))
    c = client(stack)
    queued = c.responses.create(model=route, input="Take your time.", background=True)
    assert queued.status == "queued" and queued.background is True and queued.output == []
    seen = {queued.status}
    deadline = time.monotonic() + 30
    while (now := c.responses.retrieve(queued.id)).status != "completed":
        seen.add(now.status)
        assert time.monotonic() < deadline and now.status in ("queued", "in_progress")
        time.sleep(0.05)
    assert "in_progress" in seen
    assert now.id == queued.id and now.background is True
    assert now.output_text == "Done in the background." and now.usage.output_tokens == 7
    with pytest.raises(openai.NotFoundError):
        client(stack, BOB_KEY).responses.retrieve(queued.id)
    with pytest.raises(openai.NotFoundError):
        client(stack, BOB_KEY).responses.cancel(queued.id)
    # a finished response cannot be cancelled; one not run in the background neither
    with pytest.raises(openai.BadRequestError):
        c.responses.cancel(queued.id)
    mock.queue(Reply(text="plain"))
    plain = c.responses.create(model=route, input="now")
    with pytest.raises(openai.BadRequestError):
        c.responses.cancel(plain.id)


def test_background_response_continues_a_conversation(stack: Stack, mock: MockUpstream) -> None:
    c = client(stack)
    conv = c.conversations.create(items=[user("Remember: blue.")])
    mock.queue(Reply(text="Blue."))
    queued = c.responses.create(
        model="mock-claude", conversation=conv.id, input="Which colour?", background=True
    )
    done = wait_status(c, queued.id, {"completed"})
    assert done.output_text == "Blue." and done.conversation.id == conv.id
    texts = [i.content[0].text for i in c.conversations.items.list(conv.id, order="asc")]
    assert texts == ["Remember: blue.", "Which colour?", "Blue."]


def test_cancel_a_background_response(stack: Stack, mock: MockUpstream) -> None:
    mock.queue(Reply(text="x" * 400, piece=2, event_delay=0.05))
    c = client(stack)
    queued = c.responses.create(model="mock-gpt", input="Write a lot.", background=True)
    wait_status(c, queued.id, {"in_progress"})
    cancelled = client(stack).responses.cancel(queued.id)  # maybe on the other worker
    assert cancelled.id == queued.id and cancelled.status == "cancelled"
    assert c.responses.cancel(queued.id).status == "cancelled"  # again: the same
    time.sleep(1.5)  # the run has stopped: it writes nothing more
    assert c.responses.retrieve(queued.id).status == "cancelled"
    events = list(c.responses.retrieve(queued.id, stream=True))
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert events[0].type == "response.queued"
    assert mock.abandoned.wait(5)  # the upstream stream was let go


def test_stream_resumes_from_starting_after(stack: Stack, mock: MockUpstream) -> None:
    text = "The quick brown fox jumps over the lazy dog."
    mock.queue(Reply(text=text, piece=3, event_delay=0.05))
    c = client(stack)
    queued = c.responses.create(model="mock-claude", input="A pangram.", background=True)
    # follow it live, hang up after a few events, resume where it left off
    head: list[Any] = []
    with c.responses.retrieve(queued.id, stream=True) as stream:
        for event in stream:
            head.append(event)
            if len(head) == 6:
                break
    assert [e.sequence_number for e in head] == list(range(6))
    assert head[0].type == "response.queued" and head[1].type == "response.created"
    tail = list(client(stack).responses.retrieve(queued.id, stream=True, starting_after=5))
    numbers = [e.sequence_number for e in head + tail]
    assert numbers == list(range(len(numbers)))
    assert tail[-1].type == "response.completed"
    assert tail[-1].response.output_text == text and tail[-1].response.id == queued.id
    deltas = "".join(e.delta for e in head + tail if e.type == "response.output_text.delta")
    assert deltas == text
    # the same events replayed after the end, and streamed at creation
    replay = list(c.responses.retrieve(queued.id, stream=True))
    assert [e.sequence_number for e in replay] == numbers
    mock.queue(Reply(text="streamed at once"))
    created = list(c.responses.create(model="mock-gpt", input="go", background=True, stream=True))
    assert created[0].type == "response.queued" and created[-1].type == "response.completed"
    assert [e.sequence_number for e in created] == list(range(len(created)))
    assert created[-1].response.output_text == "streamed at once"


# --- surviving a restart ----------------------------------------------------------------------


@pytest.mark.timeout(180)  # two servers, one after the other
def test_a_background_response_survives_its_server_being_killed(tmp_path: Path) -> None:
    mock = MockUpstream().start()
    try:
        mock.queue(Reply(text="lost with the first server", delay=60))
        mock.queue(Reply(text="Finished after the restart."))
        setup = [
            ["shell", "-c", setup_code(mock.url, "http://127.0.0.1:9")],
            ["shell", "-c", KEYS_SETUP],
        ]
        with running_gateway(tmp_path, ENV, setup=setup) as first:
            c = openai.OpenAI(base_url=first.url + "/v1", api_key=ALICE_KEY, max_retries=0)
            queued = c.responses.create(model="mock-gpt", input="Slowly.", background=True)
            wait_status(c, queued.id, {"in_progress"})
            deadline = time.monotonic() + 15
            while not mock.chat_requests():  # the upstream has it: the run is under way
                assert time.monotonic() < deadline
                time.sleep(0.05)
            kill_hard(first)
        with running_gateway(tmp_path, ENV, seed=False) as second:
            c = openai.OpenAI(base_url=second.url + "/v1", api_key=ALICE_KEY, max_retries=0)
            done = wait_status(c, queued.id, {"completed", "failed"}, seconds=60)
            assert done.status == "completed", done.error
            assert done.output_text == "Finished after the restart."
            events = list(c.responses.retrieve(queued.id, stream=True))
            assert [e.sequence_number for e in events] == list(range(len(events)))
            assert [e.type for e in events].count("response.created") == 1  # one run's
            assert len(mock.chat_requests()) == 2
    finally:
        mock.stop()
