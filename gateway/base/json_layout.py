"""A JSON object's text as the pieces of its members, to send it again changed a little.

A passed-through request goes upstream as the caller's object with a few members
changed (the model renamed, a field made valid for the upstream); encoding it again
costs an agent's 150 KB request about 50 us and a second 143 KB buffer for as long as
the exchange lasts. When the caller's text is exactly what ``orjson.dumps`` writes for
the object it parsed to (compact, UTF-8, no key twice: what the OpenAI and Anthropic
SDKs send), ``Layout.of`` finds where each member lies in it, encoding each member's
value once (which the depth check on a long body did for the whole object anyway), and
``Layout.pieces`` gives ``orjson.dumps`` of a changed object as views of those members
where the object holds the very value parsed and new bytes for the rest: byte for
byte what the encode would send, so an upstream cannot tell them apart.

What it relies on: a value parsed is not changed in place (a body's rewrites copy what
they change, as ``passthrough_body``, ``mediation``, ``tags``, the guardrails' masks and
the prompt references do): the same object under the same key is the same text. A text
that is not orjson's (spaces, escapes orjson does not write, a key twice, a float as
another encoder writes it) has no layout: its body is encoded as before."""

from __future__ import annotations

from typing import Any

import orjson

# JSON's white space, allowed around the object
_SPACE = b" \t\n\r"


class TooDeep(Exception):
    """A value nests deeper than the levels ``Layout.of`` was given."""


class Pieces(list[bytes | memoryview]):
    """An object's text in pieces (``Layout.pieces``), written one after the other;
    ``tail`` is where in ``raw`` its last piece starts when that piece runs to the end
    of ``raw`` (-1 otherwise): the journal keeps such a body as that tail of the
    caller's body after a short head (``journal.record.Spliced``)."""

    __slots__ = ("raw", "tail")

    def __init__(self, pieces: list[bytes | memoryview], raw: bytes, tail: int) -> None:
        super().__init__(pieces)
        self.raw, self.tail = raw, tail

    def head(self) -> bytes:
        """The pieces before the tail, joined."""
        return b"".join(self[:-1] if self.tail >= 0 else self)


class Layout:
    """Where each member of an object lies in its text: key -> (the value as parsed,
    the member's first byte, the byte after its value), in the order of the text."""

    __slots__ = ("members", "raw")

    def __init__(self, raw: bytes, members: dict[str, tuple[Any, int, int]]) -> None:
        self.raw, self.members = raw, members

    @classmethod
    def of(cls, raw: bytes, body: dict[str, Any], levels: int) -> Layout | None:
        """The layout of ``raw``, the text ``body`` was parsed from, when ``raw`` is
        ``orjson.dumps(body)`` (JSON white space around it allowed); None when it is
        not. ``body`` is encoded whole, nested at most ``levels`` levels (the object
        the first): deeper raises ``TooDeep`` (orjson's own count: it is encoded inside
        as many lists as take it to orjson's limit); a value orjson cannot write raises
        ``orjson.JSONEncodeError``. Where each member lies follows from the lengths of
        their encodings: each value is encoded alone but the container with the most
        items, whose length is what the others leave (one big encode, as the depth
        check made before, and not a second of the biggest value)."""
        wrappers = ORJSON_LEVELS - levels
        assert wrappers > 0, f"orjson writes {ORJSON_LEVELS} levels at most"
        wrapped: Any = body
        for _ in range(wrappers):
            wrapped = [wrapped]
        whole = memoryview(_nested(wrapped))[wrappers:-wrappers]
        start = len(raw) - len(raw.lstrip(_SPACE))
        end = start + len(whole)
        if not raw.startswith(whole, start) or raw[end:].strip(_SPACE):
            return None
        # the lengths of each member's key and value, the biggest container's left out
        biggest, items = None, -1
        for key, value in body.items():
            if (type(value) is dict or type(value) is list) and len(value) > items:
                biggest, items = key, len(value)
        lengths: list[tuple[str, Any, int, int]] = []
        known = 2 + max(len(body) - 1, 0)  # ``{``, ``}`` and the commas
        for key, value in body.items():
            name = len(orjson.dumps(key)) + 1  # (with its colon)
            size = -1 if key == biggest else len(orjson.dumps(value))
            known += name + max(size, 0)
            lengths.append((key, value, name, size))
        members: dict[str, tuple[Any, int, int]] = {}
        at = start + 1
        for key, value, name, size in lengths:
            if size < 0:
                size = len(whole) - known
            members[key] = (value, at, at + name + size)
            at += name + size + 1
        return cls(raw, members)

    def pieces(self, body: dict[str, Any]) -> Pieces | None:
        """``orjson.dumps(body)`` in pieces: a member whose value is the very object
        parsed under its key is a view of the text, the others encoded now; members
        next to each other in the text are one view. None when no member is the text's."""
        raw, members = self.raw, self.members
        spans: list[tuple[int, int] | bytes] = []  # the text's [start, end), or new bytes
        pending = bytearray(b"{")  # new bytes not yet in ``spans``
        first = True
        for key, value in body.items():
            sep = b"" if first else b","
            first = False
            known = members.get(key)
            if known is None or known[0] is not value:
                pending += sep + orjson.dumps(key) + b":" + orjson.dumps(value)
                continue
            start, end = known[1], known[2]
            last = spans[-1] if spans else None
            if not pending and type(last) is tuple and last[1] + 1 == start:
                spans[-1] = (last[0], end)  # the text's next member (a comma between)
                continue
            pending += sep
            size = len(pending)
            if start >= size and raw[start - size : start] == pending:
                start, size = start - size, 0  # (``{``, ``,``: the text's own)
            elif sep and raw[start - 1 : start] == sep:
                start, size = start - 1, size - 1
            if size:
                spans.append(bytes(pending[:size]))
            pending.clear()
            spans.append((start, end))
        if not spans:
            return None
        pending += b"}"
        last = spans[-1]
        if type(last) is tuple and raw[last[1] : last[1] + len(pending)] == pending:
            spans[-1] = (last[0], last[1] + len(pending))
        else:
            spans.append(bytes(pending))
        view = memoryview(raw)
        out: list[bytes | memoryview] = [
            s if type(s) is bytes else view[s[0] : s[1]] for s in spans
        ]
        final = spans[-1]
        tail = final[0] if type(final) is tuple and final[1] == len(raw) else -1
        return Pieces(out, raw, tail)


ORJSON_LEVELS = 254  # the most levels orjson.dumps writes (255 raise)


def _nested(value: list[Any]) -> bytes:
    """``value`` (an object inside its wrappers) encoded, ``TooDeep`` past orjson's
    levels."""
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError as exc:
        if str(exc) == "Recursion limit reached":
            raise TooDeep from None
        raise
