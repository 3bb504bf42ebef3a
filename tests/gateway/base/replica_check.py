"""Run by test_read_replica.py in a process of its own: two SQLite files stand in for the
primary (DATABASE_URL) and the replica (DATABASE_REPLICA_URL), both migrated; a row
written only to one of them says which one a read went to. Prints a JSON report."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from datetime import UTC, datetime

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway.server.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connections  # noqa: E402
from django.test import AsyncClient, Client  # noqa: E402

from gateway.base import read_replica  # noqa: E402
from gateway.models import RequestLog, UsageRollup  # noqa: E402


def main() -> None:
    # the replica is a copy of the primary (as replication makes it), then each gets a
    # row of its own
    call_command("migrate", database="default", interactive=False, verbosity=0)
    connections.close_all()
    shutil.copyfile(settings.DATABASES["default"]["NAME"], settings.DATABASES["replica"]["NAME"])
    now = datetime.now(UTC)
    hour = now.replace(minute=0, second=0, microsecond=0)
    for alias, name in (("default", "on-primary"), ("replica", "on-replica")):
        RequestLog.objects.using(alias).create(
            request_id=f"req-{name}", dialect="openai", endpoint="chat", route=name, status=200
        )
        UsageRollup.objects.using(alias).create(
            hour=hour, route=f"route-{name}", status_class=2, requests=1
        )
    user = get_user_model().objects.create_superuser("admin", "a@example.com", "pw-12345678")
    report: dict[str, object] = {}
    # the gateway's own reads, and any write, stay on the primary
    report["outside"] = list(RequestLog.objects.values_list("request_id", flat=True))
    with read_replica.console_reads():
        report["inside"] = list(RequestLog.objects.values_list("request_id", flat=True))
        report["users_inside"] = get_user_model().objects.filter(pk=user.pk).exists()
        RequestLog.objects.create(request_id="req-written", dialect="openai", endpoint="chat")
    report["written_to"] = [
        alias
        for alias in ("default", "replica")
        if RequestLog.objects.using(alias).filter(request_id="req-written").exists()
    ]
    client = Client()
    client.force_login(user)
    logs = client.get("/logs/")
    report["logs_status"] = logs.status_code
    report["logs_page"] = [n for n in ("req-on-primary", "req-on-replica") if n in logs.text]
    csv = client.get("/usage/export.csv?window=7d")
    body = b"".join(csv.streaming_content).decode()
    report["csv_status"] = csv.status_code
    report["csv"] = [n for n in ("route-on-primary", "route-on-replica") if n in body]
    report["dashboard"] = [
        client.get("/", {"window": window}).status_code for window in ("1h", "24h", "7d")
    ]

    async def through_asgi() -> list[str]:
        async_client = AsyncClient()
        await async_client.aforce_login(user)
        page = await async_client.get("/logs/")
        return [n for n in ("req-on-primary", "req-on-replica") if n in page.text]

    report["asgi_logs_page"] = asyncio.run(through_asgi())
    json.dump(report, sys.stdout)


if __name__ == "__main__":
    main()
