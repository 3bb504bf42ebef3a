"""The services tests' PostgreSQL databases (``services.own_database``): a copy of one
template migrated per test process, nothing left connected to the template (PostgreSQL
refuses to copy it otherwise), and an empty database where one is asked for."""

from __future__ import annotations

import psycopg
import pytest

from tests.live import MIGRATED_DATABASES

from .services import PG_ADMIN, migrated_template, own_database, pg_url

pytestmark = pytest.mark.services


def applied_migrations(url: str) -> set[tuple[str, str]]:
    with psycopg.connect(url) as db:
        rows = db.execute("SELECT app, name FROM django_migrations").fetchall()
    return {(app, name) for app, name in rows}


def test_a_database_is_a_copy_of_the_migrated_template_and_its_own() -> None:
    with own_database() as first, own_database() as second:
        template = migrated_template()
        assert migrated_template() == template  # migrated once per process
        expected = applied_migrations(pg_url(template))
        assert ("gateway", "0001_initial") in expected
        assert applied_migrations(first) == applied_migrations(second) == expected
        assert {first, second} <= MIGRATED_DATABASES  # a gateway on them skips migrate
        with psycopg.connect(first, autocommit=True) as db:
            assert db.execute("SELECT count(*) FROM gateway_route").fetchone() == (0,)
            db.execute("CREATE TABLE only_in_first (n int)")
        with psycopg.connect(second) as db:
            found = db.execute("SELECT to_regclass('only_in_first')").fetchone()
            assert found == (None,)
        with psycopg.connect(PG_ADMIN) as admin:
            connected = admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (template,)
            ).fetchone()
        assert connected == (0,)


def test_an_unmigrated_database_is_empty() -> None:
    with own_database("switchyard_empty", migrated=False) as url:
        with psycopg.connect(url) as db:
            found = db.execute("SELECT to_regclass('django_migrations')").fetchone()
        assert found == (None,)
        assert url not in MIGRATED_DATABASES  # a gateway on it migrates
