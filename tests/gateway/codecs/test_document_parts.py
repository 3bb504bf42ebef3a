"""Documents going out through the codecs: Gemini ``inlineData``/``fileData``, a
Bedrock ``document`` block with a unique, legal name, Responses ``input_file``; text
documents as text everywhere; Cohere takes text documents only."""

from __future__ import annotations

import pytest

from gateway.base.errors import InvalidRequest
from gateway.base.types import ChatRequest, Document, Message, Text, ToolCall, ToolResult
from gateway.codecs.base import Target
from gateway.codecs.bedrock import codec as bedrock
from gateway.codecs.cohere import codec as cohere
from gateway.codecs.gemini import codec as gemini
from gateway.codecs.openai_responses import codec as responses

PDF = "JVBERi0xLjQgZmFrZQ=="
TARGET = Target(model="up", max_output_tokens=1000)
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def request(*parts) -> ChatRequest:
    return ChatRequest(model="public", messages=[Message("user", list(parts))])


def with_tool_result(*content) -> ChatRequest:
    return ChatRequest(
        model="public",
        messages=[
            Message("user", [Text("read it")]),
            Message("assistant", [ToolCall("t1", "read", {})]),
            Message("user", [ToolResult("t1", list(content))]),
        ],
    )


def test_gemini_inline_pdf_file_by_url_and_text() -> None:
    body = gemini.build_request(
        request(
            Document(media_type="application/pdf", data=PDF),
            Document(url="https://x.test/a.pdf"),
            Document(media_type="text/plain", text="notes"),
        ),
        TARGET,
    )
    assert body["contents"][0]["parts"] == [
        {"inlineData": {"mimeType": "application/pdf", "data": PDF}},
        {"fileData": {"mimeType": "application/pdf", "fileUri": "https://x.test/a.pdf"}},
        {"text": "notes"},
    ]


def test_gemini_tool_result_text_documents_join_the_response_and_pdfs_follow_it() -> None:
    body = gemini.build_request(
        with_tool_result(Text("page"), Document(text="notes"), Document(data=PDF)), TARGET
    )
    parts = body["contents"][-1]["parts"]
    assert parts[0]["functionResponse"]["response"] == {"result": "page\n\nnotes"}
    assert parts[1] == {"inlineData": {"mimeType": "application/pdf", "data": PDF}}


def test_bedrock_documents_get_unique_legal_names_and_text_goes_as_text() -> None:
    body = bedrock.build_request(
        request(
            Document(media_type="application/pdf", data=PDF, filename="Q3 report (final).pdf"),
            Document(media_type="application/pdf", data=PDF, filename="Q3 report (final).pdf"),
            Document(media_type=DOCX, data="UEsDBA==", filename="plan_v2!!.docx"),
            Document(media_type="text/plain", text="notes"),
        ),
        TARGET,
    )
    assert body["messages"][0]["content"] == [
        {"document": {"format": "pdf", "name": "Q3 report (final)", "source": {"bytes": PDF}}},
        {"document": {"format": "pdf", "name": "Q3 report (final)-1", "source": {"bytes": PDF}}},
        {"document": {"format": "docx", "name": "plan-v2-", "source": {"bytes": "UEsDBA=="}}},
        {"text": "notes"},
    ]


def test_bedrock_a_pdf_in_a_tool_result_is_a_document_in_it() -> None:
    body = bedrock.build_request(with_tool_result(Document(data=PDF)), TARGET)
    [block] = body["messages"][-1]["content"]
    assert block["toolResult"]["content"] == [
        {"document": {"format": "pdf", "name": "document", "source": {"bytes": PDF}}}
    ]


def test_bedrock_refuses_a_document_by_url_when_called_directly() -> None:
    with pytest.raises(InvalidRequest, match="by URL"):
        bedrock.build_request(request(Document(url="https://x.test/a.pdf")), TARGET)


def test_cohere_text_documents_are_text_and_a_pdf_is_refused() -> None:
    body = cohere.build_request(request(Document(text="notes"), Text("sum up")), TARGET)
    assert body["messages"][0] == {"role": "user", "content": "notes\n\nsum up"}
    result = cohere.build_request(with_tool_result(Document(text="notes")), TARGET)
    assert result["messages"][-1]["content"] == [{"type": "text", "text": "notes"}]
    with pytest.raises(InvalidRequest, match="application/pdf"):
        cohere.build_request(request(Document(media_type="application/pdf", data=PDF)), TARGET)


def test_responses_input_file_inline_and_by_url_text_as_input_text() -> None:
    body = responses.build_request(
        request(
            Document(media_type="application/pdf", data=PDF, filename="q3.pdf"),
            Document(url="https://x.test/a.pdf", filename="a.pdf"),
            Document(text="notes"),
        ),
        TARGET,
    )
    assert body["input"][0]["content"] == [
        {
            "type": "input_file",
            "filename": "q3.pdf",
            "file_data": f"data:application/pdf;base64,{PDF}",
        },
        {"type": "input_file", "file_url": "https://x.test/a.pdf", "filename": "a.pdf"},
        {"type": "input_text", "text": "notes"},
    ]


def test_responses_a_pdf_in_a_tool_result_makes_the_output_parts() -> None:
    body = responses.build_request(with_tool_result(Text("page"), Document(data=PDF)), TARGET)
    output = body["input"][-1]
    assert output["type"] == "function_call_output"
    assert output["output"] == [
        {"type": "input_text", "text": "page"},
        {
            "type": "input_file",
            "filename": "document.pdf",
            "file_data": f"data:application/pdf;base64,{PDF}",
        },
    ]
