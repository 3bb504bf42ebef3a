"""Encryption at rest for provider secrets (Fernet, key derived from SECRET_KEY or
given as SWITCHYARD_ENCRYPTION_KEY). Every instance sharing a database must share
that key, exactly as they must share SECRET_KEY for sessions.

``cryptography`` (about 8 MB of every process) is imported on first use: a registry whose
secrets are all ``os.environ/`` references never loads it."""

from __future__ import annotations

import base64
import functools
import os
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from cryptography.fernet import Fernet, MultiFernet

PREFIX = "fernet:"


@functools.cache
def _fernet() -> Fernet:
    from cryptography.fernet import Fernet
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    explicit = os.environ.get("SWITCHYARD_ENCRYPTION_KEY", "")
    if explicit:
        try:
            return Fernet(explicit.encode())
        except ValueError:
            raise ImproperlyConfigured(
                "SWITCHYARD_ENCRYPTION_KEY must be a Fernet key (32 url-safe base64 bytes)"
            ) from None
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"switchyard-secrets", info=b"provider-secret"
    ).derive(settings.SECRET_KEY.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


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


def decrypt(ciphertext: str) -> str:
    if not ciphertext:
        return ""
    from cryptography.fernet import InvalidToken

    token = ciphertext.removeprefix(PREFIX)
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise ImproperlyConfigured(
            "a stored provider secret cannot be decrypted: SECRET_KEY or "
            "SWITCHYARD_ENCRYPTION_KEY changed since it was saved"
        ) from None
