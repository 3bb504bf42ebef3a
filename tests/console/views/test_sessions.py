"""A session read as one conversation: its requests in order, each showing only what is
new since the one before and its answer (parsed by the codecs), with the session's
totals; only what the viewer may see (a member: their own requests). The log detail
links the end user and the session; the log list filters by them and by tag."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import orjson
import pytest
from django.contrib.auth.models import User
from django.test import Client

from gateway.access import roles
from gateway.models import ApiKey, RequestBody, RequestLog, RequestTag

START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def answer(text: str) -> str:
    return orjson.dumps(
        {
            "id": "c",
            "object": "chat.completion",
            "created": 1,
            "model": "m",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
    ).decode()


def logged(n: int, key: ApiKey, messages: list[dict], reply: str, **extra) -> RequestLog:
    log = RequestLog.objects.create(
        request_id=f"req-{n}",
        created_at=START + timedelta(minutes=n),
        key_id=key.pk,
        key_name=key.name,
        dialect="openai",
        endpoint="chat",
        route="chat",
        status=200,
        input_tokens=100 * n,
        output_tokens=10,
        cost_usd=Decimal("0.01"),
        cache_saved_usd=Decimal("0.002"),
        latency_ms=1000,
        session="sess-1",
        end_user="alice@example.com",
        **extra,
    )
    body = orjson.dumps({"model": "chat", "messages": messages}).decode()
    RequestBody.objects.create(log=log, inbound_request=body, outbound_response=answer(reply))
    return log


@pytest.fixture
def session(db):
    member = User.objects.create_user("mia", password="pw-123456789")
    roles.set_role(member, "member")
    other = User.objects.create_user("otto", password="pw-123456789")
    roles.set_role(other, "member")
    mine = ApiKey.objects.create(name="mine", prefix="sy-m", key_hash="m" * 64, user=member)
    theirs = ApiKey.objects.create(name="theirs", prefix="sy-t", key_hash="t" * 64, user=other)
    first = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is 2+2?"},
    ]
    logged(1, mine, first, "Four.", tags=["calc"])
    RequestTag.objects.create(
        log=RequestLog.objects.get(request_id="req-1"), tag="calc", created_at=START
    )
    second = [
        *first,
        {"role": "assistant", "content": "Four."},
        {"role": "user", "content": "And 3+3?"},
    ]
    logged(2, mine, second, "Six.")
    logged(3, theirs, [{"role": "user", "content": "Otto's secret question"}], "Otto's answer")
    return member


def test_the_session_reads_as_one_conversation_with_totals(staff_client, session):
    page = staff_client.get("/sessions/sess-1/")
    assert page.status_code == 200
    html = page.content.decode()
    assert html.count("What is 2+2?") == 1  # the second request shows only what is new
    assert "And 3+3?" in html and "Four." in html and "Six." in html
    assert (
        html.index("What is 2+2?")
        < html.index("Four.")
        < html.index("And 3+3?")
        < html.index("Six.")
    )
    assert "2 earlier messages, shown above" in html  # the question and its answer
    assert "Otto&#x27;s secret question" in html  # an owner sees every request of it
    assert "630" in html  # tokens: 100+10 + 200+10 + 300+10
    assert "$0.03" in html and "$0.006" in html  # cost and cache savings
    assert 'href="/logs/?end_user=alice%40example.com"' in html


def test_a_member_sees_only_their_own_requests_of_a_session(session):
    client = Client()
    client.force_login(session)
    html = client.get("/sessions/sess-1/").content.decode()
    assert "And 3+3?" in html and "Otto" not in html
    assert "2 requests" in html and "320" in html  # the totals of what they may see
    assert client.get("/sessions/nobody-s-session/").status_code == 404


def test_the_log_detail_links_the_end_user_and_the_session(staff_client, session):
    html = staff_client.get("/logs/req-2/").content.decode()
    assert 'href="/sessions/sess-1/"' in html
    assert 'href="/logs/?end_user=alice%40example.com"' in html
    assert 'href="/logs/?session=sess-1"' in html
    tagged = staff_client.get("/logs/req-1/").content.decode()
    assert 'href="/logs/?tag=calc"' in tagged


def test_the_log_list_filters_by_tag_end_user_and_session(staff_client, session):
    by_tag = staff_client.get("/logs/", {"tag": "calc"}).content.decode()
    assert "req-1" in by_tag and "req-2" not in by_tag
    by_session = staff_client.get("/logs/", {"session": "sess-1"}).content.decode()
    assert by_session.count('href="/logs/req-') == 3
    assert 'href="/sessions/sess-1/"' in by_session  # "as a conversation"
    assert (
        staff_client.get("/logs/", {"end_user": "bob"}).content.decode().count('href="/logs/req-')
        == 0
    )


@pytest.fixture
def recent(db):
    """Three sessions in the last hours (two keys, two end users, one tag) and one from
    two days ago; a member holds the key of 'mine-*'."""
    from django.utils import timezone

    member = User.objects.create_user("mei", password="pw-123456789")
    roles.set_role(member, "member")
    mine = ApiKey.objects.create(name="mine", prefix="sy-m2", key_hash="n" * 64, user=member)
    ops = ApiKey.objects.create(name="ops", prefix="sy-o2", key_hash="o" * 64)
    now = timezone.now()
    rows = [
        ("mine-a", mine, "ann", "chat", 2, 30, 200),
        ("mine-a", mine, "ann", "chat", 3, 20, 500),
        ("ops-b", ops, "bob", "claude", 4, 10, 200),
        ("ops-old", ops, "bob", "claude", 5, 60 * 48, 200),
    ]
    for n, (session, key, user, route, cost_cents, minutes_ago, status) in enumerate(rows):
        log = RequestLog.objects.create(
            request_id=f"recent-{n}", created_at=now - timedelta(minutes=minutes_ago),
            key_id=key.pk, key_name=key.name, dialect="openai", endpoint="chat", route=route,
            status=status, input_tokens=100, output_tokens=10, cost_usd=Decimal(cost_cents) / 100,
            session=session, end_user=user, tags=["nightly"] if route == "claude" else None,
        )  # fmt: skip
        if route == "claude":
            RequestTag.objects.create(log=log, tag="nightly", created_at=log.created_at)
    return member


def sessions_in(html: str) -> list[str]:
    import re

    return re.findall(r'href="/sessions/([^/"]+)/"', html)


def test_the_sessions_index_lists_the_windows_sessions_latest_first(staff_client, recent):
    html = staff_client.get("/sessions/").content.decode()
    assert sessions_in(html) == ["ops-b", "mine-a"]  # the last request of each, newest first
    assert "1 failed" in html  # mine-a's 500
    assert "$0.05" in html and "$0.04" in html and "$0.09" in html  # each, and the page
    week = staff_client.get("/sessions/", {"window": "7d"}).content.decode()
    assert sessions_in(week) == ["ops-b", "mine-a", "ops-old"]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({"end_user": "ann"}, ["mine-a"]),
        ({"key": "ops"}, ["ops-b"]),
        ({"route": "chat"}, ["mine-a"]),
        ({"tag": "nightly", "window": "30d"}, ["ops-b", "ops-old"]),
        ({"end_user": "nobody"}, []),
    ],
)
def test_the_sessions_index_filters(staff_client, recent, given, expected):
    html = staff_client.get("/sessions/", given).content.decode()
    assert sessions_in(html) == expected
    if not expected:
        assert "No session matches these filters" in html


def test_a_member_sees_only_sessions_of_their_own_requests(recent):
    client = Client()
    client.force_login(recent)
    html = client.get("/sessions/", {"window": "30d"}).content.decode()
    assert sessions_in(html) == ["mine-a"] and "ops" not in html


def test_the_index_pages_through_many_sessions(staff_client, db, monkeypatch):
    from django.utils import timezone

    from console.views import sessions as views

    monkeypatch.setattr(views, "INDEX_SIZE", 2)
    for n in range(5):
        RequestLog.objects.create(
            request_id=f"p-{n}", created_at=timezone.now() - timedelta(minutes=n), dialect="openai",
            endpoint="chat", route="chat", status=200, session=f"s-{n}",
        )  # fmt: skip
    first = staff_client.get("/sessions/").content.decode()
    assert sessions_in(first) == ["s-0", "s-1"] and "page=2" in first
    third = staff_client.get("/sessions/", {"page": "3"}).content.decode()
    assert sessions_in(third) == ["s-4"] and "page=4" not in third and "page=2" in third
    assert staff_client.get("/sessions/", {"page": "²"}).status_code == 200  # page 1
