"""The running event loop, looked up once a request instead of at each per-loop check.

Python 3.11 makes a ``getpid`` system call at each lookup of the running loop
(``asyncio.get_running_loop``, ``current_task()`` without a loop, ``ensure_future`` and
``create_task`` without one): 0.75 us each on the benchmark's VM. A request's path
meets several modules that keep something per loop (the HTTP client, start-up, the
retry budget, the cooldowns' refresher, the journal's writer) and each asked for the
loop again. The server's entry (``gateway.server.send_coalescing``) looks it up once,
``hold``\\ s it for the request's context and lets it go when the request ends; ``get``
answers it from there while that holds, else asks asyncio as before.

What is held is valid where it is read only in the thread that held it, in the process
that held it: asgiref copies a request's context into its threads (no loop runs there,
or another one) and a forked child keeps its parent's memory, so both are checked (the
thread's ident, a count of forks) and a read that fails either asks asyncio. Held only
while the request runs, it is read in the holding thread only by what runs on that loop
(the request's task, the tasks and callbacks it starts), so only while that loop runs
there: a thread runs one loop at a time."""

from __future__ import annotations

import asyncio
import contextvars
import os
import threading
from typing import Any

_get_ident = threading.get_ident
_forks = 0  # forks this process came through (a child's held loops are its parent's)


def _forked() -> None:
    global _forks
    _forks += 1


os.register_at_fork(after_in_child=_forked)

# (the loop, the ident of the thread that held it, _forks then)
_held: contextvars.ContextVar[tuple[asyncio.AbstractEventLoop, int, int] | None] = (
    contextvars.ContextVar("switchyard_running_loop", default=None)
)
Token = contextvars.Token[tuple[asyncio.AbstractEventLoop, int, int] | None]


def hold(loop: asyncio.AbstractEventLoop) -> Token:
    """Hold ``loop``, the running loop, for this context (a request's task and what it
    starts); ``release`` with the token when the request ends."""
    return _held.set((loop, _get_ident(), _forks))


def release(token: Token) -> None:
    _held.reset(token)


def get() -> asyncio.AbstractEventLoop:
    """``asyncio.get_running_loop()``: the loop held, when it is still this thread's
    running loop; else asked (``RuntimeError`` where none runs, as asyncio's)."""
    held = _held.get()
    if held is not None:
        loop, ident, forks = held
        if ident == _get_ident() and forks == _forks:
            return loop
    return asyncio.get_running_loop()


def current_task() -> asyncio.Task[Any] | None:
    """``asyncio.current_task()``, its loop from ``get``."""
    return asyncio.current_task(get())
