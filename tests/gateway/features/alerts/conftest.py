"""A webhook receiver on 127.0.0.1 (a real HTTP server in a thread) whose answer the
test sets, a key, a team and a user with budgets (``budgeted``), a console owner signed
in (``owner``) and an alert whose delivery failed (``failed``)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from gateway.access import keys, roles
from gateway.models import Profile, Team
from gateway.models.alerts import BudgetAlert


@dataclass
class Receiver:
    url: str
    status: int = 200
    received: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture
def receiver(settings) -> Iterator[Receiver]:
    settings.SWITCHYARD_ALERT_WEBHOOK_PRIVATE = True  # the operator allows 127.0.0.1
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            size = int(self.headers.get("content-length") or 0)
            state.received.append(json.loads(self.rfile.read(size)))
            self.send_response(state.status)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/services/T000/B000/SECRETPATH"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def budgeted(db):
    team = Team.objects.create(name="research", budget_usd=Decimal("100"), budget_period="month")
    owner = User.objects.create_user("ana")
    Profile.objects.create(user=owner, role="member", budget_usd=Decimal("40"))
    key = keys.create_key(name="ci", budget_usd="10", team=team, user=owner).key
    other = keys.create_key(name="batch", team=team, user=owner).key  # no budget of its own
    return key, other, team, owner


@pytest.fixture
def owner(db) -> Client:
    user = User.objects.create_user("own", password="pw-123456789")
    roles.set_role(user, "owner")
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def failed(db) -> BudgetAlert:
    return BudgetAlert.objects.create(
        scope="key",
        subject_id=1,
        subject_name="ci-key",
        period="m2026-03",
        threshold=80,
        spend_usd=Decimal("8.5"),
        budget_usd=Decimal("10"),
        status="failed",
        attempts=8,
        last_error="hooks.example.com answered 502",
    )
