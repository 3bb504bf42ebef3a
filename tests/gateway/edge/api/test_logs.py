"""GET /api/logs (filters, keyset pagination) and GET /api/logs/{request_id} (bodies),
for the master key or a staff session only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.test import Client

from gateway.models import ApiKey, RequestBody, RequestLog

MASTER = "sy-logs-test-master"
NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(autouse=True)
def _rows_are_timed_from_the_tests_start() -> None:
    """``NOW`` is when the test starts, not when the module was imported: under
    pytest-xdist a module collected at the start of the run may run 15 minutes later,
    and a row made "2 minutes ago" then falls outside ``since=10m``."""
    global NOW
    NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(autouse=True)
def master_key(settings) -> None:
    settings.SWITCHYARD_MASTER_KEY = MASTER


@pytest.fixture
def client() -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {MASTER}")


def row(request_id: str, minutes_ago: float, **fields) -> RequestLog:
    base = dict(dialect="openai", endpoint="chat", route="echo", status=200)
    base.update(fields)
    return RequestLog(
        request_id=request_id, created_at=NOW - timedelta(minutes=minutes_ago), **base
    )


@pytest.fixture
def journal_rows(db) -> list[RequestLog]:
    key = ApiKey.objects.create(name="ci-key", prefix="sy-ci", key_hash="h" * 64)
    rows = [
        row("r-ok-1", 1, key_id=key.id, key_name="ci-key"),
        row("r-500", 2, status=500, error_message="upstream exploded", error_kind="upstream_error"),
        row("r-502", 3, status=502, route="echo-slow"),
        row("r-anth", 4, dialect="anthropic", key_id=None, key_name="master"),
        row("r-404", 5, status=404, route=""),
        row("r-old", 60 * 24 * 3),
    ]
    RequestLog.objects.bulk_create(rows)
    RequestBody.objects.create(
        log=rows[1],
        inbound_request='{"model":"echo"}',
        upstream_request="{}",
        upstream_response="boom",
        outbound_response='{"error":{}}',
        truncated=True,
    )
    return rows


def ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [item["request_id"] for item in response.json()["items"]]


def test_requires_the_master_key(journal_rows) -> None:
    assert Client().get("/api/logs/").status_code == 401
    assert Client(HTTP_AUTHORIZATION="Bearer nope").get("/api/logs/").status_code == 401
    assert Client(HTTP_X_API_KEY=MASTER).get("/api/logs/").status_code == 200


def test_lists_newest_first(client, journal_rows) -> None:
    assert ids(client.get("/api/logs/")) == ["r-ok-1", "r-500", "r-502", "r-anth", "r-404", "r-old"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"route": "echo-slow"}, ["r-502"]),
        ({"status": "500"}, ["r-500"]),
        ({"status": "5xx"}, ["r-500", "r-502"]),
        ({"status": "4XX"}, ["r-404"]),
        ({"dialect": "anthropic"}, ["r-anth"]),
        ({"key": "ci-key"}, ["r-ok-1"]),
        ({"key": "master"}, ["r-anth"]),
        ({"q": "exploded"}, ["r-500"]),
        ({"q": "r-40"}, ["r-404"]),
        ({"since": "1d"}, ["r-ok-1", "r-500", "r-502", "r-anth", "r-404"]),
        ({"until": "1d"}, ["r-old"]),
        ({"route": "echo", "status": "5xx", "since": "10m"}, ["r-500"]),
    ],
)
def test_filters(client, journal_rows, query, expected) -> None:
    assert ids(client.get("/api/logs/", query)) == expected


def test_key_filter_by_id(client, journal_rows) -> None:
    key_id = journal_rows[0].key_id
    assert ids(client.get("/api/logs/", {"key": str(key_id)})) == ["r-ok-1"]


def test_since_accepts_iso_times(client, journal_rows) -> None:
    since = (NOW - timedelta(minutes=2, seconds=30)).isoformat()
    assert ids(client.get("/api/logs/", {"since": since})) == ["r-ok-1", "r-500"]


def test_bad_filters_are_422(client, journal_rows) -> None:
    assert client.get("/api/logs/", {"status": "teapot"}).status_code == 422
    assert client.get("/api/logs/", {"since": "yesterday-ish"}).status_code == 422
    assert client.get("/api/logs/", {"cursor": "garbage"}).status_code == 422


def test_cursor_pages_through_everything_once(client, db) -> None:
    same_instant = NOW - timedelta(minutes=1)
    rows = [
        RequestLog(request_id=f"p-{i}", created_at=same_instant, dialect="openai", endpoint="chat")
        for i in range(7)
    ]
    rows += [row(f"q-{i}", 2 + i) for i in range(6)]
    RequestLog.objects.bulk_create(rows)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 4, **({"cursor": cursor} if cursor else {})}
        data = client.get("/api/logs/", params).json()
        seen += [item["request_id"] for item in data["items"]]
        pages += 1
        cursor = data["next_cursor"]
        if cursor is None:
            break
    assert pages == 4
    assert len(seen) == 13 and len(set(seen)) == 13
    assert seen[7:] == [f"q-{i}" for i in range(6)]


def test_detail_has_attempts_and_bodies(client, journal_rows) -> None:
    data = client.get("/api/logs/r-500").json()
    assert data["status"] == 500 and data["error_message"] == "upstream exploded"
    assert data["attempts"] == []
    assert data["bodies"] == {
        "inbound_request": '{"model":"echo"}',
        "upstream_request": "{}",
        "upstream_response": "boom",
        "outbound_response": '{"error":{}}',
        "truncated": True,
    }
    assert client.get("/api/logs/r-ok-1").json()["bodies"] is None


def test_detail_of_an_unknown_request_is_404(client, journal_rows) -> None:
    assert client.get("/api/logs/nope").status_code == 404


def test_staff_session_may_read_logs(journal_rows, django_user_model) -> None:
    staff = django_user_model.objects.create_user("ops", password="pw-12345678", is_staff=True)
    browser = Client()
    browser.force_login(staff)
    assert browser.get("/api/logs/").status_code == 200
    plain = django_user_model.objects.create_user("joe", password="pw-12345678")
    browser.force_login(plain)
    assert browser.get("/api/logs/").status_code == 401


def test_a_cache_hit_is_marked_in_the_list_and_the_detail(client, journal_rows) -> None:
    RequestLog.objects.filter(request_id="r-ok-1").update(cache_hit=True)
    items = {i["request_id"]: i for i in client.get("/api/logs/").json()["items"]}
    assert items["r-ok-1"]["cache_hit"] is True and items["r-anth"]["cache_hit"] is False
    assert client.get("/api/logs/r-ok-1").json()["cache_hit"] is True
    RequestLog.objects.filter(request_id="r-ok-1").update(
        cache_similarity=0.97, cache_hit_saved_usd=Decimal("0.006")
    )
    detail = client.get("/api/logs/r-ok-1").json()
    assert detail["cache_similarity"] == 0.97 and Decimal(detail["cache_hit_saved_usd"]) == Decimal(
        "0.006"
    )


@pytest.mark.django_db
def test_rows_logged_before_the_prompt_cache_column_read_as_no_breakpoints(settings) -> None:
    settings.SWITCHYARD_MASTER_KEY = "sy-master-logs-null"
    RequestLog.objects.create(
        request_id="r-old", dialect="openai", endpoint="chat", prompt_cache_breakpoints=None
    )
    client = Client(HTTP_AUTHORIZATION="Bearer sy-master-logs-null")
    assert client.get("/api/logs/r-old").json()["prompt_cache_breakpoints"] == ""
    listed = client.get("/api/logs/").json()["items"]
    assert [row["prompt_cache_breakpoints"] for row in listed] == [""]


def test_detail_carries_the_journal_notes_the_console_shows(client, db) -> None:
    """What was lost in translation, the guardrails' verdicts and hosted MCP calls are on
    the console's log page; a script reading /api/logs/{id} gets the same notes."""
    noted = row(
        "r-notes",
        1,
        translation=[{"field": "top_k", "action": "dropped", "detail": "not on this model"}],
        guardrails=[{"name": "pii", "mode": "pre_call", "verdict": "masked"}],
        mcp_calls=[{"server": "docs", "tool": "search", "status": "ok", "ms": 12.5}],
    )
    RequestLog.objects.bulk_create([noted, row("r-plain", 2)])
    data = client.get("/api/logs/r-notes").json()
    assert data["translation"] == [
        {"field": "top_k", "action": "dropped", "detail": "not on this model"}
    ]
    assert data["guardrails"] == [{"name": "pii", "mode": "pre_call", "verdict": "masked"}]
    assert data["mcp_calls"] == [{"server": "docs", "tool": "search", "status": "ok", "ms": 12.5}]
    plain = client.get("/api/logs/r-plain").json()
    assert plain["translation"] is None and plain["guardrails"] is None
    assert plain["mcp_calls"] is None
