"""A prompt as the request path reads it from the snapshot: frozen, every version and
label loaded (prompts are small and few; a thousand versions are well under a MB)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.models.prompts import DEFAULT_LABEL


@dataclass(frozen=True, slots=True)
class VersionEntry:
    number: int
    messages: tuple[Mapping[str, str], ...]  # {role, content} with {{variables}}
    variables: tuple[str, ...]
    model: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)
    tools: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class PromptEntry:
    name: str
    versions: Mapping[int, VersionEntry]
    labels: Mapping[str, int]  # label -> version number

    def pick(self, version: int | None = None, label: str | None = None) -> VersionEntry | None:
        """The version asked for: by number, else by label, else the ``production``
        label's, else the newest; None when the number or label names none."""
        if version is not None:
            return self.versions.get(version)
        if label is not None:
            number = self.labels.get(label)
            return None if number is None else self.versions.get(number)
        number = self.labels.get(DEFAULT_LABEL)
        if number is None:
            number = max(self.versions, default=0)
        return self.versions.get(number)
