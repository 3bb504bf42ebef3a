"""A ``multipart/form-data`` body parsed as it arrives: python-multipart's streaming
parser is fed each chunk the client sends and hands back what it found in it as
events, so a file part can be written out piece by piece and never sits in memory
whole. Pure (no I/O): the caller decides where file data goes.

Events, in body order: ``Field(name, value)`` for a text part (once complete),
``FileStart(name, filename, content_type)``, ``FileData(data)`` (any number),
``FileEnd()``. Text parts are capped (``max_field``): a form's fields are small, only
its files are large."""

from __future__ import annotations

from dataclasses import dataclass

from python_multipart import MultipartParser
from python_multipart.exceptions import MultipartParseError

from gateway.base.errors import InvalidRequest
from gateway.codecs.openai_media.forms import MAX_PARTS, _boundary, _disposition

MAX_FIELD = 64 * 1024
MAX_HEADERS = 16 * 1024  # a part's headers, all together


@dataclass(slots=True, frozen=True)
class Field:
    name: str
    value: str


@dataclass(slots=True, frozen=True)
class FileStart:
    name: str
    filename: str
    content_type: str


@dataclass(slots=True, frozen=True)
class FileData:
    data: bytes


@dataclass(slots=True, frozen=True)
class FileEnd:
    pass


Event = Field | FileStart | FileData | FileEnd


class FormStream:
    """Feed it the body's chunks (``feed``), then ``finish``; each returns the events
    the bytes it was given completed. A malformed body raises ``InvalidRequest``."""

    def __init__(self, content_type: str, max_field: int = MAX_FIELD) -> None:
        self.max_field = max_field
        self.events: list[Event] = []
        self.parts = 0
        self._headers: dict[bytes, bytes] = {}
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._header_bytes = 0
        self._is_file = False
        self._name = ""
        self._value = bytearray()
        self._parser = MultipartParser(
            _boundary(content_type),
            {
                "on_part_begin": self._part_begin,
                "on_header_field": self._header_field_data,
                "on_header_value": self._header_value_data,
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
                "on_part_data": self._part_data,
                "on_part_end": self._part_end,
                "on_end": self._end,
            },
        )
        self.done = False

    def feed(self, chunk: bytes) -> list[Event]:
        try:
            self._parser.write(chunk)
        except MultipartParseError as exc:
            raise InvalidRequest(f"the multipart body is malformed: {exc}") from None
        return self._take()

    def finish(self) -> list[Event]:
        """The end of the body: refused unless the closing boundary came."""
        try:
            self._parser.finalize()
        except MultipartParseError as exc:
            raise InvalidRequest(f"the multipart body is malformed: {exc}") from None
        if not self.done:
            raise InvalidRequest("the multipart body ends before its closing boundary")
        return self._take()

    def _take(self) -> list[Event]:
        events, self.events = self.events, []
        return events

    # -- the parser's callbacks ----------------------------------------------------------
    def _part_begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise InvalidRequest(f"at most {MAX_PARTS} multipart parts")
        self._headers.clear()
        self._header_bytes = 0
        self._value.clear()

    def _count_header(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > MAX_HEADERS:
            raise InvalidRequest(f"a multipart part's headers exceed {MAX_HEADERS} bytes")

    def _header_field_data(self, data: bytes, start: int, end: int) -> None:
        self._count_header(end - start)
        self._header_field += data[start:end]

    def _header_value_data(self, data: bytes, start: int, end: int) -> None:
        self._count_header(end - start)
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        self._headers[bytes(self._header_field).lower()] = bytes(self._header_value)
        self._header_field.clear()
        self._header_value.clear()

    def _headers_finished(self) -> None:
        name, filename = _disposition(self._headers.get(b"content-disposition", b""))
        self._name = name
        self._is_file = filename is not None
        if filename is not None:
            kind = self._headers.get(b"content-type", b"").decode("latin-1")
            self.events.append(FileStart(name, filename, kind))

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if start == end:
            return
        if self._is_file:
            self.events.append(FileData(bytes(data[start:end])))
            return
        if len(self._value) + end - start > self.max_field:
            raise InvalidRequest(
                f"the form field {self._name!r} exceeds {self.max_field} bytes", param=self._name
            )
        self._value += data[start:end]

    def _part_end(self) -> None:
        if self._is_file:
            self.events.append(FileEnd())
        else:
            self.events.append(Field(self._name, self._value.decode("utf-8", errors="replace")))

    def _end(self) -> None:
        self.done = True
