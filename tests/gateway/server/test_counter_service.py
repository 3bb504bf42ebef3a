"""Per-key limits shared by the workers of one server without Redis: the counter service
(gateway/server/counter_service.py), the ``SharedCounters`` backend that talks to it, and the
fallback to per-process counters when it cannot be reached."""

from __future__ import annotations

import asyncio
import logging
import math
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
from decimal import Decimal
from pathlib import Path

import pytest

from gateway.base.counters import SOCKET_ENV, CounterClient, Unavailable
from gateway.base.errors import RateLimited
from gateway.limits import counters, limits, spend, subjects
from gateway.limits.leased_limits import Leased
from gateway.limits.limits_book import CounterStore
from gateway.server.counter_service import CounterService
from tests.gateway.limits.test_limits import START, key

ROOT = Path(__file__).resolve().parents[3]
ADMITTED = (subjects.Admission, Leased)  # held in the service, or in a worker's lease


@pytest.fixture
def service(socket_path):
    running = CounterService(socket_path, max_line_bytes=64 * 1024)
    running.start()
    yield running
    running.stop()


@pytest.fixture
def clean(settings, monkeypatch):
    settings.REDIS_URL = ""
    monkeypatch.setattr(spend, "now", lambda: START)
    limits.reset()
    yield
    limits.reset()


async def outcomes(counters, k, count: int, tokens: int = 1) -> list[object]:
    """``count`` admissions at once through ``counters`` (alternating when a list)."""
    backends = counters if isinstance(counters, list) else [counters]
    calls = [backends[n % len(backends)].admit(k, tokens, START) for n in range(count)]
    return await asyncio.gather(*calls, return_exceptions=True)


def refused(results: list[object]) -> list[RateLimited]:
    return [r for r in results if isinstance(r, RateLimited)]


# --- exact across two workers ---------------------------------------------------------------


async def test_rpm_is_exact_across_two_workers_admitting_at_once(clean, service):
    worker_a, worker_b = (
        counters.SharedCounters(service.path),
        counters.SharedCounters(service.path),
    )
    k = key(rpm_limit=3)
    results = await outcomes([worker_a, worker_b], k, 20)
    assert sum(isinstance(r, ADMITTED) for r in results) == 3, results
    errors = refused(results)
    assert len(errors) == 17
    assert all(e.code == "rate_limit_exceeded" and e.retry_after == 60 for e in errors)
    assert all("3 requests per minute" in e.message for e in errors)


async def test_tpm_is_exact_across_two_workers_and_settle_frees_tokens(clean, service):
    worker_a, worker_b = (
        counters.SharedCounters(service.path),
        counters.SharedCounters(service.path),
    )
    k = key(tpm_limit=1000)
    results = await outcomes([worker_a, worker_b], k, 20, tokens=100)
    held = [r for r in results if isinstance(r, ADMITTED)]
    assert len(held) == 10 and len(refused(results)) == 10
    assert all("1000 tokens per minute" in e.message for e in refused(results))
    # One request really used 40 tokens, not 100: 60 freed for the other worker (once
    # the correction is reported: a worker reports it just after the settle)
    await worker_a.settle(k, held[0], -60, Decimal("0"), START)
    await worker_a.leases.return_all()
    assert isinstance(await worker_b.admit(k, 60, START), ADMITTED)
    with pytest.raises(RateLimited):
        await worker_a.admit(k, 1, START)


async def test_budget_is_loaded_once_and_spend_is_shared(clean, service, monkeypatch):
    loads = []

    async def fake_load(key_id, start):
        loads.append(key_id)
        return Decimal("0.70")

    monkeypatch.setattr(spend, "load_spend", fake_load)
    worker_a, worker_b = (
        counters.SharedCounters(service.path),
        counters.SharedCounters(service.path),
    )
    k = key(budget_usd=Decimal("1.00"), budget_period="total")
    first = await worker_a.admit(k, 10, START)
    await worker_b.admit(k, 10, START)
    assert loads == [k.id], "the second worker finds the spend in the service"
    assert service.store.limits.spend == {(k.id, "total"): 70_000_000}

    await worker_a.settle(k, first, 0, Decimal("0.20"), START)
    await worker_b.settle(k, None, 0, Decimal("0.10"), START)
    for worker in (worker_a, worker_b):
        with pytest.raises(RateLimited) as raised:
            await worker.admit(k, 10, START)
        assert raised.value.code == "budget_exceeded" and "$1.0000 spent" in raised.value.message


async def test_concurrent_first_admissions_keep_the_first_loaded_spend(clean, service, monkeypatch):
    spends = iter([Decimal("0.50"), Decimal("0.90"), Decimal("0.90"), Decimal("0.90")])

    async def fake_load(key_id, start):
        await asyncio.sleep(0)
        return next(spends)

    monkeypatch.setattr(spend, "load_spend", fake_load)
    workers = [counters.SharedCounters(service.path) for _ in range(2)]
    k = key(budget_usd=Decimal("1.00"), budget_period="month")
    await outcomes(workers, k, 4)
    assert list(service.store.limits.spend.values()) == [50_000_000]


async def test_limits_admit_uses_the_service_named_in_the_environment(clean, service, monkeypatch):
    monkeypatch.setenv(SOCKET_ENV, service.path)
    k = key(rpm_limit=2, tpm_limit=500)
    reservation = await limits.admit(k, "echo", 100)
    assert isinstance(reservation.backend, counters.SharedCounters)
    await reservation.backend.leases.return_all()  # what the worker's leases used, told
    window = service.store.limits.windows[k.id]
    assert (window.requests, window.tokens) == (1, 100)
    await reservation.settle(30, Decimal("0"))
    await reservation.backend.leases.return_all()
    assert window.tokens == 30
    limits.reset()  # another worker: no state of its own
    await limits.admit(k, "echo", 1)
    with pytest.raises(RateLimited):
        await limits.admit(k, "echo", 1)


async def test_one_round_trip_for_a_key_with_only_an_rpm(clean, service, monkeypatch):
    monkeypatch.setenv(SOCKET_ENV, service.path)
    seen: list[str] = []
    answer = service.store.answer
    monkeypatch.setattr(
        service.store, "answer", lambda request: seen.append(request[0]) or answer(request)
    )
    reservation = await limits.admit(key(rpm_limit=10), "echo", 100)
    await reservation.settle(250, Decimal("0.01"))  # no tpm, no budget: nothing to send
    assert seen == ["lease"]  # and the next requests of the second come out of the lease


# --- unreachable, lost, silent: fall back, warn once, come back ----------------------------


def warnings_in(caplog) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("gateway.limits.") and r.levelno >= logging.WARNING
    ]


async def test_unreachable_service_falls_back_warns_once_and_reconnects(
    clean, socket_path, monkeypatch, caplog
):
    monkeypatch.setenv(SOCKET_ENV, socket_path)  # nothing listens there yet
    caplog.set_level(logging.INFO, logger="gateway.limits")
    k = key(rpm_limit=1)
    first = await limits.admit(k, "echo", 1)
    assert first.backend is limits.memory  # counted in this process
    with pytest.raises(RateLimited):
        await limits.admit(k, "echo", 1)
    for _ in range(20):
        with pytest.raises(RateLimited):
            await limits.admit(k, "echo", 1)
    assert len(warnings_in(caplog)) == 1
    assert "unreachable" in warnings_in(caplog)[0] and socket_path in warnings_in(caplog)[0]

    shared = limits._backend()
    shared.client.retry_seconds = 0.05
    running = CounterService(socket_path)
    running.start()
    try:
        for _ in range(250):  # the first retry was already waiting its 1 s
            await asyncio.sleep(0.02)
            if not shared.client.down:
                break
        assert not shared.client.down, "reconnected in the background"
        other = key(rpm_limit=1)
        assert (await limits.admit(other, "echo", 1)).backend is shared
        assert running.store.limits.leases.held(other.id, "rpm", START) == 1
        assert any("back" in r.getMessage() for r in caplog.records)
        assert len(warnings_in(caplog)) == 1
    finally:
        running.stop()


async def test_service_lost_mid_way_falls_back_without_waiting(clean, service, monkeypatch, caplog):
    monkeypatch.setenv(SOCKET_ENV, service.path)
    k = key(rpm_limit=100)
    assert isinstance((await limits.admit(k, "echo", 1)).backend, counters.SharedCounters)
    reservation = await limits.admit(k, "echo", 1)
    service.stop()
    loop = asyncio.get_running_loop()
    started = loop.time()
    # what is left of the worker's lease (16 requests of this second) is its own to admit
    backends = [(await limits.admit(k, "echo", 1)).backend for _ in range(24)]
    assert loop.time() - started < 1
    assert backends[-1] is limits.memory
    assert sum(b is limits.memory for b in backends) >= 9
    await reservation.settle(1, Decimal("0"))  # settling on a lost service is harmless
    assert len(warnings_in(caplog)) == 1


async def test_a_silent_service_times_out_and_the_request_still_passes(
    clean, socket_path, monkeypatch, caplog
):
    async def never_answer(reader, writer):
        await reader.read()

    server = await asyncio.start_unix_server(never_answer, path=socket_path)
    monkeypatch.setenv(SOCKET_ENV, socket_path)
    shared = limits._backend()
    shared.client.timeout = 0.2
    try:
        k = key(rpm_limit=1)
        waiting = [limits.admit(k, "echo", 1), limits.admit(k, "echo", 1)]
        results = await asyncio.gather(*waiting, return_exceptions=True)
        assert sum(isinstance(r, limits.Reservation) for r in results) == 1
        assert len(refused(results)) == 1  # by this process's own counters
        assert len(warnings_in(caplog)) == 1 and "no answer" in warnings_in(caplog)[0]
    finally:
        server.close()


# --- the service itself ---------------------------------------------------------------------


async def dropped(reader: asyncio.StreamReader) -> bool:
    """Whether the service closed the connection: the end of the stream, or a reset when
    it closed with some of what was sent still unread (Linux resets a Unix socket's peer
    then, as TCP does)."""
    try:
        return await reader.readline() == b""
    except ConnectionResetError:
        return True


async def test_service_answers_pipelined_requests_by_id(service, caplog):
    reader, writer = await asyncio.open_unix_connection(service.path)
    writer.write(
        b'[7,"admit",1,2,0,5,-1,"total",100.5,null]\n'
        b'[8,"admit",1,2,0,5,-1,"total",100.6,null]\n'
        b'[9,"admit",1,2,0,5,-1,"total",101.0,null]\n'
        b'[10,"nonsense"]\n'
        b'[11,"ping"]\n'
    )
    lines = [await reader.readline() for _ in range(5)]
    assert lines[:3] == [b'[7,"ok",100]\n', b'[8,"ok",100]\n', b'[9,"rpm",59.0]\n']
    assert lines[3].startswith(b'[10,"error","ValueError') and lines[4] == b'[11,"pong"]\n'
    writer.write(b"not json\n")
    assert await dropped(reader)  # a garbled stream is dropped...
    writer.close()
    reader, writer = await asyncio.open_unix_connection(service.path)
    writer.write(b"[" + b"1," * 100_000 + b"1]\n")
    assert await dropped(reader)  # ...and so is an endless line
    writer.close()
    assert "overlong line" in caplog.text and "Task exception" not in caplog.text
    client = CounterClient(service.path)
    assert await client.call("ping") == ["pong"]  # ...and the service goes on
    with pytest.raises(RuntimeError, match="refused"):
        await client.call("admit", 1)


async def test_client_raises_unavailable_while_down(socket_path):
    downs: list[str] = []
    client = CounterClient(socket_path, retry_seconds=60, on_down=downs.append)
    for _ in range(3):
        with pytest.raises(Unavailable):
            await client.call("ping")
    assert len(downs) == 1 and client.down


def test_service_socket_is_private_and_removed_at_stop(socket_path):
    running = CounterService(socket_path)
    running.start()
    mode = os.stat(socket_path).st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600
    running.stop()
    assert not os.path.exists(socket_path)


def test_store_window_keeps_order_when_a_late_clock_reads_an_earlier_second():
    store = CounterStore()
    assert store.admit(1, 0, 100, 10, -1, "total", 50.9) == ["ok", 50]
    assert store.admit(1, 0, 100, 10, -1, "total", 51.2) == ["ok", 51]
    assert store.admit(1, 0, 100, 10, -1, "total", 50.95) == ["ok", 51]  # joins the newest
    assert [b[0] for b in store.windows[1].buckets] == [50, 51]
    store.settle(1, 51, -5, "total", 0)
    assert store.windows[1].tokens == 25


def test_store_keeps_only_the_current_budget_period():
    store = CounterStore()
    assert store.admit(1, 0, 0, 0, 100, "d2026-03-10", 0, None) == ["load"]
    assert store.admit(1, 0, 0, 0, 100, "d2026-03-10", 0, 40) == ["ok", None]
    assert store.settle(1, None, 0, "d2026-03-10", 70) == ["ok"]
    assert store.admit(1, 0, 0, 0, 100, "d2026-03-10", 0) == ["budget", 110]
    assert store.admit(1, 0, 0, 0, 100, "d2026-03-11", 0, 0) == ["ok", None]
    assert store.spend == {(1, "d2026-03-11"): 0}
    assert store.settle(2, None, 0, "total", 5) == ["load"]
    # spend given back (a native batch's hold, gateway.features.batches.holds): never below
    # 0, and a spend not loaded yet is left to its load
    assert store.answer(["settle", 1, None, 0, "d2026-03-11", 30]) == ["ok"]
    assert store.answer(["settle", 1, None, 0, "d2026-03-11", -20]) == ["ok"]
    assert store.spend == {(1, "d2026-03-11"): 10}
    store.answer(["settle", 1, None, 0, "d2026-03-11", -50])
    assert store.spend == {(1, "d2026-03-11"): 0}
    assert store.settle(3, None, 0, "total", -5) == ["ok"] and (3, "total") not in store.spend


def test_counter_service_imports_no_django():
    code = (
        "import sys, gateway.server.counter_service; "
        "assert not [m for m in sys.modules if m.startswith('django')], 'django imported'"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)


# --- serve: start-up of the service ---------------------------------------------------------


def _share_limits(data_dir: Path) -> str | None:
    """The counter service at serve's socket path in ``data_dir``, from a thread of this
    process (as serve's supervisor starts it): why it could not, or None."""
    from gateway.apps import counter_books
    from gateway.management.commands import serve
    from gateway.server.supervisor import Plan, start_service

    path, folder = serve._socket_path(data_dir)
    books = list(counter_books())
    return start_service(
        Plan("", 0, socket=path, share_limits=True, temp_folder=folder, books=books)
    )


def test_serve_starts_the_service_for_its_workers(monkeypatch):
    from gateway.core.shared_tokenizer import TOKENIZER_ENV
    from gateway.server import supervisor

    folder = Path(tempfile.mkdtemp(prefix="sy-", dir="/tmp"))
    stops = []
    monkeypatch.setattr(supervisor.atexit, "register", lambda f, *a: stops.append((f, a)))
    monkeypatch.setenv(SOCKET_ENV, "")
    monkeypatch.setenv(TOKENIZER_ENV, "")
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    stale = folder / f"limits-{dead.stdout.strip()}.sock"
    stale.touch()
    try:
        assert _share_limits(folder) is None
        path = os.environ[SOCKET_ENV]
        assert path == str(folder / f"limits-{os.getpid()}.sock")
        assert not stale.exists(), "a socket left by a dead server is removed"
        with socket.socket(socket.AF_UNIX) as probe:
            probe.connect(path)
            probe.sendall(b'[1,"ping"]\n')
            assert probe.recv(100) == b'[1,"pong"]\n'
        for stop, args in reversed(stops):
            stop(*args)
        assert not os.path.exists(path)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_serve_goes_on_with_per_worker_counters_when_the_service_cannot_listen(monkeypatch):
    from gateway.core.shared_tokenizer import TOKENIZER_ENV
    from gateway.server import supervisor

    folder = Path(tempfile.mkdtemp(prefix="sy-", dir="/tmp"))
    monkeypatch.setattr(supervisor.atexit, "register", lambda f, *a: None)
    monkeypatch.delenv(SOCKET_ENV, raising=False)
    monkeypatch.delenv(TOKENIZER_ENV, raising=False)
    (folder / f"limits-{os.getpid()}.sock").mkdir()  # the socket path is taken
    try:
        problem = _share_limits(folder)
        assert problem is not None and "could not listen" in problem
        assert SOCKET_ENV not in os.environ, "the workers count on their own"
        assert TOKENIZER_ENV not in os.environ, "and tokenize on their own"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


async def test_requests_of_one_loop_turn_share_one_write_and_are_answered_by_id(service):
    """A worker's concurrent requests leave in one write; the service answers what one
    read brought in one write too, each answer under its request's id."""
    client = CounterClient(service.path)
    assert await client.call("ping") == ["pong"]  # connected
    writer = client._writer
    assert writer is not None
    writes: list[bytes] = []
    write = writer.write
    writer.write = lambda data: writes.append(data) or write(data)  # type: ignore[method-assign]
    second = START
    replies = await asyncio.gather(
        *(client.call("admit", 40, 3, 0, 1, -1, "total", second) for _ in range(5)),
        client.call("ping"),
    )
    assert len(writes) == 1 and writes[0].count(b"\n") == 6
    assert [r[0] for r in replies] == ["ok", "ok", "ok", "rpm", "rpm", "pong"]


def test_the_wire_writes_what_orjson_cannot_and_reads_an_older_peer():
    from gateway.base.counters import decode_line, encode_line

    assert encode_line([1, "ok", {2: "a"}]) == b'[1,"ok",{"2":"a"}]\n'  # as json wrote it
    assert decode_line(encode_line([1, "x", float("nan")])) == [1, "x", None]  # as orjson has it
    older = decode_line(b'[1,"x",NaN]\n')  # json's NaN, as an older peer wrote it, still reads
    assert isinstance(older[2], float) and math.isnan(older[2])
    assert decode_line(encode_line([1, 2**70])) == [1, 2**70]
