"""Encryption at rest for provider secrets (Fernet, key derived from SECRET_KEY or
given as SWITCHYARD_ENCRYPTION_KEY). Every instance sharing a database must share
that key, exactly as they must share SECRET_KEY for sessions.

``cryptography`` (about 9 MB of every process) is imported on first use: a registry whose
secrets are all ``os.environ/`` references never loads it, and a worker that only opens
the registry's sealed secrets when it loads its snapshot opens them ahead, together, in
a child process (``open_ahead``, ``gateway.base.secrets.opener``), so it never loads it
either."""

from __future__ import annotations

import base64
import functools
import os
import sys
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from gateway.base.secrets import opener

if TYPE_CHECKING:
    from cryptography.fernet import Fernet, MultiFernet

PREFIX = "fernet:"

# Tokens opened ahead (``open_ahead``), without the prefix, and their plaintexts: those
# the last call was given, so it holds what the current snapshot holds and no more.
_opened: dict[str, str] = {}


@functools.cache
def _fernet() -> Fernet:
    try:
        return opener.fernet(_explicit_key(), settings.SECRET_KEY)
    except ValueError:
        raise ImproperlyConfigured(
            "SWITCHYARD_ENCRYPTION_KEY must be a Fernet key (32 url-safe base64 bytes)"
        ) from None


def _explicit_key() -> str:
    return os.environ.get("SWITCHYARD_ENCRYPTION_KEY", "")


def sealer(purpose: str) -> MultiFernet:
    """Encrypts and authenticates the tokens the gateway issues and reads back itself (a
    self-contained MCP session id), as opposed to secrets at rest: keyed by SECRET_KEY
    alone (never the encryption key: a token is no stored secret) through HKDF with
    ``purpose`` as its label, so a token of one purpose never opens as another's. It
    encrypts with SECRET_KEY and opens tokens made under SECRET_KEY_FALLBACKS too, so
    a key rotation does not end them at once."""
    keys = (settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", ()))
    return _sealer(purpose, keys)


@functools.lru_cache(maxsize=8)
def _sealer(purpose: str, keys: tuple[str, ...]) -> MultiFernet:
    from cryptography.fernet import Fernet, MultiFernet
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    def fernet(secret: str) -> Fernet:
        derived = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=b"switchyard-tokens", info=purpose.encode()
        ).derive(secret.encode())
        return Fernet(base64.urlsafe_b64encode(derived))

    return MultiFernet([fernet(secret) for secret in keys])


def encrypt(plaintext: str) -> str:
    return PREFIX + _fernet().encrypt(plaintext.encode()).decode()


def open_ahead(ciphertexts: Callable[[], Iterable[str]], in_child: bool | None = None) -> None:
    """Open the sealed values ``ciphertexts()`` gives now, together, so that ``decrypt``
    finds their plaintexts without loading ``cryptography`` here: in a child process
    (``in_child``; by default when this process has not loaded the library, else nothing
    is done, not even ``ciphertexts()``: it opens them itself as fast). Those opened by
    the call before are not opened again; a value that does not open is left to
    ``decrypt``, which says why."""
    global _opened
    if in_child is None:
        in_child = "cryptography.fernet" not in sys.modules
    if not in_child:
        _opened = {}
        return
    tokens = {value.removeprefix(PREFIX) for value in ciphertexts() if value}
    kept = {token: _opened[token] for token in tokens if token in _opened}
    wanted = sorted(tokens - kept.keys())
    if wanted:
        opened = opener.open_in_child(_explicit_key(), settings.SECRET_KEY, wanted)
        kept |= {
            token: text for token, text in zip(wanted, opened, strict=True) if text is not None
        }
    _opened = kept


def decrypt(ciphertext: str) -> str:
    if not ciphertext:
        return ""
    token = ciphertext.removeprefix(PREFIX)
    opened = _opened.get(token)
    if opened is not None:
        return opened
    from cryptography.fernet import InvalidToken

    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise ImproperlyConfigured(
            "a stored provider secret cannot be decrypted: SECRET_KEY or "
            "SWITCHYARD_ENCRYPTION_KEY changed since it was saved"
        ) from None
