"""Anthropic's API versions and what each refuses (``gateway.codecs.anthropic.versions``):
``conform`` holds a Messages body to a version (``2026-10-21`` takes no sampling
parameters, no ``document`` in an assistant turn, no citations on user text) and says
each change; ``2023-06-01`` takes the body as it is. A deployment's params reach the
body under the API's names."""

from __future__ import annotations

from gateway.codecs.anthropic.versions import (
    CITATIONS_FIELD,
    DOCUMENT_FIELD,
    V2023_06_01,
    V2026_10_21,
    adaptive_thinking,
    conform,
    param_fields,
)

WHY = "API version 2026-10-21 refuses it"


def test_the_old_version_takes_the_body_as_it_is() -> None:
    body = {"temperature": 0.2, "messages": [{"role": "user", "content": "hi"}]}
    assert conform(body, V2023_06_01) == (body, [])
    assert conform(body, V2023_06_01)[0] is body


def test_sampling_parameters_are_dropped_and_said() -> None:
    body = {"model": "m", "top_p": 1, "temperature": 1, "max_tokens": 5, "messages": []}
    out, changes = conform(body, V2026_10_21)
    assert out == {"model": "m", "max_tokens": 5, "messages": []}
    assert changes == [("temperature", "dropped", WHY), ("top_p", "dropped", WHY)]
    assert "temperature" in body  # never changed in place


def test_a_body_it_takes_is_returned_itself() -> None:
    body = {
        "model": "m",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "x"}]}],
    }
    out, changes = conform(body, V2026_10_21)
    assert out is body and changes == []


def test_an_assistant_turns_documents_are_sent_as_their_text() -> None:
    documents = [
        {"type": "document", "source": {"type": "text", "data": "the memo"}},
        {
            "type": "document",
            "source": {
                "type": "content",
                "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
            },
        },
        {"type": "document", "title": "Q3", "source": {"type": "base64", "data": "JVBERi0="}},
        {"type": "text", "text": "kept"},
    ]
    body = {
        "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": documents}]
    }
    out, changes = conform(body, V2026_10_21)
    assert out["messages"][0] is body["messages"][0]
    assert out["messages"][1]["content"] == [
        {"type": "text", "text": "the memo"},
        {"type": "text", "text": "a\n\nb"},
        {"type": "text", "text": "[document 'Q3' not shown]"},
        {"type": "text", "text": "kept"},
    ]
    assert changes == [(DOCUMENT_FIELD, "rewritten", WHY + ": sent as text")]
    assert body["messages"][1]["content"][0]["type"] == "document"


def test_citations_are_taken_off_user_text_and_tool_results() -> None:
    cited = {"type": "text", "text": "t", "citations": [{"type": "char_location"}]}
    plain = {"type": "text", "text": "p"}
    result = {"type": "tool_result", "tool_use_id": "1", "content": [cited, plain]}
    body = {"messages": [{"role": "user", "content": [cited, plain, result]}]}
    out, changes = conform(body, V2026_10_21)
    content = out["messages"][0]["content"]
    assert content[0] == {"type": "text", "text": "t"} and content[1] is plain
    assert content[2]["content"] == [{"type": "text", "text": "t"}, plain]
    assert changes == [(CITATIONS_FIELD, "dropped", WHY)]
    assert body["messages"][0]["content"][0]["citations"]  # the caller's body is unchanged


def test_empty_citations_change_nothing() -> None:
    body = {
        "messages": [{"role": "user", "content": [{"type": "text", "text": "t", "citations": []}]}]
    }
    assert conform(body, V2026_10_21) == (body, [])


def test_deployment_params_go_into_the_body_under_the_apis_names() -> None:
    params = {
        "temperature": 0.3,
        "stop": "END",
        "api_base": "x",
        "top_k": None,
        "metadata": {"a": 1},
    }
    assert param_fields(params) == {
        "temperature": 0.3,
        "stop_sequences": ["END"],
        "metadata": {"a": 1},
    }
    assert param_fields({"stop_sequences": ("a", "b")}) == {"stop_sequences": ["a", "b"]}


def test_adaptive_thinking_keeps_an_effort_the_caller_set() -> None:
    assert adaptive_thinking({"model": "m"}, "minimal") == {
        "model": "m",
        "thinking": {"type": "adaptive"},
        "output_config": {"effort": "low"},
    }
    own = adaptive_thinking({"output_config": {"effort": "high"}}, "low")
    assert own["output_config"] == {"effort": "high"}
