"""Scores on logged requests in the management API: ``POST /api/logs/{id}/scores`` and
``GET`` the same path.

Besides the management API's callers (a console session, the master key, a management
key), a plain virtual key may POST here: an application sends its users' feedback (a
thumbs up, a grade, a comment) on the requests it made, with the key it made them with.
Rule ``score.write``: a key scores only its own requests (another key's, or an unknown
id, is the same 404); a console user or management key those their role lets them see.
A bad field is a 422 naming it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import Http404, HttpRequest
from ninja import Router, Schema, Status
from ninja.security import APIKeyHeader

from gateway.access import authorization, registry, roles
from gateway.base.entries import KeyEntry
from gateway.core.call import key_refusal
from gateway.models import RequestLog
from gateway.telemetry import scores
from gateway.web.api.auth import MasterKeyAuth, StaffSessionAuth
from gateway.web.api.ids import row_id
from gateway.web.api.writes import ValidationErrors, check_fields

router = Router(tags=["logs"])


class VirtualKeyAuth(APIKeyHeader):
    """Any usable virtual key (``Authorization: Bearer`` or ``x-api-key``), read from the
    registry snapshot as ``/v1`` reads it: the caller is the ``KeyEntry``."""

    param_name = "x-api-key"

    def __call__(self, request: HttpRequest) -> KeyEntry | None:
        header = request.headers.get("Authorization", "")
        if header[:7].lower() == "bearer ":
            return self.authenticate(request, header[7:].strip())
        return super().__call__(request)

    def authenticate(self, request: HttpRequest, key: str | None) -> KeyEntry | None:
        entry = registry.current().key(key or "")
        if entry is None or entry.is_master or key_refusal(entry) is not None:
            return None
        request.actor = entry
        return entry


AUTH = [MasterKeyAuth(), VirtualKeyAuth(), StaffSessionAuth()]


class ScoreIn(Schema):
    name: str = "thumbs"  # thumbs, quality, ...
    value: float | bool | str | None = None  # a number, true/false, or "up"/"down"
    label: str | None = None  # a category (correct, off-topic, ...)
    comment: str = ""


class ScoreOut(Schema):
    id: int
    name: str
    value: float | None
    label: str
    comment: str
    source: str  # user | api | judge
    author: str
    reasoning: str = ""  # a judge's own words
    judge_request_id: str = ""  # its call in the journal (GET /api/logs/{id})
    created_at: datetime


def _log(request: HttpRequest, request_id: str) -> RequestLog:
    """The request ``request_id`` (or row id) if the caller may score it; else 404."""
    actor = request.actor
    rows = RequestLog.objects.all()
    if isinstance(actor, roles.Actor):
        rows = roles.visible_logs(actor, rows)
    row: RequestLog | None = (
        rows.filter(request_id=request_id).order_by("-created_at", "-id").first()
    )
    if row is None and (pk := row_id(request_id)) is not None:
        row = rows.filter(pk=pk).first()
    if row is None or not authorization.decide(actor, "score.write", row):
        raise Http404(f"no request {request_id!r} in the journal")
    return row


def _author(actor: Any) -> tuple[str, int | None]:
    if isinstance(actor, KeyEntry):
        return f"key:{actor.name}", actor.id
    return str(actor.username or "api"), None


@router.post("/{request_id}/scores", response={201: ScoreOut, 422: ValidationErrors}, auth=AUTH)
def add_score(request: HttpRequest, request_id: str, payload: ScoreIn) -> Status[Any]:
    """Score one request (replacing this caller's earlier score of that name)."""
    log = _log(request, request_id)
    if isinstance(request.actor, roles.Actor):  # a virtual key: its own requests (score.write)
        check_fields(request, "scores", payload.dict(exclude_unset=True))
    try:
        given = scores.clean(payload.name, payload.value, payload.label, payload.comment)
    except scores.ScoreError as exc:
        return Status(422, {"errors": {exc.field: [str(exc)]}})
    author, key_id = _author(request.actor)
    return Status(
        201, scores.as_dict(scores.save(log, given, source="api", author=author, key_id=key_id))
    )


@router.get("/{request_id}/scores", response=list[ScoreOut], auth=AUTH)
def list_scores(request: HttpRequest, request_id: str) -> list[dict[str, Any]]:
    """The scores of one request, newest first (a key: of its own requests)."""
    log = _log(request, request_id)
    return [scores.as_dict(s) for s in log.scores.all()]
