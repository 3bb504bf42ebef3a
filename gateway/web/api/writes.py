"""What the resource modules share when they write: the 422 (or 409) body naming each
bad field (``ValidationErrors``: the one error body, ``errors.ApiError``), the field
rules every write asks (``check_fields``: ``gateway.access.field_rules``), and saving a resource whose secret is write-only (providers' ``secret``, MCP
servers' ``bearer``): the secret goes to the save function apart from the other fields
and never comes back in an answer; omitted in a PATCH, the stored one is kept."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from ninja import Schema, Status
from ninja.errors import HttpError

from gateway.access import field_rules
from gateway.web.api.errors import ApiError
from gateway.web.saving import errors_by_field

ValidationErrors = ApiError  # the name the resource modules declare their 422s and 409s by


def save_with_secret(
    save: Callable[..., Any],
    instance: Any,
    payload: Schema,
    secret: str,
    out: Callable[[Any], Schema],
) -> Status[Any]:
    """``save(instance, values, **{secret: value})``: a create (``instance`` None: every
    field, defaults included) answers 201, an update (only the fields sent) 200, with
    ``out`` of what was saved; a refused one 422 with the errors by field."""
    values = payload.dict(exclude_unset=instance is not None)
    value = values.pop(secret, None)
    try:
        saved = save(instance, values, **{secret: value})
    except ValidationError as exc:
        return Status(422, {"errors": errors_by_field(exc)})
    return Status(201 if instance is None else 200, out(saved))


def check_fields(
    request: HttpRequest, resource: str, sent: Mapping[str, Any], instance: Any = None
) -> None:
    """A 403 naming each field of ``sent`` the caller may not write on ``resource``
    (``gateway.access.field_rules``: who may set it, clear it, or only add to it),
    compared with ``instance``'s stored values (None: a new row)."""
    stored = None if instance is None else field_rules.stored_values(instance, sent)
    refused = field_rules.refusal(request.actor, resource, sent, stored)
    if refused:
        raise HttpError(403, refused)
