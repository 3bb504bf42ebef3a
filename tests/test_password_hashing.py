"""The test process's quick password hashing (tests/password_hashing.py): what it writes
is cheap here and still verified by Django's own hasher, as a live server's is."""

from __future__ import annotations

import pytest
from django.contrib.auth import hashers
from django.contrib.auth.hashers import PBKDF2PasswordHasher, check_password, make_password

from .password_hashing import DJANGOS, QUICK, QuickPBKDF2PasswordHasher, quick_hashers


def test_the_test_process_hashes_with_a_thousand_iterations() -> None:
    encoded = make_password("pw-123456789")
    algorithm, iterations, _salt, _hash = encoded.split("$")
    assert (algorithm, int(iterations)) == ("pbkdf2_sha256", 1_000)
    assert isinstance(hashers.identify_hasher(encoded), QuickPBKDF2PasswordHasher)
    assert check_password("pw-123456789", encoded)
    assert not check_password("pw-wrong", encoded)


def test_djangos_own_hasher_verifies_what_it_writes() -> None:
    """A live server in a subprocess keeps Django's hashers: it must sign these in."""
    encoded = make_password("pw-123456789")
    assert PBKDF2PasswordHasher().verify("pw-123456789", encoded)
    assert not PBKDF2PasswordHasher().verify("pw-wrong", encoded)


@pytest.mark.parametrize(
    ("configured", "expected"),
    [
        ([DJANGOS, "x.Argon2"], [QUICK, "x.Argon2"]),
        (["x.Argon2", DJANGOS], ["x.Argon2", QUICK]),
        (["x.Argon2"], [QUICK, "x.Argon2"]),
    ],
)
def test_the_quick_hasher_takes_djangos_place(configured: list[str], expected: list[str]) -> None:
    assert quick_hashers(configured) == expected
