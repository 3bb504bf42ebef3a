"""The machine's PostgreSQL and Redis for the ``services`` tests: started when they are
down (skipping where they are not installed), and a database of a test module's own on
each (the ``database_url`` and ``redis_url`` fixtures of tests/integration/conftest.py).

A test's PostgreSQL database is a copy of a template migrated once per test process
(``migrated_template``): a whole ``migrate`` on PostgreSQL is ~8 s of a gateway's start
on the 2-core CI machine, ``CREATE DATABASE ... TEMPLATE`` ~0.7 s; a gateway on a copy
skips its own ``migrate``, which would find nothing to do (~3 s;
``tests.live.MIGRATED_DATABASES``)."""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import psycopg
import pytest

from tests.live import MIGRATED_DATABASES, gateway_env, manage
from tests.own_redis import REDIS_PORT, redis_up

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
TEMPLATE_PREFIX = "switchyard_template"


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


def pg_url(name: str) -> str:
    return f"postgresql://postgres@127.0.0.1:5432/{name}"


_template_lock = threading.Lock()
_template: str | None = None


def _drop_database(name: str) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _drop_template(name: str) -> None:
    """``atexit``: the template goes with its process (quietly when the server went first)."""
    with suppress(psycopg.Error):
        _drop_database(name)


def _drop_orphaned_templates(admin: psycopg.Connection) -> None:
    """Drop the templates of test processes that are gone without their ``atexit``
    (killed by a timeout): the name carries the process id."""
    rows = admin.execute(
        "SELECT datname FROM pg_database WHERE datname LIKE %s", (f"{TEMPLATE_PREFIX}_%",)
    ).fetchall()
    for (name,) in rows:
        pid = name.removeprefix(f"{TEMPLATE_PREFIX}_").split("_")[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def migrated_template() -> str:
    """The name of a database on the machine's PostgreSQL migrated once per test process
    (``switchyard_template_<pid>_<random>``), dropped when the process exits. PostgreSQL
    copies a template only while nobody is connected to it: the ``migrate`` process has
    exited and the admin connections here are closed when this returns, and no test
    connects to it (each gets a copy)."""
    global _template
    with _template_lock:
        if _template is not None:
            return _template
        ensure_services()
        name = f"{TEMPLATE_PREFIX}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            _drop_orphaned_templates(admin)
            admin.execute(f'CREATE DATABASE "{name}"')
        atexit.register(_drop_template, name)
        with tempfile.TemporaryDirectory(prefix="switchyard-pg-template-") as data_dir:
            env = gateway_env(Path(data_dir), {"DATABASE_URL": pg_url(name)})
            manage(env, "migrate", "--no-input", "--skip-checks", "-v", "0")
        _template = name
        return name


@contextmanager
def own_database(prefix: str = "switchyard_test", migrated: bool = True) -> Iterator[str]:
    """The URL of a fresh database on the machine's PostgreSQL (started when down, with
    Redis), named ``prefix`` and a random tail, dropped afterwards: a copy of
    ``migrated_template`` unless ``migrated`` is False (then empty)."""
    ensure_services()
    template = f' TEMPLATE "{migrated_template()}"' if migrated else ""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"{template}')
    url = pg_url(name)
    if migrated:
        MIGRATED_DATABASES.add(url)
    try:
        yield url
    finally:
        MIGRATED_DATABASES.discard(url)
        _drop_database(name)
