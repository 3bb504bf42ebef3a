"""``serve --workers 2`` without Redis: a key's rpm and budget hold exactly across the
workers (through the counter service the serve process runs for them)."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from decimal import Decimal
from pathlib import Path

import httpx

from tests.command_client import CommandServer
from tests.live import MASTER_KEY, gateway_env, manage, running_gateway

MASTER = {"authorization": f"Bearer {MASTER_KEY}"}
PRICE_IN, PRICE_OUT = Decimal("0.10"), Decimal("0.40")  # seed_demo's, USD per 1M tokens

OPENAI_BODY = {"model": "echo", "messages": [{"role": "user", "content": "hi"}]}
ANTHROPIC_BODY = {**OPENAI_BODY, "max_tokens": 50}


def make_key(env: dict[str, str], commands: CommandServer, *options: str) -> str:
    name = f"limited-{time.monotonic_ns()}"
    out: str = manage(env, "create_key", "--name", name, *options, commands=commands).stdout
    return out.strip().splitlines()[-1]


def burst(url: str, key: str, count: int) -> list[httpx.Response]:
    """``count`` requests at once, each on a new connection (so the kernel spreads them
    over the workers), alternating the OpenAI and Anthropic dialects."""
    start = threading.Barrier(count)

    def one(n: int) -> httpx.Response:
        anthropic = n % 2 == 1
        path, body = (
            ("/v1/messages", ANTHROPIC_BODY) if anthropic else ("/v1/chat/completions", OPENAI_BODY)
        )
        headers = {
            "x-api-key" if anthropic else "authorization": key if anthropic else f"Bearer {key}"
        }
        start.wait()
        return httpx.post(
            url + path, json=body, headers={**headers, "connection": "close"}, timeout=30
        )

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(one, range(count)))


def requests_per_worker(data_dir: Path) -> dict[str, int]:
    """Requests each worker (by pid) counted, from the files they publish for /metrics:
    once every worker has published after the requests before this call were counted
    (each publishes twice a second, with the time it did; 0.1 s for a count that lands
    just after its answer's last byte)."""
    since = time.time() + 0.1
    deadline = time.monotonic() + 10
    while True:
        published = {
            path.stem: json.loads(path.read_text())
            for path in (data_dir / "metrics").glob("*.json")
        }
        if published and all(each["at"] > since for each in published.values()):
            break
        assert time.monotonic() < deadline, "a worker stopped publishing its counts"
        time.sleep(0.05)
    return {
        pid: sum(value for _, value in each["registry"]["requests"])
        for pid, each in published.items()
    }


def wait_until_every_worker_knows(url: str, key: str, path: str = "/v1/models") -> None:
    """A key (or a route, by its ``/v1/models/<name>``) made while serving reaches each
    worker within about a second."""
    deadline = time.monotonic() + 10
    ok = 0
    while ok < 10:  # ten in a row on new connections: both workers know it
        assert time.monotonic() < deadline, f"the workers did not learn {path} for the key"
        reply = httpx.get(
            url + path, headers={"authorization": f"Bearer {key}", "connection": "close"}
        )
        ok = ok + 1 if reply.status_code == 200 else 0
        time.sleep(0.05)


def assert_refused_in_dialect(reply: httpx.Response, retry_within: int = 60) -> None:
    assert reply.status_code == 429, reply.text
    body = reply.json()
    if reply.request.url.path == "/v1/messages":
        assert body["type"] == "error" and body["error"]["type"] == "rate_limit_error"
    else:
        assert body["error"]["type"] == "rate_limit_error" and "type" not in body
    assert 1 <= int(reply.headers["retry-after"]) <= retry_within


def test_rpm_and_budget_are_exact_across_two_workers(tmp_path: Path) -> None:
    data_dir = tmp_path / "gw"
    env = gateway_env(data_dir)
    data_dir.mkdir(parents=True)
    # the keys are made by children forked from one Django start (a manage.py start each
    # was about a second): tests/command_server.py
    commands = CommandServer(env)
    manage(env, "migrate", "--no-input", "--skip-checks", "-v", "0", commands=commands)
    rpm_keys = [make_key(env, commands, "--rpm", "3") for _ in range(3)]
    with running_gateway(data_dir, workers=2) as gw, closing(commands):
        assert list(data_dir.glob("limits-*.sock")), "the serve process shares the counters"
        for attempt, key in enumerate(rpm_keys):
            before = requests_per_worker(data_dir)
            replies = burst(gw.url, key, 10)
            statuses = sorted(r.status_code for r in replies)
            assert statuses == [200] * 3 + [429] * 7, [r.text for r in replies]
            for reply in replies:
                if reply.status_code == 429:
                    assert_refused_in_dialect(reply)
            after = requests_per_worker(data_dir)
            served = [count - before.get(pid, 0) for pid, count in after.items()]
            if len(served) == 2 and all(served):
                break  # both workers served part of the burst, and still exactly 3 passed
            assert attempt < len(rpm_keys) - 1, f"one worker took every request: {served}"

        # A budget: each request costs c (echo answers with the prompt; demo prices) and
        # holds its worst case h (its prompt estimate and max_tokens), a little more than
        # c; with a budget of 2.5c, 2 pass (2c + h > 2.5c: budgets are exact, none
        # overruns), whichever worker serves each one.
        body = {
            "model": "echo",
            "max_tokens": 810,
            "messages": [{"role": "user", "content": "word " * 800}],
        }
        usage = httpx.post(
            gw.url + "/v1/chat/completions", json=body, headers=MASTER, timeout=30
        ).json()["usage"]
        cost = (usage["prompt_tokens"] * PRICE_IN + usage["completion_tokens"] * PRICE_OUT) / 10**6
        budget = (cost * Decimal("2.5")).quantize(Decimal("0.0001"))
        assert 2 * cost < budget <= 3 * cost, (cost, budget)
        budget_key = make_key(env, commands, "--budget", str(budget), "--period", "month")
        wait_until_every_worker_knows(gw.url, budget_key)
        statuses = []
        for _ in range(8):  # one at a time, each on a new connection
            reply = httpx.post(
                gw.url + "/v1/chat/completions",
                json=body,
                headers={"authorization": f"Bearer {budget_key}", "connection": "close"},
                timeout=30,
            )
            statuses.append(reply.status_code)
            if reply.status_code == 429:
                assert_refused_in_dialect(reply, retry_within=31 * 86400)  # next month
                assert reply.json()["error"]["code"] == "budget_exceeded"
            time.sleep(0.2)  # a request's cost is added just after its answer
        assert statuses == [200] * 2 + [429] * 6, statuses
    assert not list(data_dir.glob("limits-*.sock")), "the socket is removed at exit"


def test_a_key_made_while_serving_works_on_every_worker_at_once(tmp_path: Path) -> None:
    """POST /api/keys is answered by one worker; the burst that follows at once, spread
    over both, is never refused as an unknown key (it used to get 401s from the other
    worker until its next registry poll)."""
    with running_gateway(tmp_path / "gw", workers=2) as gw:
        for _ in range(3):
            made = httpx.post(
                gw.url + "/api/keys",
                headers=MASTER,
                json={"name": f"k{time.monotonic_ns()}", "rpm_limit": 3},
            )
            assert made.status_code == 201, made.text
            replies = burst(gw.url, made.json()["key"], 10)
            statuses = sorted(r.status_code for r in replies)
            assert statuses == [200] * 3 + [429] * 7, [r.text for r in replies]
        gw_log = gw.log()
    assert "Traceback" not in gw_log


def test_a_deployments_rpm_cap_holds_across_two_workers(tmp_path: Path) -> None:
    """A deployment with ``rpm: 3`` on a route of its own: 3 of a burst of 10 requests
    pass, whichever worker serves them (each worker used to allow 3); the rest get 503
    with a Retry-After within the minute, in the caller's dialect."""
    with running_gateway(tmp_path / "gw", workers=2) as gw:
        for attempt in range(3):
            name = f"capped-{attempt}"
            made = httpx.post(
                gw.url + "/api/routes/",
                headers=MASTER,
                json={"name": name, "deployments": [{"provider": "echo", "model": "e", "rpm": 3}]},
                timeout=30,
            )
            assert made.status_code == 201, made.text
            wait_until_every_worker_knows(gw.url, MASTER_KEY, f"/v1/models/{name}")
            before = requests_per_worker(gw.data_dir)
            if time.time() % 60 > 55:  # caps count per epoch minute: one burst, one minute
                time.sleep(60.5 - time.time() % 60)
            start = threading.Barrier(10)

            def one(n: int, name: str = name, start: threading.Barrier = start) -> httpx.Response:
                anthropic = n % 2 == 1
                path = "/v1/messages" if anthropic else "/v1/chat/completions"
                body = {**ANTHROPIC_BODY, "model": name}
                start.wait()
                return httpx.post(
                    gw.url + path, json=body, headers={**MASTER, "connection": "close"}, timeout=30
                )

            with ThreadPoolExecutor(10) as pool:
                replies = list(pool.map(one, range(10)))
            statuses = sorted(r.status_code for r in replies)
            assert statuses == [200] * 3 + [503] * 7, [r.text for r in replies]
            for reply in replies:
                if reply.status_code == 503:
                    assert 1 <= int(reply.headers["retry-after"]) <= 60
                    body = reply.json()
                    if reply.request.url.path == "/v1/messages":
                        assert body["type"] == "error"
                        assert body["error"]["type"] == "overloaded_error"
                    else:
                        assert "cap" in body["error"]["message"] and "type" not in body
            after = requests_per_worker(gw.data_dir)
            served = [count - before.get(pid, 0) for pid, count in after.items()]
            if len(served) == 2 and all(served):
                break  # both workers took part, and still exactly 3 passed
            assert attempt < 2, f"one worker took every request: {served}"
        assert "Traceback" not in gw.log()
