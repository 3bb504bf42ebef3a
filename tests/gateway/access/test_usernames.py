"""Usernames that sign-on, invitations and ``/api/users`` create
(``gateway.access.usernames``): normalised with NFKC and trimmed; refused when empty, too
long, holding control, format or space characters, or outside Django's rule; and never a
look-alike (same confusable skeleton) of a name that exists."""

from __future__ import annotations

import pytest

from gateway.access.usernames import MAX_LENGTH, look_alike, normalise, problem, skeleton


def test_full_width_forms_are_folded_and_the_name_trimmed() -> None:
    assert normalise("  ａｄｍｉｎ ") == "admin"


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("", "sent no usable username"),
        ("a" * (MAX_LENGTH + 1), f"longer than {MAX_LENGTH}"),
        ("ad\x00min", "control, format or space"),
        ("ad\u202emin", "control, format or space"),  # a right-to-left override
        ("ad\u200dmin", "control, format or space"),  # a zero-width joiner
        ("ad min", "control, format or space"),
        ("ad/min", "letters, digits and . @ + - _ only"),
    ],
)
def test_an_unusable_name_says_why(name: str, why: str) -> None:
    assert why in problem(name)


def test_a_usable_name_has_no_problem() -> None:
    for name in ("ada.lovelace@example.com", "ada+ops", "a_b-c", "Zoë", "a" * MAX_LENGTH):
        assert problem(name) == ""


@pytest.mark.parametrize(
    "imitation",
    [
        "аdmin",  # a Cyrillic а
        "ADMIN",  # case
        "adrnin",  # rn for m
        "adm1n",  # 1 for i... then i for l: both read as l
        "ádmin",  # a combining accent
        "αdmin",  # a Greek alpha
    ],
)
def test_a_look_alike_of_an_existing_name_is_found(imitation: str) -> None:
    assert look_alike(imitation, ["ops", "admin"]) == "admin"


def test_the_same_name_or_a_different_one_is_not_a_look_alike() -> None:
    assert look_alike("admin", ["admin"]) is None
    assert look_alike("adams", ["admin", "ops"]) is None
    assert skeleton("admin") != skeleton("adrnln2")
