"""Migration 0056 (#61, M14): a pending invite whose inviter was removed before this
fix (its ``created_by`` cleared, its ``invite_create`` row naming a person) is revoked;
one the master key made, and one whose inviter is still there, keep working."""

from __future__ import annotations

import importlib
from datetime import timedelta

import pytest
from django.utils import timezone

from gateway.models import Invite
from tests.migrate import at, latest

MIGRATION = importlib.import_module("gateway.migrations.0056_sso_removal").Migration
BEFORE = list(MIGRATION.dependencies)


@pytest.mark.django_db(transaction=True)
def test_pending_invites_of_removed_inviters_are_revoked() -> None:
    apps = at(BEFORE)
    OldInvite = apps.get_model("gateway", "Invite")
    OldAudit = apps.get_model("gateway", "AuditEvent")
    OldUser = apps.get_model("auth", "User")
    later = timezone.now() + timedelta(days=7)
    kept_inviter = OldUser.objects.create(username="still-here")
    made = {}
    for name, by, actor_kind in (
        ("orphan", None, "user"),  # its admin was removed: created_by cleared
        ("via-key", None, "key"),  # the same, made through the admin's management key
        ("master", None, "master"),  # the master key's: no inviter
        ("kept", kept_inviter, "user"),  # the control: an inviter still there
    ):
        invite = OldInvite.objects.create(
            token_hash=name.ljust(64, "0"), username=name, role="admin", expires_at=later,
            created_by=by,
        )  # fmt: skip
        OldAudit.objects.create(
            action="invite_create", object_type="invite", object_id=str(invite.pk),
            actor_kind=actor_kind, source="api",
        )  # fmt: skip
        made[name] = invite.pk
    latest()  # 0056 and every migration after it
    states = {name: Invite.objects.get(pk=pk).state for name, pk in made.items()}
    assert states == {
        "orphan": "revoked",
        "via-key": "revoked",
        "master": "pending",
        "kept": "pending",
    }
