"""Who is calling an inference API (gateway/web/callers.py): the key taken from each
header the SDKs send it in, looked up in the snapshot, and the reason a caller without
a usable key is refused (no key, an unknown one). The registry check on a miss is
tests/gateway/access/test_registry.py's."""

from __future__ import annotations

import hashlib

import pytest

from gateway.access import registry
from gateway.web import callers
from tests.gateway.entries import snapshot
from tests.gateway.limits.test_limits import key

TOKEN = "sy-callers-key-00000000"


@pytest.fixture
def known(snapshot_reset) -> None:
    snap = snapshot()
    snap.keys[hashlib.sha256(TOKEN.encode()).hexdigest()] = key()
    registry.install(snap)


@pytest.mark.parametrize(
    "headers",
    [
        {"authorization": f"Bearer {TOKEN}"},
        {"authorization": f"bearer  {TOKEN} "},
        {"x-api-key": TOKEN},
        {"api-key": TOKEN},
    ],
)
def test_the_key_is_read_from_each_header_the_sdks_send(known, headers) -> None:
    assert callers.bearer_token(headers) == TOKEN
    caller = callers.resolve_caller({**headers, "user-agent": "sdk/1"})
    assert caller.key is not None and caller.user_agent == "sdk/1"


def test_a_caller_without_a_usable_key_says_why(known) -> None:
    nobody = callers.resolve_caller({})
    assert nobody.key is None and "no API key given" in nobody.key_error
    stranger = callers.resolve_caller({"authorization": "Bearer sy-nobody"})
    assert stranger.key is None and stranger.key_error == "invalid API key"
    google = callers.resolve_caller({}, token=TOKEN)  # found the Google way by the edge
    assert google.key is not None


def test_header_names_are_lower_cased() -> None:
    scope = {"headers": [(b"X-Api-Key", b"k"), (b"User-Agent", b"ua")]}
    assert callers.header_map(scope) == {"x-api-key": "k", "user-agent": "ua"}
