from django import forms
from django.contrib import admin

from .models import ApiKey, Deployment, Provider, RequestLog, Route


class ProviderAdminForm(forms.ModelForm):
    secret = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Literal secret (stored encrypted) or os.environ/NAME. Leave blank to keep.",
    )

    class Meta:
        model = Provider
        fields = ["name", "kind", "base_url", "api_version", "extra_headers", "timeout"]

    def save(self, commit: bool = True) -> Provider:
        provider = super().save(commit=False)
        if self.cleaned_data.get("secret"):
            provider.set_secret(self.cleaned_data["secret"])
        if commit:
            provider.save()
        return provider


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    form = ProviderAdminForm
    list_display = ["name", "kind", "base_url", "secret_display"]


class DeploymentInline(admin.TabularInline):
    model = Deployment
    extra = 0
    fields = ["provider", "model", "enabled", "weight", "rpm", "tpm", "input_price", "output_price"]


@admin.register(Route)
class RouteAdmin(admin.ModelAdmin):
    list_display = ["name", "enabled", "strategy", "drop_params"]
    inlines = [DeploymentInline]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix", "rpm_limit", "tpm_limit", "budget_usd", "revoked_at"]
    readonly_fields = ["prefix", "key_hash"]


@admin.register(RequestLog)
class RequestLogAdmin(admin.ModelAdmin):
    list_display = ["request_id", "created_at", "route", "status", "latency_ms", "cost_usd"]
    list_filter = ["status", "dialect"]
    search_fields = ["request_id", "route"]
