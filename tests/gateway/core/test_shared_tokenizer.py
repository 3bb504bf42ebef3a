"""The workers' one tokenizer, hosted by the supervisor's counter service: the counts a
worker gets from it are exactly its own tokenizer's, the first ones while it loads are
the estimate (as a worker's own would be), and a worker that cannot reach it counts by
itself."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import weakref

import pytest

from gateway.base.types import ChatRequest, Message, Text, Tool, ToolCall
from gateway.core import tokens
from gateway.core.shared_tokenizer import (
    DEFAULT_IDLE_SECONDS,
    IDLE_ENV,
    TOKENIZER_ENV,
    SharedTokenizer,
    TokenizerHost,
    idle_seconds,
)
from gateway.server.counter_service import CounterService

TEXTS = [
    "hello world",
    "The quick brown fox jumps over the lazy dog.",
    "Grüße, 你好, こんにちは 🙂 — naïve café",
    "<|endoftext|> is text here, not a special token",
    "def f(x):\n    return x ** 2  # squares\n" * 200,  # long: counted in a thread
    "",
]


def prompt(text: str) -> ChatRequest:
    request = ChatRequest(
        model="m",
        messages=[
            Message("user", [Text(text)]),
            Message("assistant", [ToolCall("c1", "lookup", {"q": "weather in Paris"})]),
        ],
        tools=[Tool("lookup", "Looks things up.", {"type": "object", "properties": {}})],
    )
    request.system = [Text("You are terse. " * 10)]
    return request


@pytest.fixture
def host_service():
    folder = tempfile.mkdtemp(prefix="sy-", dir="/tmp")
    service = CounterService(
        os.path.join(folder, "s.sock"), tokenizer=TokenizerHost(tokens.load_encoder)
    )
    service.start()
    yield service
    service.stop()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def worker(host_service, monkeypatch):
    """This process as a worker of a supervisor hosting ``host_service``, with no
    tokenizer (nor memo) of its own."""
    monkeypatch.setenv(TOKENIZER_ENV, host_service.path)
    monkeypatch.setattr(tokens, "_encoder", None)
    monkeypatch.setattr(tokens, "_shared", None)
    monkeypatch.setattr(tokens, "_memo", type(tokens._memo)())
    return host_service


def local_count(request: ChatRequest) -> int:
    count = tokens.load_encoder()
    return sum(count(t) for t in tokens._texts(request) if t) + tokens._overhead(request)


async def test_the_host_counts_exactly_like_the_local_tokenizer(host_service):
    shared = SharedTokenizer(host_service.path)
    first = await shared.count(TEXTS)
    assert first is None  # loading began: the caller uses its estimate meanwhile
    await asyncio.to_thread(host_service.tokenizer._loaded.wait, 30)
    count = tokens.load_encoder()
    assert await shared.count(TEXTS) == [count(text) for text in TEXTS]
    assert shared.count_blocking(TEXTS) == [count(text) for text in TEXTS]


async def test_start_count_in_a_worker_uses_the_supervisors_tokenizer(worker):
    request = prompt("What is the weather like in Paris today? " * 3)
    expected = local_count(request)
    estimate = tokens.estimate_tokens(request)
    assert await tokens.start_count(request, estimate) == estimate  # still loading there
    await asyncio.to_thread(worker.tokenizer._loaded.wait, 30)
    assert await tokens.start_count(request, estimate) == expected
    assert tokens._encoder is None, "the worker loaded no tokenizer of its own"
    # long texts are remembered: the next turn sends them no more
    sent: list[list[str]] = []
    shared = tokens._shared_tokenizer()
    real = shared.count

    async def spying(texts):
        sent.append(texts)
        return await real(texts)

    shared.count = spying
    request.messages.append(Message("user", [Text("And tomorrow?")]))
    assert await tokens.start_count(request, estimate) == local_count(request)
    assert sent == [["And tomorrow?"]]  # only the new text
    # every text is remembered, short ones too: the same turn again asks nothing
    assert await tokens.start_count(request, estimate) == local_count(request)
    assert len(sent) == 1


async def test_count_request_tokens_in_a_worker_waits_for_the_supervisors_tokenizer(worker):
    request = prompt("Count me exactly, please.")
    assert await asyncio.to_thread(tokens.count_request_tokens, request) == local_count(request)
    assert tokens._encoder is None


async def test_a_worker_that_cannot_reach_it_counts_by_itself(monkeypatch, tmp_path):
    monkeypatch.setenv(TOKENIZER_ENV, str(tmp_path / "nobody.sock"))
    monkeypatch.setattr(tokens, "_encoder", None)
    monkeypatch.setattr(tokens, "_shared", None)
    request = prompt("hello there")
    assert await tokens.start_count(request, 7) == 7  # the estimate, as while loading
    tokens._loading.join(timeout=30)
    assert tokens._encoder is not None  # its own, loaded in the background
    assert await tokens.start_count(request, 7) == local_count(request)
    monkeypatch.setattr(tokens, "_encoder", None)
    assert tokens.count_request_tokens(request) == local_count(request)


async def test_a_long_prompt_fits_on_the_service_socket(worker):
    worker.tokenizer._start_loading()
    await asyncio.to_thread(worker.tokenizer._loaded.wait, 30)
    big = "lorem ipsum dolor sit amet " * 80_000  # about 2 MB
    request = prompt(big)
    assert await tokens.start_count(request, 1) == local_count(request)


async def test_admissions_do_not_wait_behind_a_long_count(host_service):
    """Counting runs beside the counters: a ping sent after a long text is answered."""
    host_service.tokenizer._start_loading()
    await asyncio.to_thread(host_service.tokenizer._loaded.wait, 30)
    reader, writer = await asyncio.open_unix_connection(host_service.path)
    long_text = "word " * 400_000
    writer.write(b'[1,"tokens",["' + long_text.encode() + b'"],false]\n[2,"ping"]\n')
    first = await reader.readline()
    assert first == b'[2,"pong"]\n'
    assert (await reader.readline()).startswith(b'[1,"ok",[')
    writer.close()


def tokenizer_of(count: object) -> object:
    """The tiktoken encoding a count function closes over (through its helpers)."""
    import tiktoken

    seen = [count]
    while seen:
        item = seen.pop()
        if isinstance(item, tiktoken.Encoding):
            return item
        seen += [cell.cell_contents for cell in getattr(item, "__closure__", None) or ()]
    raise AssertionError("no encoding in the count function")


async def loaded(host: TokenizerHost) -> None:
    assert await host.answer(["x"], True) == ["ok", [1]]


async def test_an_unused_tokenizer_is_let_go_and_loads_again_when_asked(caplog):
    """After ``idle`` seconds without a request the host drops its table (the encoding
    itself is freed: nothing else, tiktoken's registry included, holds it); the next
    request is answered "loading", as at start, and the reloaded table counts the same."""
    host = TokenizerHost(tokens.load_encoder, idle=0.2)
    await loaded(host)
    assert host.loaded
    freed = weakref.ref(tokenizer_of(host._count))
    await asyncio.sleep(0.5)
    assert not host.loaded
    for _ in range(100):  # the release runs in a thread
        if freed() is None:
            break
        await asyncio.sleep(0.05)
    assert freed() is None
    assert "letting it go" in caplog.text
    assert await host.answer(TEXTS, False) == ["loading"]
    await asyncio.to_thread(host._loaded.wait, 30)
    count = tokens.load_encoder()
    assert await host.answer(TEXTS, False) == ["ok", [count(text) for text in TEXTS]]


async def test_a_tokenizer_in_use_is_kept():
    host = TokenizerHost(tokens.load_encoder, idle=0.3)
    await loaded(host)
    for _ in range(8):  # 0.8 s, never 0.3 s without a request
        await asyncio.sleep(0.1)
        assert await host.answer(["hello"], False) == ["ok", [1]]
    assert host.loaded
    host.idle = 0  # and with no idle time set, never let go (the pending check neither)
    await asyncio.sleep(0.5)
    assert host.loaded
    await loaded(host)
    assert host._idle_check is None  # nor a check scheduled
    await asyncio.sleep(0.4)
    assert host.loaded


@pytest.mark.parametrize(
    ("setting", "seconds"),
    [(None, DEFAULT_IDLE_SECONDS), ("90", 90.0), ("0", 0.0), ("-5", 0.0), ("soon", 600.0)],
)
def test_the_idle_time_setting(monkeypatch, setting, seconds):
    if setting is None:
        monkeypatch.delenv(IDLE_ENV, raising=False)
    else:
        monkeypatch.setenv(IDLE_ENV, setting)
    assert idle_seconds() == seconds
    assert TokenizerHost(tokens.load_encoder).idle == seconds


@pytest.fixture(autouse=True)
def _restore_encoder():
    yield
    tokens._encoder = None
