"""Counting tokens stays linear and memory-flat whatever the text: a long text reaches
the byte-pair encoder only in bounded pieces, cut where cl100k starts a new pre-token
(so the count is exact), and past ``COUNTED_CHARS`` the rest is estimated."""

from __future__ import annotations

import random

import pytest
import tiktoken

from gateway.core import token_pieces, tokens
from gateway.core.token_pieces import COUNTED_CHARS, PIECE_CHARS, count_bounded, pieces


@pytest.fixture(scope="module")
def whole_count():
    encoding = tiktoken.get_encoding(token_pieces.ENCODING_NAME)
    return lambda text: len(encoding.encode(text, disallowed_special=()))


@pytest.fixture
def encoded_lengths(monkeypatch) -> list[int]:
    """The length of every text the real encoder is handed."""
    seen: list[int] = []
    original = tiktoken.Encoding.encode

    def recording(self, text, *args, **kwargs):
        seen.append(len(text))
        return original(self, text, *args, **kwargs)

    monkeypatch.setattr(tiktoken.Encoding, "encode", recording)
    return seen


PROSE = (
    "The gateway relays each request to its upstream. It's fast, isn't it? "
    "Grüße aus Köln — naïve café. 你好，世界。这是一个测试。こんにちは、世界！\n"
    'def f(x):\n    return x ** 2  # squares 12345678\n\t<|endoftext|> {"k": [1, 2.5]}\r\n'
)


def test_long_prose_counts_exactly_as_one_whole_encode(whole_count):
    count = tokens.load_encoder()
    text = PROSE * 900  # about 130k characters: many pieces
    assert len(pieces(text)) > 10
    assert count(text) == whole_count(text)


def test_random_mixtures_count_exactly(whole_count):
    rng = random.Random(7)
    alphabet = [*"abcXYZ019 \n\t.,'!?é中文，。-_/", "'s", "'ll", "  ", "\r\n", "\n\n", "🙂"]
    count = tokens.load_encoder()
    for _ in range(60):
        text = "".join(rng.choices(alphabet, k=rng.randint(PIECE_CHARS, 4 * PIECE_CHARS)))
        assert count(text) == whole_count(text)


def test_a_run_without_word_breaks_reaches_the_encoder_in_bounded_pieces(
    encoded_lengths, whole_count
):
    count = tokens.load_encoder()
    encoded_lengths.clear()
    text = "a" * 100_000
    counted = count(text)
    assert encoded_lengths and max(encoded_lengths) <= PIECE_CHARS
    assert sum(encoded_lengths) == len(text)
    assert abs(counted - whole_count(text)) <= len(text) // PIECE_CHARS + 1


def test_cjk_without_punctuation_is_cut_into_pieces_too(encoded_lengths):
    count = tokens.load_encoder()
    encoded_lengths.clear()
    count("的一是不了人我在有他这中大来上国" * 3000)  # 48k characters, one pre-token
    assert max(encoded_lengths) <= PIECE_CHARS


def test_past_the_cap_the_rest_is_estimated_at_the_counted_rate(monkeypatch):
    monkeypatch.setattr(token_pieces, "COUNTED_CHARS", 50_000)
    handed: list[int] = []

    def count(text: str) -> int:
        handed.append(len(text))
        return len(text)

    total = count_bounded(count, "word " * 40_000)  # 200k characters
    assert sum(handed) == 50_000  # only the counted part reached the encoder
    assert total == 200_000  # 50k counted, scaled by 200k / 50k


def test_short_text_is_one_call_unchanged():
    calls: list[str] = []

    def count(text: str) -> int:
        calls.append(text)
        return 3

    assert count_bounded(count, "hello world") == 3 and calls == ["hello world"]


def test_pieces_cover_the_text_in_order_within_the_size():
    text = ("x" * 5000 + " ") * 7 + "y" * 20_000
    spans = pieces(text)
    assert spans[0][0] == 0 and spans[-1][1] == len(text)
    assert all(a < b <= a + PIECE_CHARS for a, b in spans)
    assert all(spans[i][1] == spans[i + 1][0] for i in range(len(spans) - 1))


def test_the_cap_is_above_a_million_tokens_of_prose():
    assert COUNTED_CHARS >= 4_000_000


def test_a_request_of_many_texts_is_counted_up_to_the_budget(monkeypatch, encoded_lengths):
    from gateway.base.types import ChatRequest, Message, Text

    monkeypatch.setattr(token_pieces, "COUNTED_CHARS", 30_000)
    monkeypatch.setattr(tokens, "_memo", type(tokens._memo)())
    monkeypatch.delenv(tokens.TOKENIZER_ENV, raising=False)
    text = "word " * 2_000  # 10k characters, 2,000 tokens
    request = ChatRequest(
        model="m", messages=[Message("user", [Text(f"{n} {text}")]) for n in range(10)]
    )
    tokens.encoder()
    encoded_lengths.clear()
    counted = tokens.count_request_tokens(request)
    assert sum(encoded_lengths) <= 30_000 + PIECE_CHARS  # 3 of the 10 texts reached it
    overhead = tokens._overhead(request)
    assert abs((counted - overhead) - 10 * 2_001) <= 20  # the rest at the same rate


async def test_the_hot_path_count_keeps_to_the_budget_too(monkeypatch, encoded_lengths):
    from gateway.base.types import ChatRequest, Message, Text

    monkeypatch.setattr(token_pieces, "COUNTED_CHARS", 30_000)
    monkeypatch.setattr(tokens, "_memo", type(tokens._memo)())
    monkeypatch.delenv(tokens.TOKENIZER_ENV, raising=False)
    text = "word " * 2_000
    request = ChatRequest(
        model="m", messages=[Message("user", [Text(f"{n} {text}")]) for n in range(10)]
    )
    tokens.encoder()
    encoded_lengths.clear()
    counted = await tokens.start_count(request, estimate=0)
    assert sum(encoded_lengths) <= 30_000 + PIECE_CHARS
    assert abs((counted - tokens._overhead(request)) - 10 * 2_001) <= 20
