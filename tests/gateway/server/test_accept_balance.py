"""New connections spread over the workers of ``serve``: a worker holding more than the
least loaded sibling lets a waiting connection be for that one, never for long; the
table they share marks a stopped or gone worker as nobody's reference."""

from __future__ import annotations

import asyncio
import functools
import os
import socket
import time
from pathlib import Path

import httpx

from gateway.server import accept_balance
from gateway.server.accept_balance import IDLE, BalancedAcceptor, Ledger, free_slot
from tests.live import running_gateway


class _Accepted(asyncio.Protocol):
    made: list[_Accepted] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.made.append(self)
        self.transport = transport


def _listener() -> tuple[socket.socket, int]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))  # bound, not listening: the acceptor listens
    return listener, listener.getsockname()[1]


async def _accepted_within(seconds: float, made: list[_Accepted]) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if made:
            return True
        await asyncio.sleep(0.0002)
    return bool(made)


def test_the_table_reads_the_least_loaded_other_accepting_worker() -> None:
    ledger = Ledger.create()
    try:
        assert ledger.least_other(0) is None  # every slot idle: nobody to defer to
        ledger.set(0, 1)
        ledger.set(3, 7)
        ledger.set(5, 4)
        assert ledger.least_other(0) == 4
        assert ledger.least_other(5) == 1
        ledger.set(5, IDLE)  # stopped accepting: no one's reference
        assert ledger.least_other(0) == 7
        # another process maps the same memory file: a worker sees its siblings' counts
        seen = Ledger(os.dup(ledger.fd))
        assert seen.least_other(3) == 1
        seen.close()
    finally:
        ledger.close()


def test_a_new_worker_takes_the_first_free_slot() -> None:
    assert free_slot(set()) == 0
    assert free_slot({0, 1, 3}) == 2
    assert free_slot(set(range(accept_balance.SLOTS))) == accept_balance.SLOTS - 1


async def test_a_worker_holding_more_lets_a_connection_wait_for_its_sibling() -> None:
    ledger = Ledger.create()
    listener, port = _listener()
    made: list[_Accepted] = []
    _Accepted.made = made
    ledger.set(1, 0)  # a sibling holding no connection
    acceptor = BalancedAcceptor(listener, _Accepted, lambda: 9, ledger, 0)
    client = socket.create_connection(("127.0.0.1", port))
    try:
        # deferred while the sibling may take it ...
        assert not await _accepted_within(accept_balance.MOST_DEFERRED_SECONDS / 2, made)
        # ... which never does here: accepted anyway, soon after
        assert await _accepted_within(0.5, made)
        assert ledger.least_other(1) == 10  # its count, published with the connection
    finally:
        acceptor.stop()
        client.close()
        listener.close()
        ledger.close()


async def test_a_worker_accepts_at_once_when_no_sibling_holds_fewer() -> None:
    for held, sibling in ((9, IDLE), (9, 7), (9, 9), (9, 12), (7, 0)):
        # none; within the slack; as many; more loaded; this one holds too few to defer
        ledger = Ledger.create()
        listener, port = _listener()
        made: list[_Accepted] = []
        _Accepted.made = made
        ledger.set(1, sibling)
        acceptor = BalancedAcceptor(listener, _Accepted, functools.partial(int, held), ledger, 0)
        client = socket.create_connection(("127.0.0.1", port))
        try:
            assert await _accepted_within(accept_balance.MOST_DEFERRED_SECONDS / 2, made), sibling
        finally:
            acceptor.stop()
            client.close()
            listener.close()
            ledger.close()


async def test_a_stopped_acceptor_takes_nothing_and_is_nobodys_reference() -> None:
    ledger = Ledger.create()
    listener, port = _listener()
    made: list[_Accepted] = []
    _Accepted.made = made
    acceptor = BalancedAcceptor(listener, _Accepted, lambda: 0, ledger, 2)
    assert ledger.least_other(0) == 0
    acceptor.stop()
    assert ledger.least_other(0) is None
    acceptor.publish()  # a tick after the stop writes nothing
    assert ledger.least_other(0) is None
    client = socket.create_connection(("127.0.0.1", port))  # (in the queue, for the caller)
    try:
        assert not await _accepted_within(0.05, made)
        connection, _ = listener.accept()  # what the drain takes itself
        connection.close()
    finally:
        client.close()
        listener.close()
        ledger.close()


def _sockets(pid: int) -> int:
    fds = Path(f"/proc/{pid}/fd")
    count = 0
    for fd in fds.iterdir():
        try:
            count += os.readlink(fd).startswith("socket:")
        except OSError:
            continue  # closed meanwhile
    return count


def test_a_pool_opened_at_once_is_spread_over_the_workers(tmp_path: Path) -> None:
    """64 keep-alive connections opened together (a client's pool, a load balancer):
    left to the event loop, one worker took 63, 58 or 48 of them."""
    with running_gateway(tmp_path / "gw", workers=2, seed=False) as gw:
        workers: list[int] = []
        deadline = time.time() + 30
        while len(workers) < 2 and time.time() < deadline:
            children = Path(f"/proc/{gw.process.pid}/task/{gw.process.pid}/children")
            workers = [int(pid) for pid in children.read_text().split()]
            time.sleep(0.2)
        assert len(workers) == 2
        for _ in range(20):  # both serve
            httpx.get(gw.url + "/health/liveliness", timeout=10)
        port = int(gw.url.rsplit(":", 1)[1])
        for _ in range(3):  # (by chance alone, an even split is a coin's toss)
            held = _pool_spread(port, workers)
            # (a worker's other sockets, its database's and upstreams', come and go)
            assert abs(sum(held.values()) - 64) <= 4, held
            assert min(held.values()) >= 24, held


def _pool_spread(port: int, workers: list[int]) -> dict[int, int]:
    """How many of 64 connections opened together each worker holds."""
    before = {pid: _sockets(pid) for pid in workers}
    clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(64)]
    try:
        for client in clients:
            client.sendall(b"GET /health/liveliness HTTP/1.1\r\nhost: t\r\n\r\n")
        for client in clients:
            assert client.recv(4096).startswith(b"HTTP/1.1 200")
        return {pid: _sockets(pid) - before[pid] for pid in workers}
    finally:
        for client in clients:
            client.close()
        time.sleep(0.3)  # (their sockets closed in the workers too)
