"""Gemini Interactions API state: stored interactions (``store``, the API's default),
chaining with ``previous_interaction_id``, ``background`` runs, and what
``GET`` / ``DELETE /v1beta/interactions/{id}`` and ``POST .../{id}/cancel`` read.

The gateway keeps the timeline on every upstream, so a chained request is rebuilt
here as steps: every earlier turn's input steps and model steps, then the new input;
the inbound codec parses those as it parses any list of steps (function results
answering the earlier turns' calls, thought signatures carried back). The upstream is
sent the whole conversation each turn, statelessly; ``previous_interaction_id``,
``store`` and ``background`` never reach it.

When the write happens: a stored interaction is written (in a small thread pool,
awaited) before the reply's last bytes go out: the JSON body, or the stream's
``interaction.completed`` event; the next turn finds it on any worker. A streamed
interaction keeps its events as sent (up to ``MAX_EVENTS_BYTES``), so a resumed
stream (``?stream=true&last_event_id=``) carries the same event ids; one made whole
is replayed from its resource.

A ``background`` interaction is written at once as ``in_progress`` and answered so
(``Turn.detach``, which the chat job asks); the request runs on in a task of this
process, through the same pipeline (limits held, journaled when it ends), and its
answer replaces the row, unless ``cancel`` marked it ``cancelled`` first (the task,
when it runs in this process, is cancelled too). A process that stops while one runs
leaves it ``in_progress``.

The pipeline reads a ``Turn`` as ``call.state`` (``gateway.base.hooks.CallState``): this
feature registers ``begin`` for the Interactions dialect (``hooks.call_states``).

An interaction is visible only to the key that created it (the master key's are the
master key's own): another key's id is a 404, as an unknown one. Rows older than
``SWITCHYARD_RESPONSES_RETENTION_DAYS`` are pruned with the stored Responses.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import orjson
from django.conf import settings
from django.utils import timezone

from gateway.access import authorization
from gateway.base import db_work
from gateway.base.entries import KeyEntry
from gateway.base.errors import GatewayError, InvalidRequest, ModelNotFound
from gateway.base.types import ChatRequest
from gateway.codecs.gemini_interactions import inbound, maps
from gateway.core import storage_quota, stored_chain
from gateway.core.call import Reply
from gateway.models import StoredInteraction

log = logging.getLogger(__name__)

_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="interactions-state")
_COMPLETED = b'"interaction.completed"'
# A streamed answer's events kept for resuming, up to this size (past it, a resumed
# stream is rebuilt from the resource, whose event ids differ).
MAX_EVENTS_BYTES = 2_000_000
PRUNE_BATCH = 500
# background interactions running in this process, by id
_RUNNING: dict[str, asyncio.Task[None]] = {}


class InteractionNotFound(ModelNotFound):
    """No stored interaction by that id for this key (never says whose it is)."""


def not_found(interaction_id: str) -> InteractionNotFound:
    return InteractionNotFound(f"Interaction {interaction_id[:80]!r} not found.", code="not_found")


async def _in_thread(fn: Any, *args: Any) -> Any:
    return await asyncio.get_running_loop().run_in_executor(_POOL, db_work.run, fn, *args)


@dataclass(slots=True)
class Turn:
    """What an Interactions create keeps: set up before parsing, stored at the end.
    The pipeline reads it as ``call.state`` (``hooks.CallState``: ``keeps``, ``keep``,
    ``final_response``, ``patch``, ``patch_events``, ``detach``)."""

    key_id: int | None
    store: bool
    previous_interaction_id: str | None = None
    background: bool = False
    input_steps: list[dict[str, Any]] = field(default_factory=list)
    route: str = ""
    kept: bool = False
    request: ChatRequest | None = None
    interaction_id: str | None = None  # set up front for a background run
    events: bytearray = field(default_factory=bytearray)  # a stream's, as sent

    @property
    def keeps(self) -> bool:
        return self.store and not self.kept

    def parsed(self, request: ChatRequest) -> None:
        """The request as parsed: what the interaction resource echoes (as the
        Responses turn's ``parsed``)."""
        self.request = request

    def patch(self, interaction: dict[str, Any]) -> None:
        """This request's state on a resource the upstream made."""
        if self.interaction_id is not None:
            interaction["id"] = self.interaction_id
        if self.previous_interaction_id is not None:
            interaction["previous_interaction_id"] = self.previous_interaction_id

    def patch_events(self, raw: bytes) -> bytes:
        return raw

    def detach(self, job: Any, route: Any) -> Awaitable[Reply] | None:
        """A ``background`` create: answered at once as in progress while the request
        runs on (``detached``); None for any other."""
        return detached(self, job, route) if self.background else None

    def final_response(self, chunk: bytes) -> dict[str, Any] | None:
        """Collect a stream's events as they go out; at ``interaction.completed``, the
        whole resource (its steps folded from the events before)."""
        if len(self.events) + len(chunk) <= MAX_EVENTS_BYTES:
            self.events += chunk
        else:
            self.events.clear()
        if _COMPLETED not in chunk:
            return None
        payloads = inbound.parse_sse(bytes(self.events) or chunk)
        final = next(
            (p for p in reversed(payloads) if p.get("event_type") == "interaction.completed"),
            None,
        )
        if final is None or not isinstance(final.get("interaction"), dict):
            return None
        interaction = dict(final["interaction"])
        interaction["steps"] = inbound.fold_steps(payloads)
        return interaction

    async def keep(self, interaction: dict[str, Any]) -> None:
        """Store the final resource (once; never raises)."""
        if not self.keeps or not isinstance(interaction.get("id"), str):
            return
        self.kept = True
        self.patch(interaction)
        try:
            await _in_thread(_write, self, interaction)
        except Exception as exc:
            log.warning("storing interaction %s failed: %s", interaction.get("id"), exc)


def _write(turn: Turn, interaction: dict[str, Any]) -> None:
    events = turn.events.decode("utf-8", "replace") if turn.events else ""
    fields = {
        "status": str(interaction.get("status") or "")[:30],
        "interaction": interaction,
        "events": events,
        "updated_at": timezone.now(),
    }
    if turn.background:  # the row exists; a cancelled one stays cancelled
        rows = StoredInteraction.objects.filter(id=interaction["id"], status="in_progress")
        rows.update(**fields)
        return
    StoredInteraction.objects.create(
        id=interaction["id"],
        key_id=turn.key_id,
        route=turn.route[:200],
        previous_interaction_id=turn.previous_interaction_id or "",
        input_steps=turn.input_steps,
        **fields,
    )


async def begin(body: dict[str, Any], key: KeyEntry) -> Turn:
    """Read ``store``, ``background`` and ``previous_interaction_id`` from a create body
    (the first two taken out of it); for a chained request, put the earlier turns'
    steps in front of the new input."""
    store = body.pop("store", True)
    if store is not None and not isinstance(store, bool):
        raise InvalidRequest("store must be a boolean", param="store")
    background = body.pop("background", False)
    if background is not None and not isinstance(background, bool):
        raise InvalidRequest("background must be a boolean", param="background")
    if background and store is False:
        raise InvalidRequest("background requires store to be true", param="background")
    # kept in the body for the parser to echo (``ChatRequest.echo``); never sent upstream
    previous = body.get("previous_interaction_id")
    if previous is not None and (not isinstance(previous, str) or not previous):
        raise InvalidRequest(
            "previous_interaction_id must be a non-empty string", param="previous_interaction_id"
        )
    turn = Turn(
        key_id=key.id,
        store=store is not False,
        previous_interaction_id=previous,
        # a streamed create is answered as it is made: background applies to the others
        background=bool(background) and body.get("stream") is not True,
    )
    turn.input_steps = inbound.input_steps(body.get("input"))
    if turn.store:  # what it will store, within the key's quota (no query otherwise)
        await storage_quota.admit(key, stored_interactions=1)
    if previous is not None:
        history = await _in_thread(_chain_steps, previous, key)
        if history is None:
            raise InvalidRequest(
                f"previous_interaction_id {previous[:80]!r} names no stored interaction",
                param="previous_interaction_id",
                code="not_found",
            )
        body["input"] = [*history, *turn.input_steps]
    return turn


# --- the chain -------------------------------------------------------------------------


def _json(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def _chain_steps(interaction_id: str, key: KeyEntry) -> list[dict[str, Any]] | None:
    """Every input and model step of the chain ending at ``interaction_id``, oldest
    first; None when the key has no such interaction. A chain whose earlier part is no
    longer stored, or that ends in a turn still running, is refused."""
    if len(interaction_id) > 80:
        return None
    columns = ("input_steps", "interaction", "status")
    link = "previous_interaction_id"
    rows = stored_chain.rows(StoredInteraction, link, columns, interaction_id, key.id)
    if not rows:
        return None
    if rows[0][3]:
        raise InvalidRequest(
            f"interaction {interaction_id!r} continues an earlier interaction that is no "
            "longer stored (deleted, or past the retention period)",
            param="previous_interaction_id",
        )
    if rows[-1][2] not in maps.FINAL_STATUSES:
        raise InvalidRequest(
            f"interaction {interaction_id!r} is {rows[-1][2] or 'unfinished'}; continue it "
            "once it has completed",
            param="previous_interaction_id",
        )
    steps: list[dict[str, Any]] = []
    for input_steps, interaction, _status, _prev in rows:
        steps += _json(input_steps)
        steps += _json(interaction).get("steps") or []
    return steps


# --- background ------------------------------------------------------------------------


async def detached(turn: Turn, job: Any, route: Any) -> Reply:
    """A background interaction: stored as in progress and answered so at once; the
    chat ``job`` goes on in a task (admitted, held and journaled as any request, when
    it ends) whose answer replaces the stored row."""
    call = job.call
    opened = await open_background(turn, job.request)

    async def work() -> None:
        try:
            await job.respond_now(route)
        except asyncio.CancelledError:  # cancelled or deleted by its key
            call.finish(status=499, error=GatewayError("the interaction was cancelled"))
        except GatewayError as error:
            call.error_reply(error)
            await failed(turn, error)
        except Exception as exc:  # a bug: logged, the interaction failed
            log.exception("background interaction %s failed", turn.interaction_id)
            bug = GatewayError(f"internal error ({type(exc).__name__})")
            call.error_reply(bug)
            await failed(turn, bug)

    run_in_background(turn, work())
    payload = orjson.dumps(opened)
    call.capture_outbound(payload)
    return Reply(200, payload, call.headers())


async def open_background(turn: Turn, request: ChatRequest) -> dict[str, Any]:
    """Write a background interaction's row as ``in_progress`` and return the resource
    the create answers with."""
    turn.interaction_id = maps.new_id()
    interaction = inbound.resource(
        turn.interaction_id,
        request.model,
        "in_progress",
        [],
        None,
        inbound.timestamp(),
        request.echo,
    )
    turn.patch(interaction)
    await _in_thread(_open, turn, interaction)
    return interaction


def _open(turn: Turn, interaction: dict[str, Any]) -> None:
    StoredInteraction.objects.create(
        id=interaction["id"],
        key_id=turn.key_id,
        route=turn.route[:200],
        status="in_progress",
        previous_interaction_id=turn.previous_interaction_id or "",
        background=True,
        input_steps=turn.input_steps,
        interaction=interaction,
    )


def run_in_background(turn: Turn, work: Awaitable[None]) -> None:
    """Run a background interaction's ``work`` in a task of this process."""
    interaction_id = turn.interaction_id
    assert interaction_id is not None  # open_background named it

    async def run() -> None:
        try:
            await work
        finally:
            _RUNNING.pop(interaction_id, None)

    _RUNNING[interaction_id] = asyncio.get_running_loop().create_task(run())


async def failed(turn: Turn, error: GatewayError) -> None:
    """A background run that failed: its row says so, with the error."""
    if turn.interaction_id is None:
        return
    try:
        await _in_thread(_fail, turn.interaction_id, error.status, error.message)
    except Exception as exc:
        log.warning("marking interaction %s failed: %s", turn.interaction_id, exc)


def _fail(interaction_id: str, status: int, message: str) -> None:
    row = StoredInteraction.objects.filter(id=interaction_id, status="in_progress").first()
    if row is None:
        return
    interaction = {**row.interaction, "status": "failed", "updated": inbound.timestamp()}
    interaction["errors"] = [maps.error_body(status, message)["error"]]
    row.status, row.interaction, row.updated_at = "failed", interaction, timezone.now()
    row.save(update_fields=["status", "interaction", "updated_at"])


# --- reading, deleting, cancelling -------------------------------------------------------


def _owned(interaction_id: str, key: KeyEntry) -> Any:
    """The stored interaction, when the one decision lets ``key`` use it
    (``interaction.use``); None otherwise, as for an unknown id."""
    row = StoredInteraction.objects.filter(id=interaction_id).first()
    if row is None or not authorization.decide(key, "interaction.use", row):
        return None
    return row


def _read(interaction_id: str, key: KeyEntry) -> dict[str, Any] | None:
    row = _owned(interaction_id, key)
    if row is None:
        return None
    return {"input_steps": row.input_steps, "interaction": row.interaction, "events": row.events}


async def load(interaction_id: str, key: KeyEntry) -> dict[str, Any]:
    """The stored row (input_steps, interaction, events) or a 404."""
    if len(interaction_id) > 80:
        raise not_found(interaction_id)
    row: dict[str, Any] | None = await _in_thread(_read, interaction_id, key)
    if row is None:
        raise not_found(interaction_id)
    return row


async def retrieve(interaction_id: str, key: KeyEntry) -> dict[str, Any]:
    """The stored timeline: the input steps, then the model's."""
    row = await load(interaction_id, key)
    return inbound.render_timeline(_json(row["interaction"]), _json(row["input_steps"]))


async def stream(interaction_id: str, key: KeyEntry, last_event_id: str | None) -> bytes:
    """The interaction's stream, after ``last_event_id``: the events as sent when it
    was streamed, else rebuilt from the resource."""
    row = await load(interaction_id, key)
    payloads = inbound.parse_sse(row["events"]) if row["events"] else []
    if not payloads:
        payloads = inbound.replay_events(_json(row["interaction"]))
    return inbound.sse_events(payloads, last_event_id)


def _delete(interaction_id: str, key: KeyEntry) -> int:
    row = _owned(interaction_id, key)
    if row is None:
        return 0
    deleted: int
    deleted, _ = row.delete()
    return deleted


async def delete(interaction_id: str, key: KeyEntry) -> dict[str, Any]:
    if len(interaction_id) > 80 or not await _in_thread(_delete, interaction_id, key):
        raise not_found(interaction_id)
    task = _RUNNING.pop(interaction_id, None)
    if task is not None:
        task.cancel()
    return {}


def _cancel(interaction_id: str, key: KeyEntry) -> dict[str, Any] | None:
    row = _owned(interaction_id, key)
    if row is None:
        return None
    if row.status in ("in_progress", "queued"):
        interaction = {**row.interaction, "status": "cancelled", "updated": inbound.timestamp()}
        row.status, row.interaction, row.updated_at = "cancelled", interaction, timezone.now()
        row.save(update_fields=["status", "interaction", "updated_at"])
    interaction_row: dict[str, Any] = row.interaction
    return interaction_row


async def cancel(interaction_id: str, key: KeyEntry) -> dict[str, Any]:
    """Cancel a background interaction still running (one that ended is answered as
    it is): its row is marked cancelled, and its task stopped when it runs here."""
    if len(interaction_id) > 80:
        raise not_found(interaction_id)
    interaction: dict[str, Any] | None = await _in_thread(_cancel, interaction_id, key)
    if interaction is None:
        raise not_found(interaction_id)
    task = _RUNNING.pop(interaction_id, None)
    if task is not None and interaction.get("status") == "cancelled":
        task.cancel()
    return interaction


# --- retention ---------------------------------------------------------------------------


def prune_expired(max_batches: int) -> int:
    """The journal's pruning round: stored interactions older than
    ``SWITCHYARD_RESPONSES_RETENTION_DAYS`` (0: kept)."""
    days = settings.SWITCHYARD_RESPONSES_RETENTION_DAYS
    if not days:
        return 0
    old = timedelta(days=days)
    return db_work.delete_older(StoredInteraction.objects, old, PRUNE_BATCH, max_batches)
