"""What the journal's retention round deletes for MCP (``retention``): the sign-in's
spent codes, dead tokens and registrations never used, upstream OAuth authorizations
nobody came back from, and the bindings of tasks past their expiry, each leaving what
is still of use."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from gateway.features.mcp import retention
from gateway.models import McpAccessToken, McpAuthorizationCode, McpOAuthClient, McpServer
from gateway.models.mcp import McpOAuthState
from tests.gateway.features.mcp.oauth_server.test_views import (
    REDIRECT,
    check,
    register,
    sign_in,
)


def test_pruning_drops_dead_rows_and_keeps_live_ones(world) -> None:
    from datetime import timedelta

    from django.utils import timezone

    _, live = sign_in(world)
    register()  # a registration that never got a token, but recent
    old = timezone.now() - timedelta(days=40)
    McpOAuthClient.objects.create(client_id="stale", redirect_uris=[REDIRECT], created_at=old)
    McpOAuthClient.objects.filter(client_id="stale").update(created_at=old)
    _, dead = sign_in(world)
    McpAccessToken.objects.filter(
        access_hash=hashlib.sha256(dead["access_token"].encode()).hexdigest()
    ).update(expires_at=old, refresh_expires_at=old)
    McpAuthorizationCode.objects.update(expires_at=old)
    deleted = retention.prune_sign_in(10)
    assert deleted == 1 + 1 + 2  # the stale client, the dead token, both codes
    assert not McpOAuthClient.objects.filter(client_id="stale").exists()
    assert check(live["access_token"]).key is not None
    assert McpOAuthClient.objects.count() == 3


@pytest.mark.django_db(transaction=True)
def test_bindings_are_pruned_past_their_expiry(settings):  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from django.utils import timezone

    from gateway.base import hooks
    from gateway.features.mcp import retention
    from gateway.models import McpServer, McpTask

    settings.SWITCHYARD_LOG_RETENTION_DAYS = 30
    server = McpServer.objects.create(name="jobs", url="http://127.0.0.1:9/mcp")
    now = timezone.now()

    def task(name: str, expires: Any) -> McpTask:
        return McpTask.objects.create(
            task_id=name, server=server, upstream_task_id="u", key_id=1, expires_at=expires
        )

    task("task_expired", now - timedelta(days=2))
    task("task_just_expired", now - timedelta(hours=1))  # a late poll still finds it
    task("task_open", None)
    ancient = task("task_ancient", None)
    McpTask.objects.filter(pk=ancient.pk).update(created_at=now - timedelta(days=31))
    assert retention.prune_tasks(10) == 2
    assert set(McpTask.objects.values_list("task_id", flat=True)) == {
        "task_just_expired",
        "task_open",
    }
    assert retention.prune_tasks in list(hooks.pruners)


def test_upstream_authorizations_nobody_finished_are_dropped(db) -> None:
    server = McpServer.objects.create(name="files", url="https://mcp.example/mcp", oauth="per_user")
    alice = User.objects.create(username="alice")

    def pending(state: str, expires: Any) -> None:
        McpOAuthState.objects.create(
            state_hash=state, server=server, user=alice, verifier_ciphertext="v", expires_at=expires
        )

    pending("expired", timezone.now() - timedelta(seconds=1))
    pending("under-way", timezone.now() + timedelta(minutes=10))
    assert retention.prune_pending_authorizations(10) == 1
    assert list(McpOAuthState.objects.values_list("state_hash", flat=True)) == ["under-way"]
