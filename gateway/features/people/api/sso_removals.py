"""Removed single sign-on identities in the management API (#61): a user removed while
linked to an identity provider is remembered by the provider's ``(issuer, sub)``, so
their next sign-in is refused instead of making the account again.
``GET /api/sso-removals/`` lists them (owners and admins); ``DELETE
/api/sso-removals/{removal_id}`` lets that identity sign in again (owners, rule
``user.manage``): its next sign-in makes a new account from its claims."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Router, Schema
from ninja.errors import HttpError

from gateway.access import authorization
from gateway.features.people import save
from gateway.models import SsoRemoval

router = Router(tags=["users"])


class SsoRemovalOut(Schema):
    id: int
    issuer: str
    subject: str
    username: str  # the removed account's name
    removed_at: datetime


@router.get("/", response=list[SsoRemovalOut])
def list_removals(request: HttpRequest) -> list[SsoRemoval]:
    return list(SsoRemoval.objects.all())


@router.delete("/{rowid:removal_id}", response=SsoRemovalOut)
def readmit(request: HttpRequest, removal_id: int) -> Any:
    """Let the identity sign in again (its next sign-in makes a new account)."""
    removal = get_object_or_404(SsoRemoval, pk=removal_id)
    decision = authorization.decide(request.actor, "user.manage", removal)
    if not decision:
        raise HttpError(403, decision.reason)
    shown = SsoRemovalOut.from_orm(removal)
    save.readmit_sso(removal)
    return shown
