"""The official ``anthropic`` SDK sending documents the way Claude Code does (a base64
PDF ``document`` block, in a message and in a Read tool's result) to an
OpenAI-compatible route of a real gateway: the upstream receives ``file`` parts; a text
document arrives as text; a PDF by URL, which OpenAI chat cannot take, is an Anthropic
400 naming the model and the content type, the upstream never called."""

from __future__ import annotations

import base64

import anthropic
import pytest

from .conftest import Stack
from .mock_upstream import MockUpstream, Reply

PDF_B64 = base64.b64encode(b"%PDF-1.4\n1 0 obj << /Type /Page >> endobj\n%%EOF\n").decode()
PDF_BLOCK = {
    "type": "document",
    "source": {"type": "base64", "media_type": "application/pdf", "data": PDF_B64},
    "title": "report.pdf",
    "cache_control": {"type": "ephemeral"},  # Claude Code marks its cache breakpoints
}
FILE_PART = {
    "type": "file",
    "file": {"filename": "report.pdf", "file_data": f"data:application/pdf;base64,{PDF_B64}"},
}


def test_a_base64_pdf_block_arrives_as_a_file_part(stack: Stack, mock: MockUpstream) -> None:
    mock.queue(Reply(text="A short report."))
    message = stack.anthropic().messages.create(
        model="mock-gpt",
        max_tokens=100,
        messages=[{"role": "user", "content": [PDF_BLOCK, {"type": "text", "text": "Sum it up."}]}],
    )
    assert message.content[0].text == "A short report."
    assert mock.last.body["messages"][0]["content"] == [
        FILE_PART,
        {"type": "text", "text": "Sum it up."},
    ]


def test_a_pdf_read_by_a_tool_streams_through_as_a_file_part(
    stack: Stack, mock: MockUpstream
) -> None:
    mock.queue(Reply(text="It says ship Friday."))
    with stack.anthropic().messages.stream(
        model="mock-gpt",
        max_tokens=100,
        messages=[
            {"role": "user", "content": "Read report.pdf"},
            {
                "role": "assistant",
                "content": [
                    {
                        "type": "tool_use",
                        "id": "toolu_1",
                        "name": "Read",
                        "input": {"file_path": "/w/report.pdf"},
                    }
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": [PDF_BLOCK]}
                ],
            },
        ],
    ) as stream:
        text = stream.get_final_text()
    assert text == "It says ship Friday."
    sent = mock.last.body["messages"]
    assert sent[-2]["role"] == "tool" and sent[-2]["tool_call_id"] == "toolu_1"
    assert sent[-1] == {"role": "user", "content": [FILE_PART]}


def test_a_text_document_arrives_as_text(stack: Stack, mock: MockUpstream) -> None:
    mock.queue(Reply(text="ok"))
    stack.anthropic().messages.create(
        model="mock-gpt",
        max_tokens=100,
        messages=[
            {
                "role": "user",
                "content": [
                    {
                        "type": "document",
                        "source": {"type": "text", "media_type": "text/plain", "data": "Notes."},
                    },
                    {"type": "text", "text": "Sum it up."},
                ],
            }
        ],
    )
    assert mock.last.body["messages"][0]["content"] == "Notes.\n\nSum it up."


def test_a_pdf_by_url_the_gateway_cannot_fetch_is_an_anthropic_400_naming_the_host(
    stack: Stack, mock: MockUpstream
) -> None:
    """OpenAI chat upstreams take files as bytes: the gateway fetches a URL for them
    (gateway.core.url_fetch); one it cannot fetch is the caller's 400, naming only the host."""
    block = {"type": "document", "source": {"type": "url", "url": "https://x.test/a.pdf"}}
    with pytest.raises(anthropic.BadRequestError) as caught:
        stack.anthropic().messages.create(
            model="mock-gpt", max_tokens=100, messages=[{"role": "user", "content": [block]}]
        )
    error = caught.value.body["error"]
    assert error["type"] == "invalid_request_error"
    assert "x.test" in error["message"] and "/a.pdf" not in error["message"]
    assert mock.chat_requests() == []
