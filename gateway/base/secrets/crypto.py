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
    from cryptography.fernet import Fernet

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
