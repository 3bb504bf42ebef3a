"""The one log query behind both the console's log table and ``GET /api/logs``: the
same search fields, the same filters and the same cursor on either surface."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client

from gateway.models import ApiKey, RequestLog
from gateway.telemetry import logquery

MASTER = "sy-logquery-test-master"
NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(autouse=True)
def master_key(settings) -> None:
    settings.SWITCHYARD_MASTER_KEY = MASTER


@pytest.fixture
def api() -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {MASTER}")


@pytest.fixture
def console(db) -> Client:
    client = Client()
    client.force_login(User.objects.create_user("ops", password="pw-123456789", is_staff=True))
    return client


def log(request_id: str, minutes_ago: float, **fields) -> RequestLog:
    base = dict(dialect="openai", endpoint="chat", route="echo", status=200)
    base.update(fields)
    return RequestLog(
        request_id=request_id, created_at=NOW - timedelta(minutes=minutes_ago), **base
    )


def api_ids(api: Client, **query) -> list[str]:
    response = api.get("/api/logs/", query)
    assert response.status_code == 200, response.content
    return [item["request_id"] for item in response.json()["items"]]


def console_ids(console: Client, **query) -> list[str]:
    html = console.get("/logs/", query).content.decode()
    return re.findall(r'href="/logs/([^/"]+)/"', html)


@pytest.fixture
def searchable(db) -> None:
    RequestLog.objects.bulk_create(
        [
            log("needle-in-id", 1),
            log("r-route", 2, route="needle-route"),
            log("r-error", 3, status=502, error_message="the needle broke"),
            log("r-model", 4, upstream_model="needle-model-1"),
            log("r-key", 5, key_name="needle-key"),
            log("r-none", 6, provider="needle-provider"),  # not a search field
        ]
    )


def test_both_surfaces_search_the_same_fields(api, console, searchable) -> None:
    expected = ["needle-in-id", "r-route", "r-error", "r-model", "r-key"]
    assert [r.request_id for r in logquery.filtered({"q": "NEEDLE"})] == expected
    assert api_ids(api, q="NEEDLE") == expected
    assert console_ids(console, q="NEEDLE") == expected
    assert logquery.SEARCH_FIELDS == (
        "request_id",
        "route",
        "error_kind",
        "error_message",
        "upstream_model",
        "key_name",
    )


@pytest.fixture
def many(db) -> list[str]:
    """25 rows, newest first, seven of them sharing one instant."""
    same = [
        RequestLog(request_id=f"same-{i}", created_at=NOW, dialect="openai", endpoint="chat")
        for i in range(7)
    ]
    RequestLog.objects.bulk_create(same + [log(f"older-{i}", 1 + i) for i in range(18)])
    return list(
        RequestLog.objects.order_by("-created_at", "-id").values_list("request_id", flat=True)
    )


def test_a_cursor_continues_after_the_last_row_of_its_page(many) -> None:
    seen: list[str] = []
    cursor = None
    while True:
        page = logquery.page(logquery.filtered({}), cursor, size=4)
        seen += [row.request_id for row in page.rows]
        if page.next_cursor is None:
            break
        assert page.next_cursor == logquery.encode_cursor(page.rows[-1])
        cursor = page.next_cursor
    assert seen == many


def test_the_cursor_format_is_the_apis(many) -> None:
    row = RequestLog.objects.get(request_id="older-0")
    micros = int((row.created_at - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds()) * 10**6
    assert logquery.encode_cursor(row) == f"{micros}_{row.pk}"
    assert logquery.decode_cursor(f"{micros}_{row.pk}") == (row.created_at, row.pk)


def test_a_cursor_is_exact_to_the_microsecond(db) -> None:
    moment = datetime(2026, 3, 1, 12, 0, 0, 999_999, tzinfo=UTC)
    rows = RequestLog.objects.bulk_create(
        [
            RequestLog(request_id=f"m-{i}", created_at=moment, dialect="openai", endpoint="chat")
            for i in range(3)
        ]
    )
    first = logquery.page(logquery.filtered({}), None, size=1)
    rest = logquery.page(logquery.filtered({}), first.next_cursor, size=10)
    assert [r.pk for r in first.rows + rest.rows] == sorted((r.pk for r in rows), reverse=True)


def test_a_cursor_from_one_surface_continues_on_the_other(api, console, many) -> None:
    data = api.get("/api/logs/", {"limit": 50}).json()
    assert [item["request_id"] for item in data["items"]] == many[:25]
    first = api.get("/api/logs/", {"limit": 5}).json()
    assert console_ids(console, cursor=first["next_cursor"]) == many[5:]
    html = console.get("/logs/").content.decode()  # 25 rows: one page, no cursor link
    assert "cursor=" not in html
    cursor = logquery.page(logquery.filtered({}), None, size=10).next_cursor
    assert api_ids(api, cursor=cursor, limit=50) == many[10:]
    assert console_ids(console, cursor=cursor) == many[10:]


def test_the_console_pages_with_the_same_cursor(console, db) -> None:
    RequestLog.objects.bulk_create([log(f"p-{i:03d}", i) for i in range(60)])
    html = console.get("/logs/", {"route": "echo"}).content.decode()
    link = re.search(r'href="\?([^"]*cursor=([^"&]+)[^"]*)"', html)
    assert link, "no next-page link"
    cursor = link.group(2)
    last_of_first = RequestLog.objects.get(request_id="p-049")
    assert cursor == logquery.encode_cursor(last_of_first)
    assert console_ids(console, route="echo", cursor=cursor) == [
        f"p-{i:03d}" for i in range(50, 60)
    ]


def test_a_bad_cursor_is_refused_by_the_api_and_restarts_the_console(api, console, many) -> None:
    assert api.get("/api/logs/", {"cursor": "garbage"}).status_code == 422
    assert console_ids(console, cursor="garbage") == many
    with pytest.raises(logquery.InvalidFilter, match="cursor"):
        logquery.decode_cursor("1_2_3")


@pytest.fixture
def mixed(db) -> None:
    key = ApiKey.objects.create(name="ci-key", prefix="sy-ci", key_hash="h" * 64)
    RequestLog.objects.bulk_create(
        [
            log("a-ok", 1, route="a", key_id=key.id, key_name="ci-key"),
            log("a-500", 2, route="a", status=500, key_id=key.id, key_name="ci-key"),
            log("a-503-anth", 3, route="a", status=503, dialect="anthropic"),
            log("b-500", 4, route="b", status=500, key_id=key.id, key_name="ci-key"),
            log("a-404", 5, route="a", status=404, error_message="no such model"),
            log("a-500-old", 60 * 48, route="a", status=500),
        ]
    )


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"route": "a", "status": "5xx"}, ["a-500", "a-503-anth", "a-500-old"]),
        ({"route": "a", "status": "5xx", "since": "1d"}, ["a-500", "a-503-anth"]),
        ({"route": "a", "status": "error", "until": "1d"}, ["a-500-old"]),
        ({"route": "a", "status": "5xx", "dialect": "anthropic"}, ["a-503-anth"]),
        ({"key": "ci-key", "status": "500"}, ["a-500", "b-500"]),
        ({"key": "ci-key", "status": "ok"}, ["a-ok"]),
        ({"route": "a", "q": "model", "status": "4xx"}, ["a-404"]),
        ({"route": "b", "q": "model"}, []),
    ],
)
def test_filters_combine(mixed, params, expected) -> None:
    assert [r.request_id for r in logquery.filtered(params)] == expected


def test_the_console_and_the_api_filter_alike(api, console, mixed) -> None:
    key_id = ApiKey.objects.get(name="ci-key").pk
    both = {"route": "a", "status": "5xx", "key": str(key_id)}
    assert api_ids(api, **both) == console_ids(console, **both) == ["a-500"]
    assert api_ids(api, route="a", since="24h") == console_ids(console, route="a", window="24h")


def test_invalid_values_name_their_field(db) -> None:
    with pytest.raises(logquery.InvalidFilter, match="^status:"):
        logquery.filtered({"status": "teapot"})
    with pytest.raises(logquery.InvalidFilter, match="^since:"):
        logquery.filtered({"since": "yesterday-ish"})
    with pytest.raises(TypeError):
        logquery.filtered({"window": "1h"})  # the console's form field, not a filter


def test_list_rows_leave_the_attempt_chain_out(mixed) -> None:
    row = logquery.filtered({})[0]
    assert "attempts" in row.get_deferred_fields()
    assert "error_message" not in row.get_deferred_fields()


def test_a_search_page_reads_a_bounded_stretch_and_hands_on_a_cursor(
    api, console, db, monkeypatch
) -> None:
    monkeypatch.setattr(logquery, "SEARCH_SCAN_ROWS", 4)
    RequestLog.objects.bulk_create(
        [log(f"x-{i:02d}", i, error_message="rare" if i in (1, 2, 9) else "") for i in range(12)]
    )
    seen, cursor, pages = [], None, []
    while True:
        page = logquery.search_page({"q": "rare"}, cursor, size=10)
        pages.append([r.request_id for r in page.rows])
        seen += pages[-1]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == ["x-01", "x-02", "x-09"]
    assert pages == [["x-01", "x-02"], [], ["x-09"]]  # rows 0-3, 4-7, 8-11
    first = api.get("/api/logs/", {"q": "rare", "limit": 10}).json()
    assert [i["request_id"] for i in first["items"]] == ["x-01", "x-02"]
    second = api.get("/api/logs/", {"q": "rare", "cursor": first["next_cursor"]}).json()
    assert second["items"] == [] and second["next_cursor"]
    html = console.get("/logs/", {"q": "rare", "cursor": second["next_cursor"]}).content.decode()
    assert console_ids(console, q="rare", cursor=second["next_cursor"]) == ["x-09"]
    assert "cursor=" not in html  # the last stretch: nothing older
    empty = console.get("/logs/", {"q": "rare", "cursor": first["next_cursor"]}).content.decode()
    assert "searches further back" in empty and "cursor=" in empty


def test_a_full_search_page_continues_after_its_last_row(db, monkeypatch) -> None:
    monkeypatch.setattr(logquery, "SEARCH_SCAN_ROWS", 100)
    RequestLog.objects.bulk_create([log(f"y-{i:02d}", i, route="hay") for i in range(9)])
    first = logquery.search_page({"q": "hay"}, None, size=4)
    assert first.searched_to is None and first.next_cursor == logquery.encode_cursor(first.rows[-1])
    rest = logquery.search_page({"q": "hay"}, first.next_cursor, size=10)
    assert [r.request_id for r in first.rows + rest.rows] == [f"y-{i:02d}" for i in range(9)]
    assert rest.next_cursor is None


def test_a_status_class_reads_its_index_in_list_order(db) -> None:
    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("the plan's wording is SQLite's")
    plan = logquery.filtered({"status": "5xx"})[:51].explain()
    assert "log_status_class_time" in plan and "TEMP B-TREE" not in plan


@pytest.mark.parametrize(
    ("given", "index"),
    [
        ({"end_user": "ann"}, "log_end_user_time"),
        ({"session": "s-1"}, "log_session_time"),
        ({"agent_run": "a2a_1"}, "log_agent_run_time"),
    ],
)
def test_an_attribution_filter_reads_its_partial_index(db, given, index) -> None:
    """The end-user and session indexes hold only rows that have one (the journal's
    rows mostly do not, and skip the index insert); a filter on either still reads it."""
    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("the plan's wording is SQLite's")
    plan = logquery.filtered(given)[:51].explain()
    assert index in plan and "TEMP B-TREE" not in plan


def test_the_sparse_columns_have_partial_indexes(db) -> None:
    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("reads SQLite's index catalogue")
    with connection.cursor() as cursor:
        partial = cursor.execute(
            "SELECT name FROM pragma_index_list('gateway_requestlog') WHERE partial = 1"
        ).fetchall()
    assert {row[0] for row in partial} == {
        *("log_shadow_of", "log_end_user_time", "log_session_time", "log_prompt_version"),
        "log_agent_run_time",  # A2A agent runs (gateway/access/delegation.py)
    }


@pytest.fixture
def rate_limited(db) -> None:
    from gateway.models import RequestBody

    rows = RequestLog.objects.bulk_create(
        [
            log("r-429", 1, status=429, error_kind="rate_limit_error", error_message="slow down"),
            log("r-ok", 2),
            log("r-body", 3),
            log("r-answer", 4),
        ]
    )
    RequestBody.objects.create(
        log=rows[2],
        inbound_request='{"messages":[{"content":"Tell me about the Zanzibar archipelago"}]}',
    )
    RequestBody.objects.create(
        log=rows[3], outbound_response='{"content":"Quokkas live on Rottnest"}'
    )
    RequestBody.objects.create(log=rows[1], upstream_request='{"hidden":"Zanzibar"}')


def test_search_finds_the_error_type_and_the_status(api, console, rate_limited) -> None:
    """ "rate" finds a 429 rate_limit_error row on both surfaces; so does "429"."""
    for q in ("rate", "RATE_LIMIT", "429"):
        assert [r.request_id for r in logquery.search_page({"q": q}).rows] == ["r-429"], q
        assert api_ids(api, q=q) == ["r-429"]
        assert console_ids(console, q=q) == ["r-429"]


def test_search_reads_the_client_bodies_where_bodies_are_logged(
    api, console, rate_limited, settings
) -> None:
    settings.SWITCHYARD_LOG_BODIES = True
    assert api_ids(api, q="zanzibar") == ["r-body"]  # not r-ok: upstream copies are not read
    assert console_ids(console, q="quokkas") == ["r-answer"]
    assert [r.request_id for r in logquery.filtered({"q": "Rottnest"})] == ["r-answer"]
    settings.SWITCHYARD_LOG_BODIES = False
    assert api_ids(api, q="zanzibar") == []
    assert console_ids(console, q="quokkas") == []


def test_a_body_search_reads_a_shorter_stretch(db, monkeypatch, settings) -> None:
    """With bodies the stretch is BODY_SEARCH_SCAN_ROWS rows; without, SEARCH_SCAN_ROWS."""
    monkeypatch.setattr(logquery, "SEARCH_SCAN_ROWS", 6)
    monkeypatch.setattr(logquery, "BODY_SEARCH_SCAN_ROWS", 3)
    RequestLog.objects.bulk_create([log(f"z-{i:02d}", i, error_message="hay") for i in range(8)])
    settings.SWITCHYARD_LOG_BODIES = True
    first = logquery.search_page({"q": "hay"}, None, size=10)
    assert [r.request_id for r in first.rows] == ["z-00", "z-01", "z-02"]
    assert first.searched_to is not None and first.next_cursor
    settings.SWITCHYARD_LOG_BODIES = False
    first = logquery.search_page({"q": "hay"}, None, size=10)
    assert len(first.rows) == 6
