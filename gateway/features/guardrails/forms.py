"""The guardrail form: a kind with its help and an example, modes, the failure policy,
params as JSON. Before the shared save (``gateway.features.guardrails.save``) runs, every
field is checked with ``kinds.validate``, whose ``ConfigError`` names one field: the
check is repeated with a failing field set aside, so every field's error shows at once,
next to it."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from gateway.features.guardrails import kinds
from gateway.features.guardrails.kinds import ALL_MODES, ConfigError
from gateway.models import Guardrail
from gateway.models.guardrails import FAIL_CLOSED, FAIL_OPEN, unmask_params
from gateway.web.saving import errors_by_field

PARAMS_MAX_CHARS = 64 * 1024
MODE_LABELS = {
    "pre_call": "pre_call: the request, before the model",
    "during_call": "during_call: the request, beside the model call (blocks only)",
    "post_call": "post_call: the answer, streamed too",
    "pre_mcp_call": "pre_mcp_call: MCP tool arguments and results",
}


def kind_choices() -> list[tuple[str, str]]:
    return [(k.name, k.label) for k in kinds.KINDS.values()]


class GuardrailForm(forms.Form):
    name = forms.SlugField(
        max_length=100, help_text="what keys, teams, routes and requests name it by"
    )
    kind = forms.ChoiceField(choices=kind_choices, widget=forms.RadioSelect)
    modes = forms.MultipleChoiceField(
        choices=[(m, MODE_LABELS[m]) for m in ALL_MODES],
        widget=forms.CheckboxSelectMultiple,
        initial=["pre_call"],
        error_messages={"required": "give at least one mode"},
    )
    default_on = forms.BooleanField(
        required=False,
        label="On by default",
        help_text="runs on every request, without being attached to a key, team or route",
    )
    monitor = forms.BooleanField(
        required=False,
        label="Monitor only",
        help_text="journal what it would have done (would_block, would_intervene); never "
        "block or rewrite",
    )
    unreachable_fallback = forms.ChoiceField(
        label="When the check itself fails",
        choices=[
            (FAIL_CLOSED, "Fail closed: refuse the request (503)"),
            (FAIL_OPEN, "Fail open: let the request pass unchecked"),
        ],
        initial=FAIL_CLOSED,
        widget=forms.RadioSelect,
        help_text="a failure is the service down, an error or no verdict within the timeout. "
        "Failing open keeps traffic flowing; every bypass is journaled and counted "
        "(switchyard_guardrail_bypass_total) and shows on this page.",
    )
    timeout = forms.FloatField(
        initial=5.0, label="Timeout (seconds)", help_text="how long a check may take (0–300)"
    )
    params = forms.CharField(
        required=False,
        max_length=PARAMS_MAX_CHARS,
        widget=forms.Textarea(attrs={"rows": 12, "spellcheck": "false", "class": "mono"}),
        help_text="the kind's settings as a JSON object (an example per kind below); "
        "secrets as os.environ/NAME",
    )
    description = forms.CharField(max_length=500, required=False)
    enabled = forms.BooleanField(required=False, initial=True)

    def __init__(self, *args: Any, guardrail: Guardrail | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.guardrail = guardrail

    @classmethod
    def initial_of(cls, row: Guardrail) -> dict[str, Any]:
        return {
            "name": row.name,
            "kind": row.kind,
            "modes": list(row.modes or []),
            "default_on": row.default_on,
            "monitor": row.monitor,
            "unreachable_fallback": row.unreachable_fallback,
            "timeout": row.timeout,
            "params": json.dumps(row.params_display, indent=2, ensure_ascii=False),
            "description": row.description,
            "enabled": row.enabled,
        }

    def clean_name(self) -> str:
        name: str = self.cleaned_data["name"]
        taken = Guardrail.objects.filter(name=name)
        if self.guardrail is not None:
            taken = taken.exclude(pk=self.guardrail.pk)
        if taken.exists():
            raise forms.ValidationError(f"a guardrail named {name!r} exists")
        return name

    def clean_params(self) -> dict[str, Any]:
        text = (self.cleaned_data.get("params") or "").strip() or "{}"
        try:
            params = json.loads(text)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(
                f"not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
            ) from None
        if not isinstance(params, dict):
            raise forms.ValidationError("must be a JSON object")
        return params

    def clean(self) -> dict[str, Any]:
        data: dict[str, Any] = super().clean() or {}
        kind_name = data.get("kind")
        if not kind_name or "params" not in data:
            return data
        first_mode = sorted(kinds.KINDS[kind_name].modes, key=ALL_MODES.index)[:1]
        values: dict[str, Any] = {
            "mode": data.get("modes") or first_mode,
            "timeout": data.get("timeout", 5.0),
            "unreachable_fallback": data.get("unreachable_fallback", FAIL_CLOSED),
        }
        # A value that passes, for each field the kinds' check may refuse before the
        # params: it stops at its first error, so a failing field is set aside and the
        # rest checked again, and every field's error shows at once.
        stand_ins = {"mode": first_mode, "timeout": 5.0, "unreachable_fallback": FAIL_CLOSED}
        stored = self.guardrail.params if self.guardrail is not None else {}
        params = unmask_params(data["params"], stored)
        while True:
            try:
                kinds.validate(
                    kind_name,
                    values["mode"],
                    params,
                    timeout=values["timeout"],
                    fallback=values["unreachable_fallback"],
                )
            except ConfigError as exc:
                field = self._field_of(exc.field)
                message = exc.message if exc.field == field else f"{exc.field}: {exc.message}"
                if field is None or field not in self.errors:
                    self.add_error(field, message)
                if exc.field not in stand_ins:
                    break
                values[exc.field] = stand_ins.pop(exc.field)
            except ImportError:
                self.add_error("kind", "this kind is not available in this installation")
                break
            except Exception as exc:  # noqa: BLE001 - a kind's check that broke: the params'
                self.add_error("params", f"could not be checked: {type(exc).__name__}: {exc}")
                break
            else:
                break
        return data

    def values(self) -> dict[str, Any]:
        """The fields as ``save`` takes them."""
        data = self.cleaned_data
        return {
            name: data[name]
            for name in (
                "name", "kind", "modes", "default_on", "monitor", "unreachable_fallback",
                "timeout", "params", "enabled", "description",
            )
        }  # fmt: skip

    def show(self, exc: ValidationError) -> None:
        """The shared save's errors next to their fields (``params.x.y`` on params)."""
        for name, problems in errors_by_field(exc).items():
            field = self._field_of(name)
            for problem in problems:
                self.add_error(field, problem if name == field else f"{name}: {problem}")

    def _field_of(self, name: str) -> str | None:
        if name == "mode":
            return "modes"
        if name.startswith("params"):
            return "params"
        return name if name in self.fields else None


def kinds_for_form() -> list[dict[str, Any]]:
    return [
        {
            "name": k.name,
            "label": k.label,
            "help": k.help,
            "modes": sorted(k.modes, key=ALL_MODES.index),
            "example": json.dumps(dict(k.example), indent=2),
        }
        for k in kinds.KINDS.values()
    ]
