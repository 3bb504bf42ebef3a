"""Today's saved playground prompts become prompts of the registry (gateway.features.prompts),
each with its content as version 1, made by its owner: the system prompt first, then
the conversation's text. A name another user's prompt (or a name the registry refuses)
takes is made unique (``-<owner>``, then a number). Files and tool turns of a saved
prompt are not text a version keeps: those messages are left out and the version's note
says so; the saved prompts themselves stay in their table. Reversing changes nothing (the
registry's prompts may have versions of their own by then)."""

import re

from django.db import migrations

ALLOWED = re.compile(r"[^A-Za-z0-9._-]+")
EFFORTS = ("minimal", "low", "medium", "high")


def _name(saved, taken):
    base = ALLOWED.sub("-", saved.name).strip("-._")[:80] or "prompt"
    if not base[0].isalnum():
        base = "p" + base
    candidates = [base, f"{base}-{ALLOWED.sub('-', saved.owner.username)}"[:95]]
    candidates += [f"{base}-{n}" for n in range(2, 1000)]
    for name in candidates:
        if name.lower() not in taken:
            taken.add(name.lower())
            return name
    raise RuntimeError(f"no free name for saved prompt {saved.pk}")


def _params(raw):
    params = {}
    for key, value in (raw or {}).items():
        if key == "temperature" and isinstance(value, (int, float)) and 0 <= value <= 2:
            params[key] = value
        elif key == "max_tokens" and isinstance(value, int) and value >= 1:
            params[key] = value
        elif key == "reasoning_effort" and value in EFFORTS:
            params[key] = value
    return params


def forwards(apps, schema_editor):
    SavedPrompt = apps.get_model("console", "SavedPrompt")
    Prompt = apps.get_model("gateway", "Prompt")
    PromptVersion = apps.get_model("gateway", "PromptVersion")
    variable = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*\}\}")
    taken = {name.lower() for name in Prompt.objects.values_list("name", flat=True)}
    for saved in SavedPrompt.objects.select_related("owner").order_by("created_at", "id"):
        messages = [{"role": "system", "content": saved.system}] if saved.system.strip() else []
        left_out = 0
        for m in saved.messages or []:
            text = m.get("content") if isinstance(m, dict) else None
            if m.get("role") in ("user", "assistant") and isinstance(text, str) and not m.get("attachments") and not m.get("tool_calls"):
                messages.append({"role": m["role"], "content": text})
            else:
                left_out += 1
        if not messages:
            messages = [{"role": "user", "content": ""}]
        names = []
        for m in messages:
            for found in variable.findall(m["content"]):
                if found not in names:
                    names.append(found)
        note = f"from the playground's saved prompt “{saved.name}” of {saved.owner.username}"
        if left_out:
            note += f"; {left_out} message(s) with files or tool turns left out"
        prompt = Prompt.objects.create(
            name=_name(saved, taken),
            description=saved.name[:500],
            created_by=saved.owner,
            created_at=saved.created_at,
            updated_at=saved.updated_at,
        )
        tools = [t for t in saved.tools or [] if isinstance(t, dict) and t.get("name")]
        PromptVersion.objects.create(
            prompt=prompt, number=1, messages=messages, variables=names,
            params=_params(saved.params), tools=tools, note=note[:500],
            created_by=saved.owner.username, created_at=saved.updated_at,
        )


class Migration(migrations.Migration):
    dependencies = [
        ("console", "0003_saved_prompt"),
        ("gateway", "0052_prompts_scores"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
