"""The log table (filters, keyset pages), the detail page, the live tail and the
dashboard numbers."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser
from django.test import Client
from django.utils import timezone

from console import stats
from console.bodies import present
from console.tail import GROUP, LogTailConsumer
from gateway.models import ApiKey, RequestLog, Route
from gateway.telemetry import logquery


def make_logs(count: int, **fields) -> list[RequestLog]:
    now = timezone.now()
    rows = [
        RequestLog(
            request_id=f"r-{fields.get('route', 'x')}-{i}",
            created_at=now - timedelta(seconds=i // 2),
            dialect="openai",
            endpoint="chat",
            status=200,
            latency_ms=float(i + 1),
            **fields,
        )
        for i in range(count)
    ]
    return RequestLog.objects.bulk_create(rows)


@pytest.mark.django_db
def test_keyset_pages_cover_every_row_once_despite_equal_timestamps() -> None:
    make_logs(23, route="a")
    seen, cursor = [], None
    while True:
        page = logquery.page(logquery.filtered({}), cursor, size=5)
        seen += [r.pk for r in page.rows]
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    assert len(seen) == 23 == len(set(seen))
    ordered = list(RequestLog.objects.order_by("-created_at", "-id").values_list("pk", flat=True))
    assert seen == ordered


@pytest.mark.django_db
def test_filters() -> None:
    make_logs(3, route="a", key_id=1)
    make_logs(2, route="b")
    RequestLog.objects.filter(route="b").update(status=502, error_message="upstream boom")
    assert logquery.filtered({"route": "a"}).count() == 3
    assert logquery.filtered({"key": 1}).count() == 3
    assert logquery.filtered({"status": "5xx"}).count() == 2
    assert logquery.filtered({"status": "ok"}).count() == 3
    assert logquery.filtered({"q": "boom"}).count() == 2
    assert logquery.filtered({"q": "r-a-1"}).count() == 1


@pytest.mark.django_db
def test_list_and_detail_pages(staff_client: Client, registry_rows) -> None:
    html = staff_client.get("/logs/?route=chat").content.decode()
    assert "/logs/req-1/" in html and 'ws-connect="/ws/logs/tail/?route=chat"' in html
    detail = staff_client.get("/logs/req-1/").content.decode()
    assert "/playground/?replay=req-1" in detail
    assert "upstream/gpt-x" in detail  # the attempt chain
    assert "&quot;model&quot;: &quot;chat&quot;" in detail  # JSON indented
    assert "2 events" in detail  # SSE transcript split into events
    assert staff_client.get("/logs/nope/").status_code == 404


def test_bodies_are_made_readable() -> None:
    assert present("inbound_request", '{"a":1}').text == '{\n  "a": 1\n}'
    sse = present("upstream_response", 'event: message_start\ndata: {"x":1}\n\ndata: [DONE]\n\n')
    assert sse.kind == "sse" and [e.event for e in sse.events] == ["message_start", "message"]
    assert present("outbound_response", "").kind == "empty"
    assert present("outbound_response", "plain").kind == "text"


@pytest.mark.django_db(transaction=True)
async def test_live_tail_pushes_matching_rows(staff) -> None:
    from asgiref.sync import sync_to_async

    communicator = WebsocketCommunicator(LogTailConsumer.as_asgi(), "/ws/logs/tail/?route=a")
    communicator.scope["user"] = staff
    connected, _ = await communicator.connect()
    assert connected
    rows = await sync_to_async(make_logs)(1, route="a")
    others = await sync_to_async(make_logs)(1, route="b")
    layer = get_channel_layer()
    await layer.group_send(GROUP, {"type": "log.created", "ids": [rows[0].pk, others[0].pk]})
    html = await communicator.receive_from(timeout=3)
    assert 'hx-swap-oob="afterbegin"' in html and "r-a-0" in html and "r-b-0" not in html
    await communicator.disconnect()


async def test_live_tail_refuses_anonymous() -> None:
    communicator = WebsocketCommunicator(LogTailConsumer.as_asgi(), "/ws/logs/tail/")
    communicator.scope["user"] = AnonymousUser()
    connected, _ = await communicator.connect()
    assert not connected


@pytest.mark.django_db
def test_dashboard_numbers() -> None:
    Route.objects.create(name="a")
    ApiKey.objects.create(pk=7, name="k", prefix="sy-k", key_hash="7" * 64)
    rows = make_logs(100, route="a", key_id=7, key_name="k")
    RequestLog.objects.filter(pk__in=[r.pk for r in rows[:10]]).update(
        status=500, cost_usd=Decimal("0.5"), input_tokens=3, output_tokens=4
    )
    board = stats.dashboard("1h", now=timezone.now() + timedelta(seconds=1))
    totals = board.totals
    assert totals.requests == 100 and totals.errors == 10 and totals.error_rate == 0.1
    assert totals.p50_ms == 50 and totals.p95_ms == 95
    assert totals.cost == Decimal("5") and totals.tokens == 70
    assert sum(b.requests for b in board.buckets) == 100
    assert board.by_route[0]["route"] == "a" and board.by_key[0]["key_id"] == 7


@pytest.mark.django_db
def test_dashboard_page_and_htmx_refresh(staff_client: Client) -> None:
    make_logs(3, route="a")
    page = staff_client.get("/?window=1h").content.decode()
    assert "<svg" in page and 'hx-trigger="every 10s"' in page and "<html" in page
    fragment = staff_client.get("/?window=1h", HTTP_HX_REQUEST="true").content.decode()
    assert fragment.lstrip().startswith('<section id="dashboard-body"') and "<html" not in fragment


@pytest.mark.django_db
def test_dashboard_tabs_follow_the_window_out_of_band(staff_client: Client) -> None:
    page = staff_client.get("/?window=24h").content.decode()
    tabs = re.search(r'<nav class="tabs" id="window-tabs".*?</nav>', page, re.S)
    assert tabs and "hx-swap-oob" not in tabs.group(0)
    fragment = staff_client.get("/?window=24h", HTTP_HX_REQUEST="true").content.decode()
    tabs = re.search(r'<nav class="tabs" id="window-tabs"[^>]*>.*?</nav>', fragment, re.S)
    assert tabs, "the htmx answer carries no tabs"
    assert 'hx-swap-oob="true"' in tabs.group(0)
    current = re.findall(r'<a href="\?window=(\w+)"[^>]*aria-current="true"', tabs.group(0))
    assert current == ["24h"]
    assert fragment.count('id="dashboard-body"') == 1


@pytest.mark.django_db
def test_the_detail_page_says_when_the_cache_answered(staff_client: Client) -> None:
    (hit,) = make_logs(1, route="a", cache_hit=True)
    assert (
        "answered from the response cache"
        in staff_client.get(f"/logs/{hit.request_id}/").content.decode()
    )
    (miss,) = make_logs(1, route="b")
    assert "response cache" not in staff_client.get(f"/logs/{miss.request_id}/").content.decode()
    (similar,) = make_logs(
        1, route="c", cache_hit=True, cache_similarity=0.9712, cache_hit_saved_usd=Decimal("0.006")
    )
    page = staff_client.get(f"/logs/{similar.request_id}/").content.decode()
    assert "answered from the semantic cache (similarity 0.971), saving $0.006" in page
