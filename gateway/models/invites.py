"""Invitations to the console (``gateway.features.people.invites``): a one-time link an owner or
admin hands a new teammate. Only the token's SHA-256 is kept; the raw link is shown
once to the inviter. The role and teams are fixed when the invite is made, so the
person accepting it chooses only their password."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class Invite(models.Model):
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    username = models.CharField(max_length=150)
    email = models.EmailField(blank=True)
    role = models.CharField(max_length=10)
    teams = models.ManyToManyField("gateway.Team", blank=True, related_name="+")
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    used_at = models.DateTimeField(null=True, blank=True)
    used_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"invite of {self.username} ({self.role})"

    @property
    def state(self) -> str:
        """pending, used, revoked or expired."""
        if self.used_at is not None:
            return "used"
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= timezone.now():
            return "expired"
        return "pending"
