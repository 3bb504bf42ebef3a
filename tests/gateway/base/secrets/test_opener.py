"""Sealed secrets opened in a child process (``gateway.base.secrets.opener``): the child
opens what ``crypto`` sealed, under the key derived from SECRET_KEY or the explicit one,
answers None for a token that does not open (and for all of them under a key that is no
Fernet key), and a child that cannot run or answers nonsense leaves every token to the
caller."""

from __future__ import annotations

import base64
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from gateway.base.secrets import opener

SECRET_KEY = "the-secret-key-of-this-deployment"


def sealed(key: Fernet, text: str) -> str:
    return key.encrypt(text.encode()).decode()


def test_the_child_opens_what_the_derived_key_sealed_and_nothing_else() -> None:
    key = opener.fernet("", SECRET_KEY)
    other = opener.fernet("", "another-secret-key")
    tokens = [sealed(key, "sk-live-1"), sealed(other, "sk-other"), "not-a-token", sealed(key, "é")]
    assert opener.open_in_child("", SECRET_KEY, tokens) == ["sk-live-1", None, None, "é"]


def test_the_explicit_key_is_used_whole_and_one_that_is_no_key_opens_nothing() -> None:
    explicit = Fernet.generate_key().decode()
    tokens = [sealed(Fernet(explicit.encode()), "sk-live-2")]
    assert opener.open_in_child(explicit, SECRET_KEY, tokens) == ["sk-live-2"]
    assert opener.open_in_child("", SECRET_KEY, tokens) == [None]  # not the derived key's
    assert opener.open_in_child("not-a-fernet-key", SECRET_KEY, tokens) == [None]


def test_the_key_is_derived_as_the_stored_secrets_were_sealed() -> None:
    """``crypto`` sealed the stored secrets with this very derivation before it moved
    here: HKDF-SHA256 over SECRET_KEY, salt and info fixed."""
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"switchyard-secrets", info=b"provider-secret"
    ).derive(SECRET_KEY.encode())
    then = Fernet(base64.urlsafe_b64encode(derived))
    assert opener.fernet("", SECRET_KEY).decrypt(sealed(then, "x").encode()) == b"x"


def test_a_child_that_cannot_run_or_answers_nonsense_leaves_every_token_to_the_caller(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    tokens = [sealed(opener.fernet("", SECRET_KEY), "sk-live-3"), "x"]
    monkeypatch.setattr(sys, "executable", "/nonexistent/python")
    assert opener.open_in_child("", SECRET_KEY, tokens) == [None, None]

    def answers(values: object) -> None:
        def run(*args: object, **kwargs: object) -> subprocess.CompletedProcess[bytes]:
            out = f'{{"opened": {values}}}'.encode()
            return subprocess.CompletedProcess([], 0, stdout=out, stderr=b"")

        monkeypatch.setattr(subprocess, "run", run)

    for nonsense in ('["sk-live-3"]', '"sk-live-3"', "[1, 2]"):
        answers(nonsense)
        assert opener.open_in_child("", SECRET_KEY, tokens) == [None, None]
    assert "sk-live-3" not in caplog.text  # a plaintext is never logged
