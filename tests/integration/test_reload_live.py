"""Reloads and retirements under load against a real ``serve --workers 2``: keep-alive
clients sending plain and streamed requests without pause, and a proxy-like client
reusing pooled connections after idle spells (as nginx's upstream keepalive does), see
no error and no connection reset while the supervisor restarts every worker (SIGHUP)
or while one worker is stopped alone (SIGTERM to it: its sibling takes over). The
retiring worker stops accepting at once, answers what reaches it on its connections
with ``Connection: close`` and closes idle connections with a FIN."""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.live import MASTER_KEY, Gateway, running_gateway

AUTH = {"authorization": f"Bearer {MASTER_KEY}"}
PLAIN = {"model": "echo", "messages": [{"role": "user", "content": "hello there"}]}
STREAMED = {  # echo-slow: 50 ms a word, about half a second
    "model": "echo-slow",
    "stream": True,
    "messages": [{"role": "user", "content": " ".join(f"w{n}" for n in range(10))}],
}


@dataclass
class Tally:
    ok: int = 0
    closes: int = 0  # answers with Connection: close (the retiring worker's last ones)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(
        self, response: httpx.Response | None, error: BaseException | None, who: str = ""
    ) -> None:
        with self.lock:
            if error is not None:
                self.errors.append(
                    f"{who}{type(error).__name__}: {error!r} (cause {error.__cause__!r})"
                )
            elif response is not None and response.status_code != 200:
                self.errors.append(f"{response.status_code}: {response.headers}")
            else:
                self.ok += 1
                if response is not None and response.headers.get("connection") == "close":
                    self.closes += 1


def one_request(client: httpx.Client, streamed: bool) -> httpx.Response:
    if not streamed:
        return client.post("/v1/chat/completions", json=PLAIN, headers=AUTH)
    with client.stream("POST", "/v1/chat/completions", json=STREAMED, headers=AUTH) as response:
        text = "".join(response.iter_text())
        if response.status_code == 200 and "data: [DONE]" not in text:
            raise AssertionError(f"stream cut short: {text[-200:]!r}")
    return response


def keep_alive_client(url: str, streamed: bool, stop: threading.Event, tally: Tally) -> None:
    """One connection at a time, reused without pause."""
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    with httpx.Client(base_url=url, limits=limits, timeout=20) as client:
        while not stop.is_set():
            try:
                tally.count(one_request(client, streamed), None)
            except (httpx.HTTPError, AssertionError) as exc:
                tally.count(None, exc, f"keep-alive streamed={streamed}: ")


def proxy_like_client(url: str, stop: threading.Event, tally: Tally) -> None:
    """A pool of kept-alive connections shared by bursts with idle spells between
    them (0 - 0.9 s), as a reverse proxy reuses its upstream connections. A connection's
    idle time is the spell plus the wait for the burst's slowest answer, and it must stay
    under the server's keep-alive timeout (5 s; a draining server waits as long): past
    it the server closes the connection, and a request sent at that very moment is lost
    on any HTTP/1.1 server. While the drain closed idle connections after 1.5 s, a loaded
    CI machine (slow answers in a burst) pushed one past it now and then."""
    limits = httpx.Limits(max_connections=4, max_keepalive_connections=4)
    rng = random.Random(7)
    with httpx.Client(base_url=url, limits=limits, timeout=20) as client:
        while not stop.is_set():
            burst = [threading.Thread(target=lambda: _count(client, tally)) for _ in range(3)]
            for thread in burst:
                thread.start()
            for thread in burst:
                thread.join()
            stop.wait(rng.uniform(0, 0.9))


def _count(client: httpx.Client, tally: Tally) -> None:
    try:
        tally.count(one_request(client, False), None)
    except httpx.HTTPError as exc:
        tally.count(None, exc, "proxy-like: ")


def workers_of(pid: int) -> set[int]:
    """The worker processes (children) of the supervisor ``pid``."""
    children = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            children.add(int(entry))
    return children


def under_load(gw: Gateway, event, settle: float = 1.0) -> Tally:  # type: ignore[no-untyped-def]
    """Run the clients, call ``event()`` once they are going, keep them going until it
    returns and ``settle`` seconds more."""
    tally, stop = Tally(), threading.Event()
    threads = [
        threading.Thread(target=keep_alive_client, args=(gw.url, False, stop, tally)),
        threading.Thread(target=keep_alive_client, args=(gw.url, False, stop, tally)),
        threading.Thread(target=keep_alive_client, args=(gw.url, True, stop, tally)),
        threading.Thread(target=proxy_like_client, args=(gw.url, stop, tally)),
    ]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1.0)
        event()
        time.sleep(settle)
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    return tally


def wait_for(condition, timeout: float = 60) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    env = {"SWITCHYARD_SHUTDOWN_GRACE_SECONDS": "5"}
    with running_gateway(Path(tmp_path_factory.mktemp("reload")), env=env, workers=2) as gw:
        wait_for(lambda: len(workers_of(gw.process.pid)) == 2)
        yield gw


def test_sighup_under_load_gives_no_client_error(gateway: Gateway) -> None:
    before = workers_of(gateway.process.pid)

    def reload() -> None:
        gateway.process.send_signal(signal.SIGHUP)
        # every worker replaced, and the retired ones gone
        wait_for(lambda: not (workers_of(gateway.process.pid) & before))
        wait_for(lambda: len(workers_of(gateway.process.pid)) == 2)

    tally = under_load(gateway, reload)
    assert tally.errors == [], tally.errors
    assert tally.ok > 20, tally.ok
    assert "Traceback" not in gateway.log(), gateway.log()


def test_sigterm_to_one_worker_under_load_gives_no_client_error(gateway: Gateway) -> None:
    before = workers_of(gateway.process.pid)
    retiring = min(before)

    def retire_one() -> None:
        os.kill(retiring, signal.SIGTERM)
        wait_for(lambda: retiring not in workers_of(gateway.process.pid))
        wait_for(lambda: len(workers_of(gateway.process.pid)) == 2)  # replaced

    tally = under_load(gateway, retire_one)
    assert tally.errors == [], tally.errors
    assert tally.ok > 20, tally.ok


def test_sighup_of_a_one_worker_server_under_load_gives_no_client_error(tmp_path: Path) -> None:
    """``serve --workers 1`` (the quick start on one core) reloads the same way: the
    replacement serves before the only worker retires."""
    env = {"SWITCHYARD_SHUTDOWN_GRACE_SECONDS": "5"}
    with running_gateway(tmp_path, env=env, workers=1) as gw:
        wait_for(lambda: len(workers_of(gw.process.pid)) == 1)
        before = workers_of(gw.process.pid)

        def reload() -> None:
            gw.process.send_signal(signal.SIGHUP)
            wait_for(lambda: not (workers_of(gw.process.pid) & before))
            wait_for(lambda: len(workers_of(gw.process.pid)) == 1)

        tally = under_load(gw, reload)
    assert tally.errors == [], tally.errors
    assert tally.ok > 20, tally.ok
