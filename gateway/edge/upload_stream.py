"""A ``/v1/files`` upload read from the ASGI receive loop and written to the file store
as it arrives: each chunk goes through the streaming form parser
(``codecs.openai_media.form_stream``), the ``file`` part's bytes to a store writer in
pieces of ``FLUSH_BYTES`` (written in a worker thread, off the event loop), so a
worker holds about one piece of an upload at a time, whatever its size.

Past ``file_limit`` bytes of file (or ``body_limit`` of body), or past what is left of
the key's storage ``quota`` (``gateway.features.batches.files.quota``), the upload stops there
with a 413; a malformed body is a 400; a client that goes away is a
``CancelledError``. In every one of those cases the writer is aborted: nothing of the
upload is left in the store. On success the caller owns the writer (commit or abort)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable

from gateway.base.asgi import Receive
from gateway.base.errors import InvalidRequest, RequestTooLarge
from gateway.codecs.openai_media.form_stream import Field, FileData, FileEnd, FileStart, FormStream
from gateway.features.batches.files.quota import Quota
from gateway.features.batches.files.store import Writer

FLUSH_BYTES = 1024 * 1024
FILE_FIELD = "file"


@dataclasses.dataclass(slots=True)
class Upload:
    fields: dict[str, str]
    filename: str
    size: int
    writer: Writer


def too_large(file_limit: int) -> RequestTooLarge:
    return RequestTooLarge(f"the file exceeds the limit of {file_limit} bytes")


async def receive_upload(
    receive: Receive,
    content_type: str,
    file_limit: int,
    body_limit: int,
    open_writer: Callable[[], Writer],
    check_file: Callable[[dict[str, str], str], None] = lambda fields, filename: None,
    quota: Quota | None = None,
) -> Upload:
    """The upload's text fields and its ``file`` part, written through a writer from
    ``open_writer`` (called in a thread when the part begins). ``check_file(fields so
    far, filename)`` may refuse the file before any of it is written (the purpose and
    the file's name, when the form sends the purpose first, as the SDKs do). ``quota``:
    the key's, checked as the file arrives (None: no quota)."""
    form = FormStream(content_type)
    fields: dict[str, str] = {}
    writer: Writer | None = None
    filename = ""
    size = received = 0
    in_file = done_file = False
    pending = bytearray()

    async def flush() -> None:
        nonlocal pending
        if pending and writer is not None:
            piece, pending = pending, bytearray()
            await asyncio.to_thread(writer.write, piece)

    try:
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise asyncio.CancelledError
            chunk = message.get("body", b"")
            more = bool(message.get("more_body"))
            received += len(chunk)
            if received > body_limit:
                raise too_large(file_limit)
            events = form.feed(chunk) if chunk else []
            if not more:
                events += form.finish()
            for event in events:
                if isinstance(event, Field):
                    fields.setdefault(event.name, event.value)
                elif isinstance(event, FileStart):
                    in_file = event.name == FILE_FIELD and not done_file
                    if in_file:
                        filename = event.filename or "upload"
                        check_file(fields, filename)
                        writer = await asyncio.to_thread(open_writer)
                elif isinstance(event, FileData):
                    if in_file:
                        size += len(event.data)
                        if size > file_limit:
                            raise too_large(file_limit)
                        if quota is not None and size > quota.room:
                            raise quota.exceeded()
                        pending += event.data
                        if len(pending) >= FLUSH_BYTES:
                            await flush()
                elif isinstance(event, FileEnd) and in_file:
                    in_file, done_file = False, True
                    await flush()
        if writer is None:
            raise InvalidRequest(
                "file is required: send it as the multipart field 'file'", param="file"
            )
    except BaseException:
        if writer is not None:  # shielded: a second cancel must not skip the clean-up
            await asyncio.shield(asyncio.to_thread(writer.abort))
        raise
    return Upload(fields, filename, size, writer)
