"""Each key's quota of stored objects, as ``/v1/files`` has one of bytes
(``gateway.features.batches.files.quota``): at most ``SWITCHYARD_STORED_OBJECTS_QUOTA`` (default
100,000; 0: none; the master key has none) of each kind per key: stored responses
(``store``: true, the Responses API's default), conversations, conversation items
(those the Conversations API adds and those a Responses turn appends) and stored
interactions. Without it one key could fill the database.

Checked before the object is made: a Responses or Interactions request that would store
is refused before its upstream call, a conversation or its items before they are
written. A refusal is the files quota's 413 ``storage_quota_exceeded`` in the caller's
own envelope (OpenAI's for /v1/responses and /v1/conversations, the Interactions API's
for interactions), naming the kind and how to make room (delete, or ``store: false``).

What it costs: a request that stores nothing asks nothing. One that stores asks the
database at most once per ``RECOUNT_SECONDS`` per key and kind in a process, a count
that stops at the quota (``LIMIT quota + 1`` on the key's index: bounded however many
rows there are); in between the process adds what it admits itself. So the quota is
exact for one process and may be passed by what other processes store within
``RECOUNT_SECONDS``. Deletions and retention pruning are seen at the next count."""

from __future__ import annotations

import threading
import time
from typing import Any

from django.conf import settings

from gateway import models
from gateway.base import db_work
from gateway.base.entries import KeyEntry
from gateway.base.errors import RequestTooLarge

RECOUNT_SECONDS = 60.0

# kind -> (the model's dotted name in gateway.models, the lookup to its key, the param
# a refusal names, how to make room)
KINDS: dict[str, tuple[str, str, str, str]] = {
    "stored responses": (
        "StoredResponse",
        "key_id",
        "store",
        "delete responses it no longer needs (DELETE /v1/responses/{id}) or send store: false",
    ),
    "conversations": (
        "Conversation",
        "key_id",
        "conversation",
        "delete conversations it no longer needs (DELETE /v1/conversations/{id})",
    ),
    "conversation items": (
        "ConversationItem",
        "conversation__key_id",
        "items",
        "delete conversations or items it no longer needs",
    ),
    "stored interactions": (
        "StoredInteraction",
        "key_id",
        "store",
        "delete interactions it no longer needs (DELETE /v1beta/interactions/{id}) "
        "or send store: false",
    ),
}

_counts: dict[tuple[str, int], tuple[int, float]] = {}  # (kind, key id) -> (count, counted at)
_lock = threading.Lock()


def limit() -> int:
    return int(getattr(settings, "SWITCHYARD_STORED_OBJECTS_QUOTA", 0) or 0)


def _quota_owner(key: KeyEntry) -> int | None:
    """The id ``key``'s objects are counted under, None when it has no quota (no query)."""
    return key.id if limit() > 0 and not key.is_master else None


def _count(kind: str, key_id: int, cap: int) -> int:
    """The key's objects of ``kind``, counted up to ``cap`` (blocking: one query)."""

    model_name, owner, _param, _room = KINDS[kind]
    rows = getattr(models, model_name).objects.filter(**{owner: key_id}).order_by()
    return int(rows.values("pk")[:cap].count())


def _fresh(kind: str, key_id: int) -> int | None:
    with _lock:
        known = _counts.get((kind, key_id))
    if known is None or time.monotonic() - known[1] > RECOUNT_SECONDS:
        return None
    return known[0]


def _refusal(kind: str, count: int, quota: int) -> RequestTooLarge:
    _model, _owner, param, room = KINDS[kind]
    return RequestTooLarge(
        f"this API key's quota of {quota} {kind} would be exceeded ({count} are stored); {room}",
        param=param,
        code="storage_quota_exceeded",
    )


def admit_sync(key: KeyEntry, **adding: int) -> None:
    """Refuse ``adding`` more objects (``kind=count``, the kinds' names with ``_`` for
    spaces) for ``key`` past its quota, or count them as stored: all or none (blocking:
    at most one bounded count per kind, see the module's docstring)."""
    key_id = _quota_owner(key)
    wanted = {name.replace("_", " "): n for name, n in adding.items() if n > 0}
    if key_id is None or not wanted:
        return
    quota = limit()
    counts = {}
    for kind, more in wanted.items():
        count = _fresh(kind, key_id)
        if count is None:
            count = _count(kind, key_id, quota + 1)
            with _lock:
                _counts[(kind, key_id)] = (count, time.monotonic())
        if count + more > quota:
            raise _refusal(kind, count, quota)
        counts[kind] = count
    with _lock:
        for kind, more in wanted.items():
            counted_at = _counts.get((kind, key_id), (0, time.monotonic()))[1]
            _counts[(kind, key_id)] = (counts[kind] + more, counted_at)


async def admit(key: KeyEntry, **adding: int) -> None:
    """``admit_sync`` from the event loop: the counts (when one is due) in a thread."""
    key_id = _quota_owner(key)
    if key_id is None or not any(n > 0 for n in adding.values()):
        return
    if any(_fresh(name.replace("_", " "), key_id) is None for name in adding):
        await db_work.arun(lambda: admit_sync(key, **adding))
        return
    admit_sync(key, **adding)  # no query: the process's own counts


def forget() -> None:
    """Drop every remembered count (tests; a key's next store counts again)."""
    with _lock:
        _counts.clear()


def _reset_on_setting_change(**kwargs: Any) -> None:
    if kwargs.get("setting") == "SWITCHYARD_STORED_OBJECTS_QUOTA":
        forget()


def _connect() -> None:
    from django.core.signals import setting_changed

    setting_changed.connect(_reset_on_setting_change, dispatch_uid="storage_quota")


_connect()
