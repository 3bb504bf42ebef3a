"""The add-model form: a provider (existing, or ``NEW`` with the provider form's fields
under the ``new`` prefix), the upstream model, the route name and the figures that
override the catalog's (empty: the catalog's, shown as each field's placeholder)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from django import forms

from console import model_picker
from console.forms import price_field
from gateway import catalog
from gateway.models import Provider

NEW = "new"  # the provider choice that shows the new provider's fields
NEW_PREFIX = "new"  # the new provider's fields: new-name, new-kind, ...
OPTIONS_LIST = "add-model-options"  # the model field's <datalist>
ROUTE_NAME_RULES = "letters, digits and . _ : / @ + - (no spaces)"


class AddModelForm(forms.Form):
    provider = forms.ChoiceField(label="Provider")
    model = forms.CharField(
        max_length=200,
        help_text="the upstream's model id: pick one from its list or type it",
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "spellcheck": "false", "list": OPTIONS_LIST}
        ),
    )
    route_name = forms.CharField(
        required=False,
        max_length=200,
        label="Route name",
        help_text=f"what clients send as model; empty: the model id. {ROUTE_NAME_RULES}",
    )
    input_price = price_field("Input")
    output_price = price_field("Output")
    context_window = forms.IntegerField(
        required=False,
        min_value=1,
        label="Context window (tokens)",
        help_text="empty: the model catalog's",
    )

    def __init__(self, *args: Any, may_create_provider: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = [(str(p.pk), f"{p.name} ({p.kind})") for p in Provider.objects.order_by("name")]
        if may_create_provider:
            choices.append((NEW, "New provider…"))
        provider: Any = self.fields["provider"]
        provider.choices = choices
        if choices and not self.initial.get("provider"):
            self.initial["provider"] = choices[0][0]  # what the browser shows selected
        self.may_create_provider = may_create_provider
        self.placeholders: dict[str, str] = {}
        self.catalog_line = ""
        self.limits_warning = ""

    @property
    def placeholders_json(self) -> str:
        """The placeholders for console.js to set when the model changes (the inputs
        themselves are never swapped, so nothing typed in them is lost)."""
        return json.dumps(self.placeholders)

    @property
    def is_empty(self) -> bool:
        """No provider to pick and none to create."""
        provider: Any = self.fields["provider"]
        return not provider.choices

    def raw(self, name: str) -> str:
        """What the browser sent (or the initial value) for field ``name``."""
        value = self[name].value()
        return str(value).strip() if value is not None else ""

    def wants_new_provider(self) -> bool:
        return self.may_create_provider and self.raw("provider") == NEW

    def chosen_provider(self) -> Provider | None:
        """The existing provider picked (None: a new one, or none valid)."""
        value = self.raw("provider")
        if not value.isdigit():
            return None
        found: Provider | None = Provider.objects.filter(pk=int(value)).first()
        return found

    def route_values(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {"name": data["route_name"] or data["model"]}

    def deployment_values(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            name: data[name] for name in ("model", "input_price", "output_price", "context_window")
        }

    def show_catalog(self, entry: catalog.Entry | None) -> None:
        """The catalog's figures as the placeholders of the fields that override them,
        and the model id as the route name's; ``catalog_line`` says the same in words
        and ``placeholders`` carries them to the page when the model changes."""
        model = self.raw("model")
        self.placeholders = {"route_name": model or "the model id"}
        figures: dict[str, Decimal | int | None] = {
            "input_price": entry.input if entry else None,
            "output_price": entry.output if entry else None,
            "context_window": entry.context_window if entry else None,
        }
        for name, value in figures.items():
            if value is None:
                unknown = "unknown" if name == "context_window" else "unpriced"
                self.placeholders[name] = unknown if model else ""
            elif name == "context_window":
                self.placeholders[name] = str(value)
            else:
                self.placeholders[name] = f"{catalog.entry.plain(Decimal(value))}"
        for name, placeholder in self.placeholders.items():
            self.fields[name].widget.attrs["placeholder"] = placeholder
        self.limits_warning = limits_warning(model, entry, self.raw("context_window"))
        if not model:
            self.catalog_line = "Pick a model to see its catalog prices and context window."
        elif entry is None:
            self.catalog_line = (
                f"{model} is not in the model catalog: set its prices, or it counts as $0."
            )
        else:
            self.catalog_line = f"Catalog {entry.key}: {model_picker.describe(entry)}."


def limits_warning(model: str, entry: catalog.Entry | None, context_window: str) -> str:
    """What a model with no known output limit means for budgets: a budget holds the
    most a request can cost, and with neither a context window nor a max output known
    (catalog or typed) that is unbounded, so every key with a budget refuses its
    requests that do not set max_tokens (``gateway.limits.budget_estimate``). Empty when
    a limit is known or no model is named."""
    known = entry is not None and (entry.context_window or entry.max_output_tokens)
    if not model or known or context_window:
        return ""
    return (
        f"No context window or max output is known for {model}: keys with a budget will "
        "refuse its requests that do not set max_tokens. Set its context window below "
        "(or the deployment's max output tokens after adding it)."
    )
