"""Every prompt, its versions and labels read into ``PromptEntry``s (sync; called by
``gateway.access.registry.build_snapshot`` through ``hooks.snapshot_parts``: three
queries per build, none per request)."""

from __future__ import annotations

from gateway.features.prompts.entries import PromptEntry, VersionEntry
from gateway.models.prompts import Prompt, PromptLabel, PromptVersion

PART = "prompts"  # the snapshot part's name


def load() -> dict[str, PromptEntry]:
    names = dict(Prompt.objects.values_list("id", "name"))
    versions: dict[int, dict[int, VersionEntry]] = {pk: {} for pk in names}
    numbers: dict[int, int] = {}  # version id -> number
    for v in PromptVersion.objects.all():
        messages = (
            tuple(m for m in v.messages if isinstance(m, dict))
            if isinstance(v.messages, list)
            else ()
        )
        versions.setdefault(v.prompt_id, {})[v.number] = VersionEntry(
            number=v.number,
            messages=messages,
            variables=tuple(str(x) for x in v.variables or ()),
            model=v.model,
            params=v.params if isinstance(v.params, dict) else {},
            tools=tuple(t for t in v.tools or () if isinstance(t, dict)),
        )
        numbers[v.pk] = v.number
    labels: dict[int, dict[str, int]] = {pk: {} for pk in names}
    for label in PromptLabel.objects.all():
        if label.version_id in numbers:
            labels.setdefault(label.prompt_id, {})[label.name] = numbers[label.version_id]
    return {
        name: PromptEntry(name=name, versions=versions.get(pk, {}), labels=labels.get(pk, {}))
        for pk, name in names.items()
    }
