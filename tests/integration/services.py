"""The machine's PostgreSQL and Redis for the ``services`` tests: started when they are
down (skipping where they are not installed), and a database of a test module's own on
each (the ``database_url`` and ``redis_url`` fixtures of tests/integration/conftest.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg
import pytest

from tests.own_redis import REDIS_PORT, redis_up

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def _postgres_up() -> bool:
    try:
        with psycopg.connect(PG_ADMIN, connect_timeout=2):
            return True
    except psycopg.OperationalError:
        return False


def _wait(check: Callable[[], bool], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not come up")
        time.sleep(0.2)


def ensure_services() -> None:
    """Start the machine's PostgreSQL cluster and Redis when they are not running."""
    if not _postgres_up():
        versions = sorted(os.listdir("/etc/postgresql"))
        if not versions or not shutil.which("pg_ctlcluster"):
            pytest.skip("PostgreSQL is not installed here")
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "start"],
            check=False,
            capture_output=True,
        )
        _wait(_postgres_up, "PostgreSQL")
    if not redis_up():
        if not shutil.which("redis-server"):
            pytest.skip("Redis is not installed here")
        os.makedirs("/var/lib/redis", exist_ok=True)
        os.makedirs("/var/log/redis", exist_ok=True)
        subprocess.run(
            [
                "redis-server",
                "--daemonize",
                "yes",
                "--bind",
                "127.0.0.1",
                "-::1",
                "--port",
                str(REDIS_PORT),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                "/var/lib/redis",
                "--logfile",
                "/var/log/redis/ci.log",
            ],
            check=True,
            capture_output=True,
        )
        _wait(redis_up, "Redis")


@contextmanager
def own_database(prefix: str = "switchyard_test") -> Iterator[str]:
    """The URL of a fresh database on the machine's PostgreSQL (started when down, with
    Redis), named ``prefix`` and a random tail, dropped afterwards."""
    ensure_services()
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
