"""A context variable set for the length of a block, then reset to what it was: the
audit's actor, source and request, the console's replica reads, a guardrail's own calls,
the audit rows' pruning. No Django imports."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TypeVar

T = TypeVar("T")


@contextmanager
def scoped(var: ContextVar[T], value: T) -> Iterator[None]:
    """``var`` is ``value`` inside the block (and in the tasks started inside it)."""
    token = var.set(value)
    try:
        yield
    finally:
        var.reset(token)
