"""Request tags: read from each source (a key's default tags, the ``x-switchyard-tags``
header, the body's ``metadata.tags``), bounded with a 400 in the caller's dialect, kept
out of what goes upstream, journaled (the log's column, one indexed row per tag, the tag
spend rollups) and read back by ``/api/logs?tag=`` and ``/api/spend?group_by=tag``."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import httpx
import orjson
import pytest
from django.test import Client

from gateway import journal
from gateway.access import registry
from gateway.base import http
from gateway.base.entries import MASTER
from gateway.base.errors import InvalidRequest
from gateway.base.types import ChatRequest
from gateway.core import service
from gateway.journal.pruning import prune
from gateway.models import RequestLog, RequestTag, TagSpendRollup
from gateway.telemetry import tags
from tests.gateway.entries import route, snapshot

ANSWER = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "up-1",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
}
CHAT = {"model": "plain", "messages": [{"role": "user", "content": "Hi"}]}
TAGGED_KEY = replace(MASTER, tags=("team:search", "prod"))


def test_each_source_and_their_merge():
    assert tags.of_request({"metadata": {"tags": ["a", " b ", "a", ""]}}, {}) == ("a", "b")
    assert tags.of_request({"metadata": {"tags": "x, y"}}, {}) == ("x", "y")  # Responses style
    assert tags.of_request({}, {"x-switchyard-tags": "h1,h2"}) == ("h1", "h2")
    assert tags.of_request({}, {}, ("k",)) == ("k",)
    merged = tags.of_request({"metadata": {"tags": ["b", "k"]}}, {"x-switchyard-tags": "h"}, ("k",))
    assert merged == ("k", "h", "b")  # the key's, the header's, the body's; each once
    assert tags.of_request({"metadata": {"user_id": "u"}}, {}) == ()
    assert tags.of_request(["not", "a", "dict"], {}) == ()


@pytest.mark.parametrize(
    ("body", "headers", "param"),
    [
        ({"metadata": {"tags": ["x" * 65]}}, {}, "metadata.tags"),
        ({"metadata": {"tags": [str(n) for n in range(21)]}}, {}, "metadata.tags"),
        ({"metadata": {"tags": [1, 2]}}, {}, "metadata.tags"),
        ({"metadata": {"tags": {"a": 1}}}, {}, "metadata.tags"),
        ({}, {"x-switchyard-tags": ",".join(f"t{n}" for n in range(25))}, "x-switchyard-tags"),
    ],
)
def test_tags_out_of_bounds_are_refused_naming_where(body, headers, param):
    with pytest.raises(InvalidRequest) as refused:
        tags.of_request(body, headers)
    assert refused.value.param == param and refused.value.status == 400


def test_metadata_tags_leave_the_body_and_the_parsed_request():
    body = {"model": "m", "metadata": {"tags": ["a"], "purpose": "ci"}}
    assert tags.without_tags(body) == {"model": "m", "metadata": {"purpose": "ci"}}
    assert body["metadata"]["tags"] == ["a"]  # the caller's dict (journaled) is untouched
    assert tags.without_tags({"model": "m", "metadata": {"tags": []}}) == {"model": "m"}
    same = {"model": "m", "metadata": {"user_id": "u"}}
    assert tags.without_tags(same) is same
    request = ChatRequest(model="m", extra={"metadata": {"tags": ["a"]}}, unmapped=["metadata"])
    tags.strip_request(request)
    assert request.extra == {} and request.unmapped == []  # a strict route does not refuse it


@pytest.fixture
def upstream(monkeypatch, snapshot_reset):
    records: list[journal.Record] = []
    monkeypatch.setattr(journal, "record", records.append)
    plain = route("plain", "up-1", max_attempts=1)
    registry.install(snapshot(plain, replace(plain, name="strict", drop_params=False)))
    received: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        received.append(orjson.loads(request.content))
        return httpx.Response(200, json=ANSWER)

    http.use_transport(httpx.MockTransport(handler))
    yield received, records
    http.use_transport(None)


@pytest.mark.parametrize("model", ["plain", "strict"])
async def test_a_request_carries_its_tags_and_the_upstream_never_sees_them(upstream, model):
    received, records = upstream
    body = {**CHAT, "model": model, "metadata": {"tags": ["feature:chat"], "purpose": "eval"}}
    reply = await service.handle(
        "chat",
        "openai",
        orjson.dumps(body),
        {"x-switchyard-tags": "ab-test"},
        service.Caller(key=TAGGED_KEY),
    )
    assert reply.status == 200, reply.body
    assert records[0].tags == ("team:search", "prod", "ab-test", "feature:chat")
    assert received[0]["metadata"] == {"purpose": "eval"}  # OpenAI's own field stays


async def test_a_request_without_tags_carries_none(upstream):
    received, records = upstream
    reply = await service.handle(
        "chat", "openai", orjson.dumps(CHAT), {}, service.Caller(key=MASTER)
    )
    assert reply.status == 200 and records[0].tags == () and "metadata" not in received[0]


@pytest.mark.parametrize(
    ("dialect", "body", "kind"),
    [
        ("openai", {**CHAT, "metadata": {"tags": ["x" * 100]}}, "invalid_request_error"),
        (
            "anthropic",
            {**CHAT, "max_tokens": 8, "metadata": {"tags": ",".join(f"t{n}" for n in range(30))}},
            "invalid_request_error",
        ),
    ],
)
async def test_bad_tags_are_a_400_in_the_callers_dialect(upstream, dialect, body, kind):
    received, _ = upstream
    reply = await service.handle(
        "chat", dialect, orjson.dumps(body), {}, service.Caller(key=MASTER)
    )
    assert reply.status == 400
    error = orjson.loads(reply.body)["error"]
    assert error["type"] == kind and "metadata.tags" in error["message"]
    assert received == []  # refused before any upstream call


def record(request_id: str, tags_: tuple[str, ...], cost: str, key: str = "ci") -> journal.Record:
    return journal.Record(
        request_id=request_id,
        key_id=7,
        key_name=key,
        dialect="openai",
        endpoint="chat",
        route="plain",
        status=200,
        input_tokens=10,
        output_tokens=5,
        cost_usd=Decimal(cost),
        tags=tags_,
    )


@pytest.mark.django_db(transaction=True)
def test_tags_are_journaled_filtered_and_summed(settings):
    settings.SWITCHYARD_MASTER_KEY = "sy-master-tags"
    ids = journal.write_batch(
        [
            record("r1", ("prod", "search"), "0.5"),
            record("r2", ("prod",), "0.25"),
            record("r3", (), "1"),
            record("r4", ("search",), "0.125", key="batch"),
        ]
    )
    logs = {log.request_id: log for log in RequestLog.objects.filter(pk__in=ids)}
    assert logs["r1"].tags == ["prod", "search"] and logs["r3"].tags is None
    assert RequestTag.objects.count() == 4

    api = Client(HTTP_AUTHORIZATION="Bearer sy-master-tags")
    listed = api.get("/api/logs/", {"tag": "search"}).json()["items"]
    assert [r["request_id"] for r in listed] == ["r4", "r1"]  # newest first, once each
    assert listed[1]["tags"] == ["prod", "search"]
    assert api.get("/api/logs/", {"tag": "prod", "key": "batch"}).json()["items"] == []

    by_tag = {r["tag"]: r for r in api.get("/api/spend", {"group_by": "tag"}).json()["items"]}
    assert by_tag["prod"]["requests"] == 2 and Decimal(str(by_tag["prod"]["cost_usd"])) == Decimal(
        "0.75"
    )
    assert by_tag["search"]["tokens"] == 30
    per_key = api.get("/api/spend", {"group_by": "tag,key", "tag": "search"}).json()["items"]
    assert {(r["tag"], r["key"]) for r in per_key} == {("search", "ci"), ("search", "batch")}
    assert api.get("/api/spend", {"group_by": "tag,route"}).status_code == 422
    assert api.get("/api/spend", {"group_by": "tag", "session": "s"}).status_code == 422
    csv = api.get("/api/spend", {"group_by": "tag", "format": "csv"}).content.decode()
    assert csv.splitlines()[0].startswith("tag,requests,")
    assert TagSpendRollup.objects.filter(tag="prod").count() == 1

    # retention takes the tag rows with their logs
    assert prune(timedelta(seconds=-60)) == 4
    assert RequestTag.objects.count() == 0


# --- a key that enforces its tags: only its own may be asserted --------------------------

ENFORCED_KEY = replace(MASTER, id=41, tags=("team:search",), enforce_tags=True)


@pytest.mark.parametrize(
    ("dialect", "body", "headers"),
    [
        ("openai", CHAT, {"x-switchyard-tags": "team:search,team:ads"}),
        ("anthropic", {**CHAT, "max_tokens": 8, "metadata": {"tags": ["team:ads"]}}, {}),
        ("openai", {**CHAT, "metadata": {"tags": "team:ads"}}, {}),
    ],
)
async def test_a_key_that_enforces_its_tags_refuses_another_with_a_403_naming_it(
    upstream, dialect, body, headers
):
    received, records = upstream
    reply = await service.handle(
        "chat", dialect, orjson.dumps(body), headers, service.Caller(key=ENFORCED_KEY)
    )
    assert reply.status == 403, reply.body
    error = orjson.loads(reply.body)["error"]
    assert error["type"] == "permission_error"
    assert "'team:ads'" in error["message"] and "team:search" in error["message"]
    assert received == []  # refused before any upstream call


async def test_a_key_that_enforces_its_tags_carries_its_own(upstream):
    """Control: its own tag asserted again, or none, passes and is attributed; the same
    foreign tag from a key that does not enforce passes as before."""
    received, records = upstream
    for headers in ({"x-switchyard-tags": "team:search"}, {}):
        reply = await service.handle(
            "chat", "openai", orjson.dumps(CHAT), headers, service.Caller(key=ENFORCED_KEY)
        )
        assert reply.status == 200, reply.body
        assert records[-1].tags == ("team:search",)
    loose = replace(ENFORCED_KEY, enforce_tags=False)
    foreign = {"x-switchyard-tags": "team:ads"}
    reply = await service.handle(
        "chat", "openai", orjson.dumps(CHAT), foreign, service.Caller(key=loose)
    )
    assert reply.status == 200 and records[-1].tags == ("team:search", "team:ads")


async def test_a_key_without_tags_that_enforces_them_allows_none(upstream):
    strict = replace(ENFORCED_KEY, tags=())
    reply = await service.handle(
        "chat", "openai", orjson.dumps(CHAT), {"x-switchyard-tags": "x"}, service.Caller(key=strict)
    )
    assert reply.status == 403 and "'x'" in orjson.loads(reply.body)["error"]["message"]
    reply = await service.handle(
        "chat", "openai", orjson.dumps(CHAT), {}, service.Caller(key=strict)
    )
    assert reply.status == 200
