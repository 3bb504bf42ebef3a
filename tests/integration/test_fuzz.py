"""Fuzz every API endpoint of a real gateway (routes to the echo provider and to the
mock upstream of both kinds) with random and mutated bodies: valid bodies with fields
deleted, types swapped, deep nesting, huge numbers, odd unicode; non-JSON bytes; JSON
arrays and strings at the top level. Whatever comes in, the answer is never a 500 and
never a traceback, and every error has its dialect's shape. Derandomized, bounded."""

from __future__ import annotations

import copy
import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import Stack

MODELS = ["echo", "mock-gpt", "mock-claude", "echo-pair", "no-such-model"]
EXAMPLES = 150

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)

TOOL_OPENAI = {
    "type": "function",
    "function": {
        "name": "lookup",
        "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
    },
}
TOOL_ANTHROPIC = {
    "name": "lookup",
    "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}},
}


def openai_chat(model: str, stream: bool) -> dict[str, Any]:
    return {
        "model": model,
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "use the lookup tool"}]},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "lookup", "arguments": '{"q": "x"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "found"},
        ],
        "tools": [TOOL_OPENAI],
        "tool_choice": "auto",
        "max_tokens": 50,
        "temperature": 0.5,
        "stream": stream,
        "stream_options": {"include_usage": True},
        "user": "fuzzer",
    }


def anthropic_messages(model: str, stream: bool) -> dict[str, Any]:
    return {
        "model": model,
        "max_tokens": 50,
        "system": [{"type": "text", "text": "be brief"}],
        "messages": [
            {"role": "user", "content": "use the lookup tool"},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "hm", "signature": "sig"},
                    {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"q": "x"}},
                ],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "ok"}],
            },
        ],
        "tools": [TOOL_ANTHROPIC],
        "tool_choice": {"type": "auto"},
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "metadata": {"user_id": "fuzzer"},
        "stream": stream,
    }


def count_tokens(model: str, stream: bool) -> dict[str, Any]:
    body = anthropic_messages(model, stream)
    for name in ("max_tokens", "stream", "metadata"):
        body.pop(name)
    return body


def embeddings(model: str, stream: bool) -> dict[str, Any]:
    return {"model": model, "input": ["one", "two"], "encoding_format": "float"}


def completions(model: str, stream: bool) -> dict[str, Any]:
    return {"model": model, "prompt": "Say this", "max_tokens": 5, "stream": stream}


ENDPOINTS = {
    "/v1/chat/completions": ("openai", openai_chat),
    "/v1/messages": ("anthropic", anthropic_messages),
    "/v1/messages/count_tokens": ("anthropic", count_tokens),
    "/v1/embeddings": ("openai", embeddings),
    "/v1/completions": ("openai", completions),
}

# --- strategies --------------------------------------------------------------------------

odd_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", " ", "\u0000", "\ud800", "😀" * 50, "\u202e\u0301", "x" * 5000]),
)
huge_numbers = st.sampled_from([10**30, -(10**30), 2**63, 2**64, 1e308, -1e308, 10**400])
leaf = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), odd_text, huge_numbers
)
json_values = st.recursive(
    leaf,
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(odd_text, kids, max_size=4),
    max_leaves=12,
)


def nested(depth: int) -> Any:
    value: Any = "deep"
    for i in range(depth):
        value = [value] if i % 2 else {"k": value}
    return value


def paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += paths(child, prefix + (key,))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += paths(child, prefix + (index,))
    return found


def mutate(body: Any, path: tuple, action: str, replacement: Any) -> None:
    parent = body
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if action == "delete":
        del parent[last]
    else:
        parent[last] = replacement


@st.composite
def mutated_bodies(draw, make) -> bytes:  # type: ignore[no-untyped-def]
    body = copy.deepcopy(make(draw(st.sampled_from(MODELS)), draw(st.booleans())))
    for _ in range(draw(st.integers(1, 3))):
        candidates = paths(body)
        if not candidates:
            break
        path = draw(st.sampled_from(candidates))
        action = draw(st.sampled_from(["delete", "swap", "nest", "huge", "unicode"]))
        replacement = {
            "delete": None,
            "swap": draw(json_values),
            "nest": nested(draw(st.integers(20, 400))),
            "huge": draw(huge_numbers),
            "unicode": draw(odd_text),
        }[action]
        mutate(body, path, action, replacement)
    return json.dumps(body, ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")


@st.composite
def odd_bodies(draw) -> bytes:  # type: ignore[no-untyped-def]
    kind = draw(st.sampled_from(["bytes", "value", "deep", "empty", "truncated"]))
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    if kind == "value":
        return json.dumps(draw(json_values)).encode("utf-8", "surrogatepass")
    if kind == "deep":
        depth = draw(st.integers(100, 5000))
        return b"[" * depth + b"]" * depth
    if kind == "empty":
        return draw(st.sampled_from([b"", b" ", b"null", b"{}", b"[]", b'""']))
    return json.dumps(openai_chat("echo", False)).encode()[: draw(st.integers(1, 60))]


def bodies_for(make) -> st.SearchStrategy[bytes]:  # type: ignore[no-untyped-def]
    valid = st.builds(
        lambda m, s: json.dumps(make(m, s)).encode(), st.sampled_from(MODELS), st.booleans()
    )
    return st.one_of(mutated_bodies(make), odd_bodies(), valid)


# --- checks ------------------------------------------------------------------------------


def assert_error_shape(dialect: str, data: Any) -> None:
    if dialect == "openai":
        error = data["error"]
        assert isinstance(error["message"], str) and error["message"]
        assert isinstance(error["type"], str) and error["type"]
    else:
        assert data["type"] == "error"
        assert isinstance(data["error"]["type"], str) and data["error"]["type"]
        assert isinstance(data["error"]["message"], str) and data["error"]["message"]


def assert_sane(dialect: str, response: httpx.Response, text: str) -> None:
    assert response.status_code < 500 or response.status_code in (502, 503, 504, 529), text
    assert response.status_code != 500, text
    assert "Traceback" not in text and 'File "' not in text, text
    kind = response.headers.get("content-type", "")
    if response.status_code >= 400:
        assert kind.startswith("application/json"), kind
        assert_error_shape(dialect, json.loads(text))
    elif kind.startswith("text/event-stream"):
        events = [e for e in text.strip().split("\n\n") if e]
        assert events, "an empty stream"
        last = events[-1]
        if dialect == "openai":
            ends_well = last == "data: [DONE]" or '"error"' in last
        else:
            ends_well = last.startswith(("event: message_stop", "event: error"))
        assert ends_well, f"the stream was cut silently: {last!r}"
        if last.startswith("event: error") or (dialect == "openai" and last != "data: [DONE]"):
            payload = json.loads(last.split("data: ", 1)[1])
            assert_error_shape(dialect, payload)
    else:
        assert isinstance(json.loads(text), dict)


@pytest.fixture(scope="module")
def client(stack: Stack):  # type: ignore[no-untyped-def]
    with httpx.Client(base_url=stack.url, timeout=60) as http:
        yield http


def headers_for(dialect: str, stack: Stack) -> dict[str, str]:
    headers = {"authorization": f"Bearer {stack.key}", "content-type": "application/json"}
    if dialect == "anthropic":
        headers["anthropic-version"] = "2023-06-01"
    return headers


@pytest.mark.timeout(600)
@pytest.mark.parametrize("path", list(ENDPOINTS))
def test_post_endpoints_survive_fuzzing(stack: Stack, client: httpx.Client, path: str) -> None:
    dialect, make = ENDPOINTS[path]
    headers = headers_for(dialect, stack)

    @FUZZ
    @given(raw=bodies_for(make))
    def check(raw: bytes) -> None:
        response = client.post(path, content=raw, headers=headers)
        assert_sane(dialect, response, response.text)

    check()


@pytest.mark.timeout(300)
def test_models_endpoint_survives_fuzzing(stack: Stack, client: httpx.Client) -> None:
    @FUZZ
    @given(
        suffix=st.one_of(st.just(""), st.text(st.characters(codec="ascii"), max_size=30)),
        anthropic=st.booleans(),
        key=st.sampled_from([stack.key, "", "sy-wrong", "Bearer"]),
    )
    def check(suffix: str, anthropic: bool, key: str) -> None:
        headers = {"authorization": f"Bearer {key}"} if key else {}
        if anthropic:
            headers["anthropic-version"] = "2023-06-01"
        safe = "".join(c for c in suffix if c.isalnum() or c in "-_.")
        path = "/v1/models" + (f"/{safe}" if safe else "")
        response = client.get(path, headers=headers)
        assert_sane("anthropic" if anthropic else "openai", response, response.text)
        if response.status_code == 200 and not safe:
            assert isinstance(response.json()["data"], list)

    check()


def test_wrong_key_and_wrong_method_keep_the_dialect_shape(
    stack: Stack, client: httpx.Client
) -> None:
    for path, (dialect, make) in ENDPOINTS.items():
        raw = json.dumps(make("echo", False)).encode()
        response = client.post(path, content=raw, headers={"x-api-key": "nope"})
        assert response.status_code == 401
        assert_error_shape(dialect, response.json())
        response = client.put(path, content=raw, headers=headers_for(dialect, stack))
        assert response.status_code in (404, 405)
        assert_error_shape(dialect, response.json())


def test_server_log_has_no_traceback(stack: Stack) -> None:
    stack.assert_clean_log()
