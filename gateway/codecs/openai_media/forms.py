"""``multipart/form-data`` bodies as OpenAI's SDKs send them (``image``, ``image[]``,
``mask``, ``file`` and text fields), read once and never copied: every part's value is
a ``memoryview`` into the body as received. The body goes upstream as it came, only the
``model`` field's value swapped (``with_model``: views of the body around the new
name), so fields the gateway does not know reach the upstream untouched and byte for
byte, and the body is in memory once."""

from __future__ import annotations

from dataclasses import dataclass, field

from python_multipart import MultipartParser
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import parse_options_header

from gateway.base.errors import InvalidRequest

MAX_PARTS = 64


@dataclass(slots=True)
class Part:
    name: str
    filename: str | None
    content_type: str
    start: int  # the value's span in the body
    end: int
    data: memoryview

    @property
    def size(self) -> int:
        return len(self.data)

    def text(self) -> str:
        return bytes(self.data).decode("utf-8", errors="replace")


@dataclass(slots=True)
class Form:
    raw: bytes | bytearray  # the body as received (the edge reads it into one buffer)
    content_type: str
    parts: list[Part] = field(default_factory=list)

    def field(self, name: str) -> str | None:
        """A text field's value (the first of that name), None when absent."""
        for part in self.parts:
            if part.name == name and part.filename is None:
                return part.text()
        return None

    def fields(self) -> dict[str, str]:
        """Text fields; a repeated name (``timestamp_granularities[]``) keeps a list
        joined by commas."""
        out: dict[str, str] = {}
        for part in self.parts:
            if part.filename is None:
                value = part.text()
                out[part.name] = f"{out[part.name]},{value}" if part.name in out else value
        return out

    def files(self, *names: str) -> list[Part]:
        """File parts named any of ``names`` (``image`` and ``image[]`` alike)."""
        return [p for p in self.parts if p.name in names and p.filename is not None]

    def summary(self) -> dict[str, object]:
        """What the journal keeps: the text fields, and of each file its name, type
        and size (never its bytes)."""
        out: dict[str, object] = dict(self.fields())
        for part in self.parts:
            if part.filename is not None:
                entry = {"filename": part.filename, "content_type": part.content_type,
                         "bytes": part.size}  # fmt: skip
                out.setdefault(part.name, [])
                out[part.name].append(entry)  # type: ignore[attr-defined]
        return out


def _boundary(content_type: str) -> bytes:
    kind, options = parse_options_header(content_type)
    if kind != b"multipart/form-data":
        raise InvalidRequest(
            "this endpoint takes multipart/form-data (the file and the fields as form parts)"
        )
    boundary = options.get(b"boundary")
    if not boundary:
        raise InvalidRequest("the multipart/form-data content type names no boundary")
    return boundary


def _disposition(value: bytes) -> tuple[str, str | None]:
    kind, options = parse_options_header(value)
    if kind != b"form-data" or b"name" not in options:
        raise InvalidRequest("a multipart part without a form-data name")
    name = options[b"name"].decode("utf-8", errors="replace")
    filename = options.get(b"filename")
    return name, None if filename is None else filename.decode("utf-8", errors="replace")


def parse(raw: bytes | bytearray, content_type: str) -> Form:
    """The parts of ``raw``; a malformed body raises ``InvalidRequest``."""
    boundary = _boundary(content_type)
    form = Form(raw, content_type)
    view = memoryview(raw)
    headers: dict[bytes, bytes] = {}
    header_field = bytearray()
    header_value = bytearray()
    spans: list[tuple[int, int]] = []
    copied: list[bytes] = []  # data the parser handed from its own buffer (rare)

    def on_part_begin() -> None:
        headers.clear()
        spans.clear()
        copied.clear()

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header_field.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header_value.extend(data[start:end])

    def on_header_end() -> None:
        headers[bytes(header_field).lower()] = bytes(header_value)
        header_field.clear()
        header_value.clear()

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if data is raw:
            spans.append((start, end))
        else:  # the parser's look-behind buffer: a piece it held back at a boundary
            spans.append((-1, len(copied)))
            copied.append(bytes(data[start:end]))

    def on_part_end() -> None:
        if len(form.parts) >= MAX_PARTS:
            raise InvalidRequest(f"at most {MAX_PARTS} multipart parts")
        name, filename = _disposition(headers.get(b"content-disposition", b""))
        content_type = headers.get(b"content-type", b"").decode("latin-1")
        contiguous = all(s >= 0 for s, _ in spans) and all(
            spans[i][1] == spans[i + 1][0] for i in range(len(spans) - 1)
        )
        if not spans:
            start = end = 0
            data = memoryview(b"")
        elif contiguous:
            start, end = spans[0][0], spans[-1][1]
            data = view[start:end]
        else:  # rare: joined once; its span is not the body's (start -1)
            joined = b"".join(raw[s:e] if s >= 0 else copied[e] for s, e in spans)
            start, end, data = -1, len(joined) - 1, memoryview(joined)
        part = Part(name, filename, content_type, start, end, data)
        form.parts.append(part)

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
        },
    )
    try:
        parser.write(raw)  # type: ignore[arg-type]  # any bytes-like buffer is read
        parser.finalize()
    except MultipartParseError as exc:
        raise InvalidRequest(f"the multipart body is malformed: {exc}") from None
    if not form.parts and raw.strip():
        raise InvalidRequest("the multipart body has no parts (is the boundary right?)")
    return form


# What goes upstream: the body as pieces (views of the received body around the new
# model name), written out by the transport without being joined here.
Pieces = list[bytes | memoryview]


def with_model(form: Form, model: str) -> Pieces:
    """The body with the ``model`` field's value replaced by ``model``, as pieces that
    are views of the body (no copy is made; the transport writes them out)."""
    return with_values(form, {"model": model})


def with_values(form: Form, values: dict[str, str]) -> Pieces:
    """The body with the value of each text field named in ``values`` (the first of
    its name) replaced, as pieces that are views of the body around the new values."""
    view = memoryview(form.raw)
    pieces: Pieces = []
    at = 0
    left = dict(values)
    for part in form.parts:
        value = left.pop(part.name, None) if part.filename is None else None
        if value is None or part.start < 0 or bytes(part.data) == value.encode():
            continue
        pieces += [view[at : part.start], value.encode()]
        at = part.end
    return [view] if not pieces else [*pieces, view[at:]]


def encode(fields: list[tuple[str, str]], files: list[tuple[str, str, str, bytes]],
           boundary: str) -> bytes:  # fmt: skip
    """A multipart body (the Gemini path's edit images come back through it only in
    tests): ``files`` are (field, filename, content type, data)."""
    out: list[bytes] = []
    mark = f"--{boundary}\r\n".encode()
    for name, value in fields:
        out += [mark, f'Content-Disposition: form-data; name="{name}"\r\n\r\n'.encode(),
                value.encode(), b"\r\n"]  # fmt: skip
    for name, filename, content_type, data in files:
        head = (
            f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n"
        )
        out += [mark, head.encode(), data, b"\r\n"]
    out.append(f"--{boundary}--\r\n".encode())
    return b"".join(out)
