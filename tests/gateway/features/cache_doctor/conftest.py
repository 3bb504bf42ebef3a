"""A replayed agent trace in the journal (``trace``: two routes on one Anthropic provider
at Claude's prices, one whose system prompt changes every turn, one whose session reads
its cache), with request bodies logged so the doctor can name what changed, and a
signed-in client of a console role (``client_of``), for the cache doctor's tests."""

from __future__ import annotations

import json
import time
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.test import Client

from gateway import journal
from gateway.access import registry, roles
from gateway.models import Deployment, Provider, Route
from tests.gateway.features.cache_doctor.test_doctor import anthropic_body
from tests.gateway.journal.records import full_record


@pytest.fixture
def bodies_on(settings) -> None:
    settings.SWITCHYARD_LOG_BODIES = True
    settings.SWITCHYARD_LOG_BODY_MAX_BYTES = 256 * 1024


def client_of(role: str) -> Client:
    user, _ = User.objects.get_or_create(username=role)
    roles.set_role(user, role)
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def trace(db, django_capture_on_commit_callbacks, bodies_on) -> dict[str, int]:
    """Two routes on one Anthropic provider at Claude's prices, and an agent's session
    on each: 'volatile' sends a new billing header every turn and writes its prompt
    every time; 'steady' writes once and reads after."""
    provider = Provider.objects.create(name="claude", kind="anthropic")
    ids = {}
    for name in ("volatile", "steady"):
        route = Route.objects.create(name=name)
        deployment = Deployment.objects.create(
            route=route, provider=provider, model="claude-sonnet-5", input_price=Decimal(3),
            cache_read_price=Decimal("0.3"), cache_write_price=Decimal("3.75"),
        )  # fmt: skip
        ids[name] = deployment.id
    registry.rebuild()
    start = time.time() - 1800
    records = []
    for n in range(6):
        at = start + 60 * n
        records.append(full_record(
            f"vol-{n}", created_at=at, route="volatile", deployment_id=ids["volatile"],
            session="sess-volatile", input_tokens=40, cache_write_tokens=20_000,
            prompt_cache_breakpoints="auto: system",
            inbound_request=b"", upstream_request=json.dumps(anthropic_body(f"h{n:04d}", n + 1)).encode(),
        ))  # fmt: skip
        records.append(full_record(
            f"std-{n}", created_at=at, route="steady", deployment_id=ids["steady"],
            session="sess-steady", input_tokens=40,
            cache_write_tokens=20_000 if n == 0 else 200, cache_read_tokens=0 if n == 0 else 20_000,
            prompt_cache_breakpoints="auto: system",
            inbound_request=b"", upstream_request=json.dumps(anthropic_body("same", n + 1)).encode(),
        ))  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        journal.write_batch(records)
    return ids
