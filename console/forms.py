"""Console forms: they parse what a person typed; validation that matters (and saving)
is ``gateway.ops.admin_ops``' job, whose errors are put back next to the fields."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.urls import reverse

from gateway import codecs
from gateway.access import roles
from gateway.access.alert_thresholds import parse_thresholds
from gateway.access.alert_thresholds import shown as thresholds_shown
from gateway.access.rules import routes as route_rules
from gateway.access.tag_bounds import parse_tags
from gateway.catalog import capability_flags
from gateway.features import server_tools
from gateway.models import ApiKey, BatchMode, CacheScope, Provider, Route, SemanticScope, Team
from gateway.providers import kinds
from gateway.web.fields import (
    CommaList,
    PlainDecimalField,
    SecretField,
    guardrail_field,
    with_guardrail_choices,
)

if TYPE_CHECKING:
    from gateway.providers.base import Provider as ProviderAdapter

JSON_ATTRS = {"rows": 2, "class": "mono", "spellcheck": "false"}


def kind_adapters() -> list[tuple[str, type[ProviderAdapter]]]:
    """(kind, adapter class) of every kind in the registry: the form's per-kind fields,
    help and labels are what each adapter declares (``gateway.providers.kinds``)."""
    return [(name, kinds.adapter_class(name)) for name in kinds.KINDS]


def setting_fields() -> dict[str, tuple[tuple[str, ...], str, str]]:
    """Provider.settings as form fields (LiteLLM's names): name -> (the kinds that take
    it, label, help); each field is shown for its kinds only."""
    fields: dict[str, tuple[tuple[str, ...], str, str]] = {}
    for kind, adapter in kind_adapters():
        for setting in adapter.settings_taken:
            taken_by, label, help_text = fields.get(setting.name, ((), setting.label, setting.help))
            fields[setting.name] = ((*taken_by, kind), label, help_text)
    return fields


def setting_validator(name: str) -> Any:
    """The setting's own check (``kinds.Setting.check``) as a form field validator."""
    setting = next(
        setting
        for _, adapter in kind_adapters()
        for setting in adapter.settings_taken
        if setting.name == name
    )

    def validate(value: str) -> None:
        if problem := setting.problem(value or ""):
            raise ValidationError(problem)

    return validate


class ProviderForm(forms.Form):
    name = forms.SlugField(max_length=100, help_text="letters, digits, - and _")
    kind = forms.ChoiceField(choices=kinds.choices)
    base_url = forms.CharField(
        required=False,
        max_length=500,
        help_text="Or os.environ/NAME, read when used.",
    )
    secret = SecretField(
        help_text="An API key (stored encrypted) or os.environ/NAME (read when used).",
    )
    clear_secret = forms.BooleanField(required=False, label="Remove the stored secret")
    api_version = forms.CharField(
        required=False, max_length=50, help_text="Azure, Gemini and Vertex AI only"
    )
    timeout = forms.FloatField(required=False, min_value=0.1, help_text="seconds")
    extra_headers = forms.JSONField(
        required=False,
        initial=dict,
        widget=forms.Textarea(attrs=JSON_ATTRS),
        help_text='JSON object, e.g. {"OpenAI-Organization": "org-1"}; values are stored '
        "encrypted (or os.environ/NAME) and shown masked: leave a mask as it is to keep it.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.settings_by_name = setting_fields()
        for name, (_kinds, label, help_text) in self.settings_by_name.items():
            self.fields[name] = forms.CharField(
                required=False,
                max_length=200,
                label=label,
                help_text=help_text,
                validators=[setting_validator(name)],
            )

    @property
    def setting_fields(self) -> list[tuple[forms.BoundField, str]]:
        """(field, the kinds it belongs to, space separated), for the template."""
        return [
            (self[name], " ".join(taken_by))
            for name, (taken_by, _, _) in self.settings_by_name.items()
        ]

    @property
    def kind_help(self) -> list[tuple[str, str, str]]:
        """(kind, field name, help) for the per-kind help lines."""
        return [
            (kind, field, text)
            for kind, adapter in kind_adapters()
            for field in ("base_url", "secret", "api_version")
            if (text := getattr(adapter.form_help, field))
        ]

    @property
    def all_kinds(self) -> str:
        """Every kind, space separated (the fields every kind has)."""
        return " ".join(kinds.KINDS)

    @property
    def secret_labels(self) -> list[tuple[str, str]]:
        """(kinds, label): what the secret is called, grouped by label."""
        by_label: dict[str, list[str]] = {}
        for kind, adapter in kind_adapters():
            by_label.setdefault(adapter.form_help.secret_label, []).append(kind)
        return [(" ".join(names), label) for label, names in by_label.items()]

    @property
    def api_version_kinds(self) -> str:
        """The kinds that take an API version (their help says what it means)."""
        return " ".join(kind for kind, adapter in kind_adapters() if adapter.form_help.api_version)

    @staticmethod
    def initial_settings(provider: Provider) -> dict[str, str]:
        return {name: (provider.settings or {}).get(name, "") for name in setting_fields()}

    def values(self) -> dict[str, Any]:
        data = self.cleaned_data
        settings = {  # only the chosen kind's: another kind's would be refused
            name: data[name].strip()
            for name, (taken_by, _, _) in self.settings_by_name.items()
            if data["kind"] in taken_by and data.get(name, "").strip()
        }
        return {
            "name": data["name"],
            "kind": data["kind"],
            "base_url": data["base_url"].strip(),
            "api_version": data["api_version"].strip(),
            "timeout": data["timeout"],
            "extra_headers": data["extra_headers"] or {},
            "settings": settings,
        }

    def secret_change(self, editing: bool) -> str | None:
        """None keeps the stored secret (an edit with the field left empty)."""
        if self.cleaned_data.get("clear_secret"):
            return ""
        secret = self.cleaned_data.get("secret") or ""
        return secret if secret or not editing else None


class RouteForm(forms.Form):
    name = forms.CharField(max_length=200, help_text="the model name clients ask for")
    description = forms.CharField(required=False, max_length=500)
    enabled = forms.BooleanField(required=False, initial=True)
    strategy = forms.ChoiceField(choices=Route.Strategy.choices)
    fallbacks = CommaList(required=False, help_text="route names, in order, comma separated")
    context_window_fallbacks = CommaList(
        required=False,
        label="Context-window fallbacks",
        help_text="larger routes, in order, tried when a prompt is too long for this one",
    )
    drop_params = forms.BooleanField(
        required=False, initial=True, help_text="drop parameters the upstream does not know"
    )
    max_attempts = forms.IntegerField(min_value=1, max_value=20, initial=3)
    timeout = forms.FloatField(
        required=False,
        min_value=0.1,
        help_text="seconds; this route's deployments only (else their provider's)",
    )
    retry_budget = forms.FloatField(
        required=False,
        min_value=0,
        max_value=10,
        label="Retry budget",
        help_text="share of requests a minute it may retry (0.2 = 20%); empty: the server's",
    )
    default_params = forms.JSONField(
        required=False, initial=dict, widget=forms.Textarea(attrs=JSON_ATTRS)
    )
    cache_ttl = forms.IntegerField(
        required=False,
        min_value=0,
        initial=0,
        label="Cache TTL (s)",
        help_text="answer repeated identical requests from the cache; 0 turns it off",
    )
    cache_scope = forms.ChoiceField(
        required=False, choices=CacheScope.choices, initial=CacheScope.ROUTE
    )
    semantic_cache_ttl = forms.IntegerField(
        required=False,
        min_value=0,
        initial=0,
        label="Semantic cache TTL (s)",
        help_text="answer requests similar to an earlier one from the semantic cache; 0 "
        "turns it off",
    )
    semantic_cache_threshold = forms.FloatField(
        required=False,
        min_value=0.5,
        max_value=1.0,
        initial=0.95,
        label="Semantic similarity",
        help_text="cosine similarity from which an earlier answer is served (0.95: close "
        "paraphrases only)",
    )
    semantic_cache_scope = forms.ChoiceField(
        required=False,
        choices=SemanticScope.choices,
        initial=SemanticScope.KEY,
        label="Semantic cache scope",
    )
    semantic_cache_route = forms.CharField(
        required=False,
        max_length=200,
        label="Embedding route",
        help_text="the route whose deployments embed the requests for the semantic cache",
    )
    semantic_cache_dialects = forms.MultipleChoiceField(
        required=False,
        choices=[(name, name) for name in codecs.clients()],
        widget=forms.CheckboxSelectMultiple,
        label="Semantic cache APIs",
        help_text="client APIs whose chat requests use it (none ticked: all)",
    )
    web_search_backend = forms.ChoiceField(
        required=False,
        choices=server_tools.backend_choices(),
        label="Web search backend",
        help_text="the search API that runs clients' web search tools on upstreams that do "
        "not, or a route of this gateway whose model searches (web fetch needs none)",
    )
    web_search_url = forms.CharField(
        required=False,
        max_length=500,
        label="Web search URL",
        help_text="the search API's URL; for a route backend, the route's name",
    )
    web_search_key = forms.CharField(
        required=False,
        max_length=200,
        label="Web search key",
        help_text="os.environ/NAME: the variable holding the search API's key",
    )
    web_search_price = forms.DecimalField(
        required=False,
        min_value=Decimal("0"),
        decimal_places=6,
        label="Price per search (USD)",
        help_text="charged to the caller for each search the gateway runs; empty: free",
    )
    auto_cache_breakpoints = forms.BooleanField(
        required=False,
        initial=True,
        label="Prompt-cache breakpoints",
        help_text="for Anthropic and Bedrock upstreams, mark tools, system prompt and the "
        "last stable turn when the client's API cannot",
    )
    shadow_routes = CommaList(
        required=False,
        label="Shadow routes",
        help_text="routes that get a copy of this route's requests in the background, to "
        "compare their answers (the client only sees this route's)",
    )
    shadow_percent = forms.FloatField(
        required=False,
        min_value=0,
        max_value=100,
        initial=0,
        label="Shadow share (%)",
        help_text="share of requests mirrored to the shadow routes",
    )
    mcp_servers = CommaList(
        required=False,
        label="MCP servers",
        help_text="registered MCP servers whose tools every request on this route gets "
        "(how Chat Completions and Gemini clients use MCP tools), comma separated",
    )
    mcp_passthrough = forms.BooleanField(
        required=False,
        initial=False,
        label="Pass hosted MCP tools through",
        help_text="send Responses mcp tools and Anthropic mcp_servers to upstreams that speak "
        "the client's API and run them; off: the gateway runs them on any upstream",
    )
    batch_mode = forms.ChoiceField(
        required=False,
        choices=BatchMode.choices,
        initial=BatchMode.AUTO,
        label="Batches",
        help_text="auto: the upstream's own batch API (at its batch price) when it has one, "
        "else the gateway runs each line; native refuses a batch the upstream cannot take",
    )

    teams = forms.ModelMultipleChoiceField(
        queryset=Team.objects.all(),
        to_field_name="name",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="teams whose keys may use this route (none: every team)",
    )
    guardrails = guardrail_field(
        "checked on every request to this route, beside the ones on by default"
    )

    def __init__(self, *args: Any, actor: Any = None, attached: Any = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.actor, self.attached = actor, attached
        with_guardrail_choices(self)

    def clean_mcp_servers(self) -> list[str]:
        """Newly attached servers need the right to attach them (``mcp.server.attach``)."""
        wanted = self.cleaned_data.get("mcp_servers") or []
        if self.actor is not None:
            refused = route_rules.refused_attachments(self.actor, wanted, self.attached)
            if refused:
                raise forms.ValidationError(
                    f"your role may not attach MCP server(s) {', '.join(refused)}"
                )
        return wanted

    @staticmethod
    def initial_of(route: Route) -> dict[str, Any]:
        """The form's values for a stored route."""
        initial = {f: getattr(route, f) for f in RouteForm.base_fields if f != "teams"}
        initial["teams"] = [t.name for t in route.teams.all()]
        initial["guardrails"] = list(route.guardrails or [])
        return initial

    def chosen_teams(self) -> list[Team]:
        return list(self.cleaned_data.get("teams") or [])

    def values(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data["shadow_percent"] = data.get("shadow_percent") or 0.0
        data.pop("teams", None)  # a relation: set by the view (chosen_teams) after saving
        data["default_params"] = data.get("default_params") or {}
        data["cache_ttl"] = data.get("cache_ttl") or 0
        data["cache_scope"] = data.get("cache_scope") or CacheScope.ROUTE
        data["semantic_cache_ttl"] = data.get("semantic_cache_ttl") or 0
        threshold = data.get("semantic_cache_threshold")
        data["semantic_cache_threshold"] = 0.95 if threshold is None else threshold
        data["semantic_cache_scope"] = data.get("semantic_cache_scope") or SemanticScope.KEY
        data["semantic_cache_route"] = (data.get("semantic_cache_route") or "").strip()
        data["semantic_cache_dialects"] = list(data.get("semantic_cache_dialects") or [])
        data["batch_mode"] = data.get("batch_mode") or BatchMode.AUTO
        data["guardrails"] = list(data.get("guardrails") or [])
        data["web_search_backend"] = data.get("web_search_backend") or ""
        data["web_search_url"] = (data.get("web_search_url") or "").strip()
        data["web_search_key"] = (data.get("web_search_key") or "").strip()
        return data


class CapabilitySelect(forms.NullBooleanSelect):
    """Yes / no / "from the catalog" (empty: the model catalog decides)."""

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs)
        self.choices = [("unknown", "From the catalog"), ("true", "Yes"), ("false", "No")]


def price_field(label: str) -> PlainDecimalField:
    """A price per million tokens; empty takes the model catalog's (the deployment
    forms: the console's and adding a model)."""
    return PlainDecimalField(
        required=False,
        min_value=0,
        decimal_places=6,
        label=f"{label} ($ per 1M tokens)",
        help_text="empty: the model catalog's price",
    )


def _unit_price(unit: str, models: str) -> PlainDecimalField:
    return PlainDecimalField(
        required=False,
        min_value=0,
        max_digits=14,
        decimal_places=8,
        label=f"$ per {unit}",
        help_text=f"{models}; empty: the media price table's",
    )


def flag_field(flag: capability_flags.Flag) -> forms.Field:
    """A capability flag's form field: yes / no / from the catalog, or a checkbox."""
    if flag.nullable:
        field: forms.Field = forms.NullBooleanField(
            required=False, label=flag.label, widget=CapabilitySelect
        )
    else:
        field = forms.BooleanField(required=False, label=flag.label)
    field.help_text = flag.help
    return field


class DeploymentForm(forms.Form):
    provider = forms.ModelChoiceField(queryset=Provider.objects.all(), empty_label=None)
    model = forms.CharField(
        max_length=200,
        help_text="upstream model id: type to search the provider's models and the catalog",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    enabled = forms.BooleanField(required=False, initial=True)
    weight = forms.FloatField(initial=1.0)
    rpm = forms.IntegerField(required=False, label="RPM")
    tpm = forms.IntegerField(required=False, label="TPM")
    input_price = price_field("Input")
    output_price = price_field("Output")
    cache_read_price = price_field("Cache read")
    cache_write_price = price_field("Cache write")
    search_unit_price = PlainDecimalField(
        required=False,
        min_value=0,
        decimal_places=6,
        label="Rerank ($ per search unit)",
        help_text="empty: the model catalog's price; a search unit is one query with up to "
        "100 documents",
    )
    # images and audio: kept in params (gateway.catalog.media reads them there)
    price_per_image = _unit_price("image", "image models")
    price_per_second = _unit_price("second of audio", "transcription models")
    price_per_character = _unit_price("character", "speech models")
    context_window = forms.IntegerField(
        required=False, min_value=1, label="Context window (tokens)", help_text="empty: catalog"
    )
    max_output_tokens = forms.IntegerField(
        required=False, min_value=1, label="Max output (tokens)", help_text="empty: catalog"
    )
    # (here: one field per capability flag, added by __init__ from the declaration)
    params = forms.JSONField(
        required=False,
        initial=dict,
        widget=forms.Textarea(attrs=JSON_ATTRS),
        help_text="extra upstream parameters (JSON)",
    )

    def __init__(
        self,
        *args: Any,
        picker: str = "models-new",
        figures: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields: dict[str, forms.Field] = self.with_flags(self.fields)
        self.picker = picker  # the id of the model field's <datalist>
        self.fields["model"].widget.attrs["list"] = picker
        self.fields["provider"].widget.attrs.update(
            {
                "hx-get": reverse("console:deployment-models"),
                "hx-trigger": "change, load",
                "hx-target": f"#{picker}",
                "hx-swap": "outerHTML",
                "hx-vals": json.dumps({"list": picker}),
                "hx-sync": "this:replace",
            }
        )
        params = self.initial.get("params")
        if isinstance(params, dict):  # a unit price shows in its field, not in the JSON
            for name in self.UNIT_PRICES:
                if params.get(name) not in (None, ""):
                    self.initial[name] = params[name]
            self.initial["params"] = {k: v for k, v in params.items() if k not in self.UNIT_PRICES}
        if figures:
            self.show_figures(figures)

    UNIT_PRICES = ("price_per_image", "price_per_second", "price_per_character")

    @staticmethod
    def with_flags(fields: dict[str, forms.Field]) -> dict[str, forms.Field]:
        """``fields`` with the capability flags' fields before ``params``."""
        flags = {flag.name: flag_field(flag) for flag in capability_flags.FLAGS}
        at = list(fields).index("params")
        items = list(fields.items())
        return dict([*items[:at], *flags.items(), *items[at:]])

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """Every field's name, the flags' included, in the form's order."""
        return tuple(cls.with_flags(dict(cls.base_fields)))

    @property
    def flag_fields(self) -> list[forms.BoundField]:
        return [self[flag.name] for flag in capability_flags.FLAGS]

    def show_figures(self, figures: dict[str, Any]) -> None:
        """Say what an empty field means for this deployment: the figure in force and
        where it comes from."""
        sources = figures.get("sources", {})
        for name in ("input_price", "output_price", "cache_read_price", "cache_write_price"):
            value, source = figures.get(name), sources.get(name, "")
            self.fields[name].help_text = f"in force: ${value} per 1M tokens ({source})"
        value, source = figures.get("search_unit_price"), sources.get("search_unit_price", "")
        shown = f"${value} per search unit" if value is not None else "priced by tokens"
        self.fields["search_unit_price"].help_text = f"in force: {shown} ({source})"
        for name in ("context_window", "max_output_tokens"):
            value, source = figures.get(name), sources.get(name, "")
            shown = f"{value:,} tokens" if value else "none"
            self.fields[name].help_text = f"in force: {shown} ({source})"
        for name in (flag.name for flag in capability_flags.FLAGS if flag.nullable):
            value, source = figures.get(name), sources.get(name, "")
            self.fields[name].help_text = f"in force: {'yes' if value else 'no'} ({source})"
        media = figures.get("media")
        if media is not None:
            self.fields[media["param"]].help_text = f"in force: {media['text']} ({media['source']})"

    def values(self) -> dict[str, Any]:
        """The cleaned data, the unit prices moved into ``params`` (the params JSON is
        shown without them: an empty field drops the price, unless it is typed there)."""
        data = dict(self.cleaned_data)
        params = dict(data["params"] or {})
        for name in self.UNIT_PRICES:
            value = data.pop(name, None)
            if value is not None:
                params[name] = f"{value.normalize():f}"
        data["params"] = params
        return data


class KeyForm(forms.Form):
    name = forms.CharField(max_length=200)
    routes = forms.ModelMultipleChoiceField(
        queryset=Route.objects.all(),
        to_field_name="name",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="none selected: every route",
    )
    rpm_limit = forms.IntegerField(required=False, min_value=0, label="Requests / min")
    tpm_limit = forms.IntegerField(required=False, min_value=0, label="Tokens / min")
    budget_usd = PlainDecimalField(required=False, min_value=0, label="Budget (USD)")
    budget_period = forms.ChoiceField(choices=ApiKey.Period.choices, initial=ApiKey.Period.MONTH)
    max_budget_per_user = PlainDecimalField(
        required=False,
        min_value=0,
        label="Budget per end user (USD)",
        help_text="each end user (x-switchyard-user, OpenAI user, Anthropic metadata.user_id) "
        "per budget period; empty: none",
    )
    expires_at = forms.DateTimeField(
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="UTC; empty: never",
    )
    mcp_allowed = CommaList(
        required=False,
        label="MCP servers and tools",
        help_text="server, server__tool or * (every server), comma separated; empty: none",
    )
    a2a_allowed = CommaList(
        required=False,
        label="A2A agents",
        help_text="agent names or * (every agent), comma separated, within the team's "
        "agents when it limits them; empty: none; only admins grant them",
    )
    team = forms.ModelChoiceField(
        queryset=Team.objects.all(),
        required=False,
        help_text="counts against its limits too; below admin a key needs one of your "
        "teams, and its limits, routes and MCP servers stay within the team's (empty "
        "limits: the team's)",
    )
    user = forms.ModelChoiceField(
        queryset=get_user_model().objects.order_by("username"),
        required=False,
        to_field_name="username",
        help_text="whose key it is",
    )
    guardrails = guardrail_field(
        "checked on every request made with this key, beside the ones on by default"
    )
    tags = forms.CharField(
        required=False,
        max_length=1400,
        label="Default tags",
        help_text="comma separated; every request made with this key carries them, beside "
        "its own (x-switchyard-tags, metadata.tags)",
    )
    enforce_tags = forms.BooleanField(
        required=False,
        label="Only its own tags",
        help_text="a request naming another tag is refused (403), so spend by its tags is "
        "attribution; owners and admins set it",
    )
    alert_thresholds = forms.CharField(
        required=False,
        max_length=100,
        label="Budget alerts at (%)",
        help_text="e.g. 50, 80, 100; empty: the default thresholds; none: no alerts",
    )
    management = forms.BooleanField(
        required=False,
        label="Management API",
        help_text="may call /api as its user (who must be an owner or admin); only owners "
        "give it to another user",
    )

    def clean_tags(self) -> list[str]:
        try:
            return parse_tags(self.cleaned_data.get("tags"))
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean_alert_thresholds(self) -> list[int] | None:
        try:
            return parse_thresholds(self.cleaned_data.get("alert_thresholds"))
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None

    def __init__(self, *args: Any, actor: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        with_guardrail_choices(self)
        if actor is not None:
            team_field: Any = self.fields["team"]
            user_field: Any = self.fields["user"]
            team_field.queryset = roles.key_team_choices(actor, Team.objects.all())
            if not actor.everywhere:
                self._below_admin(actor, team_field, user_field)

    def _below_admin(self, actor: Any, team_field: Any, user_field: Any) -> None:
        """Offer only what rule ``key.grant`` lets an editor or member set: one of their
        teams (no "no team"), themselves as the owner, the routes open to them, limits
        that default to the team's; no management scope."""

        team_field.empty_label = None  # left out (a crafted post): their only team's
        team_field.help_text = (
            "one of your teams; the key's limits, routes and MCP servers stay within it"
        )
        user_field.queryset = user_field.queryset.filter(pk=actor.user_id)
        user_field.empty_label = None
        user_field.help_text = "your keys are your own"
        routes_field: Any = self.fields["routes"]
        routes_field.queryset = roles.visible_routes(actor, Route.objects.all())
        routes_field.help_text = "none selected: every route open to the key's team"
        for name in ("rpm_limit", "tpm_limit", "budget_usd"):
            self.fields[name].help_text = "empty: the team's"
            self.fields[name].widget.attrs["placeholder"] = "the team's"
        del self.fields["management"]
        del self.fields["enforce_tags"]  # owners and admins set it (field rules)

    @classmethod
    def for_key(cls, key: ApiKey, **kwargs: Any) -> KeyForm:
        """The form filled in with ``key``'s current values (the edit row)."""
        return cls(
            **kwargs,
            initial={
                "team": key.team_id,
                "user": key.user.get_username() if key.user_id else None,
                "management": "management" in (key.scopes or "").split(),
                "name": key.name,
                "routes": [r.name for r in key.routes.all()],
                "rpm_limit": key.rpm_limit,
                "tpm_limit": key.tpm_limit,
                "budget_usd": key.budget_usd,
                "budget_period": key.budget_period,
                "max_budget_per_user": key.max_budget_per_user,
                "expires_at": key.expires_at,
                "mcp_allowed": list(key.mcp_allowed or []),
                "a2a_allowed": list(key.a2a_allowed or []),
                "guardrails": list(key.guardrails or []),
                "tags": ", ".join(key.tags or []),
                "enforce_tags": key.enforce_tags,
                "alert_thresholds": thresholds_shown(key.alert_thresholds),
            },
        )


WINDOWS = {
    "15m": ("Last 15 minutes", timedelta(minutes=15)),
    "1h": ("Last hour", timedelta(hours=1)),
    "24h": ("Last 24 hours", timedelta(days=1)),
    "7d": ("Last 7 days", timedelta(days=7)),
    "30d": ("Last 30 days", timedelta(days=30)),
    "all": ("All time", None),
}
STATUS_CHOICES = [
    ("", "Any status"),
    ("ok", "Success (< 400)"),
    ("4xx", "Client errors (4xx)"),
    ("5xx", "Upstream errors (5xx)"),
    ("error", "Any error"),
    ("budget", "Budget refusals"),
    ("rate_limit", "Rate limits"),
]


class LogFilterForm(forms.Form):
    window = forms.ChoiceField(
        choices=[("", "Any time")] + [(k, label) for k, (label, span) in WINDOWS.items() if span],
        required=False,
    )
    route = forms.CharField(required=False)
    key = forms.IntegerField(required=False)
    status = forms.ChoiceField(choices=STATUS_CHOICES, required=False)
    dialect = forms.ChoiceField(
        choices=[("", "Any dialect")]
        + [(name, codec.label) for name, codec in codecs.clients().items()]
        + [("mcp", "MCP tool calls")],
        required=False,
    )
    q = forms.CharField(required=False, label="Search", max_length=200)
    score = forms.CharField(required=False, label="Score", max_length=120)
    end_user = forms.CharField(required=False, max_length=200, widget=forms.HiddenInput)
    session = forms.CharField(required=False, max_length=200, widget=forms.HiddenInput)
    agent_run = forms.CharField(required=False, max_length=40, widget=forms.HiddenInput)
    tag = forms.CharField(required=False, max_length=64)


class ImportForm(forms.Form):
    config = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 12, "class": "mono", "spellcheck": "false"}),
        label="config.yaml",
    )
    upload = forms.FileField(required=False, label="or upload a file")
    existing = forms.ChoiceField(
        choices=[
            ("replace", "Replace: a route the file names gets exactly the file's deployments"),
            ("add", "Add: keep a route's other deployments beside the file's (traffic is split)"),
        ],
        initial="replace",
        required=False,
        widget=forms.RadioSelect,
        label="Routes that exist already",
    )

    allow_weak_master_key = forms.BooleanField(
        required=False,
        label="Import a weak master key",
        help_text="a general_settings.master_key that is short or a well-known example "
        "(sk-1234) becomes a live key with no limits only when this is ticked",
    )

    def existing_mode(self) -> str:
        return self.cleaned_data.get("existing") or "replace"

    def text(self) -> str:
        upload = self.cleaned_data.get("upload")
        if upload:
            text: str = upload.read().decode("utf-8", errors="replace")
            return text
        return self.cleaned_data.get("config") or ""
