"""Typed reads of the environment (``gateway.base.env``): a value that is not of its type,
or below its minimum, stops the start with ``ImproperlyConfigured`` naming the variable and
the value, never a request later; an unset or empty variable is its default."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from gateway.base.env import env_bool, env_float, env_int, env_list, env_str

NAME = "SWITCHYARD_TEST_ENV_VALUE"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch):
    def set_to(value: str | None) -> None:
        if value is None:
            monkeypatch.delenv(NAME, raising=False)
        else:
            monkeypatch.setenv(NAME, value)

    return set_to


@pytest.mark.parametrize("raw", ["1", "true", "TRUE", " yes ", "on"])
def test_true_spellings(env, raw) -> None:
    env(raw)
    assert env_bool(NAME) is True


@pytest.mark.parametrize("raw", ["0", "false", "No", "off", ""])
def test_false_spellings(env, raw) -> None:
    env(raw)
    assert env_bool(NAME, default=True) is False


def test_an_unset_boolean_is_its_default(env) -> None:
    env(None)
    assert env_bool(NAME) is False
    assert env_bool(NAME, default=True) is True


def test_a_boolean_that_is_not_one_names_the_variable(env) -> None:
    env("sometimes")
    with pytest.raises(ImproperlyConfigured, match=f"{NAME} must be a boolean.*'sometimes'"):
        env_bool(NAME)


def test_integers(env) -> None:
    env(None)
    assert env_int(NAME, 7) == 7
    env("  ")
    assert env_int(NAME, 7) == 7
    env(" 42 ")
    assert env_int(NAME, 7) == 42
    env("4.5")
    with pytest.raises(ImproperlyConfigured, match=f"{NAME} must be an integer, got '4.5'"):
        env_int(NAME, 7)


def test_an_integer_below_its_minimum_is_refused(env) -> None:
    env("0")
    with pytest.raises(ImproperlyConfigured, match=f"{NAME} must be at least 1, got 0"):
        env_int(NAME, 7, minimum=1)
    env("1")
    assert env_int(NAME, 7, minimum=1) == 1


def test_numbers(env) -> None:
    env(None)
    assert env_float(NAME, 0.5) == 0.5
    env("2.25")
    assert env_float(NAME, 0.5) == 2.25
    env("fast")
    with pytest.raises(ImproperlyConfigured, match=f"{NAME} must be a number, got 'fast'"):
        env_float(NAME, 0.5)
    env("-1")
    with pytest.raises(ImproperlyConfigured, match=f"{NAME} must be at least 0.0, got -1.0"):
        env_float(NAME, 0.5, minimum=0.0)


def test_lists_drop_blanks_and_spaces(env) -> None:
    env(None)
    assert env_list(NAME) == []
    assert env_list(NAME, "a,b") == ["a", "b"]
    env(" a , ,b,, c ")
    assert env_list(NAME) == ["a", "b", "c"]


def test_strings_are_read_as_they_are(env) -> None:
    env(None)
    assert env_str(NAME, "fallback") == "fallback"
    env(" spaced ")
    assert env_str(NAME) == " spaced "
