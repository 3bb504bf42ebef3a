"""Responses API state: stored responses (``store``, the API's default), chaining with
``previous_response_id``, and what ``GET``/``DELETE /v1/responses/{id}`` read.

A chained request is rebuilt here as items only (the earlier turns' input and output
items, then the new input); the inbound Responses parser turns those items into
canonical messages as it does for any request, so a chain continues the same way on
any upstream. The earlier ``instructions`` are not carried: the new request's apply.

Each row holds its own turn (input items, output) and the id of the one before; a
chain is read back in one recursive query. A WebSocket keeps its latest responses in
memory too (``SocketMemory``), so ``store: false`` chains work on the socket.

When the write happens: a stored response is written (in a small thread pool, awaited)
before the reply's last bytes go out: the final stream event or the JSON body. A client
that sends the next turn the moment it has the answer may reach another worker, which
then finds the row in the database. The cost is one INSERT per response, off the event
loop; a failed write is logged and the reply still goes out (the chain then answers 400
``previous_response_not_found``, as for any unknown id).

A turn may name a ``conversation`` instead (``gateway.features.responses.conversations``):
its items are the history, and the turn's input and output items are appended to it
when the turn completes, whatever its ``store``. A background response (``background:
true``, ``gateway.features.responses.background``) runs as a request like any other,
told its id: the stored response keeps the id the client was given.

The pipeline reads a ``Turn`` as ``call.state`` (``gateway.base.hooks.CallState``): this
feature registers ``begin`` for the Responses dialect (``hooks.call_states``).

A response is visible only to the key that created it (the master key's are the master
key's own). Rows older than ``SWITCHYARD_RESPONSES_RETENTION_DAYS`` are pruned with the
journal's logs.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import orjson
from django.conf import settings

from gateway.base import db_work
from gateway.base.entries import KeyEntry
from gateway.base.errors import InvalidRequest, ModelNotFound
from gateway.base.types import ChatRequest
from gateway.codecs.openai_responses import inbound
from gateway.core import storage_quota, stored_chain
from gateway.features.responses import compaction, conversations
from gateway.features.responses.items import as_input, carried_output, normalize_input
from gateway.models import StoredResponse

log = logging.getLogger(__name__)

_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="responses-state")
FINAL_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})
_FINAL_MARKERS = tuple(kind.encode() for kind in FINAL_EVENTS)
PRUNE_BATCH = 500


class ResponseNotFound(ModelNotFound):
    """No stored response by that id for this key (never says whose it is)."""


async def _in_thread(fn: Any, *args: Any) -> Any:
    """Run ``fn`` in the pool with a usable connection, handed back after (to the
    connection pool with PostgreSQL; a persistent one is kept, one that failed is
    closed so the next call connects afresh)."""
    return await asyncio.get_running_loop().run_in_executor(_POOL, db_work.run, fn, *args)


# --- one request's state -------------------------------------------------------------------


class SocketMemory:
    """The latest responses of one WebSocket connection, kept in memory whatever their
    ``store``: as in OpenAI's WebSocket mode, ``previous_response_id`` continues a
    ``store: false`` response on the connection that made it (Codex chains so)."""

    KEEP = 2

    def __init__(self) -> None:
        self.chains: dict[str, list[dict[str, Any]]] = {}  # id -> its whole chain's items

    def remember(self, response_id: str, items: list[dict[str, Any]]) -> None:
        self.chains[response_id] = items
        while len(self.chains) > self.KEEP:
            del self.chains[next(iter(self.chains))]

    def evict(self, response_id: str | None) -> None:
        """Forget ``response_id`` (Open Responses: a continuation that failed with a 4xx
        or 5xx evicts the response it continued, so a ``store: false`` one cannot be
        continued after; a stored one is read back from the database)."""
        if response_id is not None:
            self.chains.pop(response_id, None)


@dataclass(slots=True)
class Turn:
    """What a Responses request keeps: set up before parsing, stored at the end."""

    key_id: int | None
    store: bool
    previous_response_id: str | None = None
    input_items: list[dict[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)  # the chain before it
    memory: SocketMemory | None = None
    route: str = ""
    kept: bool = False
    request: ChatRequest | None = None  # parsed: what a passed-through response echoes
    conversation_id: str | None = None  # the conversation the turn continues and extends
    response_id: str | None = None  # a background response's id, given to the client

    @property
    def keeps(self) -> bool:
        """Whether the final response is kept (stored, remembered by the socket, or added
        to a conversation)."""
        kept_somewhere = self.store or self.memory is not None or self.conversation_id
        return bool(kept_somewhere) and not self.kept

    def parsed(self, request: ChatRequest) -> None:
        """The request as parsed: what its response objects echo (a translated one is
        rendered from it, a passed-through one conformed to it)."""
        self.request = request
        if self.conversation_id is not None:
            request.echo["conversation"] = {"id": self.conversation_id}
        if self.response_id is not None:
            request.echo["background"] = True

    def detach(self, job: Any, route: Any) -> None:
        """Answered on the request path (a background response is queued before the
        pipeline: ``gateway.features.responses.background``)."""
        return None

    def own(self, response: dict[str, Any]) -> None:
        """A background response's final object carries the id the client holds."""
        if self.response_id is not None:
            response["id"] = self.response_id
            response["background"] = True

    def final_response(self, chunk: bytes) -> dict[str, Any] | None:
        """The response object a final stream event in ``chunk`` carries."""
        return final_response(chunk)

    def patch(self, response: dict[str, Any]) -> None:
        """Echo this request's state on a response object an upstream produced (the
        upstream was sent the whole chain with ``store: false``), and what else Open
        Responses requires of it that the upstream left out."""
        if self.request is not None:
            inbound.conform(response, self.request)
        response["previous_response_id"] = self.previous_response_id
        response["store"] = self.store
        if self.conversation_id is not None:
            response["conversation"] = {"id": self.conversation_id}

    def patch_events(self, raw: bytes) -> bytes:
        """``patch`` on the response objects of passed-through stream events (created,
        in_progress, completed...); other events, the most of them, pass untouched."""
        if b'"response"' not in raw:
            return raw
        out: list[bytes] = []
        changed = False
        for line in raw.split(b"\n"):
            if line.startswith(b"data:") and b'"response"' in line:
                try:
                    event = orjson.loads(line[5:])
                except orjson.JSONDecodeError:
                    event = None
                if isinstance(event, dict) and isinstance(event.get("response"), dict):
                    self.patch(event["response"])
                    line = b"data: " + orjson.dumps(event)
                    changed = True
            out.append(line)
        return b"\n".join(out) if changed else raw

    async def keep(self, response: dict[str, Any]) -> None:
        """Store the final ``response`` object (once; never raises)."""
        if not self.keeps or not isinstance(response.get("id"), str):
            return
        self.kept = True
        self.own(response)
        if self.conversation_id is not None and response.get("status") in (
            "completed",
            "incomplete",
        ):
            turn = [*self.input_items, *carried_output(response.get("output") or [])]
            try:
                await _in_thread(
                    conversations.append, self.conversation_id, turn, self.response_id or ""
                )
            except Exception as exc:
                log.warning("adding to conversation %s failed: %s", self.conversation_id, exc)
        if self.memory is not None:
            output = carried_output(response.get("output") or [])
            self.memory.remember(response["id"], [*self.history, *self.input_items, *output])
        if not self.store:
            return
        try:
            await _in_thread(_write, self, response)
        except Exception as exc:
            log.warning("storing response %s failed: %s", response.get("id"), exc)


def _write(turn: Turn, response: dict[str, Any]) -> None:
    if turn.response_id is not None:  # a background run done again after a crash
        StoredResponse.objects.filter(id=turn.response_id).delete()
    StoredResponse.objects.create(  # one INSERT: ids are new (uuid4) for every response
        id=response["id"],
        key_id=turn.key_id,
        route=turn.route[:200],
        status=str(response.get("status") or "")[:20],
        previous_response_id=turn.previous_response_id or "",
        instructions=response.get("instructions") or "",
        input_items=turn.input_items,
        output=response.get("output") or [],
        usage=response.get("usage"),
        response=response,
    )


def conversation_of(body: dict[str, Any]) -> str | None:
    """The id a create body's ``conversation`` names (a string, or ``{"id": ...}``)."""
    raw = body.get("conversation")
    if raw is None:
        return None
    if isinstance(raw, dict):
        raw = raw.get("id")
    if not isinstance(raw, str) or not raw:
        raise InvalidRequest(
            "conversation must be a conversation id or an object with its id",
            param="conversation",
        )
    return raw


async def begin(
    body: dict[str, Any],
    key: KeyEntry,
    memory: SocketMemory | None = None,
    background_id: str = "",
) -> Turn:
    """Read ``store``, ``previous_response_id`` and ``conversation`` from a create body;
    for a chained request or a conversation's turn, replace ``input`` with the earlier
    items followed by the new input (from the socket's ``memory`` when it has them, else
    from the database). ``background_id``: the id a background response was given."""
    if "input" in body:  # the gateway's own compaction items become their summaries
        body["input"] = compaction.open_items(body["input"])
    store = body.get("store", True)
    if store is not None and not isinstance(store, bool):
        raise InvalidRequest("store must be a boolean", param="store")
    previous = body.get("previous_response_id")
    if previous is not None and (not isinstance(previous, str) or not previous):
        raise InvalidRequest(
            "previous_response_id must be a non-empty string", param="previous_response_id"
        )
    conversation = conversation_of(body)
    body.pop("conversation", None)  # resolved here: the parser and upstreams never see it
    if background_id:
        body.pop("background", None)
    if conversation is not None and previous is not None:
        raise InvalidRequest(
            "previous_response_id and conversation cannot be used together",
            param="conversation",
        )
    turn = Turn(
        key_id=key.id,
        store=store is not False,
        previous_response_id=previous,
        memory=memory,
        conversation_id=conversation,
        response_id=background_id or None,
    )
    if turn.store:  # what it will store, within the key's quota (no query otherwise)
        await storage_quota.admit(key, stored_responses=1)
    if previous is None and not turn.keeps:
        return turn
    new_input = body.get("input")
    turn.input_items = normalize_input(new_input)
    if conversation is not None:
        turn.history = await _in_thread(conversations.history, conversation, key)
        # the turn appends its input items and its output (one item at least)
        await storage_quota.admit(key, conversation_items=len(turn.input_items) + 1)
    if previous is not None:
        remembered = memory.chains.get(previous) if memory is not None else None
        history = remembered
        if history is None:
            history = await _in_thread(_chain_items, previous, key)
        if history is None:
            raise previous_not_found(previous)
        turn.history = history
    if turn.history:
        history = turn.history
        if isinstance(new_input, str):
            new_input = [{"type": "message", "role": "user", "content": new_input}]
        elif new_input is None:
            new_input = []
        if isinstance(new_input, list):  # anything else: the parser says what is wrong
            body["input"] = [as_input(item) for item in history] + new_input
    return turn


# --- reading, deleting ------------------------------------------------------------------------


def _owned(response_id: str, key: KeyEntry) -> Any:
    rows = StoredResponse.objects.filter(id=response_id)
    return rows.filter(key_id__isnull=True) if key.id is None else rows.filter(key_id=key.id)


def previous_not_found(response_id: str) -> InvalidRequest:
    """An unknown, unstored (``store: false``), deleted or foreign
    ``previous_response_id``: Open Responses' ``previous_response_not_found``, a 400."""
    return InvalidRequest(
        f"Previous response with id {response_id[:80]!r} not found.",
        param="previous_response_id",
        code="previous_response_not_found",
    )


def _not_found(response_id: str, param: str | None) -> ResponseNotFound:
    return ResponseNotFound(
        f"Response with id {response_id!r} not found.", param=param, code="response_not_found"
    )


def _json(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def _chain_items(response_id: str, key: KeyEntry) -> list[dict[str, Any]] | None:
    """Every input and carried output item of the chain ending at ``response_id``,
    oldest first; None when the key has no such response. A chain whose earlier part
    was deleted or pruned is refused rather than continued without it."""
    if len(response_id) > 80:
        return None
    columns = ("input_items", "output")
    rows = stored_chain.rows(StoredResponse, "previous_response_id", columns, response_id, key.id)
    if not rows:
        return None
    if rows[0][2]:  # the oldest row found still points further back
        raise InvalidRequest(
            f"response {response_id!r} continues an earlier response that is no longer "
            "stored (deleted, or past the retention period); start a new conversation",
            param="previous_response_id",
            code="previous_response_not_found",
        )
    items: list[dict[str, Any]] = []
    for input_items, output, _prev in rows:
        items += _json(input_items)
        items += carried_output(_json(output))
    return items


def _read(response_id: str, key: KeyEntry) -> dict[str, Any] | None:
    fields = ("input_items", "output", "response")
    row: dict[str, Any] | None = _owned(response_id, key).values(*fields).first()
    return row


async def load(response_id: str, key: KeyEntry, *, param: str | None = None) -> dict[str, Any]:
    """The stored row (input_items, output, response) or a 404."""
    if len(response_id) > 80:
        raise _not_found(response_id[:80], param)
    row: dict[str, Any] | None = await _in_thread(_read, response_id, key)
    if row is None:
        raise _not_found(response_id, param)
    return row


async def retrieve(response_id: str, key: KeyEntry) -> dict[str, Any]:
    response: dict[str, Any] = (await load(response_id, key))["response"]
    return response


def _delete(response_id: str, key: KeyEntry) -> int:
    deleted: int
    deleted, _ = _owned(response_id, key).delete()
    return deleted


async def delete(response_id: str, key: KeyEntry) -> dict[str, Any]:
    if len(response_id) > 80 or not await _in_thread(_delete, response_id, key):
        raise _not_found(response_id[:80], None)
    return {"id": response_id, "object": "response", "deleted": True}


def page_input_items(items: list[dict[str, Any]], query: dict[str, str]) -> dict[str, Any]:
    """A page of input items as the API lists them (``order`` desc by default,
    ``limit`` 1..100, default 20, ``after`` an item id)."""
    order = query.get("order") or "desc"
    if order not in ("asc", "desc"):
        raise InvalidRequest("order must be asc or desc", param="order")
    limit_text = query.get("limit") or "20"
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= 100:
        raise InvalidRequest("limit must be an integer from 1 to 100", param="limit")
    limit = int(limit_text)
    ordered = items if order == "asc" else items[::-1]
    after = query.get("after")
    if after:
        ids = [item.get("id") for item in ordered]
        if after not in ids:
            raise InvalidRequest(f"no input item with id {after!r}", param="after")
        ordered = ordered[ids.index(after) + 1 :]
    return conversations.list_page(ordered, limit)


async def input_items(response_id: str, key: KeyEntry, query: dict[str, str]) -> dict[str, Any]:
    row = await load(response_id, key)
    return page_input_items(row["input_items"], query)


def replay_events(response: dict[str, Any], starting_after: int | None = None) -> bytes:
    """A stored response as the SSE events ``GET /v1/responses/{id}?stream=true``
    answers: created, in_progress, each output item whole (added, done), then the
    final event of its status. ``starting_after`` skips events up to that number."""
    final = {"completed": "response.completed", "incomplete": "response.incomplete"}
    opening = {**response, "status": "in_progress", "output": []}
    events: list[tuple[str, dict[str, Any]]] = [
        ("response.created", {"response": opening}),
        ("response.in_progress", {"response": opening}),
    ]
    for index, item in enumerate(response.get("output") or []):
        events.append(("response.output_item.added", {"output_index": index, "item": item}))
        events.append(("response.output_item.done", {"output_index": index, "item": item}))
    kind = final.get(str(response.get("status")), "response.failed")
    events.append((kind, {"response": response}))
    out = bytearray()
    for sequence, (name, payload) in enumerate(events):
        if starting_after is not None and sequence <= starting_after:
            continue
        body = {"type": name, **payload, "sequence_number": sequence}
        out += b"event: " + name.encode() + b"\ndata: " + orjson.dumps(body) + b"\n\n"
    return bytes(out)


# --- stream capture -------------------------------------------------------------------------


def final_response(chunk: bytes) -> dict[str, Any] | None:
    """The response object of a final Responses stream event (completed, incomplete,
    failed) in ``chunk``, else None. A cheap byte test first: most chunks are deltas."""
    if not any(marker in chunk for marker in _FINAL_MARKERS):
        return None
    for line in chunk.split(b"\n"):
        if not line.startswith(b"data:"):
            continue
        try:
            event = orjson.loads(line[5:])
        except orjson.JSONDecodeError:
            continue
        if isinstance(event, dict) and event.get("type") in FINAL_EVENTS:
            response = event.get("response")
            return response if isinstance(response, dict) else None
    return None


# --- retention --------------------------------------------------------------------------------


def prune(
    older_than: timedelta, batch_size: int = PRUNE_BATCH, max_batches: int | None = None
) -> int:
    """Delete stored responses created more than ``older_than`` ago, in batches."""
    return db_work.delete_older(StoredResponse.objects, older_than, batch_size, max_batches)


def prune_expired(max_batches: int) -> int:
    """The journal's pruning round (``hooks.pruners``, registered by this feature's
    plugin): stored responses older than
    ``SWITCHYARD_RESPONSES_RETENTION_DAYS`` (0: kept); rows deleted."""
    if days := settings.SWITCHYARD_RESPONSES_RETENTION_DAYS:
        return prune(timedelta(days=days), max_batches=max_batches)
    return 0
