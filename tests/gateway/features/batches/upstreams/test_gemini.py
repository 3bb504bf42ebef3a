"""Batches on Gemini API routes go to Gemini's batch mode: which batches go (a chat,
Messages or Responses batch, not embeddings; ``native_batches`` off opts out), how a
line is translated there and back (``translate``), and the driver against the mock
Gemini batch API (``mock_gemini_batches``) in this process: inline and file input, a
line's error in the caller's format, a lost creation found rather than made twice, a
cancel forwarded, the price half."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from gateway.access import registry
from gateway.base.errors import InvalidRequest
from gateway.features.batches import native, translate, upstreams
from gateway.features.batches.upstreams import gemini
from gateway.models import Deployment, Provider, Route
from gateway.models.batches import Batch, BatchLine
from tests.integration.mock_upstream import MockUpstream

ANSWER = {
    "candidates": [{"content": {"role": "model", "parts": [{"text": "yo"}]}, "finishReason": "STOP"}],
    "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5, "totalTokenCount": 15},
    "responseId": "r1",
}  # fmt: skip


@pytest.fixture(scope="module")
def mock():
    upstream = MockUpstream().start()
    yield upstream
    upstream.stop()


def gemini_route(url: str, name: str = "gem", mode: str = "auto", **settings: str) -> None:
    provider = Provider(name=f"{name}-up", kind="gemini", base_url=url, settings=settings)
    provider.set_secret("gemini-upstream-key")
    provider.save()
    route = Route.objects.create(name=name, batch_mode=mode, default_params={"temperature": 0.3})
    Deployment.objects.create(
        route=route, provider=provider, model="gemini-2.5-flash",
        input_price=Decimal("0.3"), output_price=Decimal("2.5"),
    )  # fmt: skip


@pytest.fixture
def routes(db, snapshot_reset, mock):
    gemini_route(mock.url)
    gemini_route(mock.url, "gem-off", native_batches="off")
    gemini_route(mock.url, "gem-native", "native")
    registry.rebuild()


def deployment(route: str = "gem") -> Any:
    return registry.current().routes[route].deployments[0]


def test_which_batches_on_gemini_routes_go_native(routes) -> None:
    chosen = native.choose("openai", ["gem"], "/v1/chat/completions")
    assert chosen is not None and chosen.model == "gemini-2.5-flash"
    assert upstreams.native_api(chosen.provider) == "gemini"
    assert native.choose("anthropic", ["gem"], "/v1/messages") == chosen
    assert native.choose("openai", ["gem"], "/v1/responses") == chosen
    assert native.choose("openai", ["gem"], "/v1/embeddings") is None  # run here
    assert native.choose("openai", ["gem-off"], "/v1/chat/completions") is None
    with pytest.raises(InvalidRequest, match="gem-native.*/v1/embeddings"):
        native.choose("openai", ["gem-native"], "/v1/embeddings")
    assert upstreams.price_factor(chosen.provider, "gemini") == Decimal("0.5")


def test_a_line_is_translated_there_and_back(routes) -> None:
    chat = {"model": "gem", "max_tokens": 20,
            "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]}  # fmt: skip
    request = translate.upstream_request("/v1/chat/completions", chat, deployment(), "gemini")
    assert request["contents"] == [{"role": "user", "parts": [{"text": "hi"}]}]
    assert request["systemInstruction"] == {"parts": [{"text": "be brief"}]}
    assert request["generationConfig"] == {"maxOutputTokens": 20, "temperature": 0.3}
    body, usage = translate.client_answer(
        "/v1/chat/completions", chat, ANSWER, deployment(), "gemini"
    )
    assert body["object"] == "chat.completion" and body["model"] == "gem"
    assert body["choices"][0]["message"]["content"] == "yo"
    assert (usage.input_tokens, usage.output_tokens) == (10, 5)
    message = {"model": "gem", "max_tokens": 9, "messages": [{"role": "user", "content": "hi"}]}
    body, _ = translate.client_answer("/v1/messages", message, ANSWER, deployment(), "gemini")
    assert body["type"] == "message" and body["content"] == [{"type": "text", "text": "yo"}]
    assert body["usage"]["input_tokens"] == 10


def make_batch(pk: str, texts: list[str], endpoint: str = "/v1/chat/completions") -> Batch:
    now = timezone.now()
    batch = Batch.objects.create(
        id=pk, api="openai", endpoint=endpoint, total=len(texts), status="in_progress",
        created_at=now, expires_at=now + timedelta(hours=24), native="gemini",
        deployment_id=deployment().id,
    )  # fmt: skip
    BatchLine.objects.bulk_create(
        BatchLine(batch=batch, index=i, custom_id=f"c{i}",
                  body={"model": "gem", "messages": [{"role": "user", "content": text}]})
        for i, text in enumerate(texts)
    )  # fmt: skip
    return batch


@pytest.fixture
def driving(transactional_db, snapshot_reset, mock, settings):
    settings.SWITCHYARD_BATCH_POLL_SECONDS = 0.05
    mock.reset()
    mock.gemini_batches.delay = 0.3
    gemini_route(mock.url)
    registry.rebuild()
    return mock


def drive(pk: str) -> str:
    return asyncio.run(native.drive(Batch.objects.get(pk=pk), asyncio.Event()))


def outcomes(pk: str) -> list[tuple[str, str, int | None, Any]]:
    return list(
        BatchLine.objects.filter(batch_id=pk)
        .order_by("index")
        .values_list("custom_id", "outcome", "status_code", "response")
    )


def test_inline_batch_results_come_back_in_the_callers_format(driving) -> None:
    make_batch("batch_gi", ["q0", "please fail", "q2"])
    assert drive("batch_gi") == "completed"
    [made] = driving.gemini_batches.batches.values()
    assert made["source"] == "inline" and made["model"] == "models/gemini-2.5-flash"
    assert made["displayName"] == "switchyard batch_gi"
    assert [key for key, _r in made["lines"]] == ["c0", "c1", "c2"]
    rows = outcomes("batch_gi")
    assert [(c, o, s) for c, o, s, _b in rows] == [
        ("c0", "succeeded", 200), ("c1", "errored", 400), ("c2", "succeeded", 200)
    ]  # fmt: skip
    assert rows[2][3]["choices"][0]["message"]["content"] == "batched: q2"
    assert rows[1][3]["error"]["message"] == "mock: this line fails"
    costs = set(BatchLine.objects.filter(batch_id="batch_gi", outcome="succeeded")
                .values_list("cost_usd", flat=True))  # fmt: skip
    assert costs == {(10 * Decimal("0.3") + 5 * Decimal("2.5")) / 1_000_000 / 2}
    saved = Batch.objects.get(pk="batch_gi")
    assert saved.upstream_batch_id == made["name"] and saved.upstream_file_id == "inline"


def test_a_big_batch_goes_up_as_a_file(driving, monkeypatch) -> None:
    monkeypatch.setattr(gemini, "INLINE_LIMIT", 300)
    make_batch("batch_gf", [f"q{i}" for i in range(5)], "/v1/messages")
    BatchLine.objects.filter(batch_id="batch_gf").update(
        body={"model": "gem", "max_tokens": 10, "messages": [{"role": "user", "content": "hey"}]}
    )
    assert drive("batch_gf") == "completed"
    [made] = driving.gemini_batches.batches.values()
    assert made["source"] == "file" and len(made["lines"]) == 5
    assert ("POST", "/upload/v1beta/files") in driving.gemini_batches.calls
    assert made["file"] not in driving.gemini_batches.files  # deleted once read
    rows = outcomes("batch_gf")
    assert {o for _c, o, _s, _b in rows} == {"succeeded"}
    assert rows[0][3]["type"] == "message" and rows[0][3]["content"][0]["text"] == "batched: hey"


def test_a_lost_creation_is_found_not_made_twice(driving) -> None:
    driving.gemini_batches.lose_answer = (
        "POST", "/v1beta/models/gemini-2.5-flash:batchGenerateContent"
    )  # fmt: skip
    make_batch("batch_gl", ["q0"])
    assert drive("batch_gl") == "completed"
    assert len(driving.gemini_batches.batches) == 1
    assert ("GET", "/v1beta/batches") in driving.gemini_batches.calls
    assert outcomes("batch_gl")[0][1] == "succeeded"


def submitted(mock: MockUpstream) -> None:
    deadline = time.monotonic() + 10
    while not mock.gemini_batches.batches:
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_a_cancel_is_forwarded(driving) -> None:
    driving.gemini_batches.delay = 30
    make_batch("batch_gc", ["q0", "q1"])

    async def go() -> str:
        task = asyncio.create_task(
            native.drive(await asyncio.to_thread(Batch.objects.get, pk="batch_gc"), asyncio.Event())
        )
        await asyncio.to_thread(submitted, driving)
        await asyncio.to_thread(Batch.objects.filter(pk="batch_gc").update, status="cancelling")
        return await asyncio.wait_for(task, 10)

    assert asyncio.run(go()) == "cancelled"
    [name] = driving.gemini_batches.batches
    assert ("POST", f"/v1beta/{name}:cancel") in driving.gemini_batches.calls


def test_the_client_wants_the_key_on_its_own_host(driving) -> None:
    provider = deployment().provider
    client = gemini.GeminiBatches(provider)
    assert client.url("batches/x") == f"{driving.url}/v1beta/batches/x"
    bad = Provider.objects.get(name="gem-up")
    bad.set_secret("wrong")
    bad.save()
    registry.rebuild()
    with pytest.raises(Exception, match="API key not valid"):
        asyncio.run(gemini.GeminiBatches(deployment().provider).retrieve("batches/x"))


def test_states_and_outputs_are_read_in_either_spelling() -> None:
    running = {"name": "batches/b", "metadata": {"state": "BATCH_STATE_RUNNING",
               "batchStats": {"successfulRequestCount": "2", "failedRequestCount": "1"}}}  # fmt: skip
    assert gemini.GeminiBatches.read(running) == ("in_progress", 2, 1, False)
    assert gemini.GeminiBatches.read({"state": "JOB_STATE_CANCELLED"})[::3] == ("cancelled", True)
    assert gemini.GeminiBatches.read({"metadata": {"state": "BATCH_STATE_EXPIRED"}})[0] == "expired"
    failed = gemini.GeminiBatches.read({"metadata": {"state": "BATCH_STATE_FAILED"}, "done": True})
    assert failed == ("failed", 0, 0, True)
    in_output = {"metadata": {"state": "BATCH_STATE_SUCCEEDED", "output": {"responsesFile": "f"}}}
    assert gemini.output_of(in_output) == {"responsesFile": "f"}
    in_response = {"metadata": {"state": "X"}, "response": {"inlinedResponses": {}}}
    assert gemini.output_of(in_response) == {"inlinedResponses": {}}


def test_a_lines_error_reads_as_the_batchs_format(routes) -> None:
    body = {"model": "gem", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}
    error = {"error": {"code": 8, "message": "quota", "details": []}}
    outcome, status, rendered = gemini._result("/v1/messages", body, error, deployment())
    assert (outcome, status) == ("errored", 429)
    assert rendered["type"] == "error" and rendered["error"]["message"] == "quota"


def test_a_line_that_needs_the_gateways_state_is_refused(routes) -> None:
    body = {"model": "gem", "input": "more", "previous_response_id": "resp_1"}
    with pytest.raises(InvalidRequest, match="previous_response_id"):
        translate.upstream_request("/v1/responses", body, deployment(), "gemini")


def test_a_line_gemini_cannot_take_is_answered_here_the_rest_go_up(driving) -> None:
    make_batch("batch_gr", ["q0", "q1"], "/v1/responses")
    BatchLine.objects.filter(batch_id="batch_gr", index=0).update(
        body={"model": "gem", "input": "q0", "previous_response_id": "resp_x"}
    )
    BatchLine.objects.filter(batch_id="batch_gr", index=1).update(
        body={"model": "gem", "input": "q1"}
    )
    assert drive("batch_gr") == "completed"
    [made] = driving.gemini_batches.batches.values()
    assert [key for key, _r in made["lines"]] == ["c1"]
    rows = outcomes("batch_gr")
    assert [(c, o, s) for c, o, s, _b in rows] == [("c0", "errored", 400), ("c1", "succeeded", 200)]
    assert "previous_response_id" in rows[0][3]["error"]["message"]
    assert rows[1][3]["object"] == "response" and rows[1][3]["output"][0]["content"][0]["text"] == (
        "batched: q1"
    )


def test_polling_resumes_from_the_saved_name_without_submitting_again(driving) -> None:
    driving.gemini_batches.delay = 30
    make_batch("batch_gs", ["q0"])

    async def until_stopped() -> str:
        stop = asyncio.Event()
        batch = await asyncio.to_thread(Batch.objects.get, pk="batch_gs")
        task = asyncio.create_task(native.drive(batch, stop))
        await asyncio.to_thread(submitted, driving)
        stop.set()  # the lease is lost: another runner resumes
        return await asyncio.wait_for(task, 10)

    assert asyncio.run(until_stopped()) == ""
    [upstream] = driving.gemini_batches.batches.values()
    assert Batch.objects.get(pk="batch_gs").upstream_batch_id == upstream["name"]
    upstream["created"] -= 30  # it ended meanwhile
    assert drive("batch_gs") == "completed"
    assert len(driving.gemini_batches.batches) == 1
    assert outcomes("batch_gs")[0][1] == "succeeded"
