"""Invitations in the management API (owners and admins; rule ``user.invite``: an admin
invites no owner). ``POST /api/invites/`` answers the one-time link once (only its hash
is kept); with a ``password`` it makes the account at once instead and answers no link.
``GET`` lists pending invites, ``DELETE /api/invites/{invite_id}`` revokes one."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.urls import reverse
from ninja import Router, Schema, Status
from ninja.errors import HttpError

from gateway.access import authorization, roles
from gateway.features.people import invites, save
from gateway.features.people.api.users import teams_named
from gateway.features.people.rules import InviteGrant
from gateway.models import Invite
from gateway.web import saving
from gateway.web.api.writes import ValidationErrors, check_fields

router = Router(tags=["users"])


class InviteIn(Schema):
    username: str
    email: str = ""
    role: str = roles.MEMBER
    teams: list[str] = []
    expires_in_days: int = invites.DEFAULT_DAYS
    password: str | None = None  # given: the account is made now, and no link


class InviteOut(Schema):
    id: int | None
    username: str
    email: str
    role: str
    teams: list[str]
    state: str  # pending, used, revoked, expired; "created" for an account made at once
    expires_at: datetime | None
    created_by: str | None
    link: str | None = None  # once, when the invite is made
    emailing: bool = False  # the link is being emailed (an email given, the operator's SMTP
    # set): sent after the answer; a failure is in the gateway's log


def _out(invite: Invite, link: str | None = None) -> dict[str, Any]:
    return {
        "id": invite.pk,
        "username": invite.username,
        "email": invite.email,
        "role": invite.role,
        "teams": [t.name for t in invite.teams.all()],
        "state": invite.state,
        "expires_at": invite.expires_at,
        "created_by": invite.created_by.get_username() if invite.created_by else None,
        "link": link,
    }


def accept_link(request: HttpRequest, token: str) -> str:
    link: str = request.build_absolute_uri(reverse("console:invite-accept", args=[token]))
    return link


def _creator(request: HttpRequest) -> Any:
    from django.contrib.auth import get_user_model

    user_id = getattr(request.actor, "user_id", None)
    return get_user_model().objects.filter(pk=user_id).first() if user_id else None


@router.get("/", response=list[InviteOut])
def list_invites(request: HttpRequest) -> list[dict[str, Any]]:
    return [_out(i) for i in invites.pending()]


@router.post("/", response={201: InviteOut, 422: ValidationErrors})
def create_invite(request: HttpRequest, payload: InviteIn) -> Status[Any]:
    try:
        teams = teams_named(payload.teams)
        role = save.check_role(payload.role)
    except ValidationError as exc:
        return Status(422, {"errors": saving.errors_by_field(exc)})
    decision = authorization.decide(
        request.actor, "user.invite", InviteGrant(role, frozenset(t.pk for t in teams))
    )
    if not decision:
        raise HttpError(403, decision.reason)
    check_fields(request, "invites", payload.dict(exclude_unset=True))
    try:
        if payload.password:
            user = save.create_user(
                payload.username,
                email=payload.email,
                role=role,
                teams=teams,
                password=payload.password,
            )
            made = {
                "id": None,
                "username": user.get_username(),
                "email": user.email,
                "role": role,
                "teams": [t.name for t in teams],
                "state": "created",
                "expires_at": None,
                "created_by": getattr(request.actor, "username", None) or None,
            }
            return Status(201, made)
        issued = invites.issue(
            _creator(request),
            payload.username,
            email=payload.email,
            role=role,
            teams=teams,
            days=payload.expires_in_days,
        )
    except ValidationError as exc:
        return Status(422, {"errors": saving.errors_by_field(exc)})
    link = accept_link(request, issued.token)
    sender = getattr(request.actor, "username", "") or "An administrator"
    emailing = invites.email_link(issued.invite, link, sender)
    return Status(201, {**_out(issued.invite, link), "emailing": emailing})


@router.delete("/{rowid:invite_id}", response=InviteOut)
def revoke_invite(request: HttpRequest, invite_id: int) -> dict[str, Any]:
    invite = get_object_or_404(Invite, pk=invite_id)
    decision = authorization.decide(
        request.actor,
        "user.invite",
        InviteGrant(invite.role, frozenset(t.pk for t in invite.teams.all())),
    )
    if not decision:
        raise HttpError(403, decision.reason)
    return _out(invites.revoke(invite))
