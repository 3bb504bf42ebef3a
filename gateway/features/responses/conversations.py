"""OpenAI's Conversations API: ``/v1/conversations`` and its items, and the history a
``responses.create(conversation=...)`` turn reads and appends to.

A conversation is a row and its items, in the order added (``ConversationItem.seq``).
A Responses turn naming a conversation is rebuilt by ``state.begin`` as the
conversation's items followed by the new input, like a ``previous_response_id`` chain,
so it continues on any upstream; when the turn completes its input items and the output
items that carry the conversation are appended (``append``, from ``Turn.keep``).

Who sees what: the key that created a conversation (the master key's are the master
key's own), asked through ``authorization.decide(key, "conversation.use", row)``;
anyone else gets the 404 an unknown id gets. The functions here are synchronous (run
them with ``db_work.arun``) and raise ``GatewayError``s the edge renders (``routes``
answers ``/v1/conversations`` with them)."""

from __future__ import annotations

import uuid
from typing import Any

from django.db import transaction

from gateway.access import authorization
from gateway.base.entries import KeyEntry
from gateway.base.errors import InvalidRequest, ModelNotFound
from gateway.core import storage_quota
from gateway.features.responses.items import normalize_input
from gateway.models import Conversation, ConversationItem

MAX_ITEMS_PER_CALL = 20  # as OpenAI: items in one create call
MAX_METADATA = 16
MAX_METADATA_KEY = 64
MAX_METADATA_VALUE = 512
LIST_DEFAULT, LIST_MAX = 20, 100


class ConversationNotFound(ModelNotFound):
    """No conversation (or item) by that id for this key (never says whose it is)."""


def new_id() -> str:
    return f"conv_{uuid.uuid4().hex}"


def not_found(conversation_id: str) -> ConversationNotFound:
    return ConversationNotFound(f"Conversation with id {conversation_id[:80]!r} not found.")


# --- shapes ----------------------------------------------------------------------------------


def render(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "object": "conversation",
        "created_at": int(row.created_at.timestamp()),
        "metadata": row.metadata or {},
    }


def check_metadata(raw: Any) -> dict[str, str]:
    """OpenAI's metadata rules: at most 16 pairs, keys up to 64 characters, string values
    up to 512."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InvalidRequest("metadata must be an object", param="metadata")
    if len(raw) > MAX_METADATA:
        raise InvalidRequest(f"metadata has at most {MAX_METADATA} keys", param="metadata")
    for name, value in raw.items():
        if len(name) > MAX_METADATA_KEY:
            raise InvalidRequest(
                f"metadata keys are at most {MAX_METADATA_KEY} characters", param="metadata"
            )
        if not isinstance(value, str) or len(value) > MAX_METADATA_VALUE:
            raise InvalidRequest(
                f"metadata values are strings of at most {MAX_METADATA_VALUE} characters",
                param=f"metadata.{name}",
            )
    return dict(raw)


def check_items(raw: Any, param: str = "items") -> list[dict[str, Any]]:
    """Items as stored (ids given, message content as lists): at most 20 per call, each an
    object with a ``type`` (or a ``role``: a message)."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise InvalidRequest(f"{param} must be an array of items", param=param)
    if len(raw) > MAX_ITEMS_PER_CALL:
        raise InvalidRequest(
            f"{param} has at most {MAX_ITEMS_PER_CALL} items per call", param=param
        )
    for index, item in enumerate(raw):
        if not isinstance(item, dict) or not (item.get("type") or item.get("role")):
            raise InvalidRequest(
                f"{param}[{index}] must be an item object with a type", param=f"{param}[{index}]"
            )
        if item.get("type") == "item_reference":
            raise InvalidRequest(
                "item_reference is not supported: send the items themselves",
                param=f"{param}[{index}]",
            )
    return normalize_input(raw)


# --- ownership ----------------------------------------------------------------------------------


def owned(conversation_id: str, key: KeyEntry) -> Any:
    """The conversation row if ``key`` may use it, else ``ConversationNotFound``."""
    row = Conversation.objects.filter(id=conversation_id[:80]).first()
    if row is None or not authorization.decide(key, "conversation.use", row):
        raise not_found(conversation_id)
    return row


# --- the conversation ----------------------------------------------------------------------------


def create(key: KeyEntry, body: dict[str, Any]) -> dict[str, Any]:
    metadata = check_metadata(body.get("metadata"))
    items = check_items(body.get("items"))
    storage_quota.admit_sync(key, conversations=1, conversation_items=len(items))
    with transaction.atomic():
        row = Conversation.objects.create(id=new_id(), key_id=key.id, metadata=metadata)
        ConversationItem.objects.bulk_create(
            ConversationItem(conversation=row, item_id=item["id"], item=item) for item in items
        )
    return render(row)


def retrieve(conversation_id: str, key: KeyEntry) -> dict[str, Any]:
    return render(owned(conversation_id, key))


def update(conversation_id: str, key: KeyEntry, body: dict[str, Any]) -> dict[str, Any]:
    """Replace the metadata (OpenAI's update: ``metadata`` is required)."""
    row = owned(conversation_id, key)
    if "metadata" not in body:
        raise InvalidRequest("metadata is required", param="metadata")
    row.metadata = check_metadata(body["metadata"])
    row.save(update_fields=["metadata"])
    return render(row)


def delete(conversation_id: str, key: KeyEntry) -> dict[str, Any]:
    row = owned(conversation_id, key)
    ident = row.id
    row.delete()  # its items with it
    return {"id": ident, "object": "conversation.deleted", "deleted": True}


# --- items ----------------------------------------------------------------------------------------


def list_page(items: list[dict[str, Any]], limit: int) -> dict[str, Any]:
    """OpenAI's list object of the first ``limit`` of ``items`` (more of them: ``has_more``),
    a conversation's items or a stored response's input items."""
    page = items[:limit]
    return {
        "object": "list",
        "data": page,
        "first_id": page[0].get("id") if page else None,
        "last_id": page[-1].get("id") if page else None,
        "has_more": len(items) > limit,
    }


def _page(rows: list[Any], limit: int) -> dict[str, Any]:
    return list_page([row.item for row in rows], limit)


def list_items(conversation_id: str, key: KeyEntry, query: dict[str, str]) -> dict[str, Any]:
    """Items newest first (``order=asc``: oldest first), ``limit`` (1-100, 20) of them
    after the item ``after`` names, as OpenAI's list objects page."""
    row = owned(conversation_id, key)
    raw_limit = query.get("limit", str(LIST_DEFAULT))
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= LIST_MAX:
        raise InvalidRequest(f"limit must be an integer from 1 to {LIST_MAX}", param="limit")
    limit = int(raw_limit)
    order = query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise InvalidRequest("order must be 'asc' or 'desc'", param="order")
    items = ConversationItem.objects.filter(conversation=row)
    after = query.get("after")
    if after:
        mark = items.filter(item_id=after).values_list("seq", flat=True).first()
        if mark is None:
            raise InvalidRequest(f"no item with id {after!r} in this conversation", param="after")
        items = items.filter(seq__gt=mark) if order == "asc" else items.filter(seq__lt=mark)
    ordered = items.order_by("seq" if order == "asc" else "-seq")
    return _page(list(ordered[: limit + 1]), limit)


def add_items(conversation_id: str, key: KeyEntry, body: dict[str, Any]) -> dict[str, Any]:
    """Append ``items`` (required, 1-20): the list of the items added, in order."""
    row = owned(conversation_id, key)
    if not body.get("items"):
        raise InvalidRequest("items is required", param="items")
    items = check_items(body["items"])
    storage_quota.admit_sync(key, conversation_items=len(items))
    rows = _append(row.id, items, "")
    return {**_page(rows, len(rows)), "has_more": False}


def get_item(conversation_id: str, item_id: str, key: KeyEntry) -> dict[str, Any]:
    row = owned(conversation_id, key)
    found = ConversationItem.objects.filter(conversation=row, item_id=item_id).first()
    if found is None:
        raise ConversationNotFound(f"Item with id {item_id[:120]!r} not found.")
    item: dict[str, Any] = found.item
    return item


def delete_item(conversation_id: str, item_id: str, key: KeyEntry) -> dict[str, Any]:
    """Delete one item; answers the conversation, as OpenAI does."""
    row = owned(conversation_id, key)
    deleted, _ = ConversationItem.objects.filter(conversation=row, item_id=item_id).delete()
    if not deleted:
        raise ConversationNotFound(f"Item with id {item_id[:120]!r} not found.")
    return render(row)


# --- a Responses turn's history ---------------------------------------------------------------


def history(conversation_id: str, key: KeyEntry) -> list[dict[str, Any]]:
    """Every item of the conversation, oldest first (``ConversationNotFound`` when the key
    has none by that id)."""
    row = owned(conversation_id, key)
    rows = ConversationItem.objects.filter(conversation=row).order_by("seq")
    return [item.item for item in rows]


def _append(conversation_id: str, items: list[dict[str, Any]], response_id: str) -> list[Any]:
    made = [
        ConversationItem(
            conversation_id=conversation_id, item_id=item["id"], item=item, response_id=response_id
        )
        for item in items
        if isinstance(item.get("id"), str)
    ]
    with transaction.atomic():
        # an id already in the conversation (a client resending an item) is made anew
        taken = set(
            ConversationItem.objects.filter(
                conversation_id=conversation_id, item_id__in=[m.item_id for m in made]
            ).values_list("item_id", flat=True)
        )
        for row in made:
            if row.item_id in taken:
                row.item_id = row.item["id"] = f"{row.item_id}_{uuid.uuid4().hex[:8]}"
        ConversationItem.objects.bulk_create(made)
    return made


def append(conversation_id: str, items: list[dict[str, Any]], response_id: str = "") -> None:
    """Add a turn's items (its input, then its output) to the conversation; a conversation
    deleted meanwhile takes nothing."""
    if Conversation.objects.filter(id=conversation_id).exists():
        _append(conversation_id, items, response_id)


def forget_turn(response_id: str) -> None:
    """Remove what a background response's lost run appended (it runs again)."""
    ConversationItem.objects.filter(response_id=response_id).delete()
