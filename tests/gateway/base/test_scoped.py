"""A context variable set for a block (``gateway.base.scoped``)."""

from __future__ import annotations

import asyncio
from contextvars import ContextVar

import pytest

from gateway.base.scoped import scoped

_var: ContextVar[str | None] = ContextVar("test_scoped", default=None)


def test_the_value_holds_inside_and_the_old_one_comes_back() -> None:
    with scoped(_var, "outer"):
        assert _var.get() == "outer"
        with scoped(_var, "inner"):
            assert _var.get() == "inner"
        assert _var.get() == "outer"
    assert _var.get() is None


def test_an_error_inside_resets_it_too() -> None:
    with pytest.raises(ValueError), scoped(_var, "set"):
        raise ValueError("inside")
    assert _var.get() is None


def test_a_task_started_inside_inherits_it() -> None:
    async def read() -> str | None:
        return _var.get()

    async def main() -> tuple[str | None, str | None]:
        with scoped(_var, "inherited"):
            inside = await asyncio.create_task(read())
        return inside, await asyncio.create_task(read())

    assert asyncio.run(main()) == ("inherited", None)
