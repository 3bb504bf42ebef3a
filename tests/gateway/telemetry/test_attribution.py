"""Spend attribution: each dialect's own fields (OpenAI ``user`` and
``safety_identifier``, Responses ``user``, Anthropic ``metadata.user_id`` with Claude
Code's session, Gemini ``labels``) name the end user and the session of a request,
the ``x-switchyard-user`` / ``x-switchyard-session`` headers win, and the journal,
the spend rollups and ``/api/spend`` carry them (through the real service, an echo
upstream and the journal's own writer)."""

from __future__ import annotations

import uuid
from decimal import Decimal

import orjson
import pytest
from django.test import Client

from gateway import journal
from gateway.access import registry
from gateway.base.entries import MASTER
from gateway.core import service
from gateway.models import Deployment, Provider, RequestLog, Route
from gateway.models.telemetry import SpendRollup
from gateway.telemetry import spend

SESSION = str(uuid.UUID(int=7))
ACCOUNT = str(uuid.UUID(int=9))
DEVICE = "a" * 64


@pytest.fixture
def echo(db, snapshot_reset, monkeypatch):
    provider = Provider.objects.create(name="echo", kind=Provider.Kind.ECHO)
    for name in ("echo", "other"):
        route = Route.objects.create(name=name)
        Deployment.objects.create(
            route=route,
            provider=provider,
            model=f"{name}-model",
            input_price=Decimal("1000"),  # $0.001 a token: every request costs something
            output_price=Decimal("1000"),
        )
    registry.rebuild()
    records: list[journal.Record] = []
    monkeypatch.setattr(journal, "record", records.append)
    return records


CHAT = {"model": "echo", "messages": [{"role": "user", "content": "hi"}]}

CASES = [
    ("openai", {**CHAT, "user": "u-openai"}, {}, "u-openai", ""),
    ("openai", {**CHAT, "user": "u-old", "safety_identifier": "u-safe"}, {}, "u-safe", ""),
    ("responses", {"model": "echo", "input": "hi", "user": "u-resp"}, {}, "u-resp", ""),
    (
        "responses",
        {"model": "echo", "input": "hi", "safety_identifier": "u-resp-safe"},
        {},
        "u-resp-safe",
        "",
    ),
    (
        "anthropic",
        {**CHAT, "max_tokens": 20, "metadata": {"user_id": "u-anthropic"}},
        {},
        "u-anthropic",
        "",
    ),
    (
        "anthropic",
        {
            **CHAT,
            "max_tokens": 20,
            "metadata": {"user_id": f"user_{DEVICE}_account_{ACCOUNT}_session_{SESSION}"},
        },
        {},
        ACCOUNT,
        SESSION,
    ),
    (
        "gemini",
        {
            "model": "echo",
            "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
            "labels": {"user": "u-gemini", "session": "g-session"},
        },
        {},
        "u-gemini",
        "g-session",
    ),
    (
        "openai",
        {**CHAT, "user": "u-body"},
        {"x-switchyard-user": "u-header", "x-switchyard-session": "h-session"},
        "u-header",
        "h-session",
    ),
    (
        "anthropic",
        {
            **CHAT,
            "max_tokens": 20,
            "metadata": {"user_id": f"user_{DEVICE}_account__session_{SESSION}"},
        },
        {"x-switchyard-session": "header-session"},
        DEVICE,
        "header-session",
    ),
]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("dialect", "body", "headers", "end_user", "session"), CASES)
async def test_each_dialect_names_the_end_user_and_the_session(
    echo, dialect, body, headers, end_user, session
):
    reply = await service.handle(
        "chat", dialect, orjson.dumps(body), headers, service.Caller(key=MASTER)
    )
    assert reply.status == 200, reply.body
    (rec,) = echo
    assert (rec.end_user, rec.session) == (end_user, session)


@pytest.mark.django_db(transaction=True)
def test_the_journal_and_the_spend_rollups_carry_the_attribution(echo, settings):
    settings.SWITCHYARD_MASTER_KEY = "sy-master-spend"
    from asgiref.sync import async_to_sync

    sent = [
        ("echo", {"x-switchyard-user": "alice", "x-switchyard-session": "s1"}),
        ("echo", {"x-switchyard-user": "alice", "x-switchyard-session": "s1"}),
        ("echo", {"x-switchyard-user": "alice", "x-switchyard-session": "s2"}),
        ("other", {"x-switchyard-user": "bob"}),
        ("other", {}),
    ]
    for model, headers in sent:
        body = orjson.dumps({**CHAT, "model": model})
        reply = async_to_sync(service.handle)(
            "chat", "openai", body, headers, service.Caller(key=MASTER)
        )
        assert reply.status == 200
    ids = journal.write_batch(list(echo))
    logs = list(RequestLog.objects.filter(pk__in=ids).order_by("id"))
    assert [(log.end_user, log.session) for log in logs] == [
        ("alice", "s1"),
        ("alice", "s1"),
        ("alice", "s2"),
        ("bob", None),
        (None, None),
    ]
    assert SpendRollup.objects.count() == 4  # (alice, s1) twice in one row

    by_user = {row["end_user"]: row for row in spend.query(["end_user"])}
    alice_cost = sum(log.cost_usd for log in logs if log.end_user == "alice")
    assert by_user["alice"]["requests"] == 3 and by_user["alice"]["cost_usd"] == alice_cost
    assert alice_cost > 0
    assert by_user["bob"]["requests"] == 1 and by_user[""]["requests"] == 1
    sessions = {row["session"]: row["requests"] for row in spend.query(["session"])}
    assert sessions == {"s1": 2, "s2": 1, "": 2}
    per_route_user = spend.query(["route", "end_user"])
    assert {(r["route"], r["end_user"]) for r in per_route_user} == {
        ("echo", "alice"),
        ("other", "bob"),
        ("other", ""),
    }
    total = sum(log.input_tokens + log.output_tokens for log in logs)
    assert sum(r["tokens"] for r in per_route_user) == total

    # the rebuild from the logs gives the very same rows
    before = sorted(spend.query(["key", "end_user", "session", "model"]), key=str)
    spend.rebuild()
    assert sorted(spend.query(["key", "end_user", "session", "model"]), key=str) == before

    # /api/spend: the same figures, grouped and bucketed, as JSON and CSV
    api = Client(HTTP_AUTHORIZATION="Bearer sy-master-spend")
    reply = api.get("/api/spend", {"group_by": "end_user,session", "bucket": "day", "from": "1d"})
    assert reply.status_code == 200, reply.content
    data = reply.json()
    assert data["group_by"] == ["end_user", "session"] and data["bucket"] == "day"
    rows = {(r["end_user"], r["session"]): r for r in data["items"]}
    assert rows[("alice", "s1")]["requests"] == 2 and rows[("alice", "s1")]["bucket"]
    assert Decimal(str(rows[("alice", "s1")]["cost_usd"])) > 0
    hourly = api.get("/api/spend", {"group_by": "model", "bucket": "hour"}).json()["items"]
    assert {r["model"] for r in hourly} == {"echo-model", "other-model"}
    csv = api.get("/api/spend", {"group_by": "key", "format": "csv"})
    assert csv["content-type"].startswith("text/csv")
    assert csv.content.decode().splitlines()[0].startswith("key,requests,errors,")
    filtered = api.get("/api/spend", {"group_by": "session", "end_user": "alice"}).json()
    assert {r["session"] for r in filtered["items"]} == {"s1", "s2"}
    bad = api.get("/api/spend", {"group_by": "planet"})
    assert bad.status_code == 422 and "planet" in bad.json()["detail"]
    assert api.get("/api/spend", {"bucket": "week"}).status_code == 422
    assert Client().get("/api/spend").status_code == 401

    # the log list filters on them (each on its own index) and shows them
    listed = api.get("/api/logs/", {"end_user": "alice", "session": "s1"}).json()["items"]
    assert len(listed) == 2 and {(r["end_user"], r["session"]) for r in listed} == {("alice", "s1")}
