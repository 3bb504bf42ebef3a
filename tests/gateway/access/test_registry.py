"""A key or route created a moment ago in another process (another ``serve`` worker,
another instance, the API, ``manage.py create_key``) works at once: an unknown key or
model makes the process wait (briefly) for a check of the stored registry version that
began after it arrived, rebuilding if it moved on, instead of answering 401/404 until
the next poll. Known keys never cause that check, and a flood of unknown keys costs one
version read at a time."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import threading

import orjson
import pytest

from gateway import journal
from gateway.access import registry
from gateway.base.entries import MASTER, GuardrailEntry, Snapshot
from gateway.edge import endpoints
from gateway.features.prompts import snapshot as prompt_snapshot
from gateway.features.prompts.entries import PromptEntry, VersionEntry
from tests.gateway.entries import PROVIDER, route, snapshot

NEW_KEY = "sy-created-a-moment-ago-in-another-worker-42"
HEADERS = {"authorization": f"Bearer {NEW_KEY}"}


def with_new_key(version: int) -> Snapshot:
    entry = dataclasses.replace(MASTER, id=9, name="fresh", prefix="sy-creat")
    newer = snapshot()
    newer.version = version
    newer.keys = {hashlib.sha256(NEW_KEY.encode()).hexdigest(): entry}
    echo = dataclasses.replace(PROVIDER, kind="echo", name="echo-provider")
    newer.routes["fresh-route"] = route("fresh-route", "echo-model", provider=echo)
    return newer


@pytest.fixture
def stale(monkeypatch: pytest.MonkeyPatch, snapshot_reset) -> dict[str, int]:
    """This process holds version 1; the database is at version 2 with the new key."""
    registry.install(snapshot())  # version 1, no keys
    counts = {"reads": 0, "builds": 0, "stored": 2}

    def read_version() -> int:
        counts["reads"] += 1
        return counts["stored"]

    def build() -> Snapshot:
        counts["builds"] += 1
        return with_new_key(counts["stored"])

    monkeypatch.setattr(registry, "_read_version", read_version)
    monkeypatch.setattr(registry, "build_snapshot", build)
    monkeypatch.setattr(registry, "_misses", registry._MissChecks())
    return counts


async def test_a_key_created_elsewhere_is_accepted_on_first_use(stale) -> None:
    caller = await endpoints.resolve_fresh_caller(HEADERS)
    assert caller.key is not None and caller.key.name == "fresh"
    assert stale == {"reads": 1, "builds": 1, "stored": 2}
    assert registry.current().version == 2


async def test_the_request_is_served_not_refused(stale, monkeypatch) -> None:
    monkeypatch.setattr(journal, "record", lambda record: None)
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    async def receive() -> dict:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    app = endpoints.GatewayApp(django_app=None)  # type: ignore[arg-type]
    headers = [(b"authorization", f"Bearer {NEW_KEY}".encode())]
    scope = {"type": "http", "method": "POST", "path": "/v1/chat/completions", "headers": headers}
    await app.api(scope, receive, send, "chat", "openai")
    assert sent[0]["status"] == 400  # past authentication: the empty body is the problem
    assert "model" in orjson.loads(sent[1]["body"])["error"]["message"]


async def test_a_known_key_never_reads_the_version(stale) -> None:
    registry.install(with_new_key(2))
    for _ in range(20):
        assert (await endpoints.resolve_fresh_caller(HEADERS)).key is not None
    assert stale["reads"] == 0


async def test_a_flood_of_unknown_keys_reads_the_version_one_at_a_time(stale, monkeypatch) -> None:
    stale["stored"] = 1  # nothing new: every key below is simply wrong
    reading = {"now": 0, "most": 0}
    counted = registry._read_version

    def read_version() -> int:  # in worker threads: count how many run at once
        reading["now"] += 1
        reading["most"] = max(reading["most"], reading["now"])
        try:
            return counted()
        finally:
            reading["now"] -= 1

    monkeypatch.setattr(registry, "_read_version", read_version)
    bad = {"authorization": "Bearer sy-wrong"}
    callers = await asyncio.gather(*(endpoints.resolve_fresh_caller(bad) for _ in range(50)))
    assert all(c.key is None and c.key_error == "invalid API key" for c in callers)
    # the first miss's check, and one more shared by the 49 that came while it ran
    assert stale["reads"] == 2 and stale["builds"] == 0
    assert reading["most"] == 1
    for _ in range(3):
        await asyncio.gather(*(endpoints.resolve_fresh_caller(bad) for _ in range(50)))
    assert stale["reads"] == 8 and reading["most"] == 1


async def test_a_key_created_during_a_check_waits_for_the_next_one(stale, monkeypatch) -> None:
    """A check that began before the key existed cannot see it: a miss arriving during
    it waits for the next check instead of taking its answer (the 401s of issue #25)."""
    stale["stored"] = 1
    started, release = threading.Event(), threading.Event()
    counted = registry._read_version

    def slow_first_read() -> int:
        version = counted()  # reads the old version: no key yet
        if stale["reads"] == 1:
            started.set()
            release.wait(5)
        return version

    monkeypatch.setattr(registry, "_read_version", slow_first_read)
    early = asyncio.ensure_future(endpoints.resolve_fresh_caller({"authorization": "Bearer x"}))
    await asyncio.to_thread(started.wait, 5)
    stale["stored"] = 2  # the key is created elsewhere while that check runs
    late = asyncio.ensure_future(endpoints.resolve_fresh_caller(HEADERS))
    await asyncio.sleep(0)
    release.set()
    assert (await early).key is None
    caller = await late
    assert caller.key is not None and caller.key.name == "fresh"
    assert stale["reads"] == 2 and stale["builds"] == 1


async def test_the_wait_is_bounded_when_the_check_hangs(stale, monkeypatch) -> None:
    release = threading.Event()

    def hanging() -> int:
        release.wait(10)
        return 2

    monkeypatch.setattr(registry, "_read_version", hanging)
    monkeypatch.setattr(registry, "MISS_WAIT_SECONDS", 0.05)
    try:
        caller = await endpoints.resolve_fresh_caller(HEADERS)
        assert caller.key is None and caller.key_error == "invalid API key"
        assert not release.is_set()  # answered while the check was still stuck
    finally:
        release.set()


async def test_a_key_the_watcher_installs_during_the_wait_is_accepted(stale, monkeypatch) -> None:
    """The check itself is slow (a loaded machine), but the watcher installs the key
    meanwhile: the request looks again after its wait instead of trusting the check."""
    release = threading.Event()

    def slow_read_while_the_watcher_rebuilds() -> int:
        registry.install(with_new_key(2))  # the watcher, on the announcement
        release.wait(10)
        return 2

    monkeypatch.setattr(registry, "_read_version", slow_read_while_the_watcher_rebuilds)
    monkeypatch.setattr(registry, "MISS_WAIT_SECONDS", 0.05)
    try:
        caller = await endpoints.resolve_fresh_caller(HEADERS)
        assert caller.key is not None and caller.key.name == "fresh"
        assert not release.is_set()
    finally:
        release.set()


async def test_a_route_created_elsewhere_is_served_on_first_use(stale, monkeypatch) -> None:
    monkeypatch.setattr(journal, "record", lambda record: None)
    registry.install(dataclasses.replace(with_new_key(1), routes={}))  # key known, route not
    sent = await _post({"model": "fresh-route", "messages": [{"role": "user", "content": "hi"}]})
    assert sent[0]["status"] == 200, sent
    assert stale["reads"] == 1 and stale["builds"] == 1


async def test_an_unknown_model_is_still_a_404(stale, monkeypatch) -> None:
    monkeypatch.setattr(journal, "record", lambda record: None)
    stale["stored"] = 1
    registry.install(with_new_key(1))
    sent = await _post({"model": "no-such-model", "messages": [{"role": "user", "content": "x"}]})
    assert sent[0]["status"] == 404
    assert orjson.loads(sent[1]["body"])["error"]["code"] == "model_not_found"
    assert stale["reads"] == 1 and stale["builds"] == 0


async def test_a_known_model_never_reads_the_version(stale, monkeypatch) -> None:
    monkeypatch.setattr(journal, "record", lambda record: None)
    registry.install(with_new_key(2))
    for _ in range(5):
        sent = await _post({"model": "fresh-route", "messages": [{"role": "user", "content": "x"}]})
        assert sent[0]["status"] == 200
    assert stale["reads"] == 0


def with_prompt(version: int) -> Snapshot:
    newer = with_new_key(version)
    asking = VersionEntry(1, ({"role": "system", "content": "Be brief."},), ())
    newer.parts[prompt_snapshot.PART] = {"fresh": PromptEntry("fresh", {1: asking}, {})}
    return newer


async def test_a_prompt_created_elsewhere_is_expanded_on_first_use(stale, monkeypatch) -> None:
    monkeypatch.setattr(journal, "record", lambda record: None)
    monkeypatch.setattr(registry, "build_snapshot", lambda: with_prompt(2))
    registry.install(with_new_key(1))  # key and route known, the prompt not yet
    body = {
        "model": "fresh-route",
        "prompt_id": "fresh",
        "messages": [{"role": "user", "content": "hi"}],
    }
    sent = await _post(body)
    assert sent[0]["status"] == 200, sent
    assert stale["reads"] == 1 and registry.current().version == 2


async def test_an_unknown_prompt_is_still_a_400(stale, monkeypatch) -> None:
    monkeypatch.setattr(journal, "record", lambda record: None)
    stale["stored"] = 1
    registry.install(with_new_key(1))
    sent = await _post({"model": "fresh-route", "prompt_id": "nope", "messages": []})
    assert sent[0]["status"] == 400
    error = orjson.loads(sent[1]["body"])["error"]
    assert (error["code"], error["param"]) == ("prompt_not_found", "prompt_id")
    assert stale["reads"] == 1 and stale["builds"] == 0


async def test_a_guardrail_created_elsewhere_applies_on_first_use(stale, monkeypatch) -> None:
    """Asked for by name a moment after another process saved it: checked, not a 400."""
    monkeypatch.setattr(journal, "record", lambda record: None)
    words = {"blocked_words": [{"keyword": "forbidden", "action": "BLOCK"}]}
    fresh = GuardrailEntry(
        7, "fresh", "litellm_content_filter", frozenset({"pre_call"}), params=words
    )

    def build() -> Snapshot:
        newer = with_new_key(2)
        newer.guardrails = {"fresh": fresh}
        return newer

    monkeypatch.setattr(registry, "build_snapshot", build)
    registry.install(with_new_key(1))  # no guardrails here yet
    ask = {"model": "fresh-route", "guardrails": ["fresh"]}
    sent = await _post({**ask, "messages": [{"role": "user", "content": "a forbidden word"}]})
    assert sent[0]["status"] == 400, sent
    assert orjson.loads(sent[1]["body"])["error"]["code"] == "guardrail_blocked"
    assert stale["reads"] == 1 and registry.current().version == 2
    sent = await _post({**ask, "guardrails": ["nope"], "messages": []})
    assert orjson.loads(sent[1]["body"])["error"]["message"] == "unknown guardrail 'nope'"


async def _post(body: dict) -> list[dict]:
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    messages = [{"type": "http.request", "body": orjson.dumps(body), "more_body": False}]

    async def receive() -> dict:
        if messages:
            return messages.pop()
        await asyncio.Event().wait()  # the client stays connected
        raise AssertionError

    app = endpoints.GatewayApp(django_app=None)  # type: ignore[arg-type]
    headers = [(b"authorization", f"Bearer {NEW_KEY}".encode())]
    scope = {"type": "http", "method": "POST", "path": "/v1/chat/completions", "headers": headers}
    await app.api(scope, receive, send, "chat", "openai")
    return sent


async def test_a_database_error_leaves_the_answer_a_401(stale, monkeypatch) -> None:
    def broken() -> int:
        raise RuntimeError("database is locked")

    monkeypatch.setattr(registry, "_read_version", broken)
    caller = await endpoints.resolve_fresh_caller(HEADERS)
    assert caller.key is None and caller.key_error == "invalid API key"
    assert registry.current().version == 1


async def test_a_cancelled_check_does_not_fail_the_requests_after_it(stale) -> None:
    loop = asyncio.get_running_loop()
    cancelled = loop.create_task(asyncio.sleep(10))
    cancelled.cancel()
    await asyncio.wait([cancelled])
    registry._misses.loop, registry._misses.queued = loop, cancelled
    caller = await endpoints.resolve_fresh_caller(HEADERS)
    assert caller.key is not None and caller.key.name == "fresh"
