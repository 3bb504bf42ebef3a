"""What both OpenAI wire formats share on the client side: the error envelope, field
checks whose errors name the field as the SDK shows it, the prompt-cache fields (a key
derived for an Anthropic client's breakpoints, sent only where it is understood), images,
tool-call arguments, function tools and the model list."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from gateway.base import errors
from gateway.base.types import Image, Message, ModelInfo, Text, Tool, ToolChoice, ToolResult
from gateway.codecs import openai_common as common


def test_the_error_envelope_as_openai_writes_it():
    limited = common.error_body(errors.RateLimited("slow down"))
    assert limited == {
        "error": {
            "message": "slow down",
            "type": "rate_limit_error",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    }
    bad = common.error_body(errors.InvalidRequest("no", param="messages[0]", code="x"))
    assert bad["error"] == {
        "message": "no",
        "type": "invalid_request_error",
        "param": "messages[0]",
        "code": "x",
    }
    assert common.error_body(errors.ModelNotFound("gone"))["error"]["code"] == "model_not_found"


def test_numbers_and_integers_are_checked_by_their_field():
    assert common.optional_number({"t": 1}, "t") == 1.0 and common.optional_number({}, "t") is None
    assert common.optional_int({"n": 3}, "n") == 3 and common.optional_int({}, "n") is None
    for body, name, words in [
        ({"t": "1"}, "t", "t must be a number"),
        ({"t": True}, "t", "t must be a number"),
        ({"n": 1.5}, "n", "n must be an integer"),
        ({"n": False}, "n", "n must be an integer"),
        ({"n": 0}, "n", "n must be at least 1"),
    ]:
        parse = common.optional_number if name == "t" else common.optional_int
        with pytest.raises(errors.InvalidRequest, match=words) as raised:
            parse(body, name)
        assert raised.value.param == name
    assert common.optional_int({"n": 0}, "n", minimum=0) == 0


def test_a_create_body_names_its_model_and_says_whether_it_streams():
    assert common.model_and_stream({"model": "m"}) == ("m", False)
    assert common.model_and_stream({"model": "m", "stream": True}) == ("m", True)
    for body, param, words in [
        ([{"model": "m"}], "body", "the request body must be a JSON object"),
        ({"messages": []}, "model", "model is required and must be a string"),
        ({"model": ""}, "model", "model is required and must be a string"),
        ({"model": 4}, "model", "model is required and must be a string"),
        ({"model": "m", "stream": 1}, "stream", "stream must be a boolean"),
        ({"model": "m", "stream": "true"}, "stream", "stream must be a boolean"),
        ({"model": "m", "stream": None}, "stream", "stream must be a boolean"),
    ]:
        with pytest.raises(errors.InvalidRequest, match=words) as raised:
            common.model_and_stream(body)
        assert raised.value.param == param


def test_parallel_tool_calls_set_on_the_choice_or_an_auto_one():
    required = ToolChoice(mode="required")
    assert common.with_parallel(required, {}) is required and required.parallel is None
    assert common.with_parallel(None, {}) is None
    assert common.with_parallel(required, {"parallel_tool_calls": False}).parallel is False
    assert common.with_parallel(None, {"parallel_tool_calls": True}) == ToolChoice(parallel=True)
    with pytest.raises(errors.InvalidRequest, match="must be a boolean") as raised:
        common.with_parallel(None, {"parallel_tool_calls": "yes"})
    assert raised.value.param == "parallel_tool_calls"


def test_the_end_user_is_the_safety_identifier_else_the_user():
    assert common.end_user({"user": "u", "safety_identifier": "s"}) == "s"
    assert common.end_user({"user": "u"}) == "u"
    assert common.end_user({"user": ""}) is None
    with pytest.raises(errors.InvalidRequest, match="user must be a string"):
        common.end_user({"user": 7})


def test_the_prompt_cache_fields_in_either_spelling():
    assert common.prompt_cache({}) == (None, None)
    assert common.prompt_cache(
        {"prompt_cache_key": "k", "prompt_cache_retention": "in-memory"}
    ) == (
        "k",
        "in_memory",
    )
    with pytest.raises(errors.InvalidRequest) as raised:
        common.prompt_cache({"prompt_cache_retention": "1w"})
    assert raised.value.param == "prompt_cache_retention"
    with pytest.raises(errors.InvalidRequest, match="prompt_cache_key must be a string"):
        common.prompt_cache({"prompt_cache_key": 3})


def request(dialect="anthropic", key=None, retention=None, system=(), tools=(), messages=()):
    return SimpleNamespace(
        dialect=dialect,
        prompt_cache_key=key,
        prompt_cache_retention=retention,
        system=list(system),
        tools=list(tools),
        messages=list(messages),
    )


def test_a_key_is_derived_only_for_an_anthropic_client_that_marked_breakpoints():
    tools = [Tool("read"), Tool("write")]
    marked = request(system=[Text("be brief", cache="5m")], tools=tools)
    key = common.derived_cache_key(marked)
    assert key.startswith("sy-") and len(key) == 35
    same_prefix = request(
        system=[Text("be brief")], tools=[Tool("read", cache="1h"), Tool("write")]
    )
    assert common.derived_cache_key(same_prefix) == key
    assert common.derived_cache_key(request(system=[Text("other", cache="5m")], tools=tools)) != key
    inner = Message("user", [ToolResult("c1", [Text("x", cache="5m")])])
    assert common.derived_cache_key(request(system=[Text("be brief")], messages=[inner]))
    assert common.derived_cache_key(request(system=[Text("be brief")], tools=tools)) is None
    assert (
        common.derived_cache_key(request(dialect="openai", system=[Text("a", cache="5m")])) is None
    )


def test_the_cache_fields_go_only_where_they_are_understood():
    client = request(dialect="anthropic", system=[Text("s", cache="5m")], retention="24h")
    for host in (None, "api.openai.com", "acme.openai.azure.com"):
        body: dict = {}
        common.render_prompt_cache(client, body, host)
        assert (
            body["prompt_cache_key"].startswith("sy-") and body["prompt_cache_retention"] == "24h"
        )
    body = {}
    common.render_prompt_cache(client, body, "api.mistral.ai")
    assert body == {}
    own = request(dialect="openai", key="mine")
    common.render_prompt_cache(own, body, "api.mistral.ai")  # the client's own, as it sent it
    assert body == {"prompt_cache_key": "mine"}


def test_images_by_url_or_data_url():
    assert common.image({"image_url": {"url": "https://x.test/a.png"}}, "p") == Image(
        url="https://x.test/a.png"
    )
    assert common.image({"image_url": "data:image/jpeg;base64,QUJD"}, "p") == Image(
        data="QUJD", media_type="image/jpeg"
    )
    assert common.image({"image_url": {"url": "data:;base64,QUJD"}}, "p").media_type == "image/png"
    for url in ("", "data:image/png,raw", "data:image/png;base64,", "ftp://x.test/a.png"):
        with pytest.raises(errors.InvalidRequest) as raised:
            common.image({"image_url": {"url": url}}, "messages[1].content[0]")
        assert raised.value.param == "messages[1].content[0].image_url.url"


def test_call_arguments_keep_text_that_is_no_object():
    assert common.call_arguments({"a": 1}, "p") == ({"a": 1}, None)
    assert common.call_arguments('{"a": 1}', "p") == ({"a": 1}, None)
    assert common.call_arguments("  ", "p") == ({}, None)
    assert common.call_arguments('{"a": ', "p") == ({}, '{"a": ')
    assert common.call_arguments("[1]", "p") == ({}, "[1]")
    with pytest.raises(errors.InvalidRequest, match="p must be a JSON string"):
        common.call_arguments(5, "p")


def test_arguments_must_be_a_json_object():
    assert common.arguments('{"a": 1}', "p") == {"a": 1} and common.arguments("", "p") == {}
    with pytest.raises(errors.InvalidRequest, match="p is not valid JSON"):
        common.arguments("{", "p")
    with pytest.raises(errors.InvalidRequest, match="p must encode a JSON object"):
        common.arguments("[1]", "p")


def test_a_function_tool_and_its_checks():
    tool = common.function_tool({"name": "get", "description": "d", "strict": True}, "tools[0]")
    assert tool == Tool("get", "d", {"type": "object", "properties": {}}, strict=True)
    for fn, param in [
        ({}, "tools[0].name"),
        ({"name": "g", "description": 1}, "tools[0].description"),
        ({"name": "g", "parameters": []}, "tools[0].parameters"),
        ({"name": "g", "strict": "yes"}, "tools[0].strict"),
    ]:
        with pytest.raises(errors.InvalidRequest) as raised:
            common.function_tool(fn, "tools[0]")
        assert raised.value.param == param


def test_the_model_list():
    assert common.render_models([ModelInfo("chat", 5, "acme", "Chat")]) == {
        "object": "list",
        "data": [{"id": "chat", "object": "model", "created": 5, "owned_by": "acme"}],
    }
