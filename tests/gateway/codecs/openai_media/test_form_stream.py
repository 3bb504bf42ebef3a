"""The streaming multipart parser: the same parts whichever way the body is cut into
chunks (inside the boundary string, inside a part's headers, one byte at a time), and
refusals of what is malformed or too large."""

from __future__ import annotations

import pytest

from gateway.base.errors import InvalidRequest
from gateway.codecs.openai_media.form_stream import Field, FileData, FileEnd, FileStart, FormStream
from gateway.codecs.openai_media.forms import encode

KIND = "multipart/form-data; boundary=bound-xyz"
# the file holds pieces of the delimiter: the parser must hold them back and give them
# back as data when the boundary does not follow
CONTENT = b'{"a": 1}\r\n--bound-x\r\n--bound-xy' * 40 + b"\r\n-"
BODY = encode(
    [("purpose", "batch"), ("note", "caf\u00e9")],
    [("file", "in.jsonl", "application/jsonl", CONTENT)],
    "bound-xyz",
)


def parse(chunks: list[bytes]) -> tuple[list, bytes]:
    form = FormStream(KIND)
    events = []
    for chunk in chunks:
        events += form.feed(chunk)
    events += form.finish()
    data = b"".join(e.data for e in events if isinstance(e, FileData))
    return [e for e in events if not isinstance(e, FileData)], data


def cut(body: bytes, *at: int) -> list[bytes]:
    marks = [0, *at, len(body)]
    return [body[a:b] for a, b in zip(marks, marks[1:], strict=False)]


def test_the_parts_in_one_chunk():
    events, data = parse([BODY])
    assert events == [
        Field("purpose", "batch"),
        Field("note", "caf\u00e9"),
        FileStart("file", "in.jsonl", "application/jsonl"),
        FileEnd(),
    ]
    assert data == CONTENT


def test_chunks_cut_in_awkward_places_give_the_same_parts():
    whole = parse([BODY])
    inside_boundary = BODY.index(b"--bound-xyz\r\nContent-Disposition") + 5
    inside_header = BODY.index(b"filename=") + 4
    before_file_end = BODY.rindex(b"\r\n--bound-xyz--") + 3
    for chunks in (
        cut(BODY, inside_boundary),
        cut(BODY, inside_header),
        cut(BODY, inside_boundary, inside_header, before_file_end),
        [BODY[i : i + 1] for i in range(len(BODY))],  # a byte at a time
        [BODY[i : i + 7] for i in range(0, len(BODY), 7)],
    ):
        assert parse(chunks) == whole


def test_file_data_comes_out_as_it_arrives():
    form = FormStream(KIND)
    head = BODY.index(CONTENT)
    events = form.feed(BODY[: head + 1000])
    assert isinstance(events[-1], FileData)  # the file's first bytes, before its end
    got = b"".join(e.data for e in events if isinstance(e, FileData))
    assert CONTENT.startswith(got) and len(got) > 900


def test_a_body_cut_short_is_refused():
    form = FormStream(KIND)
    form.feed(BODY[:-20])
    with pytest.raises(InvalidRequest, match="closing boundary"):
        form.finish()


def test_malformed_and_oversized_parts_are_refused():
    with pytest.raises(InvalidRequest, match="boundary"):
        FormStream("multipart/form-data")
    with pytest.raises(InvalidRequest, match="multipart/form-data"):
        FormStream("application/json")
    with pytest.raises(InvalidRequest, match="exceeds 4 bytes"):
        FormStream(KIND, max_field=4).feed(BODY)
    no_name = b"--bound-xyz\r\nContent-Disposition: form-data\r\n\r\nx\r\n--bound-xyz--\r\n"
    with pytest.raises(InvalidRequest, match="form-data name"):
        FormStream(KIND).feed(no_name)
    long_header = b"--bound-xyz\r\nX-Pad: " + b"a" * 20_000 + b"\r\n"
    with pytest.raises(InvalidRequest, match="[Hh]eader"):  # (python-multipart caps one header)
        FormStream(KIND).feed(long_header)
    many = encode([(f"f{i}", "v") for i in range(65)], [], "bound-xyz")
    with pytest.raises(InvalidRequest, match="at most 64"):
        FormStream(KIND).feed(many)
