"""The counter service's MCP book (``mailbox_book``): a box's messages in order, a take
held until a put or its time is up, boxes and tombstones that expire, and the ``mcp_*``
operations the service answers with the book."""

from __future__ import annotations

import time
from types import SimpleNamespace

from gateway.base import hooks
from gateway.features.mcp import mailbox_book
from gateway.features.mcp.mailbox_book import McpMailbox


def test_the_book_holds_a_take_until_a_put() -> None:
    book = McpMailbox()
    now = time.time()
    assert book.take("s:1", now, 5) is None  # held: the service asks again later
    assert book.put("s:1", '{"id": "sy-1"}', 60) == ["ok"]
    assert book.take("s:1", now, 5) == ["ok", '{"id": "sy-1"}']
    assert book.take("s:1", now - 10, 5) == ["ok", None]  # its time is up
    assert not book.boxes


def test_a_box_gives_its_messages_oldest_first() -> None:
    book = McpMailbox()
    now = time.time()
    book.put("s:2", "first", 60)
    book.put("s:2", "second", 60)
    book.put("other", "elsewhere", 60)
    assert book.take("s:2", now, 5) == ["ok", "first"]
    assert book.take("s:2", now, 5) == ["ok", "second"]
    assert "s:2" not in book.boxes and "other" in book.boxes


def test_a_box_nobody_takes_from_expires_when_the_book_fills(monkeypatch) -> None:
    monkeypatch.setattr(mailbox_book, "MAX_BOXES", 4)
    book = McpMailbox()
    book.put("stale", "x", -1)  # already past its time
    book.put("live", "y", 60)
    book.put("third", "z", 60)  # the book is half full: expired boxes go
    assert set(book.boxes) == {"live", "third"}
    for n in range(6):
        book.put(f"more-{n}", "m", 60)
    assert len(book.boxes) == 5  # past the cap the oldest go first (then the new one)
    assert "more-5" in book.boxes and "live" not in book.boxes


def test_an_ended_session_has_a_tombstone_until_its_ttl() -> None:
    book = McpMailbox()
    assert book.end("gone", 60) == ["ok"]
    book.end("long-gone", -1)
    assert book.ended_among("gone", "long-gone", "alive") == ["ok", "gone"]


def test_the_oldest_tombstones_go_past_the_cap(monkeypatch) -> None:
    monkeypatch.setattr(mailbox_book, "MAX_ENDED", 3)
    book = McpMailbox()
    book.end("expired", -1)
    for sid in ("a", "b", "c", "d"):
        book.end(sid, 60)
    assert len(book.ended) <= 3
    assert "expired" not in book.ended and "d" in book.ended
    assert book.ended_among("a", "d") == ["ok", "d"]


def test_the_service_answers_each_operation_with_the_book() -> None:
    assert hooks.counter_books.get("mcp") is McpMailbox
    books = SimpleNamespace(mcp=McpMailbox())
    op = {
        name: hooks.counter_ops.get(name)
        for name in ("mcp_put", "mcp_take", "mcp_end", "mcp_ended")
    }
    now = time.time()
    assert op["mcp_put"](books, "s:9", "hello", 60) == ["ok"]
    assert op["mcp_take"](books, "s:9", now, 5) == ["ok", "hello"]
    assert op["mcp_take"](books, "s:9", now, 5) is None
    assert op["mcp_end"](books, "s", 60) == ["ok"]
    assert op["mcp_ended"](books, "s", "t") == ["ok", "s"]
