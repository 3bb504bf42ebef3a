"""pre_mcp_call guardrails on one tool call (``guarded``): the checks each registered
guard gives, the arguments run through them in order, and a result whose texts (text
items and the strings of its structured content) are rewritten in place while the rest
passes as it is; no check, or no change, gives back the same object."""

from __future__ import annotations

import mcp_types as types
import pytest

from gateway.base import hooks
from gateway.features.mcp import guarded


class Upper:
    """A check that upper-cases what it sees."""

    def __init__(self, seen: list) -> None:
        self.seen = seen

    async def check_call(self, arguments: dict) -> dict:
        self.seen.append(arguments)
        return {k: v.upper() if isinstance(v, str) else v for k, v in arguments.items()}

    async def check_result(self, texts: list[str]) -> list[str]:
        self.seen.append(list(texts))
        return [t.upper() for t in texts]


class Same:
    async def check_call(self, arguments: dict) -> dict:
        return arguments

    async def check_result(self, texts: list[str]) -> list[str]:
        return texts


class Guard:
    def __init__(self, check) -> None:  # type: ignore[no-untyped-def]
        self.check = check
        self.asked: list[tuple] = []

    def begin(self, key, server, tool, *, route=None, call=None, record=None):  # type: ignore[no-untyped-def]
        self.asked.append((key, server, tool, route, call, record))
        return self.check


def test_begin_keeps_the_checks_of_guards_that_apply(monkeypatch: pytest.MonkeyPatch) -> None:
    upper = Upper([])
    applies, passes = Guard(upper), Guard(None)
    monkeypatch.setattr(hooks, "mcp_guards", [passes, applies])
    assert guarded.begin("key", "docs", "lookup", route="r", record="row") == [upper]
    assert applies.asked == [("key", "docs", "lookup", "r", None, "row")]
    monkeypatch.setattr(hooks, "mcp_guards", [])
    assert guarded.begin("key", "docs", "lookup") == []


async def test_the_arguments_pass_every_check_in_order() -> None:
    seen: list = []
    value = await guarded.arguments([Upper(seen), Upper(seen)], {"q": "llamas", "n": 2})
    assert value == {"q": "LLAMAS", "n": 2}
    assert seen == [{"q": "llamas", "n": 2}, {"q": "LLAMAS", "n": 2}]
    untouched = {"q": "x"}
    assert await guarded.arguments([], untouched) is untouched


async def test_a_result_is_rewritten_text_by_text_and_its_structured_strings_too() -> None:
    image = types.ImageContent(type="image", data="aGk=", mime_type="image/png")
    result = types.CallToolResult(
        content=[
            types.TextContent(type="text", text="one"),
            image,
            types.TextContent(type="text", text="two"),
        ],
        structured_content={"a": "three", "b": [1, "four", {"c": "five"}], "d": None},
    )
    seen: list = []
    checked = await guarded.result([Upper(seen)], result)
    assert seen == [["one", "two", "three", "four", "five"]]
    assert checked.content[0].text == "ONE" and checked.content[2].text == "TWO"  # type: ignore[union-attr]
    assert checked.content[1] == image
    assert checked.structured_content == {"a": "THREE", "b": [1, "FOUR", {"c": "FIVE"}], "d": None}
    assert result.content[0].text == "one"  # type: ignore[union-attr]  # the original is left


async def test_a_result_no_check_changes_is_the_same_object() -> None:
    result = types.CallToolResult(content=[types.TextContent(type="text", text="fine")])
    assert await guarded.result([], result) is result
    assert await guarded.result([Same()], result) is result
