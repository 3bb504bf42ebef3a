"""Bodies stored as an envelope and parts read back as the very text stored whole before:
through the ORM (every reader), the management API, the console's log detail and session
thread; rows of the old format read as they did; the log search finds text in parts."""

from __future__ import annotations

import re

import orjson
import pytest
from django.contrib.auth.models import User
from django.test import Client

from gateway import journal
from gateway.base import body_parts
from gateway.journal import rows
from gateway.models import BodyBlob, RequestBody, RequestLog, body_blobs
from gateway.telemetry import logquery
from gateway.telemetry.redaction import configured_secrets
from tests.gateway.journal.sessions import DIALECTS, records

MASTER = "sy-body-blobs-test-master-key"
FIELDS = rows.BODY_FIELDS
CSRF = re.compile(r'(?<=X-CSRFToken": ")[^"]+|(?<=name="csrfmiddlewaretoken" value=")[^"]+')


@pytest.fixture(autouse=True)
def bodies_on(settings) -> None:
    settings.SWITCHYARD_LOG_BODIES = True
    settings.SWITCHYARD_LOG_BODY_MAX_BYTES = 256 * 1024
    settings.SWITCHYARD_MASTER_KEY = MASTER


def whole(rec: journal.Record) -> dict[str, str]:
    """What the journal stored of each body before parts (and still shows)."""
    limit = 256 * 1024
    return {
        name: rows.body_text(getattr(rec, name), limit, configured_secrets())[0] for name in FIELDS
    }


def stored_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the journal store every body whole, as it did before parts."""
    monkeypatch.setattr(body_parts, "split", lambda text, **_: None)


# every dialect's shape, passed through and translated to each of two other dialects
CASES = [(d, None) for d in DIALECTS] + [
    ("anthropic", "openai"),
    ("openai", "gemini"),
    ("responses", "anthropic"),
]


@pytest.mark.parametrize(("dialect", "upstream"), CASES)
def test_every_body_reads_back_as_it_was_stored_whole(db, dialect, upstream) -> None:
    session = records(dialect, 6, upstream)
    ids = journal.write_batch(session[:3]) + journal.write_batch(session[3:])
    by_log = {b.log_id: b for b in RequestBody.objects.filter(log_id__in=ids)}
    for log_id, rec in zip(ids, session, strict=True):
        body = by_log[log_id]
        assert {name: getattr(body, name) for name in FIELDS} == whole(rec)
    split = RequestBody.objects.filter(log_id__in=ids, parts__isnull=False).count()
    assert split == len(ids)  # (every turn's request was split)
    assert BodyBlob.objects.exists()


def test_a_body_read_with_only_some_fields_is_joined_too(db) -> None:
    session = records("anthropic", 4)
    ids = journal.write_batch(session)
    body = RequestBody.objects.only("log_id", "inbound_request").get(log_id=ids[-1])
    assert body.inbound_request == whole(session[-1])["inbound_request"]
    stored = RequestBody.objects.filter(log_id=ids[-1]).values_list("inbound_request", flat=True)
    assert len(stored[0]) < len(body.inbound_request) / 10  # what is stored: the envelope


def test_rows_of_the_old_format_read_as_before(db) -> None:
    rec = records("openai", 3)[-1]
    log = RequestLog.objects.create(request_id="old", dialect="openai", endpoint="chat")
    RequestBody.objects.create(log=log, **whole(rec))  # parts NULL: whole, as before 0064
    assert {n: getattr(RequestBody.objects.get(log=log), n) for n in FIELDS} == whole(rec)


def test_a_derived_upstream_body_is_made_from_the_joined_one(db) -> None:
    """Passed through: the upstream request is stored as a recipe on the caller's body,
    which is stored as parts; reading joins first, then renames."""
    rec = records("anthropic", 5)[-1]
    rec.upstream_request = rec.inbound_request.replace(b'"agent-model"', b'"claude-x"')
    (log_id,) = journal.write_batch([rec])
    raw = RequestBody.objects.filter(log_id=log_id).values("upstream_request", "derived", "parts")
    assert raw[0]["upstream_request"] == "" and raw[0]["derived"] and raw[0]["parts"]
    body = RequestBody.objects.get(log_id=log_id)
    assert body.upstream_request == whole(rec)["upstream_request"]


@pytest.fixture
def staff(db) -> Client:
    client = Client()
    client.force_login(User.objects.create_user("ops", password="pw-123456789", is_staff=True))
    return client


def pages(client: Client, api: Client, session: list[journal.Record]) -> list[str]:
    """The console's session page, each log detail and each API log, numbers masked (the
    row ids differ between two writes of one session)."""
    shown = [client.get("/sessions/s-1/").content.decode()]
    for rec in session:
        shown.append(client.get(f"/logs/{rec.request_id}/").content.decode())
        response = api.get(f"/api/logs/{rec.request_id}")
        assert response.status_code == 200
        item = response.json()
        shown.append(orjson.dumps({k: item[k] for k in FIELDS if k in item}).decode())
        shown.append(orjson.dumps(item.get("bodies")).decode())
    return [re.sub(r"\d+", "#", CSRF.sub("", page)) for page in shown]


def test_the_console_and_the_api_show_what_they_showed_of_whole_bodies(
    staff, db, monkeypatch
) -> None:
    api = Client(HTTP_AUTHORIZATION=f"Bearer {MASTER}")
    with monkeypatch.context() as patched:
        stored_whole(patched)
        journal.write_batch(records("anthropic", 5))
    assert not BodyBlob.objects.exists()
    before = pages(staff, api, records("anthropic", 5))
    RequestLog.objects.all().delete()
    journal.write_batch(records("anthropic", 5))
    assert BodyBlob.objects.exists()
    after = pages(staff, api, records("anthropic", 5))
    assert after == before
    assert "def f_#_#(x)" in after[0]  # the session page shows the tool results


def test_search_finds_text_held_in_a_part_in_every_later_turn(staff, db) -> None:
    """``f_3_5(`` is in turn 3's tool result: turns 4-7 carry it (their requests repeat
    it), turns 0-3 do not. Case does not matter, as for a body stored whole."""
    ids = journal.write_batch(records("anthropic", 8))
    wanted = [f"s-1-{t:03d}" for t in range(7, 3, -1)]
    assert [r.request_id for r in logquery.search_page({"q": "F_3_5("}).rows] == wanted
    api = Client(HTTP_AUTHORIZATION=f"Bearer {MASTER}")
    found = api.get("/api/logs/", {"q": "f_3_5("}).json()["items"]
    assert [item["request_id"] for item in found] == wanted
    html = staff.get("/logs/", {"q": "f_3_5("}).content.decode()
    assert re.findall(r'href="/logs/([^/"]+)/"', html) == wanted
    tail = logquery.filtered({"q": "f_3_5("}, among=ids[2:6])  # the live tail's new rows
    assert sorted(r.request_id for r in tail) == ["s-1-004", "s-1-005"]
    assert len(logquery.matching_ids({"q": "f_3_5("}, 3)) == 3
    assert logquery.search_page({"q": "agent-model"}).rows  # (the envelope still searched)


def test_logs_holding_searches_each_shared_part_once(db, django_assert_max_num_queries) -> None:
    ids = journal.write_batch(records("openai", 30, "anthropic"))  # (both bodies split)
    parts = dict(RequestBody.objects.filter(log_id__in=ids).values_list("log_id", "parts"))
    with django_assert_max_num_queries(2):  # one walk, one search of the distinct parts
        held = body_blobs.logs_holding("f_20_1(", parts, {"inbound_request"})
    assert held == set(ids[21:])
    assert body_blobs.logs_holding("f_20_1(", parts, {"upstream_request"}) == set(ids[21:])
    assert body_blobs.logs_holding("nowhere at all", parts, {"inbound_request"}) == set()


def test_nodes_of_walks_a_shared_prefix_once(db, django_assert_num_queries) -> None:
    ids = journal.write_batch(records("gemini", 12))
    refs = [
        body_blobs.refs_of(p)
        for p in RequestBody.objects.filter(log_id__in=ids).values_list("parts", flat=True)
    ]
    tips = [t for r in refs for by_key in r.values() for t in body_parts.tips(by_key)]
    with django_assert_num_queries(1):
        nodes = body_blobs.nodes_of(tips)
    # contents: 1 + 2 a turn after its first; one systemInstruction, one tools list
    # node, for both of each turn's bodies (passed through: the same)
    assert len(nodes) == len(set(nodes)) == BodyBlob.objects.count()


def test_the_prune_bound_lies_a_day_and_an_hour_before_the_oldest_log() -> None:
    day, hour = 24 * 3600, 3600
    assert body_blobs.prune_bound(1_000_000.0, now=2_000_000.0) == 1_000_000 - day - hour
    assert body_blobs.prune_bound(None, now=2_000_000.0) == 2_000_000 - day - hour
    assert body_blobs.prune_bound(3_000_000.0, now=2_000_000.0) == 2_000_000 - day - hour


def test_a_body_saved_back_after_reading_stays_whole(db) -> None:
    """(Nothing in the gateway saves a body; were one saved, its whole text is kept.)"""
    rec = records("responses", 4)[-1]
    (log_id,) = journal.write_batch([rec])
    body = RequestBody.objects.get(log_id=log_id)
    body.save()
    again = RequestBody.objects.get(log_id=log_id)
    assert {n: getattr(again, n) for n in FIELDS} == whole(rec)
