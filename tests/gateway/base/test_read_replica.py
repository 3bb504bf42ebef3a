"""DATABASE_REPLICA_URL: the console's reads of the journal's tables go to the replica,
every write and the gateway's own reads to the primary. Two SQLite files stand in for
them, in a process of their own (the test run's database has one alias)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from gateway.base import read_replica

ROOT = Path(__file__).resolve().parents[3]


def test_console_reads_go_to_the_replica_and_everything_else_to_the_primary(tmp_path) -> None:
    env = {
        **os.environ,
        "SWITCHYARD_DATA_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'primary.sqlite3'}",
        "DATABASE_REPLICA_URL": f"sqlite:///{tmp_path / 'replica.sqlite3'}",
        "SWITCHYARD_MASTER_KEY": "sy-replica-test",
        "DJANGO_SETTINGS_MODULE": "gateway.server.settings",
        "PYTHONPATH": str(ROOT),
    }
    env.pop("REDIS_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "tests.gateway.base.replica_check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["outside"] == ["req-on-primary"]  # the gateway's own reads
    assert report["inside"] == ["req-on-replica"]  # the console's
    assert report["users_inside"] is True  # users, sessions, keys: the primary always
    assert report["written_to"] == ["default"]
    assert report["logs_status"] == 200
    assert report["logs_page"] == ["req-on-replica"]
    assert report["asgi_logs_page"] == ["req-on-replica"]
    assert report["csv_status"] == 200
    assert report["csv"] == ["route-on-replica"]  # a streamed export, read after the view
    assert report["dashboard"] == [200, 200, 200]


def test_without_a_replica_the_router_leaves_every_read_to_the_default() -> None:
    from django.conf import settings

    from gateway.models import RequestLog

    router = read_replica.ReplicaRouter()
    assert read_replica.REPLICA not in settings.DATABASES
    with read_replica.console_reads():
        assert router.db_for_read(RequestLog) is None
    assert router.db_for_write(RequestLog) == "default"
