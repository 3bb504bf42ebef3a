"""A semantic cache entry as announced to the other processes: encoded and decoded
whole (its vector and answer as bytes), added to this process's index of its (route,
scope) when it has one and the entry is still fresh, and an announcement that cannot be
read logged and dropped. Redis itself is not needed: the relay is faked where it is
published (the live path: ``test_through_sdks.py``, the two-instance test)."""

from __future__ import annotations

import logging
from array import array
from decimal import Decimal

import orjson
import pytest

from gateway.features.semantic_cache import announce, index


@pytest.fixture(autouse=True)
def _fresh_indexes():
    index.reset()
    yield
    index.reset()


def entry(entry_id: int = 7, expires_in: float = 60.0) -> index.Entry:
    return index.Entry(
        id=entry_id,
        vector=array("f", [0.6, 0.8, 0.0]),
        expires_at=index.now() + expires_in,
        answer=b"\x00answer bytes\xff",
        cost_usd=Decimal("0.00123"),
    )


def test_an_entry_comes_back_whole() -> None:
    sent = entry()
    route, scope, got = announce.decode(announce.encode("faq", "team:3", sent))
    assert (route, scope) == ("faq", "team:3")
    assert got == sent and got.vector.typecode == "f"


def test_a_heard_entry_goes_into_this_process_s_index_of_it() -> None:
    kept = index.get("faq", "team:3")
    announce.heard(announce.encode("faq", "team:3", entry(7)))
    announce.heard(announce.encode("faq", "team:3", entry(7)))  # twice: once
    assert [e.id for e in kept.entries] == [7] and kept.last_id == 7


def test_without_an_index_of_it_or_when_expired_nothing_is_added() -> None:
    announce.heard(announce.encode("faq", "team:3", entry()))
    assert index.peek("faq", "team:3") is None  # none is made for it
    kept = index.get("faq", "team:3")
    announce.heard(announce.encode("faq", "team:3", entry(8, expires_in=-1)))
    announce.heard(announce.encode("faq", "team:4", entry(9)))
    assert kept.entries == []


@pytest.mark.parametrize(
    "raw",
    [b"not json", b"{}", orjson.dumps({"route": "faq", "scope": "s", "id": "x"}), b"[1]"],
)
def test_an_unreadable_announcement_is_logged_and_dropped(
    raw: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    kept = index.get("faq", "s")
    with caplog.at_level(logging.WARNING, logger=announce.log.name):
        announce.heard(raw)
    assert kept.entries == [] and "could not be read" in caplog.text


async def test_publish_sends_the_encoded_entry_on_the_channel(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sent: list[tuple[str, bytes]] = []

    class Relay:
        async def publish(self, channel: str, raw: bytes) -> None:
            sent.append((channel, raw))

    monkeypatch.setattr(announce, "RELAY", Relay())
    news = entry()
    await announce.publish("faq", "key:1", news)
    [(channel, raw)] = sent
    assert channel == announce.CHANNEL and announce.decode(raw) == ("faq", "key:1", news)


def test_the_relay_hands_what_it_hears_to_heard(monkeypatch: pytest.MonkeyPatch) -> None:
    heard: list[bytes] = []
    monkeypatch.setattr(announce, "heard", heard.append)
    announce.RELAY.arrived(b"raw")  # looked up when it arrives: a patched heard is used
    assert heard == [b"raw"]
