"""The texts a guardrail reads, and writing rewritten ones back.

A request's texts are its system text, every message's text parts, the text of tool
results and text documents (what an agent sends from files); an answer's are its text
parts and each tool call's arguments (as JSON). Images and reasoning are not read
(signed reasoning may not change). ``Slots`` remembers where each text came from, so a
guardrail's rewrite lands in the same place.

``rewrite_body`` carries a rewrite into the body as received, by value: every string
equal to a text that changed is replaced. When every change was found there, the body
may still pass through untranslated (and the journal keeps the masked body, never the
original)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from gateway.types import ChatRequest, ChatResponse, Document, Text, ToolCall, ToolResult


class Slots:
    """Texts with a setter each, in a stable order. A text part is its own setter (its
    ``text`` is set): an agent's request has hundreds of texts, and a rewrite is rare."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.setters: list[Callable[[str], None] | Text | Document] = []

    def add(self, text: str, setter: Callable[[str], None] | Text | Document) -> None:
        if text:
            self.texts.append(text)
            self.setters.append(setter)

    def write(self, texts: list[str]) -> dict[str, str]:
        """Set the rewritten texts; returns {old: new} for each that changed."""
        changed: dict[str, str] = {}
        for old, new, setter in zip(self.texts, texts, self.setters, strict=False):
            if new != old:
                if isinstance(setter, TEXT_PARTS):
                    setter.text = new
                else:
                    setter(new)
                changed[old] = new
        self.texts = list(texts[: len(self.texts)]) + self.texts[len(texts) :]
        return changed


TEXT_PARTS = (Text, Document)  # a tuple: isinstance of a union costs more


def _arguments_setter(part: ToolCall) -> Callable[[str], None]:
    def set_arguments(value: str) -> None:
        try:
            parsed = orjson.loads(value)
        except orjson.JSONDecodeError:
            parsed = None
        if isinstance(parsed, dict):
            part.arguments, part.raw_arguments = parsed, None
        else:
            part.raw_arguments = value

    return set_arguments


def request_slots(request: ChatRequest) -> Slots:
    slots = Slots()
    add = slots.add
    for block in request.system:
        add(block.text, block)
    for message in request.messages:
        for part in message.parts:
            if isinstance(part, TEXT_PARTS):
                if part.text is not None:
                    add(part.text, part)
            elif isinstance(part, ToolResult):
                for inner in part.content:
                    if isinstance(inner, TEXT_PARTS) and inner.text is not None:
                        add(inner.text, inner)
    return slots


def response_slots(response: ChatResponse) -> Slots:
    slots = Slots()
    for part in response.parts:
        if isinstance(part, Text):
            slots.add(part.text, part)
        elif isinstance(part, ToolCall):
            arguments = part.raw_arguments or orjson.dumps(part.arguments).decode()
            slots.add(arguments, _arguments_setter(part))
    return slots


def _item_setter(container: Any, where: Any) -> Callable[[str], None]:
    def set_item(value: str) -> None:
        container[where] = value

    return set_item


def body_slots(body: dict[str, Any], fields: tuple[str, ...]) -> Slots:
    """The strings of a body's ``fields`` (legacy completions' ``prompt``, embeddings'
    ``input``): a string or a list of strings (token arrays are not text)."""
    slots = Slots()
    for name in fields:
        value = body.get(name)
        if isinstance(value, str):
            slots.add(value, _item_setter(body, name))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, str):
                    slots.add(item, _item_setter(value, index))
    return slots


def rewrite_body(body: Any, changed: dict[str, str]) -> tuple[Any, set[str]]:
    """``body`` with every string equal to a changed text replaced; and the old texts
    that were found (a text the codec assembled from pieces is not)."""
    found: set[str] = set()

    def walk(node: Any) -> Any:
        if isinstance(node, str):
            new = changed.get(node)
            if new is not None:
                found.add(node)
                return new
            return node
        if isinstance(node, dict):
            return {key: walk(value) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(item) for item in node]
        return node

    return walk(body), found
