"""Tool-call ids that carry Gemini thought signatures through clients that cannot."""

from __future__ import annotations

import re

import pytest

from gateway.codecs.gemini import ids

ANTHROPIC_ID = re.compile(r"^[a-zA-Z0-9_-]+$")


@pytest.mark.parametrize(
    "signature",
    [
        "CpYBAdHtim9+LuA1fs5n/kq4Wz6cA9oYfUjm0k4xOw0RtKzJ0b2S8a+DVBOUnlVv2W4F9e9Y1g==",
        "AAAA",
        "a/b+",
        "not base64 at all: ✓",
        "skip_thought_signature_validator",
        "x" * 6000,
    ],
)
def test_signature_round_trips_through_an_anthropic_valid_id(signature: str) -> None:
    made = ids.call_id("resp-1", 0, "get_weather", signature)
    assert ANTHROPIC_ID.match(made)
    assert ids.signature_of(made) == signature


def test_ids_are_deterministic_and_distinct_per_call() -> None:
    first = ids.call_id("resp-1", 0, "f", None)
    assert first == ids.call_id("resp-1", 0, "f", None)
    assert re.fullmatch(r"call_[0-9a-f]{16}", first)
    assert first != ids.call_id("resp-1", 1, "f", None)
    assert first != ids.call_id("resp-2", 0, "f", None)
    assert ids.signature_of(first) is None


@pytest.mark.parametrize(
    "foreign",
    ["toolu_01A09q90qw90lq917835lq9", "call_abc123", "call_0123456789abcdef-s-", "x-s-AAAA"],
)
def test_ids_of_other_origins_carry_no_signature(foreign: str) -> None:
    assert ids.signature_of(foreign) is None


def test_the_codec_package_imports_no_django_provider_or_other_codec() -> None:
    import ast
    from pathlib import Path

    import gateway.codecs.gemini as package

    allowed = {
        "gateway.base.types",
        "gateway.base.errors",
        "gateway.base.streaming",
        "gateway.codecs.base",
    }
    for path in Path(package.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                target = {3: "gateway.", 2: "gateway.codecs.", 1: "gateway.codecs.gemini."}[
                    node.level
                ] + (node.module or "")
                assert target.rstrip(".") in allowed or target.startswith(
                    "gateway.codecs.gemini"
                ), (path.name, target)
            names = (
                [a.name for a in getattr(node, "names", [])] if isinstance(node, ast.Import) else []
            )
            assert not any(n.startswith(("django", "gateway")) for n in names), (path.name, names)
