"""Documents coming in: Anthropic ``document`` blocks, OpenAI chat ``file`` parts and
Responses ``input_file`` items become canonical ``Document`` parts; text documents are
decoded to text; ``file_id`` (a Files API the gateway does not have) is refused."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from gateway.base.errors import InvalidRequest
from gateway.base.types import Document, Image, Text, ToolResult
from gateway.codecs.anthropic import inbound as anthropic_messages
from gateway.codecs.openai_chat import inbound as openai_chat
from gateway.codecs.openai_responses import inbound as openai_responses

PDF = base64.b64encode(b"%PDF-1.4 fake").decode()
NOTES = "line one\nline two"
NOTES_B64 = base64.b64encode(NOTES.encode()).decode()


def anthropic(*blocks: dict[str, Any]):
    return anthropic_messages.parse_request(
        {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": list(blocks)}]},
        {},
    )


def openai(*parts: dict[str, Any]):
    return openai_chat.parse_request(
        {"model": "m", "messages": [{"role": "user", "content": list(parts)}]}, {}
    )


def responses(*parts: dict[str, Any]):
    return openai_responses.parse_request(
        {"model": "m", "input": [{"role": "user", "content": list(parts)}]}, {}
    )


def refused(parse, *parts: dict[str, Any]) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as caught:
        parse(*parts)
    return caught.value


# --- Anthropic ----------------------------------------------------------------------------


def test_anthropic_base64_pdf_with_title_and_hints() -> None:
    request = anthropic(
        {
            "type": "document",
            "title": "Q3 report",
            "source": {"type": "base64", "media_type": "application/pdf", "data": PDF},
            "cache_control": {"type": "ephemeral"},
            "citations": {"enabled": True},
        }
    )
    assert request.messages[0].parts == [
        Document(media_type="application/pdf", data=PDF, filename="Q3 report", cache="5m")
    ]
    # citations no other dialect carries: dropped (drop_params) or refused when
    # translating; cache_control is carried as the part's breakpoint
    assert request.unmapped == ["citations"]


def test_anthropic_text_url_and_context_sources() -> None:
    request = anthropic(
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": NOTES}},
        {"type": "document", "source": {"type": "url", "url": "https://x.test/a.pdf"}},
        {
            "type": "document",
            "context": "from the wiki",
            "source": {"type": "base64", "media_type": "text/plain", "data": NOTES_B64},
        },
    )
    assert request.messages[0].parts == [
        Document(media_type="text/plain", text=NOTES),
        Document(media_type="application/pdf", url="https://x.test/a.pdf"),
        Text("from the wiki"),
        Document(media_type="text/plain", text=NOTES),
    ]
    assert request.unmapped == []


def test_anthropic_content_source_keeps_its_text_and_images() -> None:
    image = {"type": "image", "source": {"type": "url", "url": "https://x.test/a.png"}}
    request = anthropic(
        {
            "type": "document",
            "title": "chunks",
            "source": {
                "type": "content",
                "content": [
                    {"type": "text", "text": "one"},
                    image,
                    {"type": "text", "text": "two"},
                ],
            },
        }
    )
    assert request.messages[0].parts == [
        Image(url="https://x.test/a.png"),
        Document(media_type="text/plain", text="one\n\ntwo", filename="chunks"),
    ]


def test_anthropic_document_in_a_tool_result() -> None:
    request = anthropic(
        {
            "type": "tool_result",
            "tool_use_id": "t1",
            "content": [
                {"type": "text", "text": "read it"},
                {
                    "type": "document",
                    "source": {"type": "base64", "media_type": "application/pdf", "data": PDF},
                },
            ],
        }
    )
    [result] = request.messages[0].parts
    assert isinstance(result, ToolResult)
    assert result.content == [Text("read it"), Document(media_type="application/pdf", data=PDF)]


@pytest.mark.parametrize(
    ("source", "param"),
    [
        (None, "messages.0.content.0.source"),
        ({"type": "file", "file_id": "f"}, "messages.0.content.0.source.file_id"),
        ({"type": "s3", "key": "k"}, "messages.0.content.0.source.type"),
        ({"type": "base64", "media_type": "application/pdf"}, "messages.0.content.0.source.data"),
        ({"type": "url"}, "messages.0.content.0.source.url"),
        (
            {"type": "content", "content": [{"type": "audio"}]},
            "messages.0.content.0.source.content.0.type",
        ),
    ],
)
def test_anthropic_bad_document_sources_name_the_field(source: Any, param: str) -> None:
    assert refused(anthropic, {"type": "document", "source": source}).param == param


def test_anthropic_document_in_an_assistant_turn_is_refused_under_2026_10_21() -> None:
    """As the API version the client asked for does: 2026-10-21 refuses an assistant
    turn's documents, 2023-06-01 takes them (the upstream's own version is mediated)."""
    block = {"type": "document", "source": {"type": "text", "data": "x"}}
    body = {"model": "m", "max_tokens": 5, "messages": [{"role": "assistant", "content": [block]}]}
    with pytest.raises(InvalidRequest) as caught:
        anthropic_messages.parse_request(body, {"anthropic-version": "2026-10-21"})
    assert caught.value.param == "messages.0.content.0.type"
    for headers in ({}, {"anthropic-version": "2023-06-01"}):
        request = anthropic_messages.parse_request(body, headers)
        assert request.messages[0].parts[0].text == "x"  # type: ignore[union-attr]


# --- OpenAI chat --------------------------------------------------------------------------


def test_openai_file_part_with_a_data_url_and_filename() -> None:
    data_url = f"data:application/pdf;base64,{PDF}"
    request = openai(
        {"type": "text", "text": "sum up"},
        {"type": "file", "file": {"filename": "report.pdf", "file_data": data_url}},
    )
    assert request.messages[0].parts == [
        Text("sum up"),
        Document(media_type="application/pdf", data=PDF, filename="report.pdf"),
    ]
    assert request.unmapped == []


def test_openai_text_file_is_decoded_and_bare_base64_is_a_pdf() -> None:
    request = openai(
        {"type": "file", "file": {"file_data": f"data:text/plain;base64,{NOTES_B64}"}},
        {"type": "file", "file": {"file_data": PDF}},
    )
    assert request.messages[0].parts == [
        Document(media_type="text/plain", text=NOTES),
        Document(media_type="application/pdf", data=PDF),
    ]


def test_openai_file_id_is_refused_saying_what_to_send() -> None:
    error = refused(openai, {"type": "file", "file": {"file_id": "file-abc"}})
    assert error.param == "messages[0].content[0].file.file_id"
    assert "Files API" in error.message and "file_data" in error.message


@pytest.mark.parametrize(
    ("file", "param"),
    [
        ("x", "messages[0].content[0].file"),
        ({"file_data": "not base64!"}, "messages[0].content[0].file.file_data"),
        ({"file_data": "data:application/pdf;base64,"}, "messages[0].content[0].file.file_data"),
        ({"file_data": PDF, "filename": 5}, "messages[0].content[0].file.filename"),
    ],
)
def test_openai_bad_file_parts_name_the_field(file: Any, param: str) -> None:
    assert refused(openai, {"type": "file", "file": file}).param == param


# --- Responses ----------------------------------------------------------------------------


def test_responses_input_file_by_data_and_by_url() -> None:
    request = responses(
        {
            "type": "input_file",
            "filename": "r.pdf",
            "file_data": f"data:application/pdf;base64,{PDF}",
        },
        {"type": "input_file", "file_url": "https://x.test/doc.pdf?sig=1"},
        {
            "type": "input_file",
            "filename": "n.txt",
            "file_data": f"data:text/plain;base64,{NOTES_B64}",
        },
    )
    assert request.messages[0].parts == [
        Document(media_type="application/pdf", data=PDF, filename="r.pdf"),
        Document(media_type="application/pdf", url="https://x.test/doc.pdf?sig=1"),
        Document(media_type="text/plain", text=NOTES, filename="n.txt"),
    ]


def test_responses_input_file_in_a_function_call_output() -> None:
    request = openai_responses.parse_request(
        {
            "model": "m",
            "input": [
                {"type": "function_call", "call_id": "c1", "name": "read", "arguments": "{}"},
                {
                    "type": "function_call_output",
                    "call_id": "c1",
                    "output": [{"type": "input_file", "file_data": PDF}],
                },
            ],
        },
        {},
    )
    [result] = request.messages[-1].parts
    assert isinstance(result, ToolResult)
    assert result.content == [Document(media_type="application/pdf", data=PDF)]


@pytest.mark.parametrize(
    ("part", "param", "words"),
    [
        ({"file_id": "file-1"}, "input[0].content[0].file_id", "Files API"),
        ({}, "input[0].content[0].file_data", "file_data or file_url"),
        ({"file_data": "zz!"}, "input[0].content[0].file_data", "data URL"),
        ({"file_url": "ftp://x/a.pdf"}, "input[0].content[0].file_url", "http(s)"),
    ],
)
def test_responses_bad_input_files_name_the_field(part: dict, param: str, words: str) -> None:
    error = refused(responses, {"type": "input_file", **part})
    assert error.param == param and words in error.message
