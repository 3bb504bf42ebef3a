"""The texts a guardrail reads, and writing rewritten ones back.

A request's texts are its system text, every message's text parts and ``name``, the
text of tool results and text documents (what an agent sends from files), the
arguments of the assistant's earlier tool calls (as JSON), and each tool definition's
name and description; an answer's are its text parts and each tool call's arguments
(as JSON). Images and reasoning are not read (signed reasoning may not change). A body
without a parsed request is read by its endpoint's declared fields
(``gateway.base.endpoints.Field``). ``Slots`` remembers where each text came from, so a
guardrail's rewrite lands in the same place.

``rewrite_body`` carries a rewrite into the body as received, by value: every string
equal to a text that changed is replaced. When every change was found there, the body
may still pass through untranslated (and the journal keeps the masked body, never the
original)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from gateway.base.endpoints import Field
from gateway.base.types import (
    ChatRequest,
    ChatResponse,
    Document,
    Message,
    Text,
    Tool,
    ToolCall,
    ToolResult,
    deferred_texts,
)


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


def _attribute_setter(owner: Message | Tool, name: str) -> Callable[[str], None]:
    def set_attribute(value: str) -> None:
        setattr(owner, name, value)

    return set_attribute


class _DeferredSlots(Slots):
    """A deferred request's slots (``types.DeferredChatRequest``): its messages' texts
    read off the wire messages; the messages are built only for a rewrite to land in."""

    def __init__(self, request: ChatRequest, texts: list[str]) -> None:
        self.setters = []  # (``Slots``' own: the built slots' are written through)
        self.request = request
        # the texts alone: a rewrite lands through the built slots (``write``)
        if not request.system and not request.tools:  # a short question: the messages'
            self.texts = texts
            return
        head = [block.text for block in request.system]
        for tool in request.tools:
            head.append(tool.name)
            head.append(tool.description or "")
        head = [text for text in head if text]
        head += texts  # (the codec's texts: none empty)
        self.texts = head

    def write(self, texts: list[str]) -> dict[str, str]:
        built = _built_slots(self.request)  # (builds the messages)
        assert built.texts == self.texts, "the codec read other texts than its messages hold"
        changed = built.write(texts)
        self.texts = built.texts
        return changed


def request_slots(request: ChatRequest) -> Slots:
    deferred = deferred_texts(request)  # messages not built: texts suffice unless rewritten
    if deferred is not None:
        return _DeferredSlots(request, deferred)
    return _built_slots(request)


def _head(slots: Slots, request: ChatRequest) -> None:
    """The system text, and what the model reads of a tool: its name and description."""
    add = slots.add
    for block in request.system:
        add(block.text, block)
    for tool in request.tools:
        add(tool.name, _attribute_setter(tool, "name"))
        if tool.description:
            add(tool.description, _attribute_setter(tool, "description"))


def _built_slots(request: ChatRequest) -> Slots:
    slots = Slots()
    _head(slots, request)
    add = slots.add
    for message in request.messages:
        if message.name:
            add(message.name, _attribute_setter(message, "name"))
        for part in message.parts:
            if isinstance(part, TEXT_PARTS):
                if part.text is not None:
                    add(part.text, part)
            elif isinstance(part, ToolResult):
                for inner in part.content:
                    if isinstance(inner, TEXT_PARTS) and inner.text is not None:
                        add(inner.text, inner)
            elif isinstance(part, ToolCall):  # an earlier turn's call, sent back
                arguments = part.raw_arguments or orjson.dumps(part.arguments).decode()
                add(arguments, _arguments_setter(part))
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


class PassedSlots(Slots):
    """A passed-through whole answer's slots: its texts read off the body
    (``PassthroughCodec.answer_texts``); the answer is parsed (``parse``) only for a
    rewrite to land in, and kept as ``response`` to be rendered again."""

    def __init__(self, texts: list[str], parse: Callable[[], ChatResponse]) -> None:
        self.setters = []  # (``Slots``' own, set here: a call less on every answer)
        self.texts = texts
        self.parse = parse
        self.response: ChatResponse | None = None

    def write(self, texts: list[str]) -> dict[str, str]:
        response = self.response = self.parse()
        built = response_slots(response)
        assert built.texts == self.texts, "the codec read other texts than its answer holds"
        changed = built.write(texts)
        self.texts = built.texts
        return changed


def _item_setter(container: Any, where: Any) -> Callable[[str], None]:
    def set_item(value: str) -> None:
        container[where] = value

    return set_item


def body_slots(body: dict[str, Any], fields: tuple[Field, ...]) -> Slots:
    """The strings of a body's declared ``fields`` (legacy completions' ``prompt``,
    embeddings' ``input``, rerank's ``query`` and ``documents``): a string or a list of
    strings (token arrays are not text), and of a field with a ``key``, list items that
    are objects holding the string under it (``{"text": ...}``)."""
    slots = Slots()
    for field in fields:
        value = body.get(field.name)
        if isinstance(value, str):
            slots.add(value, _item_setter(body, field.name))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, str):
                    slots.add(item, _item_setter(value, index))
                elif field.key and isinstance(item, dict) and isinstance(item.get(field.key), str):
                    slots.add(item[field.key], _item_setter(item, field.key))
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
