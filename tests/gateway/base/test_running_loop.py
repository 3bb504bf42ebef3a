"""The running loop held for a request's context: answered without asyncio's lookup (a
``getpid`` system call on Python 3.11) where it is still the running loop, asked of
asyncio everywhere else (gateway/base/running_loop.py)."""

from __future__ import annotations

import asyncio

import pytest

from gateway.base import lifecycle, running_loop
from gateway.server.send_coalescing import CoalescingApp


class Lookups:
    """Counts asyncio.get_running_loop calls (running_loop asks through the module)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        real = asyncio.get_running_loop

        def counted() -> asyncio.AbstractEventLoop:
            self.count += 1
            return real()

        monkeypatch.setattr(asyncio, "get_running_loop", counted)


async def test_the_loop_held_is_answered_without_a_lookup(monkeypatch):
    loop = asyncio.get_running_loop()
    lookups = Lookups(monkeypatch)
    token = running_loop.hold(loop)
    try:
        assert running_loop.get() is loop
        assert running_loop.current_task() is asyncio.current_task(loop)

        async def child() -> asyncio.AbstractEventLoop:  # a task the request starts
            return running_loop.get()

        assert await asyncio.create_task(child()) is loop
        assert lookups.count == 0
    finally:
        running_loop.release(token)
    assert running_loop.get() is loop  # asked again once let go
    assert lookups.count == 1


async def test_a_thread_given_the_requests_context_asks_asyncio(monkeypatch):
    token = running_loop.hold(asyncio.get_running_loop())
    try:
        # asgiref and to_thread copy the context into the thread: no loop runs there
        with pytest.raises(RuntimeError):
            await asyncio.to_thread(running_loop.get)

        def own_loop() -> bool:
            async def inner() -> bool:
                return running_loop.get() is asyncio.get_event_loop()

            return asyncio.run(inner())  # a loop of the thread's own

        assert await asyncio.to_thread(own_loop)
    finally:
        running_loop.release(token)


async def test_a_forked_child_asks_asyncio(monkeypatch):
    loop = asyncio.get_running_loop()
    token = running_loop.hold(loop)
    try:
        monkeypatch.setattr(running_loop, "_forks", running_loop._forks + 1)  # after a fork
        lookups = Lookups(monkeypatch)
        assert running_loop.get() is loop
        assert lookups.count == 1
    finally:
        running_loop.release(token)


async def test_a_request_behind_the_server_wrapper_looks_the_loop_up_once(monkeypatch):
    """What a request's path asks for per loop (start-up, the HTTP client, the journal,
    the retry budget, the cooldowns, its own task) comes from the one lookup of the
    server's wrapper, which lets it go when the request ends."""
    loop, task = asyncio.get_running_loop(), asyncio.current_task()
    seen: list[object] = []

    async def app(scope, receive, send):
        seen.append(running_loop.get())
        seen.append(running_loop.current_task())
        await asyncio.sleep(0)
        seen.append(running_loop.get())
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        pass

    lookups = Lookups(monkeypatch)
    await CoalescingApp(app)({"type": "http"}, receive, send)
    assert lookups.count == 1  # the wrapper's
    assert seen == [loop, task, loop]
    assert running_loop._held.get() is None  # let go: what runs next in this task asks


async def test_request_finished_forgets_the_task_it_is_given():
    task = asyncio.current_task()
    before = lifecycle.activity()[1]
    lifecycle.request_started(task)
    assert task in lifecycle._requests
    lifecycle.request_finished(task)
    assert task not in lifecycle._requests
    assert lifecycle.activity()[1] == before


def test_the_forks_counter_moves_in_a_child():
    import os

    if not hasattr(os, "fork"):
        pytest.skip("no fork here")
    read, write = os.pipe()
    before = running_loop._forks
    pid = os.fork()
    if pid == 0:  # the child: report what it counts, and leave at once
        os.write(write, str(running_loop._forks).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    assert int(os.read(read, 32)) == before + 1
    os.close(read)
