from collections.abc import Iterable
from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import ForeignKey, QuerySet
from django.forms import ModelChoiceField
from django.http import HttpRequest

from gateway.access import roles
from gateway.access.keys import keys_limited_to
from gateway.access.login_throttle import ThrottledAdminAuthenticationForm
from gateway.models import ApiKey, Deployment, Provider, RequestLog, Route

admin.site.login_form = ThrottledAdminAuthenticationForm  # sign-in waits say how long


def _owners_only(request: HttpRequest) -> bool:
    """Django's admin edits any row: for staff who are owners only (gateway/access/roles.py),
    so a staff user given a lesser console role cannot go around it there."""

    user = request.user
    return bool(user.is_active and user.is_staff and roles.role_of(user) == roles.OWNER)


admin.site.has_permission = _owners_only


class ProviderAdminForm(forms.ModelForm):
    secret = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Literal secret (stored encrypted) or os.environ/NAME. Leave blank to keep.",
    )

    class Meta:
        model = Provider
        # extra headers are edited in the console (their values are kept encrypted)
        fields = ["name", "kind", "base_url", "api_version", "timeout"]

    def save(self, commit: bool = True) -> Provider:
        provider: Provider = super().save(commit=False)
        if self.cleaned_data.get("secret"):
            provider.set_secret(self.cleaned_data["secret"])
        if commit:
            provider.save()
        return provider


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    form = ProviderAdminForm
    list_display = ["name", "kind", "base_url", "secret_display"]
    readonly_fields = ["extra_headers_display"]


class DeploymentInline(admin.TabularInline):
    model = Deployment
    extra = 0
    fields = ["provider", "model", "enabled", "weight", "rpm", "tpm", "input_price", "output_price"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Deployment]:
        # each row is titled by its route and provider (Deployment.__str__)
        return super().get_queryset(request).select_related("route", "provider")

    def formfield_for_foreignkey(
        self, db_field: ForeignKey[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> ModelChoiceField | None:
        """The provider menu read once for every row's (Django reads it for each)."""
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if field is not None and db_field.name == "provider":
            field.choices = list(field.choices)
        return field


@admin.register(Route)
class RouteAdmin(admin.ModelAdmin):
    list_display = ["name", "enabled", "strategy", "drop_params"]
    inlines = [DeploymentInline]

    def get_deleted_objects(
        self, objs: Iterable[Route], request: HttpRequest
    ) -> tuple[list[Any], dict[str, int], set[str], list[str]]:
        """A route that is some key's only allowed route is listed as protected (the
        key would otherwise be opened to every route)."""
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        for route in objs:
            protected += [
                f"API key {name} (its only allowed route is {route.name})"
                for name in keys_limited_to(route)
            ]
        return deleted, counts, perms_needed, protected


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix", "rpm_limit", "tpm_limit", "budget_usd", "revoked_at"]
    readonly_fields = ["prefix", "key_hash"]


@admin.register(RequestLog)
class RequestLogAdmin(admin.ModelAdmin):
    list_display = ["request_id", "created_at", "route", "status", "latency_ms", "cost_usd"]
    list_filter = ["status", "dialect"]
    search_fields = ["request_id", "route"]
