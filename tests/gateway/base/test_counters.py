"""The counter service's shelf of books (``gateway.base.counters.CounterBooks``): every
book and operation is registered by the module that defines it, the service knows none
by name, and the supervisor (no Django) serves all of them once it imported the
wiring's list of book modules."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.apps import counter_books
from gateway.base import hooks
from gateway.base.counters import CounterBooks
from gateway.server.supervisor import Plan

ROOT = Path(__file__).resolve().parents[3]


def test_each_registered_book_is_an_attribute_and_answers_its_operations() -> None:
    books = CounterBooks()
    assert {name for name, _ in hooks.counter_books.items()} == {
        "limits",
        "cooldowns",
        "logins",
        "ledger",
        "retries",
        "mcp",  # answers to relayed MCP requests (gateway.features.mcp.mailbox_book)
        "affinity",  # shared cache affinity (gateway.routing.affinity_book)
        "registry",  # the workers told of registry changes (gateway.access.registry_book)
    }
    assert books.answer(["ping"]) == ["pong"]
    assert books.answer(["admit", 1, 0, 0, 0, -1, "total", 0.0]) == ["ok", None]
    assert books.answer(["claim", 7, 1, 0, 100]) == ["ok"]
    assert books.answer(["claim", 7, 1, 0, 100]) == ["full"]
    assert books.limits.minutes[7] == [100, 1, 0]
    assert books.answer(["login", "failed", [["account:ops", 1]], 10.0]) == ["ok", 1.0]
    assert books.logins.entries["account:ops"] == (1, 10.0)
    assert books.answer(["cooldown_view", 0, 60]) == ["ok", []]
    assert books.answer(["ledger_get", "s", [["c"]]]) == ["ok", [None]]
    assert books.answer(["retry_ask", "r", 0.2, 1, 60.0, [["r", 5]]]) == ["ok", True]
    assert books.retries.routes["r"].requests == 5
    assert books.answer(["registry_changed"]) == ["ok", 1]
    assert books.answer(["affinity_put", "r", 9, 3, 300.0, 1000.0]) == ["ok"]
    assert books.answer(["affinity_get", "r", 9, 1100.0]) == ["ok", 3, 200.0]
    assert CounterBooks().limits is not books.limits  # one of each per service


def test_an_unknown_operation_or_book_is_an_error() -> None:
    books = CounterBooks()
    with pytest.raises(ValueError, match="unknown operation 'nope'"):
        books.answer(["nope"])
    with pytest.raises(AttributeError, match="no book 'nope'"):
        _ = books.nope


def test_a_name_is_registered_once() -> None:
    with pytest.raises(ValueError, match="registered already"):
        hooks.counter_ops.register("admit", lambda books, *args: ["ok"])


def test_the_supervisor_serves_every_book_without_django(tmp_path) -> None:
    """The supervisor imports the book modules the plan names (``serve`` gives it the
    wiring's list), then serves their operations; none of them imports Django."""
    plan = Plan("", 0, socket=str(tmp_path / "c.sock"), books=list(counter_books()))
    code = """
import json, socket, sys
from gateway.server import supervisor
plan = supervisor.Plan(**json.loads(sys.argv[1]))
assert supervisor.start_service(plan) is None
with socket.socket(socket.AF_UNIX) as conn:
    conn.connect(plan.socket)
    lines = conn.makefile("rb")
    for request in (
        [1, "admit", 1, 0, 0, 0, -1, "total", 0.0],
        [2, "login", "check", [["account:ops", 5]], 0.0],
        [3, "cooldown_view", 0, 60],
        [4, "ledger_get", "s", [["c"]]],
    ):
        conn.sendall(json.dumps(request).encode() + b"\\n")
        print(lines.readline().decode().strip())
print(sorted(m for m in sys.modules if m.split(".")[0] == "django"))
"""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(
        [sys.executable, "-c", code, plan.to_json()],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert [json.loads(line) for line in result.stdout.splitlines()] == [
        [1, "ok", None],
        [2, "ok", 0.0],
        [3, "ok", []],
        [4, "ok", [None]],
        [],
    ]
