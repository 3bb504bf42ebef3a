"""A database of the local Redis for a live test's own (its gateways write under the
default key names): claimed, so that no other test run at the same time (CI and a
developer, or two worktrees) uses it, and emptied before and after.

Why a claim: keys are named by key and deployment id, and every fresh PostgreSQL database
numbers those from 1, so a shared database mixed two runs' budget spend, holds and
cooldowns, and one run's flush at its start or end wiped the other's mid-burst (the spend
was then reloaded from a request log still being written): a budget burst served 12 of 10
that way. The unit tests use databases 0, 9 and 11 to 15, under key prefixes of each
test's own (tests/gateway/conftest.py ``redis_prefix``), and never empty one."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
REDIS_TEST_DATABASES = (2, 3, 4, 5, 6, 7, 8)
REDIS_CLAIM = "switchyard-test:claimed-by"
REDIS_CLAIM_SECONDS = 3600


def redis_up() -> bool:
    import redis

    try:
        return bool(redis.Redis(host=REDIS_HOST, port=REDIS_PORT, socket_timeout=2).ping())
    except redis.RedisError:
        return False


@contextmanager
def own_redis_database() -> Iterator[str]:
    """The URL of a Redis test database no other test run holds: claimed (waiting up to
    two minutes for one), emptied but for the claim, and emptied after. Skips the test
    when Redis is not running."""
    import redis

    if not redis_up():
        pytest.skip("the local Redis is not running")

    claim = uuid.uuid4().hex
    deadline = time.monotonic() + 120
    while True:
        for number in REDIS_TEST_DATABASES:
            client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=number)
            if client.set(REDIS_CLAIM, claim, nx=True, ex=REDIS_CLAIM_SECONDS):
                break
        else:
            assert time.monotonic() < deadline, "every Redis test database is claimed"
            time.sleep(1)
            continue
        break
    for name in client.scan_iter(count=1000):  # empty, the claim kept
        if name != REDIS_CLAIM.encode():
            client.delete(name)
    try:
        yield f"redis://{REDIS_HOST}:{REDIS_PORT}/{number}"
    finally:
        if client.get(REDIS_CLAIM) == claim.encode():
            client.flushdb()  # the claim goes with the rest
