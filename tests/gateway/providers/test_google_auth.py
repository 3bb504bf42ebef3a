"""Google Cloud access tokens: credentials read from service-account JSON (its text or
a file), a token cached per source and served without I/O until five minutes before it
expires, one refresh for concurrent cold callers, and every failure a ConfigurationError
in words without key material. The token endpoint itself is the credentials' (replaced
here); the end-to-end path through a mock Google: tests/gateway/providers/test_vertex_ai.py."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading

import google.auth.exceptions
import pytest

from gateway.base.errors import ConfigurationError
from gateway.providers import google_auth
from tests.integration.mock_gemini import new_service_account


class Credentials:
    """Stands in for google-auth's credentials: each refresh is a new token."""

    def __init__(self, lifetime: dt.timedelta | None = dt.timedelta(hours=1)) -> None:
        self.lifetime, self.refreshes, self.token, self.expiry = lifetime, 0, None, None
        self.fail: Exception | None = None

    def refresh(self, request) -> None:
        if self.fail is not None:
            raise self.fail
        self.refreshes += 1
        self.token = f"ya29.token-{self.refreshes}"
        self.expiry = None if self.lifetime is None else google_auth._utcnow() + self.lifetime


@pytest.fixture
def loaded(monkeypatch) -> dict[str | None, Credentials]:
    made: dict[str | None, Credentials] = {}

    def load(source):
        made[source] = made.get(source) or Credentials()
        return made[source], f"proj-{source}"

    google_auth.forget()
    monkeypatch.setattr(google_auth, "_load", load)
    monkeypatch.setattr(google_auth, "_request", lambda: None)
    yield made
    google_auth.forget()


async def test_a_token_is_cached_per_source(loaded) -> None:
    assert await google_auth.access_token("a") == ("ya29.token-1", "proj-a")
    assert await google_auth.access_token("a") == ("ya29.token-1", "proj-a")
    assert await google_auth.access_token(None) == ("ya29.token-1", "proj-None")
    assert loaded["a"].refreshes == 1 and loaded[None].refreshes == 1
    google_auth.forget()
    await google_auth.access_token("a")
    assert loaded["a"].refreshes == 2  # loaded again, refreshed again


async def test_a_token_is_refreshed_within_five_minutes_of_its_expiry(loaded) -> None:
    await google_auth.access_token("a")
    loaded["a"].lifetime = dt.timedelta(minutes=4)
    entry = google_auth._CACHE[google_auth._key("a")]
    entry.expiry = google_auth._utcnow() + dt.timedelta(minutes=4)
    assert (await google_auth.access_token("a"))[0] == "ya29.token-2"
    assert (await google_auth.access_token("a"))[0] == "ya29.token-3"  # still inside the margin
    entry.expiry = None  # a token without expiry does not expire
    assert (await google_auth.access_token("a"))[0] == "ya29.token-3"


async def test_concurrent_cold_callers_share_one_refresh(loaded, monkeypatch) -> None:
    gate = threading.Event()
    plain = Credentials.refresh

    def slow(self, request) -> None:
        gate.wait(5)
        plain(self, request)

    monkeypatch.setattr(Credentials, "refresh", slow)
    waiting = [asyncio.ensure_future(google_auth.access_token("a")) for _ in range(5)]
    await asyncio.sleep(0.05)
    gate.set()
    assert {token for token, _ in await asyncio.gather(*waiting)} == {"ya29.token-1"}
    assert loaded["a"].refreshes == 1


async def test_a_refused_refresh_is_a_configuration_error_in_the_endpoints_words(loaded) -> None:
    await google_auth.access_token("a")
    google_auth.forget()
    credentials = loaded["a"]
    credentials.fail = google.auth.exceptions.RefreshError("invalid_grant: Invalid JWT Signature.")
    with pytest.raises(ConfigurationError, match="invalid_grant: Invalid JWT Signature"):
        await google_auth.access_token("a")
    credentials.fail = RuntimeError("-----BEGIN PRIVATE KEY----- leaked")
    with pytest.raises(ConfigurationError) as raised:
        await google_auth.access_token("a")
    assert raised.value.message.endswith(": RuntimeError") and "PRIVATE" not in raised.value.message
    credentials.fail = None
    credentials.token = None
    credentials.refresh = lambda request: None  # answers, but with no token
    with pytest.raises(ConfigurationError, match="returned no access token"):
        await google_auth.access_token("a")


def test_service_account_json_as_text_or_a_file(tmp_path) -> None:
    info, _ = new_service_account("http://127.0.0.1:9/token", project="proj-key")
    credentials, project = google_auth._load(json.dumps(info))
    assert project == "proj-key" and credentials.service_account_email == info["client_email"]
    path = tmp_path / "sa.json"
    path.write_text(json.dumps(info))
    assert google_auth._load(f"  {path}\n")[1] == "proj-key"


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ("{not json", "the service-account credentials are not valid JSON"),
        ("{}", "not in the expected format, missing fields"),  # google-auth names what is missing
        ("/nonexistent/sa.json", "the credentials file does not exist"),
    ],
)
async def test_unusable_credentials_are_named(source, words) -> None:
    google_auth.forget()
    with pytest.raises(ConfigurationError, match=words):
        await google_auth.access_token(source)


def test_a_source_that_is_not_an_object_or_unreadable_is_described(tmp_path) -> None:
    listed = tmp_path / "list.json"
    listed.write_text("[1]")
    with pytest.raises(ValueError, match="not a JSON object"):
        google_auth._load(str(listed))
    assert google_auth._describe(IsADirectoryError(21, "x")) == (
        "the credentials file cannot be read (IsADirectoryError)"
    )
