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

from gateway.models import ApiKey, RequestBody, RequestLog, RequestTag
from gateway.policy import roles

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
