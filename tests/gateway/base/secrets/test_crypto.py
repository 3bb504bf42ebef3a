"""Encryption at rest (``gateway.base.secrets.crypto``): a secret is stored under a prefix
and read back, with the key derived from SECRET_KEY or given whole; one sealed under
another key is refused in words; tokens the gateway issues are sealed per purpose and
still open after SECRET_KEY is rotated into the fallbacks. Sealed values opened ahead, in
a child process, are read back without the library; one that did not open there is
refused in words by the process itself."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.exceptions import ImproperlyConfigured

from gateway.base.secrets import crypto, opener


@pytest.fixture(autouse=True)
def fresh_key(monkeypatch) -> None:
    monkeypatch.delenv("SWITCHYARD_ENCRYPTION_KEY", raising=False)
    monkeypatch.setattr(crypto, "_opened", {})
    crypto._fernet.cache_clear()
    yield
    crypto._fernet.cache_clear()


def test_a_secret_is_sealed_under_the_prefix_and_read_back() -> None:
    sealed = crypto.encrypt("sk-live-1")
    assert sealed.startswith(crypto.PREFIX) and "sk-live-1" not in sealed
    assert crypto.encrypt("sk-live-1") != sealed  # a fresh nonce each time
    assert crypto.decrypt(sealed) == "sk-live-1"
    assert crypto.decrypt(sealed.removeprefix(crypto.PREFIX)) == "sk-live-1"
    assert crypto.decrypt("") == ""


def test_a_secret_sealed_under_another_secret_key_is_refused_in_words(settings) -> None:
    sealed = crypto.encrypt("sk-live-1")
    settings.SECRET_KEY = "another-secret-key-entirely"
    crypto._fernet.cache_clear()
    with pytest.raises(ImproperlyConfigured, match="cannot be decrypted"):
        crypto.decrypt(sealed)


def test_an_explicit_encryption_key_is_used_whole_and_a_bad_one_refused(monkeypatch) -> None:
    key = Fernet.generate_key()
    monkeypatch.setenv("SWITCHYARD_ENCRYPTION_KEY", key.decode())
    sealed = crypto.encrypt("sk-live-1")
    assert Fernet(key).decrypt(sealed.removeprefix(crypto.PREFIX).encode()) == b"sk-live-1"
    monkeypatch.setenv("SWITCHYARD_ENCRYPTION_KEY", "not-a-fernet-key")
    crypto._fernet.cache_clear()
    with pytest.raises(ImproperlyConfigured, match="must be a Fernet key"):
        crypto.encrypt("x")


def test_tokens_are_sealed_per_purpose_and_survive_a_key_rotation(settings) -> None:
    token = crypto.sealer("mcp-session").encrypt(b"payload")
    assert crypto.sealer("mcp-session").decrypt(token) == b"payload"
    with pytest.raises(InvalidToken):
        crypto.sealer("other-purpose").decrypt(token)
    old = settings.SECRET_KEY
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "the-new-secret-key", [old]
    assert crypto.sealer("mcp-session").decrypt(token) == b"payload"
    settings.SECRET_KEY_FALLBACKS = []
    with pytest.raises(InvalidToken):
        crypto.sealer("mcp-session").decrypt(token)


def test_values_opened_ahead_in_a_child_are_read_back_without_the_key(monkeypatch) -> None:
    first, second = crypto.encrypt("sk-live-1"), crypto.encrypt("sk-live-2")
    asked: list[list[str]] = []
    child = opener.open_in_child

    def in_child(explicit: str, secret_key: str, tokens: list[str]) -> list[str | None]:
        asked.append(tokens)
        return child(explicit, secret_key, tokens)

    monkeypatch.setattr(opener, "open_in_child", in_child)
    crypto.open_ahead(lambda: [first, ""], in_child=True)
    crypto.open_ahead(lambda: [first, second.removeprefix(crypto.PREFIX)], in_child=True)
    assert asked == [[first.removeprefix(crypto.PREFIX)], [second.removeprefix(crypto.PREFIX)]]

    def no_key(explicit: str, secret_key: str) -> None:
        raise AssertionError("opened in this process")

    crypto._fernet.cache_clear()
    monkeypatch.setattr(opener, "fernet", no_key)
    assert crypto.decrypt(first) == "sk-live-1"
    assert crypto.decrypt(second.removeprefix(crypto.PREFIX)) == "sk-live-2"
    crypto.open_ahead(lambda: [second], in_child=True)  # what the call before gave only
    assert crypto._opened == {second.removeprefix(crypto.PREFIX): "sk-live-2"}
    assert len(asked) == 2


def test_a_value_the_child_could_not_open_is_refused_in_words_here(settings) -> None:
    sealed = crypto.encrypt("sk-live-1")
    settings.SECRET_KEY = "another-secret-key-entirely"
    crypto._fernet.cache_clear()
    crypto.open_ahead(lambda: [sealed], in_child=True)
    assert crypto._opened == {}
    with pytest.raises(ImproperlyConfigured, match="cannot be decrypted"):
        crypto.decrypt(sealed)


def test_a_process_that_has_the_library_opens_nothing_ahead() -> None:
    def ciphertexts() -> list[str]:
        raise AssertionError("read")

    crypto.open_ahead(ciphertexts)  # this test process has imported cryptography
    crypto.open_ahead(ciphertexts, in_child=False)
    assert crypto._opened == {}
