"""The prompt registry's tables (``gateway.models.prompts``): a version is once per number
of a prompt, a label once per name; each reads as what it points at."""

from __future__ import annotations

import re

import pytest
from django.db import IntegrityError, transaction

from gateway.models.prompts import NAME_PATTERN, Prompt, PromptLabel, PromptVersion

pytestmark = pytest.mark.django_db


def test_versions_and_labels_are_once_each_and_read_as_what_they_point_at() -> None:
    prompt = Prompt.objects.create(name="support.triage")
    one = PromptVersion.objects.create(prompt=prompt, number=1)
    two = PromptVersion.objects.create(prompt=prompt, number=2)
    label = PromptLabel.objects.create(prompt=prompt, name="production", version=two)
    assert str(prompt) == "support.triage"
    assert str(one) == f"{prompt.pk} v1"
    assert str(label) == f"production -> {two.pk}"
    assert list(prompt.versions.all()) == [two, one]  # newest first
    with pytest.raises(IntegrityError), transaction.atomic():
        PromptVersion.objects.create(prompt=prompt, number=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        PromptLabel.objects.create(prompt=prompt, name="production", version=one)


def test_names_are_slugs_with_dots() -> None:
    assert re.match(NAME_PATTERN, "support.triage-v2_x")
    assert not re.match(NAME_PATTERN, ".hidden") and not re.match(NAME_PATTERN, "a b")
