"""Failed sign-ins counted by key (``gateway.access.login_attempts``): ``free`` failures
cost nothing, each further one doubles the wait up to ``MAX_WAIT``; a key is forgotten
``FORGET_AFTER`` after its last failure and on a success; the wire ops answer as the
module's docstring says. Plain Python: no database."""

from __future__ import annotations

import pytest

from gateway.access import login_attempts
from gateway.access.login_attempts import FORGET_AFTER, MAX_WAIT, LoginAttempts, wait_after

ACCOUNT = ["account:ada", 3]
ADDRESS = ["address:10.0.0.1", 10]


def test_the_free_failures_cost_no_wait() -> None:
    """With 3 free, the attempt after the 1st and 2nd failures is checked at once."""
    book = LoginAttempts()
    assert [book.failed([ACCOUNT], now=100.0) for _ in range(2)] == [0.0, 0.0]
    assert book.check([ACCOUNT], now=100.0) == 0.0


def test_each_failure_past_the_free_ones_doubles_the_wait() -> None:
    book = LoginAttempts()
    waits = [book.failed([ACCOUNT], now=100.0) for _ in range(6)]
    assert waits == [0.0, 0.0, 1.0, 2.0, 4.0, 8.0]
    assert book.check([ACCOUNT], now=103.0) == 5.0  # 8 s from the last, 3 s gone
    assert book.check([ACCOUNT], now=108.0) == 0.0


def test_the_wait_is_capped() -> None:
    assert wait_after(100, last=0.0, free=3, now=0.0) == MAX_WAIT
    assert wait_after(2, last=0.0, free=3, now=0.0) == 0.0
    assert wait_after(3, last=0.0, free=3, now=0.5) == 0.5


def test_the_longest_wait_of_the_keys_is_the_answer() -> None:
    """The account's wait holds even from an address that has failed little."""
    book = LoginAttempts()
    for _ in range(5):
        book.failed([ACCOUNT], now=0.0)  # the 3rd failure waits 1 s, the 4th 2, the 5th 4
    assert book.check([ACCOUNT, ADDRESS], now=0.0) == 4.0
    assert book.check([ADDRESS], now=0.0) == 0.0
    assert book.check([], now=0.0) == 0.0


def test_failures_are_forgotten_an_hour_after_the_last() -> None:
    book = LoginAttempts()
    for _ in range(4):
        book.failed([ACCOUNT], now=0.0)
    assert book.failed([ACCOUNT], now=FORGET_AFTER + 1) == 0.0  # counted afresh: the first
    assert book.entries["account:ada"] == (1, FORGET_AFTER + 1)


def test_a_success_forgets_the_accounts_failures_only() -> None:
    book = LoginAttempts()
    for _ in range(12):
        book.failed([ACCOUNT, ADDRESS], now=0.0)
    book.succeeded(["account:ada"])
    assert book.check([ACCOUNT], now=0.0) == 0.0
    assert book.check([ADDRESS], now=0.0) > 0.0


def test_a_full_book_drops_the_forgotten_then_the_oldest_half(monkeypatch) -> None:
    monkeypatch.setattr(login_attempts, "MAX_KEYS", 4)
    book = LoginAttempts()
    book.entries = {"stale": (1, 0.0), "a": (1, 5000.0), "b": (1, 5001.0), "c": (1, 5002.0)}
    book.failed([["d", 3]], now=5003.0)
    assert set(book.entries) == {"a", "b", "c", "d"}  # only the stale one went
    book.failed([["e", 3]], now=5004.0)
    assert set(book.entries) == {"c", "d", "e"}  # still full: the oldest half, a and b


def test_the_wire_ops_answer_as_documented() -> None:
    book = LoginAttempts()
    for _ in range(3):
        assert book.answer("failed", [ACCOUNT], 0.0)[0] == "ok"
    assert book.answer("failed", [ACCOUNT], 0.0) == ["ok", 2.0]
    assert book.answer("check", [ACCOUNT], 1.0) == ["ok", 1.0]
    assert book.answer("succeeded", ["account:ada"]) == ["ok"]
    assert book.answer("check", [ACCOUNT], 1.0) == ["ok", 0.0]
    with pytest.raises(ValueError, match="unknown login command"):
        book.answer("reset", [])
