"""The Responses API's maps (``gateway.codecs.openai_responses.maps``): a reasoning item
goes back upstream with the id it came with."""

from __future__ import annotations

from typing import Any

from gateway.codecs.anthropic import inbound as anthropic_messages
from gateway.codecs.base import Target
from gateway.codecs.openai_responses import codec as CODEC
from gateway.codecs.openai_responses import maps

REASONING_TARGET = Target(model="o3-pro", supports_reasoning=True, max_output_tokens=8192)
PACKED = maps.pack_reasoning("gAAAAABenc==")


def from_anthropic(body: dict[str, Any], target: Target = REASONING_TARGET) -> dict[str, Any]:
    return CODEC.build_request(anthropic_messages.parse_request(body, {}), target)


def test_reasoning_goes_back_with_the_id_it_came_with() -> None:
    """OpenAI verifies encrypted content against its item: the id rides in the packed
    signature and returns on the item (an older id-less packing goes back id-less)."""
    with_id = maps.pack_reasoning("gAAAAABenc==", "rs_abc123")
    assert maps.unpack_reasoning_item(with_id) == ("rs_abc123", "gAAAAABenc==")
    assert maps.unpack_reasoning_item(PACKED) == (None, "gAAAAABenc==")
    assert maps.unpack_reasoning_item("openai-reasoning:item:rs_x:") is None
    body = from_anthropic(
        {
            "model": "pub",
            "max_tokens": 100,
            "messages": [
                {"role": "user", "content": "Hi"},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "thinking", "thinking": "hm", "signature": with_id},
                        {"type": "redacted_thinking", "data": PACKED},
                        {"type": "text", "text": "Yo"},
                    ],
                },
                {"role": "user", "content": "Again"},
            ],
        }
    )
    assert body["input"][1:3] == [
        {
            "type": "reasoning",
            "id": "rs_abc123",
            "summary": [{"type": "summary_text", "text": "hm"}],
            "encrypted_content": "gAAAAABenc==",
        },
        {"type": "reasoning", "summary": [], "encrypted_content": "gAAAAABenc=="},
    ]
