"""Documents across dialects: every client dialect (OpenAI chat, Responses, Anthropic)
to every upstream kind (OpenAI-compatible, Anthropic, Gemini, Bedrock, Cohere,
Responses) through ``service.handle``: the upstream body carries the PDF in its own
shape, text documents as text, and what an upstream cannot carry is a 400 in the
caller's dialect naming the model and the content type, the upstream never called."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import orjson
import pytest

from gateway import journal
from gateway.access import registry
from gateway.base import http
from gateway.base.entries import MASTER, ProviderEntry
from gateway.core import service
from tests.gateway.entries import deployment, route, snapshot

PDF_BYTES = b"%PDF-1.4\n1 0 obj << /Type /Page >> endobj\n%%EOF\n"
PDF_B64 = base64.b64encode(PDF_BYTES).decode()
PDF_URL = f"data:application/pdf;base64,{PDF_B64}"
NOTES = "Meeting notes: ship on Friday."
NOTES_B64 = base64.b64encode(NOTES.encode()).decode()
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"

AWS = {"aws_access_key_id": "AKIDEXAMPLE", "aws_secret_access_key": "s" * 40}
AWS["aws_region_name"] = "us-east-1"

PROVIDERS = {
    "openai": ProviderEntry(1, "oa", "openai", "http://openai.test/v1", "sk-x", {}, "", None),
    "anthropic": ProviderEntry(2, "an", "anthropic", "http://anthropic.test", "k", {}, "", None),
    "gemini": ProviderEntry(3, "gm", "gemini", "http://gemini.test", "k", {}, "", None),
    "bedrock": ProviderEntry(4, "br", "bedrock", "http://bedrock.test", "", {}, "", None),
    "cohere": ProviderEntry(5, "co", "cohere", "http://cohere.test", "k", {}, "", None),
    "openai_responses": ProviderEntry(
        6, "rs", "openai_responses", "http://responses.test/v1", "sk-x", {}, "", None
    ),
}
UPSTREAMS = list(PROVIDERS)
CLIENTS = ["openai", "responses", "anthropic"]

ANSWERS: dict[str, dict[str, Any]] = {
    "openai.test": {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "up",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
    },
    "anthropic.test": {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "up",
        "content": [{"type": "text", "text": "ok"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 5, "output_tokens": 1},
    },
    "gemini.test": {
        "candidates": [
            {"content": {"role": "model", "parts": [{"text": "ok"}]}, "finishReason": "STOP"}
        ],
        "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 1},
        "responseId": "r1",
    },
    "bedrock.test": {
        "output": {"message": {"role": "assistant", "content": [{"text": "ok"}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 5, "outputTokens": 1, "totalTokens": 6},
    },
    "cohere.test": {
        "id": "c1",
        "finish_reason": "COMPLETE",
        "message": {"role": "assistant", "content": [{"type": "text", "text": "ok"}]},
        "usage": {"tokens": {"input_tokens": 5, "output_tokens": 1}},
    },
    "responses.test": {
        "id": "resp_1",
        "object": "response",
        "created_at": 1,
        "status": "completed",
        "model": "up",
        "output": [
            {
                "type": "message",
                "id": "msg_1",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": "ok", "annotations": []}],
            }
        ],
        "usage": {"input_tokens": 5, "output_tokens": 1, "total_tokens": 6},
    },
}


@pytest.fixture
def upstream(monkeypatch: pytest.MonkeyPatch, snapshot_reset):
    """A route ``doc-<kind>`` per upstream kind; yields the bodies the upstreams got."""
    monkeypatch.setattr(journal, "record", lambda record: None)
    routes = []
    for kind, provider in PROVIDERS.items():
        params = AWS if kind == "bedrock" else {}
        entry = route(f"doc-{kind}", "up", provider=provider, max_attempts=1)
        dep = deployment(entry.name, "up", provider=provider, params=params)
        routes.append(type(entry)(**{**_fields(entry), "deployments": (dep,)}))
    registry.install(snapshot(*routes))
    seen: list[tuple[str, dict]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.host, orjson.loads(request.content)))
        return httpx.Response(200, json=ANSWERS[request.url.host])

    http.use_transport(httpx.MockTransport(answer))
    yield seen
    http.use_transport(None)


def _fields(entry: Any) -> dict[str, Any]:
    return {name: getattr(entry, name) for name in entry.__slots__}


# --- what each client sends -----------------------------------------------------------


def pdf_part(client: str, *, filename: str = "report.pdf") -> dict[str, Any]:
    if client == "openai":
        return {"type": "file", "file": {"filename": filename, "file_data": PDF_URL}}
    if client == "responses":
        return {"type": "input_file", "filename": filename, "file_data": PDF_URL}
    return {
        "type": "document",
        "title": filename,
        "source": {"type": "base64", "media_type": "application/pdf", "data": PDF_B64},
        "cache_control": {"type": "ephemeral"},
    }


def text_part(client: str) -> dict[str, Any]:
    data_url = f"data:text/plain;base64,{NOTES_B64}"
    if client == "openai":
        return {"type": "file", "file": {"filename": "notes.txt", "file_data": data_url}}
    if client == "responses":
        return {"type": "input_file", "filename": "notes.txt", "file_data": data_url}
    return {
        "type": "document",
        "source": {"type": "text", "media_type": "text/plain", "data": NOTES},
    }


def docx_part(client: str) -> dict[str, Any]:
    if client == "openai":
        data = f"data:{DOCX};base64,UEsDBA=="
        return {"type": "file", "file": {"filename": "plan.docx", "file_data": data}}
    if client == "responses":
        data = f"data:{DOCX};base64,UEsDBA=="
        return {"type": "input_file", "filename": "plan.docx", "file_data": data}
    return {
        "type": "document",
        "source": {"type": "base64", "media_type": DOCX, "data": "UEsDBA=="},
    }


def ask(client: str, kind: str, part: dict[str, Any]) -> dict[str, Any]:
    model = f"doc-{kind}"
    if client == "responses":
        text = {"type": "input_text", "text": "Sum it up."}
        return {"model": model, "input": [{"role": "user", "content": [part, text]}]}
    text = {"type": "text", "text": "Sum it up."}
    body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": [part, text]}]}
    if client == "anthropic":
        body["max_tokens"] = 100
    return body


async def send(client: str, body: dict[str, Any]) -> service.Reply:
    reply = await service.handle("chat", client, orjson.dumps(body), {}, service.Caller(key=MASTER))
    assert isinstance(reply, service.Reply)
    return reply


# --- where the PDF lands in each upstream body ------------------------------------------


def user_content(kind: str, body: dict[str, Any]) -> list[Any]:
    if kind == "gemini":
        return body["contents"][-1]["parts"]
    if kind == "openai_responses":
        return body["input"][-1]["content"]
    return body["messages"][-1]["content"]


PDF_SHAPES = {
    "openai": {"type": "file", "file": {"filename": "report.pdf", "file_data": PDF_URL}},
    "anthropic": {
        "type": "document",
        "source": {"type": "base64", "media_type": "application/pdf", "data": PDF_B64},
        "title": "report.pdf",
    },
    "gemini": {"inlineData": {"mimeType": "application/pdf", "data": PDF_B64}},
    "bedrock": {"document": {"format": "pdf", "name": "report", "source": {"bytes": PDF_B64}}},
    "openai_responses": {"type": "input_file", "filename": "report.pdf", "file_data": PDF_URL},
}


@pytest.mark.parametrize("kind", [k for k in UPSTREAMS if k != "cohere"])
@pytest.mark.parametrize("client", CLIENTS)
async def test_a_pdf_reaches_every_upstream_that_reads_files_in_its_shape(
    upstream, client: str, kind: str
) -> None:
    reply = await send(client, ask(client, kind, pdf_part(client)))
    assert reply.status == 200, reply.body
    [(_, body)] = upstream
    content = user_content(kind, body)
    if client == kind == "anthropic":  # same dialect: passed through as sent
        assert content[0] == pdf_part("anthropic")
    else:
        assert content[0] == PDF_SHAPES[kind]
    assert "Sum it up." in orjson.dumps(content[1]).decode()


@pytest.mark.parametrize("kind", UPSTREAMS)
@pytest.mark.parametrize("client", CLIENTS)
async def test_a_text_document_arrives_as_text_or_an_anthropic_text_source(
    upstream, client: str, kind: str
) -> None:
    reply = await send(client, ask(client, kind, text_part(client)))
    assert reply.status == 200, reply.body
    [(_, body)] = upstream
    if kind == "anthropic" and client != "anthropic":
        first = user_content(kind, body)[0]
        assert first["type"] == "document"
        assert first["source"] == {"type": "text", "media_type": "text/plain", "data": NOTES}
    elif kind == "anthropic":  # same dialect: the block as sent
        assert user_content(kind, body)[0]["source"]["data"] == NOTES
    elif client == kind == "openai":  # same dialect: the part as sent
        assert user_content(kind, body)[0] == text_part("openai")
    else:
        carried = orjson.dumps(user_content(kind, body)).decode()
        assert NOTES in carried
        assert "file_data" not in carried and "inlineData" not in carried
        assert '"document"' not in carried


def error_message(client: str, reply: service.Reply) -> str:
    data = orjson.loads(reply.body)
    if client == "anthropic":
        assert data["type"] == "error"
    assert data["error"]["type"] == "invalid_request_error"
    return data["error"]["message"]


@pytest.mark.parametrize("client", CLIENTS)
async def test_a_pdf_to_cohere_is_a_400_in_the_callers_dialect(upstream, client: str) -> None:
    reply = await send(client, ask(client, "cohere", pdf_part(client)))
    assert reply.status == 400
    message = error_message(client, reply)
    assert "'doc-cohere'" in message and "application/pdf" in message
    assert upstream == []


REFUSED_DOCX = ["anthropic", "cohere"]


@pytest.mark.parametrize("kind", UPSTREAMS)
@pytest.mark.parametrize("client", CLIENTS)
async def test_a_word_file_goes_where_the_upstream_reads_it_else_a_400(
    upstream, client: str, kind: str
) -> None:
    reply = await send(client, ask(client, kind, docx_part(client)))
    if kind in REFUSED_DOCX:
        assert reply.status == 400, reply.body
        message = error_message(client, reply)
        assert f"'doc-{kind}'" in message and DOCX in message
        assert upstream == []
        return
    assert reply.status == 200, reply.body
    [(_, body)] = upstream
    carried = orjson.dumps(user_content(kind, body)).decode()
    assert "UEsDBA==" in carried
    if kind == "bedrock":
        assert user_content(kind, body)[0]["document"]["format"] == "docx"


async def test_a_pdf_by_url_goes_to_anthropic_gemini_and_responses_and_is_fetched_else(
    upstream,
) -> None:
    """Anthropic, Gemini and the Responses API fetch a URL themselves; for OpenAI chat
    and Bedrock the gateway fetches it (this host never resolves: a 400 naming it);
    Cohere reads no PDF."""
    url = "https://files.example.test/report.pdf"
    part = {"type": "document", "source": {"type": "url", "url": url}}
    for kind in ("anthropic", "gemini", "openai_responses"):
        assert (await send("anthropic", ask("anthropic", kind, part))).status == 200
    carried = [
        orjson.dumps(user_content(k, b)[0]).decode()
        for (_, b), k in zip(upstream, ("anthropic", "gemini", "openai_responses"), strict=True)
    ]
    assert all(url in c for c in carried)
    assert '"fileData"' in carried[1] and '"file_url"' in carried[2]
    for kind in ("openai", "bedrock"):
        reply = await send("anthropic", ask("anthropic", kind, part))
        assert reply.status == 400
        message = error_message("anthropic", reply)
        assert (
            "could not be fetched" in message and "files.example.test does not resolve" in message
        )
        assert "report.pdf" not in message
    reply = await send("anthropic", ask("anthropic", "cohere", part))
    assert reply.status == 400
    message = error_message("anthropic", reply)
    assert "'doc-cohere'" in message and "application/pdf by URL" in message
    assert len(upstream) == 3


async def test_a_pdf_in_a_tool_result_follows_the_results_into_the_user_turn(upstream) -> None:
    """Claude Code's Read tool answers a PDF with a document block in the tool result."""
    body = {
        "model": "doc-openai",
        "max_tokens": 100,
        "messages": [
            {"role": "user", "content": "read report.pdf"},
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": "t1", "name": "Read", "input": {"path": "r.pdf"}}
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "t1",
                        "content": [pdf_part("anthropic")],
                    }
                ],
            },
        ],
    }
    reply = await send("anthropic", body)
    assert reply.status == 200, reply.body
    [(_, sent)] = upstream
    tool, user = sent["messages"][-2:]
    assert tool["role"] == "tool" and tool["tool_call_id"] == "t1"
    assert user["role"] == "user"
    assert user["content"] == [PDF_SHAPES["openai"]]


async def test_answers_carry_no_documents(upstream) -> None:
    for client in CLIENTS:
        reply = await send(client, ask(client, "openai", pdf_part(client)))
        assert reply.status == 200
        text = reply.body.decode()
        assert PDF_B64 not in text and "document" not in text and "input_file" not in text
