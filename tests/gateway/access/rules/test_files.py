"""Rule ``file.link.read`` (``gateway.access.rules.files``): a link opens a kept file only
with the gateway's signature, before it expires, for the file of the key it names, while
that key is active (neither revoked, expired nor gone); the master key's files are its
own. Any change to the file, the key or the expiry breaks the signature."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from gateway.access import authorization, registry
from gateway.access.rules.files import MASTER, SignedLink, key_field, signature


@pytest.fixture
def snapshot_keys(monkeypatch) -> dict[str, Any]:
    """The snapshot's keys the rule reads (by hash), set by each test."""
    keys: dict[str, Any] = {}
    monkeypatch.setattr(registry, "current", lambda: SimpleNamespace(keys=keys))
    return keys


def entry(key_id: int, *, revoked: bool = False, expires_at: datetime | None = None) -> Any:
    return SimpleNamespace(id=key_id, revoked=revoked, expires_at=expires_at)


def signed(file_id: str, key: str, expires: int | None = None) -> SignedLink:
    until = int(time.time()) + 600 if expires is None else expires
    return SignedLink(file_id, key, until, signature(file_id, key, until))


def decide(link: SignedLink, key_id: int | None = 7) -> authorization.Decision:
    return authorization.decide(link, "file.link.read", SimpleNamespace(key_id=key_id))


def test_a_signed_link_opens_its_keys_file(snapshot_keys) -> None:
    snapshot_keys["h7"] = entry(7)
    assert decide(signed("f1", "7"))
    assert decide(signed("f1", MASTER), key_id=None)  # the master key's files: no key id


def test_a_link_with_any_part_changed_is_refused(snapshot_keys) -> None:
    snapshot_keys["h7"], snapshot_keys["h8"] = entry(7), entry(8)
    good = signed("f1", "7")
    for forged in (
        SignedLink("f2", good.key, good.expires, good.signature),
        SignedLink(good.file_id, "8", good.expires, good.signature),
        SignedLink(good.file_id, good.key, good.expires + 3600, good.signature),
        SignedLink(good.file_id, good.key, good.expires, ""),
    ):
        refusal = decide(forged)
        assert not refusal and refusal.reason == "the link's signature is not valid"


def test_an_expired_link_is_refused(snapshot_keys) -> None:
    snapshot_keys["h7"] = entry(7)
    refusal = decide(signed("f1", "7", expires=int(time.time()) - 1))
    assert not refusal and refusal.reason == "the link has expired"


def test_a_link_opens_only_the_file_of_the_key_it_names(snapshot_keys) -> None:
    snapshot_keys["h7"] = entry(7)
    assert decide(signed("f1", "7"), key_id=8).reason == "no such file"
    assert authorization.decide(signed("f1", "7"), "file.link.read", None).reason == "no such file"


@pytest.mark.parametrize(
    "state",
    [
        {"revoked": True},
        {"expires_at": datetime.now(UTC) - timedelta(minutes=1)},
        None,  # deleted: no longer in the snapshot
    ],
)
def test_a_link_stops_with_its_key(snapshot_keys, state) -> None:
    if state is not None:
        snapshot_keys["h7"] = entry(7, **state)
    refusal = decide(signed("f1", "7"))
    assert not refusal and "no longer active" in refusal.reason


def test_a_link_is_read_from_the_query() -> None:
    link = SignedLink.from_query("f1", {"key": "7", "expires": "123", "signature": "ab"})
    assert link == SignedLink("f1", "7", 123, "ab")
    assert SignedLink.from_query("f1", {"expires": "soon"}).expires == 0
    assert key_field(None) == MASTER and key_field(7) == "7"
