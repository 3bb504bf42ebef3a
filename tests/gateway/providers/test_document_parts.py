"""Documents going out to the OpenAI-compatible and Anthropic adapters: a PDF becomes a
``file`` part (OpenAI) or a ``document`` block (Anthropic); text documents go as text
(OpenAI) or as an Anthropic text source; documents in tool results follow them."""

from __future__ import annotations

from gateway.base.types import ChatRequest, Document, Message, Text, ToolCall, ToolResult
from gateway.providers import anthropic, openai_compatible

from ..entries import deployment

PDF = "JVBERi0xLjQgZmFrZQ=="
DEP = deployment("public", "up")


def request(*parts) -> ChatRequest:
    return ChatRequest(model="public", messages=[Message("user", list(parts))], max_tokens=50)


def test_openai_a_pdf_is_a_file_part_named_after_its_file() -> None:
    body = openai_compatible.build_body(
        request(
            Text("sum up"),
            Document(media_type="application/pdf", data=PDF, filename="q3.pdf"),
            Document(media_type="application/pdf", data=PDF),
        ),
        DEP,
    )
    assert body["messages"][0]["content"] == [
        {"type": "text", "text": "sum up"},
        {
            "type": "file",
            "file": {"filename": "q3.pdf", "file_data": f"data:application/pdf;base64,{PDF}"},
        },
        {
            "type": "file",
            "file": {"filename": "document.pdf", "file_data": f"data:application/pdf;base64,{PDF}"},
        },
    ]


def test_openai_a_text_document_is_text() -> None:
    body = openai_compatible.build_body(
        request(Document(media_type="text/plain", text="the notes"), Text("sum up")), DEP
    )
    assert body["messages"][0]["content"] == "the notes\n\nsum up"


def test_openai_a_pdf_in_a_tool_result_goes_to_the_user_content_after_it() -> None:
    pdf = Document(media_type="application/pdf", data=PDF, filename="r.pdf")
    chat = ChatRequest(
        model="public",
        messages=[
            Message("assistant", [ToolCall("t1", "read", {})]),
            Message(
                "user",
                [ToolResult("t1", [Text("here"), Document(text="notes"), pdf])],
            ),
        ],
    )
    messages = openai_compatible.build_body(chat, DEP)["messages"]
    assert messages[1] == {"role": "tool", "tool_call_id": "t1", "content": "here\n\nnotes"}
    assert messages[2]["role"] == "user"
    assert messages[2]["content"][0]["file"]["filename"] == "r.pdf"


def test_anthropic_pdf_text_and_url_documents() -> None:
    body = anthropic.build_body(
        request(
            Document(media_type="application/pdf", data=PDF, filename="q3.pdf"),
            Document(media_type="text/markdown", text="# notes"),
            Document(media_type="application/pdf", url="https://x.test/a.pdf"),
        ),
        DEP,
    )
    assert body["messages"][0]["content"] == [
        {
            "type": "document",
            "source": {"type": "base64", "media_type": "application/pdf", "data": PDF},
            "title": "q3.pdf",
        },
        {
            "type": "document",
            "source": {"type": "text", "media_type": "text/plain", "data": "# notes"},
        },
        {"type": "document", "source": {"type": "url", "url": "https://x.test/a.pdf"}},
    ]


def test_anthropic_a_pdf_stays_inside_its_tool_result() -> None:
    chat = ChatRequest(
        model="public",
        max_tokens=50,
        messages=[
            Message("assistant", [ToolCall("t1", "read", {})]),
            Message("user", [ToolResult("t1", [Document(media_type="application/pdf", data=PDF)])]),
        ],
    )
    [result] = anthropic.build_body(chat, DEP)["messages"][1]["content"]
    assert result["type"] == "tool_result"
    assert result["content"] == [
        {
            "type": "document",
            "source": {"type": "base64", "media_type": "application/pdf", "data": PDF},
        }
    ]
