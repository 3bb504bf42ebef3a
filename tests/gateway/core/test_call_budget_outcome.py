"""A budget refusal is told apart from a rate limit (issue #65): it keeps the 429 and
the dialect's ``rate_limit_error`` the SDKs hang on, names ``budget_exceeded`` in the
body (OpenAI's ``code``, Anthropic's beside the type, Google's ``ErrorInfo`` reason),
and is journaled with its own outcome, which ``/api/logs`` and the console's log list
filter on (``status=budget`` / ``status=rate_limit``)."""

from __future__ import annotations

from decimal import Decimal

import orjson
import pytest
from django.contrib.auth.models import User
from django.test import Client

from gateway import journal
from gateway.access import registry
from gateway.base.entries import ProviderEntry
from gateway.core import service
from gateway.limits import limits, spend
from tests.gateway.entries import route, snapshot
from tests.gateway.limits.test_limits import key

MESSAGES = [{"role": "user", "content": "hi"}]
BODIES = {
    "openai": {"model": "echo", "messages": MESSAGES},
    "anthropic": {"model": "echo", "max_tokens": 50, "messages": MESSAGES},
}


@pytest.fixture
def gateway(monkeypatch, settings, snapshot_reset):
    """An echo route, counters in this process, nothing spent yet; the journal's
    records kept in a list."""
    settings.REDIS_URL = ""
    limits.reset()

    async def nothing(counter_id, start):  # type: ignore[no-untyped-def]
        return Decimal("0")

    async def none_spent(key_id, start, end_user=None):  # type: ignore[no-untyped-def]
        return Decimal("0")

    monkeypatch.setattr(spend, "load_counter_spend", nothing)
    monkeypatch.setattr(spend, "load_spend", none_spent)
    records: list[journal.Record] = []
    monkeypatch.setattr(journal, "record", records.append)
    echo = ProviderEntry(1, "echo", "echo", "", "", {}, "", None)
    registry.install(snapshot(route("echo", "echo-1", provider=echo, max_attempts=1)))
    yield records
    limits.reset()


async def twice(dialect: str, k) -> service.Reply:  # type: ignore[no-untyped-def]
    raw = orjson.dumps(BODIES[dialect])
    first = await service.handle("chat", dialect, raw, {}, service.Caller(key=k))
    assert first.status == 200, first.body
    return await service.handle("chat", dialect, raw, {}, service.Caller(key=k))


@pytest.mark.parametrize("dialect", ["openai", "anthropic"])
async def test_a_budget_refusal_has_its_own_code_and_outcome(gateway, dialect) -> None:
    records = gateway
    # control: a rate limit is a 429 rate_limit_error, journaled as such
    limited = await twice(dialect, key(rpm_limit=1))
    assert limited.status == 429
    error = orjson.loads(limited.body)["error"]
    assert error["type"] == "rate_limit_error" and error.get("code") != "budget_exceeded"
    assert records[-1].status == 429 and records[-1].error_kind == "rate_limit_error"

    spent = key(budget_usd=Decimal("0"), budget_period="total")  # a budget with nothing left
    raw = orjson.dumps(BODIES[dialect])
    refused = await service.handle("chat", dialect, raw, {}, service.Caller(key=spent))
    assert refused.status == 429
    error = orjson.loads(refused.body)["error"]
    assert error["type"] == "rate_limit_error"  # what the SDKs retry and classify on
    assert error["code"] == "budget_exceeded"
    assert records[-1].status == 429 and records[-1].error_kind == "budget_exceeded"


def test_gemini_names_the_reason_in_googles_error_info() -> None:
    from gateway.base.errors import RateLimited
    from gateway.codecs.gemini.inbound import render_error

    body = render_error(RateLimited("spent", code="budget_exceeded"))["error"]
    assert (body["code"], body["status"]) == (429, "RESOURCE_EXHAUSTED")
    assert body["details"][0]["reason"] == "BUDGET_EXCEEDED"
    assert "details" not in render_error(RateLimited("slow down"))["error"]


def logged(request_id: str, kind: str) -> journal.Record:
    return journal.Record(
        request_id=request_id,
        key_id=7,
        key_name="ci",
        dialect="openai",
        endpoint="chat",
        route="echo",
        status=429 if kind else 200,
        error_kind=kind,
    )


@pytest.mark.django_db(transaction=True)
def test_the_log_list_filters_budget_refusals_apart_from_rate_limits(settings) -> None:
    settings.SWITCHYARD_MASTER_KEY = "sy-master-budget-filter"
    journal.write_batch(
        [
            logged("ok", ""),
            logged("rpm", "rate_limit_error"),
            logged("spent", "budget_exceeded"),
        ]
    )
    api = Client(HTTP_AUTHORIZATION="Bearer sy-master-budget-filter")

    def ids(status: str) -> list[str]:
        reply = api.get("/api/logs/", {"status": status})
        assert reply.status_code == 200, reply.content
        return [r["request_id"] for r in reply.json()["items"]]

    assert ids("429") == ["spent", "rpm"]  # control: both are 429s
    assert ids("budget") == ["spent"]
    assert ids("rate_limit") == ["rpm"]
    assert api.get("/api/logs/", {"status": "spent"}).status_code == 422

    owner = User.objects.create_superuser("boss", password="pw-123456789")
    console = Client()
    console.force_login(owner)
    page = console.get("/logs/", {"status": "budget"}).content.decode()
    assert "Budget refusals" in page
    assert "budget_exceeded" in page and "rate_limit_error" not in page
