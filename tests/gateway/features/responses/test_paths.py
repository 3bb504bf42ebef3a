"""Which requests are the Responses API's stored objects' (a response and its parts, a
conversation and its items), under every prefix the API is served at."""

from __future__ import annotations

import pytest

from gateway.features.responses import paths


@pytest.mark.parametrize(
    ("path", "found"),
    [
        ("/v1/responses/resp_1", ("resp_1", "")),
        ("/responses/resp_1", ("resp_1", "")),
        ("/openai/v1/responses/resp_1/input_items", ("resp_1", "input_items")),
        ("/v1/responses/resp_1/cancel", ("resp_1", "cancel")),
        ("/v1/responses", None),  # the collection: a create
        ("/v1/responses/", None),
        ("/v1/responses/resp_1/", None),
        ("/v1/responses//cancel", None),
        ("/v1/responses/resp_1/input_items/x", None),
        ("/v1/chat/completions", None),
    ],
)
def test_a_response_target_is_its_id_and_part(path: str, found: object) -> None:
    assert paths.stored_response_target(path) == found


@pytest.mark.parametrize(
    ("method", "path", "found"),
    [
        ("GET", "/v1/responses/resp_1", ("resp_1", "")),
        ("DELETE", "/v1/responses/resp_1", ("resp_1", "")),
        ("GET", "/v1/responses/resp_1/input_items", ("resp_1", "input_items")),
        ("POST", "/v1/responses/resp_1/cancel", ("resp_1", "cancel")),
        ("GET", "/v1/responses/resp_1/cancel", None),  # cancel only by POST
        ("POST", "/v1/responses/resp_1", None),  # POST /v1/responses/{id}: none
        ("PUT", "/v1/responses/resp_1", None),
        ("GET", "/v1/responses", None),
    ],
)
def test_each_method_takes_its_own_response_paths(method: str, path: str, found: object) -> None:
    assert paths.stored_response(method, path) == found


@pytest.mark.parametrize(
    ("path", "found"),
    [
        ("/v1/conversations", ("", "", "")),
        ("/conversations", ("", "", "")),
        ("/openai/v1/conversations/conv_1", ("conv_1", "", "")),
        ("/v1/conversations/conv_1/items", ("conv_1", "items", "")),
        ("/v1/conversations/conv_1/items/msg_1", ("conv_1", "items", "msg_1")),
        ("/v1/conversations/", None),
        ("/v1/conversations/conv_1/", None),
        ("/v1/conversations/conv_1/other", None),
        ("/v1/conversations/conv_1/items/msg_1/more", None),
        ("/v1/conversations/conv_1/other/msg_1", None),
        ("/v1/responses/resp_1", None),
    ],
)
def test_a_conversation_target_is_its_id_part_and_item(path: str, found: object) -> None:
    assert paths.conversation_target(path) == found
    assert paths.conversations("GET", path) == found


def test_a_path_naming_no_conversations_is_not_looked_at() -> None:
    assert paths.conversations("POST", "/v1/chat/completions") is None
