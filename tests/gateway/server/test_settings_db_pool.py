"""PostgreSQL connections go through Django's psycopg pool, bounded per process by
SWITCHYARD_DB_POOL_SIZE and checked before each loan; SQLite (the default) has none."""

from __future__ import annotations

import pytest
from django.db.backends.postgresql.base import DatabaseWrapper
from psycopg_pool import ConnectionPool

from gateway.server import settings as gateway_settings

PG_URL = "postgresql://postgres@127.0.0.1:5432/switchyard"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch):
    for name in ("DATABASE_URL", "SWITCHYARD_DB_POOL_SIZE", "SWITCHYARD_DB_POOL_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_postgres_gets_a_bounded_pool_by_default(env) -> None:
    env.setenv("DATABASE_URL", PG_URL)
    config = gateway_settings._database()
    pool = config["OPTIONS"]["pool"]
    assert pool["max_size"] == 2 and pool["min_size"] == 1
    assert config["CONN_MAX_AGE"] == 0  # Django refuses a pool with persistent connections
    assert config["CONN_HEALTH_CHECKS"] is True  # Django then has the pool check each loan


def test_the_bound_comes_from_the_environment(env) -> None:
    env.setenv("DATABASE_URL", PG_URL)
    env.setenv("SWITCHYARD_DB_POOL_SIZE", "6")
    env.setenv("SWITCHYARD_DB_POOL_TIMEOUT", "1.5")
    pool = gateway_settings._database()["OPTIONS"]["pool"]
    assert pool["max_size"] == 6 and pool["timeout"] == 1.5


def test_size_zero_keeps_persistent_connections(env) -> None:
    env.setenv("DATABASE_URL", PG_URL)
    env.setenv("SWITCHYARD_DB_POOL_SIZE", "0")
    config = gateway_settings._database()
    assert "pool" not in config.get("OPTIONS", {})
    assert config["CONN_MAX_AGE"] == 60


def test_sqlite_has_no_pool(env) -> None:
    config = gateway_settings._database()
    assert config["ENGINE"] == "django.db.backends.sqlite3"
    assert "pool" not in config["OPTIONS"]


def test_django_builds_a_checked_bounded_pool_from_it(env) -> None:
    env.setenv("DATABASE_URL", PG_URL)
    config = gateway_settings._database()
    config.setdefault("TIME_ZONE", None)
    config.setdefault("AUTOCOMMIT", True)
    config.setdefault("ATOMIC_REQUESTS", False)
    wrapper = DatabaseWrapper(config, alias="pool-settings-test")
    try:
        pool = wrapper.pool  # built closed: nothing connects here
        assert isinstance(pool, ConnectionPool)
        assert pool.max_size == 2 and pool.min_size == 1
        assert pool._check == ConnectionPool.check_connection  # a dead connection is not lent
    finally:
        wrapper.close_pool()
