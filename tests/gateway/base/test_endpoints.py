"""The endpoint declarations (``gateway.base.endpoints``): what an endpoint's costs and
output make of it (billable; generating text, so needing a ceiling for a hold), a
resource that does not say how guardrails reach it is refused, and the names of every
declaration are one set. (What the gateway serves against them: the endpoint and policy
matrices under ``tests/gateway/features/guardrails`` and ``tests/gateway/core``.)"""

from __future__ import annotations

import pytest

from gateway.base import endpoints
from gateway.base.endpoints import (
    FREE,
    KEY,
    NO_TEXT,
    NOTHING,
    PER_IMAGE,
    REQUEST,
    TEXT,
    TOKENS,
    UNREADABLE,
    Endpoint,
    Resource,
)


def test_an_endpoint_is_billable_when_it_costs_and_generates_text_when_priced_by_tokens() -> None:
    chat = Endpoint("x", REQUEST, TEXT)
    assert chat.billable and chat.generates_text and chat.routed
    count = Endpoint("x", REQUEST, NOTHING, costs=FREE)
    assert not count.billable and not count.generates_text
    images = Endpoint("x", REQUEST, UNREADABLE, "images", costs=(TOKENS, PER_IMAGE))
    assert images.billable and not images.generates_text
    per_image_text = Endpoint("x", REQUEST, TEXT, costs=(PER_IMAGE,))
    assert per_image_text.billable and not per_image_text.generates_text


def test_the_declared_table_derives_the_same() -> None:
    assert endpoints.declared("chat") is endpoints.ENDPOINTS["chat"]
    assert endpoints.declared("chat").generates_text
    assert not endpoints.declared("count_tokens").billable
    assert not endpoints.declared("embeddings").generates_text  # vectors come back
    assert endpoints.declared("no-such-endpoint") is None


def test_a_resource_must_say_how_guardrails_reach_it() -> None:
    with pytest.raises(ValueError, match="say how guardrails reach it"):
        Resource("x", KEY, NO_TEXT, "")
    assert Resource("x", KEY, NO_TEXT, "a listing").owns == ()


def test_every_name_is_each_endpoint_and_resource() -> None:
    names = endpoints.every_name()
    assert names == set(endpoints.ENDPOINTS) | set(endpoints.RESOURCES)
    assert {"chat", "mcp", "files", "a2a"} <= names
    assert not set(endpoints.ENDPOINTS) & set(endpoints.RESOURCES)
