"""Passthrough end to end: the official ``openai``, ``anthropic`` and ``google-genai``
SDKs pointed at the gateway's passthrough base URLs, reaching mock vendors on 127.0.0.1
(``conftest``) for endpoints the gateway does not model; the vendor gets the provider's
credentials (never the virtual key) and the caller's body byte for byte; each call is
admitted, limited, guarded and journaled as any other (one row, priced from the usage
the answer reports)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import anthropic
import openai
import orjson
import pytest
from google import genai
from google.genai import types as genai_types
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from gateway.base import http
from gateway.telemetry import tracing
from tests.gateway.features.passthrough.conftest import (
    ANTHROPIC_SECRET,
    BETA_SECRET,
    KEYS,
    MODEL,
    OPENAI_SECRET,
    Gateway,
    blocking,
    oai,
)
from tests.gateway.features.passthrough.vendor import Answer
from tests.integration.mock_upstream import Reply


def never_the_virtual_key(seen_headers: dict[str, str], seen_path: str, query: str = "") -> None:
    """Nothing the vendor received carries a virtual key (any of them)."""
    for raw in KEYS.values():
        assert all(raw not in value for value in seen_headers.values())
        assert raw not in seen_path and raw not in query


# --- the OpenAI SDK --------------------------------------------------------------------


async def test_the_openai_sdk_reaches_an_endpoint_the_gateway_does_not_model(gw: Gateway) -> None:
    gw.vendor.answer("GET", "/v1/models/up-gpt", Answer(body=MODEL))
    model = await oai(gw, "beta").models.retrieve("up-gpt")
    assert (model.id, model.owned_by) == ("up-gpt", "vendor")
    (seen,) = gw.vendor.seen
    assert (seen.method, seen.path) == ("GET", "/v1/models/up-gpt")
    assert seen.headers["authorization"] == f"Bearer {BETA_SECRET}"  # the provider's key
    never_the_virtual_key(seen.headers, seen.path, seen.query)
    (row,) = gw.rows("beta")
    assert (row.endpoint, row.route, row.provider, row.status) == (
        "passthrough",
        "gpt-beta",
        "openai-beta",
        200,
    )


async def test_a_path_the_gateway_does_not_serve_under_openai_passes_through(gw: Gateway) -> None:
    """Under ``/openai/`` the gateway's own endpoints come first (its routed chat, its
    model list); what it does not serve there (a beta path) goes to the vendor."""
    gw.vendor.answer("GET", "/v1/beta/widgets", Answer(body={"object": "list", "data": []}))
    listing = await oai(gw, "beta", "/openai/v1").get("/beta/widgets", cast_to=object)
    assert listing == {"object": "list", "data": []}
    assert [s.path for s in gw.vendor.seen] == ["/v1/beta/widgets"]
    # the gateway's own model list still answers /openai/v1/models (its routes)
    own = await oai(gw, "beta", "/openai/v1").models.list()
    assert [m.id for m in own.data] == ["gpt-beta"] and len(gw.vendor.seen) == 1


async def test_a_streamed_chat_passes_through_with_its_usage_priced(gw: Gateway) -> None:
    gw.upstream.queue(Reply(text="streamed through", input_tokens=1000, output_tokens=500))
    stream = await oai(gw, "main").chat.completions.create(
        model="up-gpt",
        messages=[{"role": "user", "content": "hello"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    text = ""
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            text += chunk.choices[0].delta.content
    assert text == "streamed through"
    seen = gw.upstream.last
    assert seen.path == "/v1/chat/completions"
    assert seen.headers["authorization"] == f"Bearer {OPENAI_SECRET}"
    never_the_virtual_key(seen.headers, seen.path)
    assert seen.raw == gw.sent[-1].content  # the caller's body, byte for byte
    (row,) = gw.rows("main")
    assert (row.route, row.provider, row.upstream_model, row.stream) == (
        "gpt",
        "openai-main",
        "up-gpt",
        True,
    )
    assert (row.input_tokens, row.output_tokens) == (1000, 500)
    assert row.cost_usd == Decimal("0.002")  # 1000 x $1/M + 500 x $2/M


async def test_the_vendors_own_error_comes_back_as_it_sent_it(gw: Gateway) -> None:
    """An upstream error is the vendor's: its status, its envelope (the provider's
    secret taken out if it echoes it)."""
    echoed = {
        "error": {"message": f"key {BETA_SECRET} is over quota", "type": "insufficient_quota"}
    }
    gw.vendor.answer("POST", "/v1/fine_tuning/jobs", Answer(status=429, body=echoed))
    with pytest.raises(openai.RateLimitError) as caught:
        await oai(gw, "beta").fine_tuning.jobs.create(model="up-gpt", training_file="file-1")
    body = caught.value.body
    assert isinstance(body, dict) and body["type"] == "insufficient_quota"
    assert BETA_SECRET not in body["message"] and "over quota" in body["message"]
    (row,) = gw.rows("beta")
    assert row.status == 429 and row.route == "gpt-beta"


# --- the Anthropic SDK -----------------------------------------------------------------


def claude(gw: Gateway, key: str, base: str = "/anthropic_passthrough") -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(
        base_url=f"http://gw{base}", api_key=KEYS[key], http_client=gw.client2, max_retries=0
    )


async def test_the_anthropic_sdk_lists_the_vendors_models(gw: Gateway) -> None:
    """Anthropic's ``/v1/models`` (``/anthropic/v1/models`` is the gateway's own list of
    routes: the ``_passthrough`` prefix always reaches the vendor)."""
    page = await claude(gw, "main").models.list()
    assert [m.id for m in page.data] == ["up-model"]
    (seen,) = gw.upstream.seen
    assert (seen.method, seen.path) == ("GET", "/v1/models")
    assert seen.headers["x-api-key"] == ANTHROPIC_SECRET
    never_the_virtual_key(seen.headers, seen.path)


async def test_an_anthropic_path_the_gateway_does_not_serve_reaches_the_vendor(gw: Gateway) -> None:
    with pytest.raises(anthropic.NotFoundError) as caught:  # the mock has no skills
        await claude(gw, "main", "/anthropic").skills.list()
    assert "no such path" in str(caught.value)  # the vendor's own 404
    (seen,) = gw.upstream.seen
    assert seen.path == "/v1/skills" and seen.headers["x-api-key"] == ANTHROPIC_SECRET


async def test_an_anthropic_stream_passes_through_with_its_usage(gw: Gateway) -> None:
    gw.upstream.queue(Reply(text="a streamed answer", input_tokens=12, output_tokens=4))
    async with claude(gw, "main").messages.stream(
        model="up-claude", max_tokens=64, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        text = "".join([piece async for piece in stream.text_stream])
    assert text == "a streamed answer"
    seen = gw.upstream.last
    assert seen.headers["x-api-key"] == ANTHROPIC_SECRET and "authorization" not in seen.headers
    (row,) = gw.rows("main")
    assert (row.route, row.input_tokens, row.output_tokens) == ("claude", 12, 4)


# --- the google-genai SDK --------------------------------------------------------------


def gemini_client(gw: Gateway, key: str) -> genai.Client:
    options = genai_types.HttpOptions(
        base_url="http://gw/gemini", api_version="v1beta", httpx_async_client=gw.client
    )
    return genai.Client(api_key=KEYS[key], http_options=options)


async def test_the_genai_sdk_reads_a_model_with_the_providers_key(gw: Gateway) -> None:
    """The mock Gemini answers only its own key in ``x-goog-api-key``: the virtual key
    the SDK sends there is swapped for it."""
    model = await gemini_client(gw, "main").aio.models.get(model="gemini-2.5-flash")
    assert model.name == "models/gemini-2.5-flash"
    (seen,) = gw.gemini.seen
    assert seen.path == "/v1beta/models/gemini-2.5-flash"
    assert seen.headers["x-goog-api-key"] == gw.gemini.api_key
    never_the_virtual_key(seen.headers, seen.path)


async def test_a_gemini_stream_passes_through_with_its_usage(gw: Gateway) -> None:
    chunks = await gemini_client(gw, "main").aio.models.generate_content_stream(
        model="gemini-2.5-flash", contents="hello"
    )
    text = "".join([chunk.text or "" async for chunk in chunks])
    assert text == "Hi from Gemini."
    seen = gw.gemini.last
    assert seen.query.get("alt") == ["sse"] and "key" not in seen.query
    (row,) = gw.rows("main")
    assert (row.route, row.input_tokens, row.output_tokens) == ("gemini", 21, 9)


# --- Vertex AI and Bedrock: the provider's own signature --------------------------------


async def test_vertex_ai_gets_a_token_of_the_providers_service_account(gw: Gateway) -> None:
    path = "/v1/projects/proj-mock/locations/us-central1/publishers/google/models/gemini-2.5-flash:generateContent"
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    answer = await gw.client.post(
        f"/vertex_ai{path}", json=body, headers={"authorization": f"Bearer {KEYS['main']}"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["candidates"][0]["content"]["parts"][0]["text"] == "Hi from Gemini."
    seen = gw.gemini.last
    assert seen.path == path and seen.headers["authorization"].startswith("Bearer ")
    never_the_virtual_key(seen.headers, seen.path)
    assert gw.gemini.token_requests == 1  # a token of the service account, from its issuer
    # another project is out of the provider's scope: refused, nothing sent
    other = path.replace("proj-mock", "proj-other")
    refused = await gw.client.post(
        f"/vertex_ai{other}", json=body, headers={"authorization": f"Bearer {KEYS['main']}"}
    )
    assert refused.status_code == 403 and "proj-mock" in refused.json()["error"]["message"]
    assert len(gw.gemini.chats) == 1


async def test_bedrock_gets_a_sigv4_signature_of_the_providers_keys(gw: Gateway) -> None:
    """The mock verifies every signature with botocore from the provider's test keys."""
    body = orjson.dumps({"messages": [{"role": "user", "content": [{"text": "hi"}]}]})
    answer = await gw.client.post(
        "/bedrock/model/amazon.nova-pro-v1%3A0/converse",
        content=body,
        headers={"authorization": f"Bearer {KEYS['main']}", "content-type": "application/json"},
    )
    assert answer.status_code == 200, answer.text
    (seen,) = gw.bedrock.seen
    assert seen.path == "/model/amazon.nova-pro-v1%3A0/converse" and seen.raw == body
    never_the_virtual_key(seen.headers, seen.path)
    (row,) = gw.rows("main")
    assert row.route == "nova" and row.input_tokens > 0  # Converse's usage, read


# --- governed like any endpoint ---------------------------------------------------------


async def test_an_rpm_limit_and_a_spent_budget_are_refused_before_the_vendor(gw: Gateway) -> None:
    gw.vendor.answer("GET", "/v1/models/up-gpt", Answer(body=MODEL))
    limited = oai(gw, "rpm")
    await limited.models.retrieve("up-gpt")
    with pytest.raises(openai.RateLimitError) as caught:
        await limited.models.retrieve("up-gpt")
    assert caught.value.code == "rate_limit_exceeded"
    with pytest.raises(openai.RateLimitError) as spent:
        await oai(gw, "spent").models.retrieve("up-gpt")
    assert spent.value.code == "budget_exceeded"
    assert len(gw.vendor.seen) == 1  # only the first call reached the vendor
    assert [r.status for r in gw.rows("rpm")] == [200, 429]
    assert [r.status for r in gw.rows("spent")] == [429]


async def test_a_key_allowed_no_route_on_the_provider_is_refused(gw: Gateway) -> None:
    with pytest.raises(openai.PermissionDeniedError):
        await oai(gw, "outsider").models.retrieve("up-gpt")
    with pytest.raises(openai.AuthenticationError):  # not a key of the gateway at all
        await openai.AsyncOpenAI(
            base_url="http://gw/openai_passthrough/v1", api_key=BETA_SECRET,
            http_client=gw.client, max_retries=0,
        ).models.retrieve("up-gpt")  # fmt: skip
    assert gw.vendor.seen == [] and gw.upstream.seen == []
    assert [r.status for r in gw.records] == [403, 401]


async def test_several_providers_open_to_a_key_are_told_apart_by_name(gw: Gateway) -> None:
    gw.vendor.answer("GET", "/v1/models/up-gpt", Answer(body=MODEL))
    with pytest.raises(openai.BadRequestError) as caught:
        await oai(gw, "both").models.retrieve("up-gpt")
    message = str(caught.value)
    assert (
        "openai-beta" in message and "openai-main" in message and "x-switchyard-provider" in message
    )
    named = oai(gw, "both", default_headers={"x-switchyard-provider": "openai-beta"})
    assert (await named.models.retrieve("up-gpt")).id == "up-gpt"
    assert "x-switchyard-provider" not in gw.vendor.seen[-1].headers  # the gateway's own


async def test_a_blocked_word_is_refused_and_an_unreadable_body_is_not_applicable(
    gw: Gateway,
) -> None:
    gw.install(guardrails={"words": blocking("forbidden")}, default_guardrails=("words",))
    gw.vendor.answer("POST", "/v1/chat/completions", Answer(body={"ok": True}))
    sdk = oai(gw, "beta")
    with pytest.raises(openai.BadRequestError) as blocked:
        await sdk.chat.completions.create(
            model="up-gpt", messages=[{"role": "user", "content": "say forbidden"}]
        )
    assert "guardrail 'words' blocked the request" in str(blocked.value)
    # a body the gateway cannot read (a file's bytes) is refused, never sent unchecked
    unreadable = await gw.client.post(
        "/openai/v1/uploads/up_1/parts",
        content=b"\x00\x01raw bytes",
        headers={
            "authorization": f"Bearer {KEYS['beta']}",
            "content-type": "application/octet-stream",
        },
    )
    assert unreadable.status_code == 400
    assert unreadable.json()["error"]["code"] == "guardrail_not_applicable"
    assert gw.vendor.seen == []
    # the same request without the word goes through
    await sdk.chat.completions.create(
        model="up-gpt", messages=[{"role": "user", "content": "say hi"}]
    )
    assert [s.path for s in gw.vendor.seen] == ["/v1/chat/completions"]
    assert json.loads(gw.vendor.seen[0].raw)["messages"][0]["content"] == "say hi"


async def test_a_passthrough_call_is_traced_without_its_keys(
    gw: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One server span and one client span (the vendor call, its ``traceparent`` sent),
    naming the method, path and provider; no key of the caller's or the provider's."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(tracing, "ENABLED", True)
    tracing.use_provider(provider)
    http.use_transport(None)  # a new pooled client: with the tracing hook
    try:
        gw.vendor.answer("GET", "/v1/models/up-gpt", Answer(body=MODEL))
        await oai(gw, "beta").models.retrieve("up-gpt")
    finally:
        tracing.use_provider(None)
    spans = exporter.get_finished_spans()
    (server,) = [s for s in spans if s.kind == SpanKind.SERVER]
    (client,) = [s for s in spans if s.kind == SpanKind.CLIENT]
    assert server.name == "passthrough"
    for span in (server, client):
        attributes = span.attributes or {}
        assert attributes["http.request.method"] == "GET"
        assert attributes["url.path"] == "/v1/models/up-gpt"
        assert attributes["switchyard.passthrough.provider"] == "openai-beta"
        dumped = json.dumps(dict(attributes))
        assert KEYS["beta"] not in dumped and BETA_SECRET not in dumped
    assert (server.attributes or {})["switchyard.route"] == "gpt-beta"
    assert "traceparent" in gw.vendor.seen[-1].headers


async def test_the_key_is_taken_wherever_the_vendors_sdk_puts_it(gw: Gateway) -> None:
    """``?key=`` (Google's) and ``api-key`` (Azure's) work as Bearer and ``x-api-key``
    do; neither goes on. The gateway's own refusals come in the vendor's envelope:
    Google's for a Gemini path."""
    by_query = await gw.client.get(f"/gemini/v1beta/models/gemini-2.5-flash?key={KEYS['main']}")
    assert by_query.status_code == 200, by_query.text
    assert (
        gw.gemini.seen[-1].query == {}
        and gw.gemini.seen[-1].headers["x-goog-api-key"] == gw.gemini.api_key
    )
    gw.vendor.answer("GET", "/v1/models/up-gpt", Answer(body=MODEL))
    azure_style = await gw.client.get(
        "/openai/v1/models/up-gpt/x", headers={"api-key": KEYS["beta"]}
    )
    assert azure_style.status_code == 404 and gw.vendor.seen[-1].path == "/v1/models/up-gpt/x"
    assert gw.vendor.seen[-1].headers["authorization"] == f"Bearer {BETA_SECRET}"
    assert "api-key" not in gw.vendor.seen[-1].headers
    refused = await gw.client.get("/gemini/v1beta/models/gemini-2.5-flash?key=sy-not-a-key")
    assert refused.status_code == 401
    assert refused.json()["error"]["status"] == "UNAUTHENTICATED"  # Google's envelope
    assert len(gw.gemini.seen) == 1


async def test_a_body_over_the_cap_is_refused_before_the_vendor(gw: Gateway, settings: Any) -> None:
    settings.SWITCHYARD_MAX_BODY_BYTES = 1024
    answer = await gw.client.post(
        "/anthropic/v1/skills",
        content=b"x" * 2048,
        headers={"x-api-key": KEYS["main"], "content-type": "application/octet-stream"},
    )
    assert answer.status_code == 413
    assert answer.json()["type"] == "error"  # Anthropic's envelope
    assert gw.upstream.seen == []
