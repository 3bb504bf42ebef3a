"""A passed-through body made ready for one deployment: its model id, the caller's
output ceiling capped at the deployment's, no ``previous_response_id``, the caller's dict
untouched; and the ceiling a budget hold assumed written in the format's own field when
the body names none."""

from __future__ import annotations

from gateway.codecs.anthropic import codec as anthropic_codec
from gateway.providers.codec_provider import target_of
from gateway.providers.passthrough_body import for_deployment, with_held_ceiling
from tests.gateway.entries import deployment


def test_the_body_gets_the_deployments_model_and_ceiling_and_the_callers_stays():
    capped = deployment("chat", "claude-sonnet-4-5", max_output_tokens=8192)
    body = {
        "model": "chat",
        "max_tokens": 64_000,
        "max_completion_tokens": 100,
        "previous_response_id": "resp_1",
        "messages": [],
    }
    sent = for_deployment(body, capped)
    assert sent == {
        "model": "claude-sonnet-4-5",
        "max_tokens": 8192,
        "max_completion_tokens": 100,
        "messages": [],
    }
    assert body["model"] == "chat" and body["max_tokens"] == 64_000
    assert "previous_response_id" in body


def test_without_a_ceiling_or_a_number_nothing_is_capped():
    free = deployment("chat", "m", max_output_tokens=None)
    assert for_deployment({"max_tokens": 10**6}, free)["max_tokens"] == 10**6
    capped = deployment("chat", "m", max_output_tokens=10)
    odd = for_deployment({"max_tokens": True, "max_completion_tokens": "99"}, capped)
    assert odd["max_tokens"] is True and odd["max_completion_tokens"] == "99"


def test_the_held_ceiling_is_written_only_where_the_body_names_none():
    target = target_of(deployment("chat", "claude-sonnet-4-5"))
    assert with_held_ceiling({"model": "m"}, 4096, anthropic_codec, target) == {
        "model": "m",
        "max_tokens": 4096,
    }
    own = {"model": "m", "max_tokens": 20}
    assert with_held_ceiling(own, 4096, anthropic_codec, target) == own
