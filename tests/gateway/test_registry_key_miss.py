"""A key created a moment ago in another process (another ``serve`` worker, the API,
``manage.py create_key``) is accepted at once: an unknown key makes the process check
the stored registry version once and rebuild if it moved on, instead of answering 401
until the next poll. Known keys never cause that check, and a flood of unknown keys
costs a bounded number of version reads."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib

import orjson
import pytest

from gateway import endpoints, journal, registry

from .entries import snapshot

NEW_KEY = "sy-created-a-moment-ago-in-another-worker-42"
HEADERS = {"authorization": f"Bearer {NEW_KEY}"}


def with_new_key(version: int) -> registry.Snapshot:
    entry = dataclasses.replace(registry.MASTER, id=9, name="fresh", prefix="sy-creat")
    newer = snapshot()
    newer.version = version
    newer.keys = {hashlib.sha256(NEW_KEY.encode()).hexdigest(): entry}
    return newer


@pytest.fixture
def stale(monkeypatch: pytest.MonkeyPatch, snapshot_reset) -> dict[str, int]:
    """This process holds version 1; the database is at version 2 with the new key."""
    registry.install(snapshot())  # version 1, no keys
    counts = {"reads": 0, "builds": 0, "stored": 2}

    def read_version() -> int:
        counts["reads"] += 1
        return counts["stored"]

    def build() -> registry.Snapshot:
        counts["builds"] += 1
        return with_new_key(counts["stored"])

    monkeypatch.setattr(registry, "_read_version", read_version)
    monkeypatch.setattr(registry, "build_snapshot", build)
    monkeypatch.setattr(registry, "_miss_check", {"at": -1.0, "task": None})
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


async def test_a_flood_of_unknown_keys_reads_the_version_a_bounded_number_of_times(
    stale,
) -> None:
    stale["stored"] = 1  # nothing new: every key below is simply wrong
    bad = {"authorization": "Bearer sy-wrong"}
    callers = await asyncio.gather(*(endpoints.resolve_fresh_caller(bad) for _ in range(50)))
    assert all(c.key is None and c.key_error == "invalid API key" for c in callers)
    assert stale["reads"] == 1 and stale["builds"] == 0  # one shared check
    for _ in range(50):
        await endpoints.resolve_fresh_caller(bad)
    assert stale["reads"] <= 2  # throttled to one check per MISS_CHECK_INTERVAL
    await asyncio.sleep(registry.MISS_CHECK_INTERVAL + 0.01)
    await endpoints.resolve_fresh_caller(bad)
    assert stale["reads"] <= 3


async def test_a_database_error_leaves_the_answer_a_401(stale, monkeypatch) -> None:
    def broken() -> int:
        raise RuntimeError("database is locked")

    monkeypatch.setattr(registry, "_read_version", broken)
    caller = await endpoints.resolve_fresh_caller(HEADERS)
    assert caller.key is None and caller.key_error == "invalid API key"
    assert registry.current().version == 1
