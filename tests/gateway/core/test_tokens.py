"""Local token counting: the real offline encoding, and counts that grow with what the
request carries."""

from __future__ import annotations

import threading

import pytest

from gateway.base.types import (
    ChatRequest,
    Document,
    Image,
    Message,
    Text,
    Thinking,
    Tool,
    ToolCall,
    ToolResult,
)
from gateway.core import token_pieces, tokens


def request(*messages: Message, **fields) -> ChatRequest:
    return ChatRequest(model="m", messages=list(messages), **fields)


def user(text: str) -> Message:
    return Message("user", [Text(text)])


def test_the_real_cl100k_encoding_is_used():
    count = tokens.encoder()
    assert count is not tokens._char_estimate
    assert count("hello world") == 2
    assert count("The quick brown fox jumps over the lazy dog.") == 10


def test_encoder_loads_once():
    assert tokens.encoder() is tokens.encoder()


def test_text_request_is_text_tokens_plus_overhead():
    counted = tokens.count_request_tokens(request(user("hello world")))
    assert counted == 2 + tokens.REQUEST_OVERHEAD + tokens.MESSAGE_OVERHEAD


def test_counts_grow_with_every_kind_of_content():
    base = request(user("Summarise the file."))
    with_system = request(user("Summarise the file."), system=[Text("You are terse and precise.")])
    with_tools = request(
        user("Summarise the file."),
        tools=[
            Tool(
                "Read",
                "Read a file from the local filesystem.",
                {
                    "type": "object",
                    "properties": {"file_path": {"type": "string"}},
                    "required": ["file_path"],
                },
            )
        ],
    )
    with_call = request(
        user("Summarise the file."),
        Message(
            "assistant", [ToolCall(id="t1", name="Read", arguments={"file_path": "/src/app.py"})]
        ),
        Message("user", [ToolResult("t1", [Text("def main():\n    print('hello')\n" * 20)])]),
    )
    with_image = request(
        Message("user", [Text("Summarise the file."), Image(url="https://x.test/a.png")])
    )
    counts = [
        tokens.count_request_tokens(r)
        for r in (base, with_system, with_tools, with_call, with_image)
    ]
    assert all(counted > counts[0] for counted in counts[1:])
    assert counts[4] - counts[0] == tokens.IMAGE_TOKENS
    assert counts[3] - counts[0] > 150  # twenty code lines (~8 tokens each) dwarf the overhead


def test_longer_text_counts_proportionally():
    short = tokens.count_request_tokens(request(user("word " * 100)))
    long = tokens.count_request_tokens(request(user("word " * 1000)))
    assert 9 < long / short < 11


def test_estimate_is_close_to_the_count_for_english():
    prose = request(
        user("The gateway translates requests between dialects and streams answers back. " * 40)
    )
    counted, estimated = tokens.count_request_tokens(prose), tokens.estimate_tokens(prose)
    assert 0.7 < estimated / counted < 1.6


def test_falls_back_to_characters_when_the_encoding_cannot_load(monkeypatch):
    monkeypatch.setattr(tokens, "_encoder", None)
    monkeypatch.setattr(token_pieces, "ENCODING_NAME", "no_such_encoding")
    assert tokens.encoder() is tokens._char_estimate
    assert tokens.count_request_tokens(request(user("x" * 400))) == tokens.estimate_tokens(
        request(user("x" * 400))
    )


def _threads_counting(monkeypatch) -> list[tuple[int, int]]:
    """Record the thread and the characters of each batch of tokenizing start_count does."""
    seen: list[tuple[int, int]] = []
    real = tokens._count_all

    def recording(count, texts: list[str]) -> int:
        seen.append((threading.get_ident(), sum(map(len, texts))))
        return real(count, texts)

    monkeypatch.setattr(tokens, "_count_all", recording)
    return seen


async def test_start_count_tokenizes_long_new_text_in_a_worker_thread(monkeypatch):
    tokens.encoder()
    monkeypatch.setattr(tokens, "_memo", type(tokens._memo)())
    seen = _threads_counting(monkeypatch)
    system = "You are a coding agent. Follow the project rules. " * 60
    long = request(user("Explain the routing table, please. " * 80))
    long.system = [Text(system)]
    expected = tokens.count_request_tokens(request(*long.messages, system=[Text(system)]))
    tokens._memo.clear()
    assert await tokens.start_count(long, tokens.estimate_tokens(long)) == expected
    assert seen[0][0] != threading.get_ident()  # the tokenizing ran off the loop
    # Next turn: the memo knows both long texts; only the short new one is tokenized,
    # at once, on the loop.
    long.messages.append(user("And the fallbacks?"))
    again = tokens.start_count(long, tokens.estimate_tokens(long))
    assert again.done() and again.result() == tokens.count_request_tokens(long)
    assert seen[1] == (threading.get_ident(), len("And the fallbacks?"))


async def test_start_count_never_waits_for_the_tokenizer_to_load(monkeypatch):
    """Loading takes half a second: the first request gets the cheap estimate at once
    while the tokenizer loads in the background; later tiny prompts are counted inline."""
    tiny = request(user("hi there, how are you today?"))
    expected = tokens.count_request_tokens(tiny)
    tokens._encoder = None
    seen = _threads_counting(monkeypatch)
    first = tokens.start_count(tiny, 999)
    assert first.done() and first.result() == 999 and seen == []
    tokens._loading.join(timeout=30)
    assert tokens._encoder is not None
    second = tokens.start_count(tiny, tokens.estimate_tokens(tiny))
    assert second.done() and second.result() == expected  # counted on the spot
    assert seen == [(threading.get_ident(), len("hi there, how are you today?"))]


def test_long_texts_are_counted_once_and_the_memo_stays_bounded(monkeypatch):
    """An agent resends its system prompt, tools and history every turn: only what is
    new is tokenized again, and the memo keeps counts, not texts."""
    real = tokens.encoder()
    encoded: list[str] = []

    def counting(text: str) -> int:
        encoded.append(text)
        return real(text)

    monkeypatch.setattr(tokens, "_encoder", counting)
    monkeypatch.setattr(tokens, "_memo", type(tokens._memo)())
    monkeypatch.setattr(tokens, "MEMO_ENTRIES", 3)
    system = "You are a coding agent. Follow the project rules. " * 20
    turn = request(user("Fix the failing test in routing.py, please, and explain why it broke."))
    turn.system = [Text(system)]
    first = tokens.count_request_tokens(turn)
    turn.messages.append(Message("assistant", [Text("Done: the backoff ignored Retry-After.")]))
    second = tokens.count_request_tokens(turn)
    assert second > first
    assert encoded.count(system) == 1  # the second turn reused the system prompt's count
    assert all(not isinstance(key[1], str) for key in tokens._memo)
    for n in range(10):
        tokens.count_request_tokens(request(user(f"message number {n} " * 10)))
    assert len(tokens._memo) == 3
    fresh = request(user("Fix the failing test in routing.py, please, and explain why it broke."))
    fresh.system = [Text(system)]
    fresh.messages += turn.messages[1:]
    assert tokens.count_request_tokens(fresh) == second  # recounted after eviction, equal


@pytest.fixture(autouse=True)
def _restore_encoder():
    yield
    tokens._encoder = None


async def test_start_count_falls_back_to_the_estimate_instead_of_failing(monkeypatch):
    tokens.encoder()

    def broken(count, texts):
        raise RuntimeError("tokenizer exploded")

    monkeypatch.setattr(tokens, "_count_all", broken)
    counted = tokens.start_count(request(user("hi")), 42)
    assert counted.done() and counted.result() == 42


def test_the_estimate_counts_in_one_pass_what_the_texts_and_overheads_say():
    """``estimate_tokens`` walks the parts once; it is every text ``_texts`` yields at
    characters / 4 plus ``_overhead`` (messages, tools, images, PDF pages), part kind by
    part kind."""
    pdf = "JVBERi0xLjQKMSAwIG9iago8PC9UeXBlIC9QYWdlPj4KZW5kb2JqCg=="  # one /Type /Page
    every_kind = request(
        Message("user", [Text("Read these."), Image(url="https://x.test/a.png")]),
        Message("user", [Document(text="a text file, decoded " * 3), Document(data=pdf)]),
        Message("assistant", [Thinking("I should call the tool."), Text("")]),
        Message(
            "assistant",
            [
                ToolCall(id="t1", name="Read", arguments={"path": "/a", "limit": 3}),
                ToolCall(id="t2", name="Grep", raw_arguments='{"cut": "off'),
            ],
        ),
        Message(
            "user",
            [
                ToolResult("t1", [Text("line one\nline two"), Image(url="https://x.test/b")]),
                ToolResult("t2", [Document(text="found it"), Document(data=pdf)], is_error=True),
                ToolResult("t3", []),
            ],
        ),
        system=[Text("You are terse."), Text("Answer in English.")],
        tools=[
            Tool("Read", "Read a file.", {"type": "object", "properties": {}}),
            Tool("Grep", None, {"type": "object", "required": ["pattern"]}),
        ],
    )
    for asked in (every_kind, request(user("hello"))):
        by_texts = sum(tokens._char_estimate(text) for text in tokens._texts(asked))
        assert tokens.estimate_tokens(asked) == by_texts + tokens._overhead(asked)
    assert tokens._media_tokens(every_kind) == 2 * tokens.IMAGE_TOKENS + 2 * (
        tokens.PDF_PAGE_TOKENS
    )
