"""``/v1/files``, ``/v1/batches`` (OpenAI) and ``/v1/messages/batches`` (Anthropic),
also under ``/openai/v1/`` and ``/anthropic/v1/``.

Each request: the key is resolved from the headers (refused before any body is read),
counted against the key's rate limit (``limits.admit``; creating a batch against its
budget too: a spent budget refuses a new batch, never the reading of results),
its body read up to its cap (an upload up to SWITCHYARD_MAX_FILE_BYTES, parsed and
written to the file store as it arrives, ``upload_stream``; a JSON body up to
SWITCHYARD_MAX_BODY_BYTES; 413 beyond, nothing stored), handed to
``gateway.features.batches.files.api`` / ``gateway.features.batches.operations`` in a thread, and journaled
once (endpoint ``files`` or ``batches``). Errors in the caller's envelope."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

import orjson
from django.conf import settings

from gateway.base import db_work
from gateway.base.asgi import Receive, Scope, Send
from gateway.base.errors import (
    AuthenticationFailed,
    GatewayError,
    InvalidRequest,
    ModelNotFound,
    RequestTooLarge,
)
from gateway.base.numbers import ascii_int
from gateway.core import service
from gateway.core.service import Call, Caller, Reply
from gateway.edge import upload_stream
from gateway.features.batches.files import quota, store
from gateway.limits import limits

log = logging.getLogger(__name__)


PREFIXES = ("/openai", "/anthropic", "")
ENVELOPE_SLACK = 64 * 1024  # a multipart upload's boundaries and fields around the file


def _without_budgets(key: Any) -> Any:
    """``key`` with no budget of its own, of its end users, its team or its owner (their
    rpm and tpm still count): what reading files and batches is admitted as. The team's
    and owner's were kept, so a spent team budget refused reading a batch's results."""
    team = key.team and dataclasses.replace(key.team, budget_usd=None)
    owner = key.owner and dataclasses.replace(key.owner, budget_usd=None)
    return dataclasses.replace(
        key, budget_usd=None, max_budget_per_user=None, team=team, owner=owner
    )


def target(path: str) -> tuple[str, list[str], str] | None:
    """(resource, the path's parts after it, prefix) for a files or batches path."""
    for prefix in PREFIXES:
        for resource in ("/v1/messages/batches", "/v1/files", "/v1/batches"):
            base = prefix + resource
            if path == base or path.startswith(base + "/"):
                rest = [part for part in path[len(base) :].split("/") if part]
                return resource, rest, prefix
    return None


def _dialect(resource: str) -> str:
    return "anthropic" if resource == "/v1/messages/batches" else "openai"


@dataclasses.dataclass(slots=True, frozen=True)
class Io:
    """What the endpoint module lends (it imports this one, not the reverse)."""

    read_body: Callable[[Receive, int], Awaitable[bytes | None]]
    send_reply: Callable[[Send, Reply], Awaitable[None]]


async def serve(
    scope: Scope,
    receive: Receive,
    send: Send,
    found: tuple[str, list[str], str],
    headers: dict[str, str],
    caller: Caller,
    io: Io,
) -> None:
    resource, rest, prefix = found
    dialect = _dialect(resource)
    method = scope["method"]
    call = Call("batches" if "batches" in resource else "files", dialect, b"", caller)
    try:
        key = caller.key
        if key is None:
            raise AuthenticationFailed(caller.key_error)
        refusal = service.key_refusal(key)
        if refusal:
            raise AuthenticationFailed(refusal)
        rec = call.record
        rec.key_id, rec.key_name, rec.key_prefix = key.id, key.name, key.prefix
        # every call counts against the key's rate limit; a spent budget refuses only a
        # new batch (the key can still read its files and results)
        creates = method == "POST" and not rest and resource != "/v1/files"
        admitted = dataclasses.replace(key, routes=None)
        if not creates:
            admitted = _without_budgets(admitted)
        reservation = await limits.admit(admitted, resource, 0)
        await reservation.settle(0, 0)  # type: ignore[arg-type]
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        handler = _HANDLERS.get((resource, method, len(rest), rest[-1] if len(rest) == 2 else ""))
        if handler is None:
            raise ModelNotFound(f"no such endpoint: {method} {scope['path']}", code="unknown_url")
        base_url = _base_url(scope, headers) + prefix
        request = _Request(scope, receive, headers, key, query, rest, base_url, io)
        status, payload, content_type = await handler(request)
    except GatewayError as error:
        await io.send_reply(send, call.error_reply(error))
        return
    except asyncio.CancelledError:
        call.finish(status=499, disconnected=True)
        raise
    except Exception as exc:
        log.exception("%s %s failed", method, scope["path"])
        await io.send_reply(
            send, call.error_reply(GatewayError(f"internal error ({type(exc).__name__})"))
        )
        return
    call.finish(status=status)
    body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    await io.send_reply(send, Reply(status, body, call.headers(content_type)))
    if resource != "/v1/files" and method in ("POST", "DELETE"):
        from gateway.features.batches import runner

        runner.wake()


@dataclasses.dataclass(slots=True)
class _Request:
    scope: Scope
    receive: Receive
    headers: dict[str, str]
    key: Any
    query: dict[str, str]
    rest: list[str]
    base_url: str
    io: Io


def _base_url(scope: Scope, headers: dict[str, str]) -> str:
    host = headers.get("host") or "localhost"
    scheme = headers.get("x-forwarded-proto") or scope.get("scheme") or "http"
    return f"{scheme}://{host}"


JSON = b"application/json"


async def _json_body(request: _Request) -> dict[str, Any]:
    limit = settings.SWITCHYARD_MAX_BODY_BYTES
    declared = ascii_int(request.headers.get("content-length", ""))
    if declared is not None and declared > limit:
        raise RequestTooLarge(f"the request body exceeds the limit of {limit} bytes")
    raw = await request.io.read_body(request.receive, limit)
    if raw is None:
        raise RequestTooLarge(f"the request body exceeds the limit of {limit} bytes")
    try:
        body = orjson.loads(raw) if raw.strip() else None
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"the request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise InvalidRequest("the request body must be a JSON object")
    return body


async def _upload(request: _Request) -> tuple[int, Any, bytes]:
    """``POST /v1/files``: the body parsed as it arrives, the file written to the store
    as it comes (``upload_stream``); the row created once the bytes are committed."""
    from gateway.features.batches.files import api as files

    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        raise InvalidRequest("upload a file as multipart/form-data (fields 'file' and 'purpose')")
    limit = settings.SWITCHYARD_MAX_FILE_BYTES
    declared = ascii_int(request.headers.get("content-length", ""))
    if declared is not None and declared > limit + ENVELOPE_SLACK:
        raise upload_stream.too_large(limit)
    room = await db_work.arun(quota.check_start, request.key)  # refused here when full
    file_id = files.new_id()
    target = store.current()

    def check_file(fields: dict[str, str], filename: str) -> None:
        if "purpose" in fields:  # sent before the file (the SDKs do): refused unwritten
            files.check_upload(fields["purpose"], filename)

    upload = await upload_stream.receive_upload(
        request.receive,
        content_type,
        limit,
        limit + ENVELOPE_SLACK,
        lambda: target.writer(file_id),
        check_file,
        room,
    )
    try:
        fields = upload.fields
        purpose = files.check_upload(fields.get("purpose"), upload.filename)
        expires = files.expiry(
            purpose, fields.get("expires_after[anchor]"), fields.get("expires_after[seconds]")
        )
    except BaseException:
        await asyncio.shield(asyncio.to_thread(upload.writer.abort))
        raise

    async def keep() -> dict[str, Any]:
        try:
            await asyncio.to_thread(upload.writer.commit)
        except BaseException:
            await asyncio.to_thread(upload.writer.abort)
            raise
        return await db_work.arun(
            files.record, request.key, file_id, purpose, upload.filename, upload.size, expires
        )

    # the whole body came: a client leaving now still gets its file and row (both or
    # neither), never bytes in the store without a row
    return 200, await asyncio.shield(keep()), JSON


def _in_thread(
    fn: Callable[..., Any], *pick: str
) -> Callable[[_Request], Awaitable[tuple[int, Any, bytes]]]:
    """A handler calling ``fn(key, <the request's values named by pick>)`` in a thread."""

    async def handler(request: _Request) -> tuple[int, Any, bytes]:
        args: list[Any] = []
        for name in pick:
            if name == "id":
                args.append(request.rest[0])
            elif name == "query":
                args.append(request.query)
            elif name == "base_url":
                args.append(request.base_url)
            elif name == "body":
                args.append(await _json_body(request))
        return 200, await db_work.arun(fn, request.key, *args), JSON

    return handler


async def _file_content(request: _Request) -> tuple[int, Any, bytes]:
    from gateway.features.batches.files import api as files

    data = await db_work.arun(files.content, request.key, request.rest[0])
    return 200, data, b"application/octet-stream"


async def _anthropic_results(request: _Request) -> tuple[int, Any, bytes]:
    from gateway.features.batches import operations as batches

    data = await db_work.arun(batches.anthropic_results, request.key, request.rest[0])
    return 200, data, b"application/binary"


def _creating(
    prepare: Callable[..., Any],
) -> Callable[[_Request], Awaitable[tuple[int, Any, bytes]]]:
    """A batch's creation: checked in a thread, its budget hold taken, then saved."""

    async def handler(request: _Request) -> tuple[int, Any, bytes]:
        from gateway.features.batches import holds

        body = await _json_body(request)
        return 200, await holds.create(prepare, request.key, body), JSON

    return handler


def _handlers() -> dict[tuple[str, str, int, str], Any]:
    from gateway.features.batches import operations as batches
    from gateway.features.batches.files import api as files

    f, b, m = "/v1/files", "/v1/batches", "/v1/messages/batches"
    return {
        (f, "POST", 0, ""): _upload,
        (f, "GET", 0, ""): _in_thread(files.listing, "query"),
        (f, "GET", 1, ""): _in_thread(files.retrieve, "id"),
        (f, "DELETE", 1, ""): _in_thread(files.delete, "id"),
        (f, "GET", 2, "content"): _file_content,
        (b, "POST", 0, ""): _creating(batches.openai_create),
        (b, "GET", 0, ""): _in_thread(batches.openai_list, "query"),
        (b, "GET", 1, ""): _in_thread(batches.openai_retrieve, "id"),
        (b, "POST", 2, "cancel"): _in_thread(batches.openai_cancel, "id"),
        (m, "POST", 0, ""): _creating(batches.anthropic_create),
        (m, "GET", 0, ""): _in_thread(batches.anthropic_list, "query", "base_url"),
        (m, "GET", 1, ""): _in_thread(batches.anthropic_retrieve, "id", "base_url"),
        (m, "DELETE", 1, ""): _in_thread(batches.anthropic_delete, "id"),
        (m, "POST", 2, "cancel"): _in_thread(batches.anthropic_cancel, "id", "base_url"),
        (m, "GET", 2, "results"): _anthropic_results,
    }


class _LazyHandlers(dict[tuple[str, str, int, str], Any]):
    def get(self, name: Any, default: Any = None) -> Any:
        if not self:
            self.update(_handlers())
        return super().get(name, default)


_HANDLERS = _LazyHandlers()
