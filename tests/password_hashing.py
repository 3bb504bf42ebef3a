"""Django's PBKDF2 password hasher with a thousand iterations, for the test process.

A password hashed with Django's million iterations costs 0.6 s on the machines the suite
runs on, and the suite makes hundreds (every ``create_user`` with a password, every
sign-in through the form): minutes of a CI run spent on key stretching. This hasher
writes the same format under the same algorithm name (``pbkdf2_sha256$<iterations>$...``),
so a server started as a subprocess (the live tests), which keeps Django's own hashers,
still verifies these passwords: PBKDF2 reads the iteration count from the hash."""

from __future__ import annotations

from django.contrib.auth.hashers import PBKDF2PasswordHasher

DJANGOS = "django.contrib.auth.hashers.PBKDF2PasswordHasher"
QUICK = "tests.password_hashing.QuickPBKDF2PasswordHasher"


class QuickPBKDF2PasswordHasher(PBKDF2PasswordHasher):
    iterations = 1_000


def quick_hashers(configured: list[str]) -> list[str]:
    """``configured`` (``PASSWORD_HASHERS``) with Django's PBKDF2 hasher replaced by the
    quick one in its place; a list without it gets the quick one first."""
    if DJANGOS not in configured:
        return [QUICK, *configured]
    return [QUICK if path == DJANGOS else path for path in configured]
