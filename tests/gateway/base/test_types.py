"""The canonical request and answer types (``gateway.base.types``): a document's content
type and name, whose verifier reasoning needs, message and answer texts, usage merged
from pieces, MCP tool permissions and approvals, a server tool's result as the model
reads it, the headers a caller may not set, and a request whose messages are built
only when read (equal to an eager one)."""

from __future__ import annotations

import dataclasses

import pytest

from gateway.base.types import (
    ChatRequest,
    ChatResponse,
    DeferredChatRequest,
    Document,
    McpServer,
    Message,
    MessagesDigest,
    SearchResult,
    ServerToolItem,
    Text,
    Thinking,
    ToolCall,
    Usage,
    deferred_texts,
    leading_messages,
    mcp_tool_name,
    messages_digest,
    refused_caller_header,
)


def test_a_document_names_its_content_type_and_file() -> None:
    assert Document(text="hi").content_type() == "text/plain"
    assert Document(text="x", media_type="text/csv").content_type() == "text/csv"
    assert Document(url="https://x/a.pdf").content_type() == "document by URL"
    assert (
        Document(url="u", media_type="application/pdf").content_type() == "application/pdf by URL"
    )
    assert Document(data="AAA").content_type() == "application/pdf"
    assert Document(filename="report.pdf").name() == "report.pdf"
    assert Document().name() == "document.pdf"
    assert Document(media_type="application/vnd.ms-excel").name() == "document.ms-excel"
    assert Document(media_type="image/svg+xml").name() == "document.svg"


@pytest.mark.parametrize(
    ("thinking", "family"),
    [
        (Thinking("plain"), None),
        (Thinking("t", signature="claude-sig"), "claude"),
        (Thinking(redacted="claude-redacted"), "claude"),
        (Thinking(signature="openai-reasoning:abc"), "openai"),
        (Thinking(redacted="gAAAAABxyz"), "openai"),
    ],
)
def test_reasoning_needs_the_verifier_of_its_family(thinking: Thinking, family: str | None) -> None:
    assert thinking.family() == family
    assert thinking.claude_signed() is (family == "claude")
    assert thinking.openai_encrypted() is (family == "openai")


def test_texts_of_a_message_and_an_answer_and_its_tool_calls() -> None:
    call = ToolCall("c1", "search")
    message = Message("user", [Text("a"), call, Text("b")])
    assert message.text() == "ab"
    answer = ChatResponse("r", "m", parts=[Text("x"), call])
    assert answer.text() == "x" and answer.tool_calls() == [call]


def test_usage_takes_each_non_zero_count_of_a_piece() -> None:
    usage = Usage(input_tokens=10, output_tokens=1)
    usage.merge(Usage(output_tokens=5, cache_read_tokens=3, web_search_requests=1))
    assert usage == Usage(10, 5, 3, 0, 0, 1, 0)
    assert usage.prompt_tokens == 13 and usage.total_tokens == 18


def test_usage_merges_every_count_it_has() -> None:
    # merge names each field: a count added to Usage and not to merge fails here
    for name in (f.name for f in dataclasses.fields(Usage)):
        usage = Usage(*range(1, len(dataclasses.fields(Usage)) + 1))
        before = dataclasses.asdict(usage)
        usage.merge(Usage(**{name: 100}))
        assert dataclasses.asdict(usage) == {**before, name: 100}
        usage.merge(Usage())
        assert dataclasses.asdict(usage) == {**before, name: 100}


def test_mcp_tools_allowed_denied_and_approved() -> None:
    assert mcp_tool_name("docs", "search") == "docs__search"
    server = McpServer("docs", allowed=["a", "b"], denied=["b"], always=["a"], never=["c"])
    assert server.allows("a") and not server.allows("b") and not server.allows("c")
    assert McpServer("docs", denied=["x"]).allows("anything")
    assert server.needs_approval("a") and not server.needs_approval("c")
    assert not server.needs_approval("z")
    assert McpServer("d", approval="always", never=["c"]).needs_approval("z")


def test_a_server_tools_result_as_the_model_reads_it() -> None:
    failed = ServerToolItem("web_search", "1", "web_search", error="max_uses_exceeded")
    assert failed.for_model() == "error: max_uses_exceeded"
    failed.detail = "3 of 3"
    assert failed.for_model() == "error: max_uses_exceeded (3 of 3)"
    fetch = ServerToolItem("web_fetch", "2", "web_fetch", url="https://a", title="A", text="body")
    assert fetch.for_model() == "A\nhttps://a\n\nbody"
    fetch.title = None
    assert fetch.for_model() == "https://a\n\nbody"
    search = ServerToolItem("web_search", "3", "web_search")
    assert search.for_model() == "no results"
    search.results = [SearchResult("https://a", "A", "snip"), SearchResult("https://b", "B")]
    assert search.for_model() == "[1] A\nhttps://a\nsnip\n\n[2] B\nhttps://b"


@pytest.mark.parametrize(
    ("name", "refused"),
    [
        ("Host", "connection"),
        (" Transfer-Encoding ", "connection"),
        ("X-Forwarded-For", "proxy"),
        ("x-forwarded-prefix", "proxy"),
        ("Forwarded", "proxy"),
        ("X-Real-IP", "proxy"),
        ("Authorization", None),
        ("x-api-key", None),
    ],
)
def test_the_headers_a_caller_may_not_set(name: str, refused: str | None) -> None:
    why = refused_caller_header(name)
    assert (why is None) is (refused is None)
    assert refused is None or refused in (why or "")


def built() -> list[Message]:
    return [Message("user", [Text("one")]), Message("assistant", [Text("two")])]


def test_a_deferred_request_builds_its_messages_once_when_first_read() -> None:
    calls: list[int] = []

    def build() -> list[Message]:
        calls.append(1)
        return built()

    digest = MessagesDigest(count=2, text_tokens=2)
    deferred = DeferredChatRequest(
        "m", build=build, digest=digest, texts=lambda: ["one", "two"], head=lambda n: built()[:n]
    )
    assert messages_digest(deferred) is digest and deferred_texts(deferred) == ["one", "two"]
    assert leading_messages(deferred, 1) == built()[:1] and calls == []  # the head alone
    assert deferred == ChatRequest("m", messages=built()) and calls == [1]
    assert deferred.messages == built() and calls == [1]  # built once
    assert messages_digest(deferred) is None and deferred_texts(deferred) is None
    assert leading_messages(deferred, 1) == built()[:1]


def test_setting_the_messages_drops_what_was_pending_and_a_failed_build_retries() -> None:
    deferred = DeferredChatRequest("m", build=built, digest=MessagesDigest(2, 2))
    deferred.messages = [Message("user")]
    assert deferred.messages == [Message("user")] and deferred.digest() is None
    attempts: list[int] = []

    def flaky() -> list[Message]:
        attempts.append(1)
        if len(attempts) == 1:
            raise ValueError("bad wire message")
        return built()

    retried = DeferredChatRequest("m", build=flaky)
    with pytest.raises(ValueError):
        retried.messages  # noqa: B018
    assert retried.messages == built() and len(attempts) == 2


def test_an_eager_request_answers_the_same_helpers_from_its_messages() -> None:
    eager = ChatRequest("m", messages=built())
    assert messages_digest(eager) is None and deferred_texts(eager) is None
    assert leading_messages(eager, 1) == built()[:1]
    plain = DeferredChatRequest("m", messages=built())  # nothing pending
    assert plain.digest() is None and plain.leading(5) == built()
    assert plain != ChatRequest("other") and (plain == "m") is False
