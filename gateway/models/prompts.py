"""The prompt registry's tables, in the store (``gateway.models``): named prompts, their
numbered versions (never edited: a change is a new version) and labels pointing a name
such as ``production`` at one version. Read into the snapshot by the prompts feature
(``gateway.features.prompts``), so a request naming a prompt costs no query."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from gateway.models import NamedRow

# A label or prompt name: letters, digits, ``-``, ``_`` and ``.`` (a slug with dots, so
# ``support.triage`` reads as the namespaced name people give prompts).
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
DEFAULT_LABEL = "production"


class Prompt(NamedRow, models.Model):
    """A named prompt; what it says lives in its versions."""

    name = models.CharField(max_length=100, unique=True)
    description = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]


class PromptVersion(models.Model):
    """One version of a prompt: its template ``messages`` (``[{role, content}]``, each
    content a string with ``{{variable}}`` placeholders), the ``variables`` they use
    (found when saved), and optionally the model and parameters it was written for."""

    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    messages = models.JSONField(default=list)
    variables = models.JSONField(default=list, blank=True)
    model = models.CharField(max_length=200, blank=True, help_text="route it was written for")
    params = models.JSONField(default=dict, blank=True)  # temperature, max_tokens, ...
    tools = models.JSONField(default=list, blank=True)
    note = models.CharField(max_length=500, blank=True, help_text="what changed")
    created_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["prompt_id", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["prompt", "number"], name="prompt_version_unique")
        ]

    def __str__(self) -> str:
        return f"{self.prompt_id} v{self.number}"


class PromptLabel(models.Model):
    """``name`` (``production``, ``staging``, ...) of a prompt points at one version;
    moving it is how a version goes live."""

    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="labels")
    name = models.CharField(max_length=50)
    version = models.ForeignKey(PromptVersion, on_delete=models.CASCADE, related_name="labels")
    updated_by = models.CharField(max_length=150, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["prompt", "name"], name="prompt_label_unique")
        ]

    def __str__(self) -> str:
        return f"{self.name} -> {self.version_id}"
